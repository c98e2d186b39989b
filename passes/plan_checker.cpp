// check-plan: an independent proof that a memory plan is safe for its graph.
//
// It shares no code with the planner: from the graph, the schedule and the placements alone it
// recomputes when each value is written and read, then checks
//   - the schedule runs every op exactly once, after the ops that define its operands;
//   - every value lies inside its region, and every storage owner starts aligned;
//   - no two values that are live at the same time share a byte, unless one is a view of the other
//     (reshape, select, slice, in-place, update alias) — and a value whose op overwrites another
//     value's bytes (in place, or an update of state) runs only after the last read of those bytes;
//   - each update's new value sits exactly on its state's bytes;
//   - under --memory-budget, the three regions together fit the budget.
// What it leaves to others: whether the plan is good (the report); this only says it is safe.
#include "passes/memory_plan.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {

std::string checkPlan(const Graph& g, const MemoryPlan& plan) {
  size_t nv = g.values.size(), nn = g.nodes.size();
  if (plan.placement.size() != nv) return "the plan does not place every value";
  if (plan.schedule.size() != nn)
    return fmt::format("the schedule has {} ops, the graph {}", plan.schedule.size(), nn);
  std::vector<int> pos(nn, -1);
  for (size_t i = 0; i < plan.schedule.size(); ++i) {
    int n = plan.schedule[i];
    if (n < 0 || size_t(n) >= nn || pos[n] >= 0)
      return fmt::format("schedule entry {} is not a new op", i);
    pos[n] = int(i);
  }
  int steps = int(nn);
  int64_t total = plan.persistentBytes + plan.inputBytes + plan.arenaBytes;
  if (plan.budget > 0 && total > plan.budget)
    return fmt::format("the plan needs {} bytes (parameters, state, inputs and arena), more than "
                       "the memory budget of {} bytes",
                       total, plan.budget);
  auto name = [&](int v) { return "%" + g.values[v].name; };
  std::vector<int> written(nv,
                           -1); // position where a value's bytes are written; -1: before the step
  for (size_t v = 0; v < nv; ++v)
    if (g.values[v].kind == ValueKind::Op) written[v] = pos[g.values[v].def];
  for (size_t i = 0; i < plan.schedule.size(); ++i)
    for (int o : g.nodes[plan.schedule[i]].operands)
      if (written[o] >= int(i))
        return fmt::format("%{} is read at step {} before it is computed", g.values[o].name, i);

  // Bounds and alignment.
  auto regionSize = [&](Region r) {
    return r == Region::Persistent ? plan.persistentBytes
           : r == Region::Input    ? plan.inputBytes
                                   : plan.arenaBytes;
  };
  for (size_t v = 0; v < nv; ++v) {
    const ValuePlacement& pl = plan.placement[v];
    if (pl.bytes != g.values[v].type.bytes())
      return fmt::format("{} has the wrong size in the plan", name(int(v)));
    if (pl.offset < 0 || pl.offset + pl.bytes > regionSize(pl.region))
      return fmt::format("{} [{}, {}) lies outside the {} region of {} bytes", name(int(v)),
                         pl.offset, pl.offset + pl.bytes, regionName(pl.region),
                         regionSize(pl.region));
    if (pl.viewOf < 0 && pl.offset % kBufferAlign)
      return fmt::format("{} starts at {:#x}, not aligned to {} bytes", name(int(v)), pl.offset,
                         kBufferAlign);
    if (pl.viewOf >= 0 && plan.placement[pl.viewOf].region != pl.region)
      return fmt::format("{} is a view of {} in another region", name(int(v)), name(pl.viewOf));
    bool declared = g.values[v].kind != ValueKind::Op;
    if (declared && pl.region == Region::Arena)
      return fmt::format("{} is declared but placed in the arena", name(int(v)));
    if (!declared && pl.region == Region::Input)
      return fmt::format("{} is computed but placed in the input region", name(int(v)));
  }
  for (const Update& u : g.updates) {
    const ValuePlacement &s = plan.placement[u.state], &n = plan.placement[u.value];
    if (s.region != n.region || s.offset != n.offset)
      return fmt::format("update of {}: the new value {} is not on the state's bytes",
                         name(u.state), name(u.value));
  }

  // Which values share storage legitimately: same chain of views.
  std::vector<int> root(nv);
  for (size_t v = 0; v < nv; ++v) {
    int cur = int(v), guard = 0;
    while (plan.placement[cur].viewOf >= 0 && guard++ < int(nv))
      cur = plan.placement[cur].viewOf;
    if (guard >= int(nv)) return fmt::format("{} is in a cycle of views", name(int(v)));
    root[v] = cur;
  }
  for (const Update& u : g.updates)
    root[u.value] = root[u.state];

  // Live range of each value's own bytes: written .. last read (outputs: after the step).
  std::vector<int> lastRead(nv, -1);
  for (size_t i = 0; i < plan.schedule.size(); ++i)
    for (int o : g.nodes[plan.schedule[i]].operands)
      lastRead[o] = std::max(lastRead[o], int(i));
  for (int o : g.outputs)
    lastRead[o] = steps;
  for (const Update& u : g.updates)
    lastRead[u.value] = steps;

  // Overwrites: a value written into another's bytes (in place, update) must come after every read
  // of the bytes it overwrites by values of the same storage written earlier.
  for (size_t v = 0; v < nv; ++v) {
    const ValuePlacement& pl = plan.placement[v];
    bool overwrites = (pl.viewOf >= 0 && !pl.noCode) ||
                      std::any_of(g.updates.begin(), g.updates.end(),
                                  [&](const Update& u) { return u.value == int(v); });
    if (!overwrites || g.values[v].kind != ValueKind::Op) continue;
    for (size_t w = 0; w < nv; ++w) {
      if (w == v || root[w] != root[v] || written[w] >= written[v]) continue;
      const ValuePlacement& pw = plan.placement[w];
      bool bytesOverlap = pw.offset < pl.offset + pl.bytes && pl.offset < pw.offset + pw.bytes;
      if (bytesOverlap && lastRead[w] > written[v])
        return fmt::format(
            "{} overwrites the bytes of {} at step {}, but {} is still read at step {}",
            name(int(v)), name(int(w)), written[v], name(int(w)), lastRead[w]);
    }
  }

  // No overlap between live values of different storage, region by region (sweep by offset).
  std::vector<int> order;
  for (size_t v = 0; v < nv; ++v)
    if (plan.placement[v].bytes > 0) order.push_back(int(v));
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const ValuePlacement &x = plan.placement[a], &y = plan.placement[b];
    return std::tie(x.region, x.offset) < std::tie(y.region, y.offset);
  });
  auto live = [&](int v) {
    return std::pair<int, int>{written[v], std::max(written[v], lastRead[v])};
  };
  for (size_t i = 0; i < order.size(); ++i) {
    int a = order[i];
    const ValuePlacement& pa = plan.placement[a];
    for (size_t j = i + 1; j < order.size(); ++j) {
      int b = order[j];
      const ValuePlacement& pb = plan.placement[b];
      if (pb.region != pa.region || pb.offset >= pa.offset + pa.bytes) break;
      if (root[a] == root[b]) continue;
      bool persistent = pa.region != Region::Arena; // declarations live for the whole step
      auto [sa, ea] = live(a);
      auto [sb, eb] = live(b);
      if (persistent || (sa <= eb && sb <= ea))
        return fmt::format(
            "{} [{:#x}, +{}) live [{}, {}] overlaps {} [{:#x}, +{}) live [{}, {}] in the {} region",
            name(a), pa.offset, pa.bytes, sa, ea, name(b), pb.offset, pb.bytes, sb, eb,
            regionName(pa.region));
    }
  }
  return "";
}

} // namespace gptc
