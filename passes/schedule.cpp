#include "passes/schedule.h"

#include <algorithm>

namespace gptc {

std::vector<int> programOrder(const Graph& g) {
  std::vector<int> order(g.nodes.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = int(i);
  return order;
}

namespace {

/// Stage 2: an op whose result is larger than the buffers it is the last reader of moves down to
/// just before its first successor (data consumer or anti-dependent state writer), so its result is
/// not held while nothing reads it. Every moment between the two positions then holds
/// bytes(result) - bytes(freed operands) fewer bytes and no other moment changes, so the peak can
/// only fall. The case it exists for: GPT-2's tied wte gradient from the logits (147 MiB), which
/// the list scheduler computes first in the backward and only the embedding's gradient, last,
/// consumes; deferred, the backward holds the logits' gradient (49 MiB) instead.
void sinkLargeProducers(const Graph& g, const StorageInfo& s,
                        const std::vector<std::vector<int>>& succ,
                        const std::vector<bool>& keptAfterStep, std::vector<int>& order) {
  size_t numNodes = order.size();
  auto isArenaOwner = [&](int v) { return s.root[v] == v && g.values[v].kind == ValueKind::Op; };
  std::vector<int> pos(numNodes), lastRead(g.values.size(), -1);
  auto recompute = [&] {
    std::fill(lastRead.begin(), lastRead.end(), -1);
    for (size_t i = 0; i < numNodes; ++i) {
      pos[order[i]] = int(i);
      for (int o : g.nodes[order[i]].operands)
        lastRead[s.root[o]] = int(i);
    }
  };
  recompute();
  for (int i = int(numNodes) - 1; i >= 0; --i) {
    int n = order[i];
    int result = g.nodes[n].result;
    if (!isArenaOwner(result) || keptAfterStep[result]) continue;
    int target = int(numNodes); // just before the first successor
    for (int m : succ[n])
      target = std::min(target, pos[m]);
    if (target == int(numNodes) || target <= i + 1) continue;
    int64_t freed = 0;
    std::vector<int> roots;
    for (int o : g.nodes[n].operands) {
      int r = s.root[o];
      if (std::find(roots.begin(), roots.end(), r) != roots.end()) continue;
      roots.push_back(r);
      if (isArenaOwner(r) && lastRead[r] == i && !keptAfterStep[r])
        freed += g.values[r].type.bytes();
    }
    if (g.values[result].type.bytes() <= freed) continue;
    order.erase(order.begin() + i);
    order.insert(order.begin() + (target - 1), n);
    recompute();
  }
}

} // namespace

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
    // Only readers of the state's old bytes must wait: u.value shares the state's storage too
    // (the alias), and its readers (AdamW's update reads this step's moments) come after the writer.
    auto readsOldState = [&](int v) {
      for (; v >= 0; v = s.viewOf[v]) {
        if (v == u.value) return false;
        if (v == u.state) return true;
      }
      return false;
    };
    for (size_t n = 0; n < numNodes; ++n) {
      if (int(n) == writer) continue;
      for (int o : g.nodes[n].operands)
        if (readsOldState(o)) {
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
  if (preferFreeing) sinkLargeProducers(g, s, succ, keptAfterStep, order);
  return order;
}

} // namespace gptc
