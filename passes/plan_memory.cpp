#include "passes/plan_memory.h"

#include "passes/liveness.h"
#include "passes/schedule.h"

#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <numeric>

namespace gptc {
namespace {

struct Buffer {
  int value;      // storage owner
  int64_t bytes;  // aligned
  int start, end; // inclusive schedule positions
};

bool overlapsInTime(const Buffer& a, const Buffer& b) {
  return a.start <= b.end && b.start <= a.end;
}

/// Best-fit placement in the given order: each buffer goes into the smallest gap (among buffers
/// already placed and live at the same time) that holds it, else at the top.
int64_t place(const std::vector<Buffer>& bufs, const std::vector<int>& order,
              std::vector<int64_t>& offsets) {
  offsets.assign(bufs.size(), -1);
  std::vector<int> placed;
  int64_t top = 0;
  std::vector<std::pair<int64_t, int64_t>> busy; // [offset, end) of conflicting placed buffers
  for (int i : order) {
    const Buffer& b = bufs[i];
    busy.clear();
    for (int j : placed)
      if (overlapsInTime(b, bufs[j])) busy.push_back({offsets[j], offsets[j] + bufs[j].bytes});
    std::sort(busy.begin(), busy.end());
    int64_t bestOffset = -1, bestGap = INT64_MAX, cursor = 0;
    for (auto [lo, hi] : busy) {
      if (lo > cursor) {
        int64_t gap = lo - cursor;
        if (gap >= b.bytes && gap < bestGap) {
          bestGap = gap;
          bestOffset = cursor;
        }
      }
      cursor = std::max(cursor, hi);
    }
    if (bestOffset < 0) bestOffset = cursor; // above everything live with it
    offsets[i] = bestOffset;
    top = std::max(top, bestOffset + b.bytes);
    placed.push_back(i);
  }
  return top;
}

} // namespace

IntervalPlacement placeIntervals(const std::vector<BufferInterval>& intervals, int64_t lowerBound) {
  std::vector<Buffer> bufs;
  for (const BufferInterval& b : intervals)
    bufs.push_back({-1, b.bytes, b.start, b.end});
  using Order = std::pair<const char*, std::function<bool(const Buffer&, const Buffer&)>>;
  std::vector<Order> orders = {
      {"largest first", [](const Buffer& a, const Buffer& b) { return a.bytes > b.bytes; }},
      {"longest-lived first",
       [](const Buffer& a, const Buffer& b) { return a.end - a.start > b.end - b.start; }},
      {"largest area first",
       [](const Buffer& a, const Buffer& b) {
         return a.bytes * (a.end - a.start + 1) > b.bytes * (b.end - b.start + 1);
       }},
      {"earliest first", [](const Buffer& a, const Buffer& b) { return a.start < b.start; }},
  };
  IntervalPlacement best;
  best.bytes = bufs.empty() ? 0 : INT64_MAX;
  std::vector<int64_t> trial;
  for (const auto& [name, less] : orders) {
    if (bufs.empty()) break;
    std::vector<int> order(bufs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return less(bufs[a], bufs[b]); });
    int64_t top = place(bufs, order, trial);
    best.tried.push_back({name, top});
    if (top < best.bytes) {
      best.bytes = top;
      best.strategy = name;
      best.offsets = trial;
    }
    if (best.bytes <= lowerBound) break; // optimal: no order can do better
  }
  // Then a bounded local search: perturb the best order found so far (swap nearby entries) and keep
  // improvements. Deterministic (fixed seed), so a plan is reproducible.
  if (!bufs.empty() && best.bytes > lowerBound) {
    std::vector<int> order(bufs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return bufs[a].bytes * (bufs[a].end - bufs[a].start + 1) >
             bufs[b].bytes * (bufs[b].end - bufs[b].start + 1);
    });
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    auto next = [&rng] {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      return rng;
    };
    int improved = 0, tries = bufs.size() > 4000 ? 24 : 64;
    for (int t = 0; t < tries && best.bytes > lowerBound; ++t) {
      std::vector<int> trialOrder = order;
      for (size_t k = 0; k < 1 + bufs.size() / 16; ++k) {
        size_t i = next() % trialOrder.size();
        size_t j = std::min(trialOrder.size() - 1, i + 1 + next() % 8);
        std::swap(trialOrder[i], trialOrder[j]);
      }
      int64_t top = place(bufs, trialOrder, trial);
      if (top < best.bytes) {
        best.bytes = top;
        best.offsets = trial;
        order = trialOrder;
        ++improved;
      }
    }
    best.tried.push_back({"local search", best.bytes});
    if (improved) best.strategy += fmt::format(" + local search ({} improvements)", improved);
  }
  return best;
}

