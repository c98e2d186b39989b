#include "passes/schedule.h"

#include <algorithm>

namespace gptc {

std::vector<int> programOrder(const Graph& g) {
  std::vector<int> order(g.nodes.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = int(i);
  return order;
}

std::vector<int> scheduleForMemory(const Graph& g, const StorageInfo& s, bool preferFreeing) {
  size_t numNodes = g.nodes.size(), numValues = g.values.size();
  // Successor lists: data dependencies, plus anti-dependencies before state overwrites.
  std::vector<std::vector<int>> succ(numNodes);
  std::vector<int> preds(numNodes, 0);
  auto edge = [&](int from, int to) {
    if (from == to) return;
    succ[from].push_back(to);
    ++preds[to];
  };
  for (size_t n = 0; n < numNodes; ++n)
    for (int o : g.nodes[n].operands)
      if (g.values[o].kind == ValueKind::Op) edge(g.values[o].def, int(n));
  for (const Update& u : g.updates) {
    if (g.values[u.value].kind != ValueKind::Op) continue;
    int writer = g.values[u.value].def;
    for (size_t n = 0; n < numNodes; ++n) {
      if (int(n) == writer) continue;
      for (int o : g.nodes[n].operands)
        if (s.root[o] == u.state) {
          edge(int(n), writer);
          break;
        }
    }
  }

  // Remaining reads of each arena storage owner (operand uses of the owner or any of its views).
  auto isArenaOwner = [&](int v) { return s.root[v] == v && g.values[v].kind == ValueKind::Op; };
  std::vector<int> remaining(numValues, 0);
  std::vector<bool> keptAfterStep(numValues, false);
  for (const Node& node : g.nodes)
    for (int o : node.operands)
      ++remaining[s.root[o]];
  for (int o : g.outputs)
    keptAfterStep[s.root[o]] = true;

  auto netBytes = [&](int n) {
    const Node& node = g.nodes[n];
    int64_t alloc = isArenaOwner(node.result) ? g.values[node.result].type.bytes() : 0;
    int64_t freed = 0;
    // Count reads per owner in this op; the op frees an owner when it holds all remaining reads.
    std::vector<std::pair<int, int>> reads;
    for (int o : node.operands) {
      int r = s.root[o];
      auto it = std::find_if(reads.begin(), reads.end(), [&](auto& p) { return p.first == r; });
      if (it == reads.end())
        reads.push_back({r, 1});
      else
        ++it->second;
    }
    for (auto [r, count] : reads)
      if (isArenaOwner(r) && remaining[r] == count && !keptAfterStep[r])
        freed += g.values[r].type.bytes();
    return alloc - freed;
  };

  std::vector<int> ready;
  for (size_t n = 0; n < numNodes; ++n)
    if (preds[n] == 0) ready.push_back(int(n));
  std::vector<int> order;
  order.reserve(numNodes);
  while (!ready.empty()) {
    size_t best = 0;
    bool bestFrees = false;
    for (size_t i = 0; i < ready.size(); ++i) {
      bool frees = preferFreeing && netBytes(ready[i]) <= 0;
      if ((frees && !bestFrees) || (frees == bestFrees && ready[i] < ready[best])) {
        best = i;
        bestFrees = frees;
      }
    }
    int n = ready[best];
    ready.erase(ready.begin() + long(best));
    order.push_back(n);
    for (int o : g.nodes[n].operands)
      --remaining[s.root[o]];
    for (int m : succ[n])
      if (--preds[m] == 0) ready.push_back(m);
  }
  if (order.size() != numNodes) return programOrder(g); // a cycle through anti-dependencies
  return order;
}

} // namespace gptc
