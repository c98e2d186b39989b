#include "ir/verifier.h"

#include <fmt/format.h>
#include <set>

namespace gptc {

std::string verifyGraph(const Graph& g) {
  auto at = [](const SourceLoc& loc) {
    return loc.known() ? fmt::format(" (at {}:{}:{})", loc.file, loc.line, loc.col) : std::string();
  };
  std::vector<bool> defined(g.values.size(), false);
  std::set<std::string> names;
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (!names.insert(v.name).second) return fmt::format("value name '%{}' is defined twice", v.name);
    if (v.kind != ValueKind::Op) defined[i] = true;
    if (g.find(v.name) != int(i)) return fmt::format("name index is stale for '%{}'", v.name);
  }
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    std::string where = fmt::format("op {} ({}){}", n, opName(node.kind), at(node.loc));
    if (node.result < 0 || size_t(node.result) >= g.values.size())
      return where + ": result is not a value";
    const Value& r = g.values[node.result];
    if (r.kind != ValueKind::Op || r.def != int(n)) return where + ": result's def does not point back";
    if (defined[node.result]) return where + fmt::format(": '%{}' is defined twice", r.name);
    std::vector<TensorType> types;
    for (int o : node.operands) {
      if (o < 0 || size_t(o) >= g.values.size()) return where + ": operand is not a value";
      if (!defined[o])
        return where + fmt::format(": operand '%{}' is used before it is defined", g.values[o].name);
      types.push_back(g.values[o].type);
    }
    const OpInfo& info = opInfo(node.kind);
    if (!info.acceptsOperandCount(node.operands.size()))
      return where + ": wrong number of operands";
    Attrs attrs = node.attrs;
    if (std::string e = completeAttrs(node.kind, attrs); !e.empty()) return where + ": " + e;
    if (attrs != node.attrs) return where + ": attributes are missing their defaults";
    Expected<TensorType> t = inferType(node.kind, types, node.attrs);
    if (!t) return where + ": " + t.error().message;
    if (*t != r.type)
      return where + fmt::format(": '%{}' has type {} but the shape rule gives {}", r.name,
                                 typeToString(r.type), typeToString(*t));
    defined[node.result] = true;
  }
  for (size_t i = 0; i < g.values.size(); ++i)
    if (!defined[i]) return fmt::format("'%{}' is never defined", g.values[i].name);
  for (int o : g.outputs)
    if (o < 0 || size_t(o) >= g.values.size()) return "an output is not a value";
  std::set<int> updated;
  for (const Update& u : g.updates) {
    if (u.state < 0 || u.value < 0 || size_t(u.state) >= g.values.size() || size_t(u.value) >= g.values.size())
      return "an update names no value";
    if (g.values[u.state].kind == ValueKind::Op)
      return fmt::format("update of '%{}', which is not persistent state", g.values[u.state].name);
    if (g.values[u.state].type != g.values[u.value].type)
      return fmt::format("update of '%{}' with a value of another type", g.values[u.state].name);
    if (!updated.insert(u.state).second) return fmt::format("'%{}' is updated twice", g.values[u.state].name);
  }
  return "";
}

} // namespace gptc