const char* regionName(Region r) {
  switch (r) {
  case Region::Persistent:
    return "persistent";
  case Region::Input:
    return "input";
  case Region::Arena:
    return "arena";
  }
  return "?";
}

/// Storage owners that must keep their own bytes after the step: the graph's outputs and the
/// values the tracer observes (their owners never take an in-place write and live in the
/// Persistent region, so they can be read after the step). Indexed by value.
struct KeptRoots {
  std::vector<bool> output, observed;
};

/// (3) in-place reuse, decided in schedule order with intervals kept up to date: an in-place
/// op's result takes its first operand's bytes when that operand dies there.
static void reuseInPlace(const Graph& g, const PlanOptions& opts, MemoryPlan& plan, StorageInfo& s,
                         KeptRoots& kept) {
  const int steps = int(plan.schedule.size());
  Intervals iv = computeIntervals(g, plan.schedule, s);
  for (int o : g.outputs)
    kept.output[s.root[o]] = true;
  for (int p = 0; p < steps; ++p) {
    const Node& node = g.nodes[plan.schedule[p]];
    const OpInfo& info = opInfo(node.kind);
    if (!info.inPlace || s.viewOf[node.result] >= 0 || node.operands.empty()) continue;
    int x = node.operands[0], rx = s.root[x], r = node.result;
    auto refuse = [&](const std::string& why) {
      if (opts.explain)
        plan.refusedReuse.push_back(fmt::format("%{} = {}(%{}, ...): {}", g.values[r].name,
                                                opName(node.kind), g.values[x].name, why));
    };
    if (g.values[rx].kind != ValueKind::Op) {
      refuse(fmt::format("operand is {} ({}), not an arena temporary", g.values[x].name,
                         g.values[rx].kind == ValueKind::Input ? "an input" : "persistent"));
      continue;
    }
    if (g.type(x).bytes() != g.type(r).bytes()) {
      refuse("operand and result differ in size (broadcast)");
      continue;
    }
    if (kept.output[rx]) {
      refuse("operand is an output, read after the step");
      continue;
    }
    if (kept.observed[rx]) {
      refuse("operand is observed (--trace), read after the step");
      continue;
    }
    if (iv.end[rx] != p) {
      refuse(fmt::format("operand is still read later (last read at step {}, this op at {})",
                         iv.end[rx], p));
      continue;
    }
    bool shared = false;
    for (size_t k = 1; k < node.operands.size(); ++k)
      shared |= s.root[node.operands[k]] == rx;
    if (shared) {
      refuse("another operand shares the operand's bytes");
      continue;
    }
    s.viewOf[r] = x;
    iv.end[rx] = std::max(iv.end[rx], iv.end[r]);
    kept.output[rx] = kept.output[rx] || kept.output[r];
    kept.observed[rx] = kept.observed[rx] || kept.observed[r];
    // values that viewed r now view through x: re-resolve roots below
    for (size_t v = 0; v < g.values.size(); ++v)
      if (s.root[v] == r) s.root[v] = rx;
  }
}

/// (3b) stack in place: each operand of a `stack` whose storage dies at the stack is computed
/// straight into its slice of the stacked result, and the stack itself needs no code. This is how
/// the per-layer gradients of llm.c-style stacked parameters become one buffer without a copy
/// (and without the per-layer buffers and the stacked one being live together).
static void stackInPlace(const Graph& g, const MemoryPlan& plan, StorageInfo& s,
                         const KeptRoots& kept) {
  const int steps = int(plan.schedule.size());
  resolveRoots(s);
  Intervals iv = computeIntervals(g, plan.schedule, s);
  for (int p = 0; p < steps; ++p) {
    const Node& node = g.nodes[plan.schedule[p]];
    int r = node.result;
    if (node.kind != OpKind::Stack || s.viewOf[r] >= 0 || node.operands.empty()) continue;
    int64_t slice = g.type(r).bytes() / int64_t(node.operands.size());
    if (slice % kBufferAlign) continue; // every slice must start where a buffer may start
    std::vector<int> roots;
    bool ok = true;
    for (int o : node.operands) {
      int rx = s.root[o];
      int64_t d = 0;
      for (int cur = o; s.viewOf[cur] >= 0; cur = s.viewOf[cur])
        d += s.delta[cur];
      ok = ok && g.values[rx].kind == ValueKind::Op && rx != s.root[r] && d == 0 &&
           g.type(rx).bytes() == slice && iv.end[rx] == p && !kept.output[rx] &&
           !kept.observed[rx] && std::find(roots.begin(), roots.end(), rx) == roots.end();
      roots.push_back(rx);
    }
    if (!ok) continue;
    for (size_t i = 0; i < roots.size(); ++i) {
      s.viewOf[roots[i]] = r;
      s.delta[roots[i]] = int64_t(i) * slice;
    }
    s.noCode[r] = true;
    resolveRoots(s);
  }
}

