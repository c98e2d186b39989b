#include "ir/printer.h"

#include <fmt/format.h>

namespace gptc {
namespace {

std::string locText(const SourceLoc& loc) {
  if (!loc.known()) return "";
  return fmt::format("{}:{}:{}", loc.file, loc.line, loc.col);
}

void finishLine(std::string& out, std::string line, const std::string& comment) {
  if (!comment.empty()) {
    if (line.size() < 72) line.resize(72, ' ');
    line += "  # " + comment;
  }
  out += line;
  out += '\n';
}

} // namespace

std::string printGraph(const Graph& g, const PrintOptions& opts) {
  std::string out;
  int inputs = 0, params = 0;
  int states = 0;
  for (const Value& v : g.values) {
    inputs += v.kind == ValueKind::Input;
    params += v.kind == ValueKind::Param;
    states += v.kind == ValueKind::State;
  }
  out += fmt::format("# gptc graph: {} inputs, {} params, {}{} ops\n", inputs, params,
                     states ? fmt::format("{} state, ", states) : "", g.nodes.size());
  auto comment = [&](int id, const SourceLoc& loc) {
    std::string c = opts.locations ? locText(loc) : "";
    if (opts.annotate) {
      std::string extra = opts.annotate(id);
      if (!extra.empty()) c += (c.empty() ? "" : "  ") + extra;
    }
    return c;
  };
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (v.kind == ValueKind::Op) continue;
    const char* keyword = v.kind == ValueKind::Param   ? "param"
                          : v.kind == ValueKind::State ? "state"
                                                       : "input";
    std::string line = fmt::format("{} {} : {}", keyword, v.name, typeToString(v.type));
    if (v.kind != ValueKind::Input) {
      if (v.init.kind == ParamInit::Zeros) line += " init zeros";
      else if (v.init.kind == ParamInit::Ones) line += " init ones";
      else line += " init normal(" + attrValueToString(AttrValue(v.init.stddev)) + ")";
    }
    finishLine(out, line, comment(int(i), v.loc));
  }
  for (const Node& n : g.nodes) {
    const Value& r = g.values[n.result];
    std::string line = fmt::format("%{} : {} = {}(", r.name, typeToString(r.type), opName(n.kind));
    for (size_t k = 0; k < n.operands.size(); ++k) line += (k ? ", %" : "%") + g.values[n.operands[k]].name;
    line += ")";
    if (!n.attrs.empty()) {
      line += " {";
      bool first = true;
      for (const auto& [name, value] : n.attrs) {
        line += fmt::format("{}{} = {}", first ? "" : ", ", name, attrValueToString(value));
        first = false;
      }
      line += "}";
    }
    finishLine(out, line, comment(n.result, n.loc));
  }
  for (int id : g.outputs) out += "output %" + g.values[id].name + "\n";
  for (const Update& u : g.updates)
    out += fmt::format("update %{} = %{}\n", g.values[u.state].name, g.values[u.value].name);
  return out;
}

} // namespace gptc
