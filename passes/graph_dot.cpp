// passes/graph_dot.cpp — see graph_dot.h.
#include "passes/graph_dot.h"

#include <fmt/format.h>

namespace gptc {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

enum class Part { Forward, Backward, Optimizer };

Part partOf(const Graph& g, const Node& n) {
  const std::string& name = g.values[n.result].name;
  switch (n.kind) {
  case OpKind::AdamWUpdate:
  case OpKind::GlobalNorm:
  case OpKind::ClipScale:
    return Part::Optimizer;
  default:
    break;
  }
  std::string op(opName(n.kind));
  if (op.rfind("adamw", 0) == 0) return Part::Optimizer;
  if (name.rfind("g.", 0) == 0 && g.values[n.result].name.find(".new") == std::string::npos &&
      n.kind == OpKind::Mul)
    return Part::Optimizer; // g.P = grad.P * clip
  if (name.rfind("d.", 0) == 0 || name.rfind("grad.", 0) == 0 ||
      op.find("_grad") != std::string::npos)
    return Part::Backward;
  return Part::Forward;
}

} // namespace

std::string graphToDot(const Graph& g, const DotOptions& o) {
  std::string out = "digraph gptc {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n"
                    "  edge [arrowsize=0.6, color=\"#555555\"];\n";
  if (!o.title.empty())
    out += fmt::format("  labelloc=t; label=\"{}\"; fontname=\"monospace\";\n", escape(o.title));
  std::vector<bool> used(g.values.size(), false);
  for (const Node& n : g.nodes)
    for (int v : n.operands)
      used[v] = true;
  if (o.declarations)
    for (size_t v = 0; v < g.values.size(); ++v) {
      const Value& val = g.values[v];
      if (val.kind == ValueKind::Op || !used[v]) continue;
      const char* fill = val.kind == ValueKind::Input   ? "#fff2cc"
                         : val.kind == ValueKind::Param ? "#e2f0d9"
                                                        : "#ededed";
      std::string label = "%" + val.name;
      if (o.shapes) label += "\\n" + typeToString(val.type);
      out += fmt::format("  v{} [shape=ellipse, style=filled, fillcolor=\"{}\", label=\"{}\"];\n",
                         v, fill, escape(label));
    }
  for (const Node& n : g.nodes) {
    const Value& r = g.values[n.result];
    Part part = partOf(g, n);
    const char* fill = part == Part::Forward    ? "#dae8fc"
                       : part == Part::Backward ? "#fde5cc"
                                                : "#d5e8d4";
    std::string label = "%" + r.name + " = " + std::string(opName(n.kind));
    if (o.shapes) label += "\\n" + typeToString(r.type);
    if (r.loc.known()) label += fmt::format("\\nline {}", r.loc.line);
    bool view = n.kind == OpKind::Reshape || n.kind == OpKind::Select;
    out += fmt::format("  v{} [shape=box, style=\"filled{}\", fillcolor=\"{}\", label=\"{}\"];\n",
                       n.result, view ? ",dashed" : "", fill, escape(label));
    for (int v : n.operands) {
      if (!o.declarations && g.values[v].kind != ValueKind::Op) continue;
      out += fmt::format("  v{} -> v{};\n", v, n.result);
    }
  }
  for (int v : g.outputs)
    out += fmt::format("  out{} [shape=plaintext, label=\"output %{}\"];\n  v{} -> out{};\n", v,
                       escape(g.values[v].name), v, v);
  for (const Update& u : g.updates)
    out += fmt::format("  v{} -> v{} [style=dotted, color=\"#2e7d32\", constraint=false];\n",
                       u.value, u.state);
  out += "}\n";
  return out;
}

} // namespace gptc