/// Regions for declarations: persistent (params, state) and inputs, in declaration order; then
/// the observed storage owners, persistent, after the declarations, in value order. Returns
/// which values are such observed owners.
static std::vector<bool> placeDeclarations(const Graph& g, const StorageInfo& s,
                                           const KeptRoots& kept, MemoryPlan& plan) {
  plan.placement.assign(g.values.size(), {});
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    ValuePlacement& pl = plan.placement[v];
    pl.bytes = val.type.bytes();
    if (val.kind == ValueKind::Op) continue;
    int64_t& top = val.kind == ValueKind::Input ? plan.inputBytes : plan.persistentBytes;
    pl.region = val.kind == ValueKind::Input ? Region::Input : Region::Persistent;
    pl.offset = top;
    top += alignUp(pl.bytes);
  }
  std::vector<bool> observedOwner(g.values.size(), false);
  for (size_t v = 0; v < g.values.size(); ++v)
    if (kept.observed[v] && s.root[v] == int(v) && g.values[v].kind == ValueKind::Op) {
      observedOwner[v] = true;
      ValuePlacement& pl = plan.placement[v];
      pl.region = Region::Persistent;
      pl.offset = plan.persistentBytes;
      plan.persistentBytes += alignUp(pl.bytes);
    }
  return observedOwner;
}

/// (4) arena buffers (one per storage owner that is a temporary) and the lower bound: the most
/// bytes live at one schedule position.
static std::vector<Buffer> arenaBuffers(const Graph& g, const StorageInfo& s, const Intervals& iv,
                                        const std::vector<bool>& observedOwner, bool naive,
                                        MemoryPlan& plan) {
  const int steps = int(plan.schedule.size());
  std::vector<Buffer> bufs;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (s.root[v] == int(v) && g.values[v].kind == ValueKind::Op && !observedOwner[v])
      bufs.push_back({int(v), alignUp(g.values[v].type.bytes()), iv.start[v],
                      std::max(iv.start[v], iv.end[v])});
  std::vector<int64_t> liveAt(steps + 1, 0);
  for (const Buffer& b : bufs) {
    for (int p = b.start; p <= b.end && p <= steps; ++p)
      liveAt[p] += b.bytes;
  }
  for (int p = 0; p <= steps; ++p)
    if (liveAt[p] > plan.lowerBound) {
      plan.lowerBound = liveAt[p];
      plan.peakPosition = p;
    }
  if (naive) {
    // llm.c-style: the naive sum of every temporary, each its own buffer.
    plan.naiveBytes = 0;
    for (size_t v = 0; v < g.values.size(); ++v)
      if (s.root[v] == int(v) && g.values[v].kind == ValueKind::Op)
        plan.naiveBytes += alignUp(g.type(int(v)).bytes());
  }
  return bufs;
}

/// (5) placement: the arena offsets of the buffers, one after another when naive, else the best
/// of placeIntervals' orders.
static void placeArena(const std::vector<Buffer>& bufs, bool naive, MemoryPlan& plan) {
  std::vector<int64_t> offsets;
  if (naive) {
    offsets.resize(bufs.size());
    int64_t top = 0;
    for (size_t i = 0; i < bufs.size(); ++i) {
      offsets[i] = top;
      top += bufs[i].bytes;
    }
    plan.arenaBytes = top;
    plan.strategy = "none (--no-memory-plan: every value its own buffer)";
  } else {
    std::vector<BufferInterval> intervals;
    for (const Buffer& b : bufs)
      intervals.push_back({b.bytes, b.start, b.end});
    IntervalPlacement best = placeIntervals(intervals, plan.lowerBound);
    offsets = best.offsets;
    plan.arenaBytes = best.bytes;
    plan.strategy = best.strategy;
  }
  for (size_t i = 0; i < bufs.size(); ++i) {
    ValuePlacement& pl = plan.placement[bufs[i].value];
    pl.region = Region::Arena;
    pl.offset = offsets[i];
  }
}

