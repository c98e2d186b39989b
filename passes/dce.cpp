// dce: dead code elimination. A node is live when its result reaches an output or an update
// (state the step writes back); every other node is removed. All ops are pure -- dropout's mask is
// a hash of (seed, salt, index), not hidden RNG state -- so nothing else keeps a node alive.
// Inputs, params and state are declarations, never removed: the runtime binds them by name.
// What it leaves to others: making nodes dead (simplify and cse forward uses and leave the husks
// here, so one pass owns deletion and a dump after simplify still shows what it bypassed).
#include "passes/dce.h"

namespace gptc {

int removeDeadNodes(Graph& g) {
  std::vector<bool> live(g.values.size(), false);
  for (int o : g.outputs)
    live[o] = true;
  for (const Update& u : g.updates)
    live[u.value] = true;
  // Program order puts operands first, so one backward sweep reaches every transitive operand.
  std::vector<bool> keep(g.nodes.size(), false);
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    if (!live[n.result]) continue;
    keep[i] = true;
    for (int o : n.operands)
      live[o] = true;
  }
  int removed = 0;
  for (bool k : keep)
    removed += !k;
  if (removed) g.eraseNodes(keep);
  return removed;
}

Expected<bool> runDce(PassContext& ctx) {
  int removed = removeDeadNodes(ctx.graph);
  ctx.count("dce.removed", removed);
  return removed > 0;
}

} // namespace gptc
