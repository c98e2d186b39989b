// cse: common subexpression elimination. Two nodes with the same op kind, the same operands (after
// earlier merges) and the same attributes compute the same tensor -- every gptc op is pure, and
// dropout's mask is a function of (seed, salt, index), so dropouts merge only when their salts are
// equal, which the expander never makes them. The later node's uses move to the first one; the
// later node is left for dce.
//
// Real cases in the models: seq2seq's `sinusoidal() {rows = S, dim = D}` and `{rows = T, dim = D}`
// with S == T, and any stacked parameter's `select` taken twice with the same layer index.
//
// A node whose result is a graph output is never merged away (the runtime reads outputs by name).
// What it leaves to others: removing the merged nodes (dce), and expressions that are equal only up
// to algebra (simplify canonicalises the cheap ones first).
#include "passes/pass_manager.h"

#include <map>
#include <numeric>
#include <unordered_set>

namespace gptc {
namespace {

/// Everything that determines a node's value. Types follow from these, so they are not part of it.
struct Key {
  OpKind kind;
  std::vector<int> operands;
  Attrs attrs;
  bool operator<(const Key& o) const {
    if (kind != o.kind) return kind < o.kind;
    if (operands != o.operands) return operands < o.operands;
    return attrs < o.attrs;
  }
};

} // namespace

Expected<bool> runCse(PassContext& ctx) {
  Graph& g = ctx.graph;
  std::unordered_set<int> outputs(g.outputs.begin(), g.outputs.end());
  std::vector<int> forward(g.values.size());
  std::iota(forward.begin(), forward.end(), 0);
  std::map<Key, int> seen; // key -> the first value computing it
  bool changed = false;

  for (Node& n : g.nodes) {
    for (int& o : n.operands)
      o = forward[o];
    Key key{n.kind, n.operands, n.attrs};
    auto [it, inserted] = seen.emplace(std::move(key), n.result);
    if (inserted || outputs.count(n.result)) continue;
    forward[n.result] = it->second;
    ctx.count(std::string("cse.") + std::string(opName(n.kind)));
    changed = true;
  }
  for (Update& u : g.updates)
    u.value = forward[u.value];
  return changed;
}

} // namespace gptc