/// Every value: its root's region and offset plus its delta; live ranges for the report.
static void placeViews(const Graph& g, const StorageInfo& s, const Intervals& iv,
                       MemoryPlan& plan) {
  const int steps = int(plan.schedule.size());
  for (size_t v = 0; v < g.values.size(); ++v) {
    int64_t d = 0;
    for (int cur = int(v); s.viewOf[cur] >= 0; cur = s.viewOf[cur])
      d += s.delta[cur];
    ValuePlacement& pl = plan.placement[v];
    int r = s.root[v];
    pl.viewOf = s.viewOf[v];
    pl.noCode = s.noCode[v];
    if (r != int(v)) {
      pl.region = plan.placement[r].region;
      pl.offset = plan.placement[r].offset + d;
    }
  }
  std::vector<int> pos = positionsOf(g, plan.schedule);
  for (size_t v = 0; v < g.values.size(); ++v) {
    ValuePlacement& pl = plan.placement[v];
    pl.liveStart = g.values[v].kind == ValueKind::Op ? pos[g.values[v].def] : -1;
    pl.liveEnd = pl.liveStart;
  }
  for (int p = 0; p < steps; ++p)
    for (int o : g.nodes[plan.schedule[p]].operands)
      plan.placement[o].liveEnd = std::max(plan.placement[o].liveEnd, p);
  for (int o : g.outputs)
    plan.placement[o].liveEnd = steps;
  for (size_t v = 0; v < g.values.size(); ++v) { // an owner lives while any of its views is used
    if (s.root[v] != int(v) || g.values[v].kind != ValueKind::Op) continue;
    plan.placement[v].liveEnd = std::max(plan.placement[v].liveEnd, iv.end[v]);
    plan.placement[v].liveStart = std::min(plan.placement[v].liveStart, iv.start[v]);
  }
}

/// The plan, stage by stage: schedule, in-place reuse (3, 3b), declarations, arena buffers and
/// the lower bound (4), placement (5), views and live ranges.
static MemoryPlan build(const Graph& g, const PlanOptions& opts, bool naive) {
  MemoryPlan plan;
  plan.planned = !naive;
  StorageInfo s = analyzeViews(g);
  plan.schedule = scheduleForMemory(g, s, /*preferFreeing=*/!naive && opts.reorder);
  KeptRoots kept{std::vector<bool>(g.values.size(), false),
                 std::vector<bool>(g.values.size(), false)};
  for (const std::string& name : opts.observe)
    if (int v = g.find(name); v >= 0) kept.observed[s.root[v]] = true;
  // The naive sum (llm.c-style): every value that is not a view gets its own buffer.
  for (size_t v = 0; v < g.values.size(); ++v)
    if (s.root[v] == int(v) && g.values[v].kind == ValueKind::Op)
      plan.naiveBytes += alignUp(g.type(int(v)).bytes());

  if (!naive && opts.inPlace) reuseInPlace(g, opts, plan, s, kept);
  if (!naive && opts.stackInPlace) stackInPlace(g, plan, s, kept);
  resolveRoots(s);
  Intervals iv = computeIntervals(g, plan.schedule, s);
  std::vector<bool> observedOwner = placeDeclarations(g, s, kept, plan);
  std::vector<Buffer> bufs = arenaBuffers(g, s, iv, observedOwner, naive, plan);
  placeArena(bufs, naive, plan);
  placeViews(g, s, iv, plan);
  return plan;
}

MemoryPlan planMemory(const Graph& g, const PlanOptions& opts) {
  return build(g, opts, false);
}
MemoryPlan naivePlan(const Graph& g) {
  return build(g, {}, true);
}

