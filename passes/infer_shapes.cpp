// infer-shapes: re-runs every op's shape rule (ir/graph.h inferType) on the stored operand types
// and checks the stored result type against it, and checks that outputs and updates are typed
// consistently. The expander infers types as it builds, so on a freshly expanded model this pass
// finds nothing; it earns its place after passes that edit nodes in place (simplify rewrites
// operands and attributes) and on hand-written or edited dumps, where a wrong type would otherwise
// surface as a wrong memory plan or an out-of-bounds kernel.
// What it leaves to others: it never changes the graph (the shape rules live in ir/shape_rules.cpp;
// the structural checks -- defined-before-use, unique names -- are ir/verifier.h's).
#include "passes/pass_manager.h"

#include <fmt/format.h>

namespace gptc {

Expected<bool> runInferShapes(PassContext& ctx) {
  const Graph& g = ctx.graph;
  for (const Node& n : g.nodes) {
    std::vector<TensorType> operandTypes;
    for (int o : n.operands)
      operandTypes.push_back(g.type(o));
    Expected<TensorType> t = inferType(n.kind, operandTypes, n.attrs);
    const Value& r = g.value(n.result);
    if (!t)
      return ctx.diagAt(
          n.loc, fmt::format("'{}' defining '%{}': {}", opName(n.kind), r.name, t.error().message));
    if (*t != r.type)
      return ctx.diagAt(n.loc, fmt::format("'%{}' is stored as {} but '{}' gives {}", r.name,
                                           typeToString(r.type), opName(n.kind), typeToString(*t)));
  }
  for (const Update& u : g.updates)
    if (g.type(u.state) != g.type(u.value))
      return ctx.diagAt(g.value(u.value).loc,
                        fmt::format("update of '%{}' ({}) with '%{}' ({})", g.value(u.state).name,
                                    typeToString(g.type(u.state)), g.value(u.value).name,
                                    typeToString(g.type(u.value))));
  return false;
}

} // namespace gptc