static std::string bytesText(int64_t b) {
  if (b >= (int64_t(1) << 30)) return fmt::format("{:.2f} GiB", double(b) / (1 << 30));
  if (b >= (int64_t(1) << 20)) return fmt::format("{:.1f} MiB", double(b) / (1 << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", double(b) / 1024);
  return fmt::format("{} B", b);
}

std::string placementText(const MemoryPlan& plan, int v) {
  const ValuePlacement& pl = plan.placement[v];
  std::string s =
      fmt::format("{} +{:#x} {}", regionName(pl.region), pl.offset, bytesText(pl.bytes));
  if (pl.liveStart >= 0 || pl.liveEnd >= 0)
    s += fmt::format(" live [{}, {}]", pl.liveStart, pl.liveEnd);
  if (pl.noCode)
    s += " view";
  else if (pl.viewOf >= 0)
    s += " in-place";
  return s;
}

namespace {

/// What the arena holds at its peak, by role: forward activations (defined up to the loss, in
/// program order: autodiff appends the backward after it), gradients (the backward's values) and
/// optimizer temporaries (AdamW's results, the norm, the clip scale). Sizes are owners' bytes.
std::string peakComposition(const Graph& g, const std::vector<std::pair<int64_t, int>>& live) {
  int loss = g.find("loss");
  int lastForward =
      loss >= 0 && g.values[loss].kind == ValueKind::Op ? g.values[loss].def : int(g.nodes.size());
  auto isOptimizer = [&](int v) {
    OpKind k = g.nodes[g.values[v].def].kind;
    return k == OpKind::AdamWMoment1 || k == OpKind::AdamWMoment2 || k == OpKind::AdamWUpdate ||
           k == OpKind::GlobalNorm || k == OpKind::ClipScale;
  };
  int64_t bytes[3] = {0, 0, 0};
  int count[3] = {0, 0, 0};
  for (auto [b, v] : live) {
    int role = isOptimizer(v) ? 2 : g.values[v].def <= lastForward ? 0 : 1;
    bytes[role] += b, count[role] += 1;
  }
  return fmt::format("  live at the peak: forward activations {} ({} values), gradients {} ({}), "
                     "optimizer temporaries {} ({})\n",
                     bytesText(bytes[0]), count[0], bytesText(bytes[1]), count[1],
                     bytesText(bytes[2]), count[2]);
}

} // namespace

std::string memoryReport(const Graph& g, const MemoryPlan& plan, int topValues) {
  int64_t params = 0, state = 0;
  for (const Value& v : g.values) {
    if (v.kind == ValueKind::Param) params += alignUp(v.type.bytes());
    if (v.kind == ValueKind::State) state += alignUp(v.type.bytes());
  }
  std::string out;
  out += "memory plan";
  out += plan.planned ? fmt::format(" (placement: {})\n", plan.strategy)
                      : " (naive: --no-memory-plan)\n";
  out += fmt::format("  parameters        {:>12}\n", bytesText(params));
  out += fmt::format("  state (moments…)  {:>12}\n", bytesText(state));
  out += fmt::format("  inputs            {:>12}\n", bytesText(plan.inputBytes));
  out += fmt::format("  arena             {:>12}   (activations, gradients, temporaries)\n",
                     bytesText(plan.arenaBytes));
  out += fmt::format("  lower bound       {:>12}   arena / bound = {:.3f}\n",
                     bytesText(plan.lowerBound),
                     plan.lowerBound ? double(plan.arenaBytes) / double(plan.lowerBound) : 1.0);
  out += fmt::format("  naive sum         {:>12}   arena / naive = {:.3f}\n",
                     bytesText(plan.naiveBytes),
                     plan.naiveBytes ? double(plan.arenaBytes) / double(plan.naiveBytes) : 1.0);
  out += fmt::format("  total             {:>12}\n",
                     bytesText(plan.persistentBytes + plan.inputBytes + plan.arenaBytes));
  if (plan.peakPosition >= 0 && topValues > 0) {
    std::vector<std::pair<int64_t, int>> live;
    for (size_t v = 0; v < g.values.size(); ++v) {
      const ValuePlacement& pl = plan.placement[v];
      if (g.values[v].kind != ValueKind::Op || pl.region != Region::Arena || pl.viewOf >= 0)
        continue;
      // an owner's interval covers its views' reads; recompute from the placement's own range
      if (pl.liveStart <= plan.peakPosition && plan.peakPosition <= pl.liveEnd)
        live.push_back({pl.bytes, int(v)});
    }
    std::sort(live.rbegin(), live.rend());
    std::string opAtPeak =
        plan.peakPosition < int(plan.schedule.size())
            ? "%" + g.values[g.nodes[plan.schedule[plan.peakPosition]].result].name
            : "the end of the step";
    out += fmt::format("  peak at step {} ({}); largest values live there:\n", plan.peakPosition,
                       opAtPeak);
    for (int i = 0; i < int(live.size()) && i < topValues; ++i)
      out += fmt::format("    %{:<24} {:>12}  {}\n", g.values[live[i].second].name,
                         bytesText(live[i].first), typeToString(g.type(live[i].second)));
    out += peakComposition(g, live);
  }
  return out;
}

} // namespace gptc
