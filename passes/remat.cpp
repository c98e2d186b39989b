// remat: which forward values the backward recomputes instead of keeping (passes/remat.h).
//
// The algorithm, a greedy by bytes saved per FLOP recomputed, checked by planning:
//  1. The forward is every op up to the one that defines `loss` (autodiff appends the backward
//     after it, the optimizer after that). A forward value is *kept* when a backward op reads it
//     (or a view of it: a reshape of a value keeps the value's bytes alive).
//  2. Candidates are storage owners among the kept values (not outputs, not the loss, no op with
//     state or side effects). Recomputing one clones it and, recursively, every forward operand
//     that is not kept (an attention's weights need their scores, and the scores need only q and k,
//     which the backward keeps anyway; a view of a parameter, such as one layer's `select` of a
//     stacked weight, is never cloned: its bytes are always there). Its cost is the clones'
//     FLOPs (stats.h's convention, plus one per element written so layout copies are not free);
//     its saving is its bytes.
//  3. Candidates are sorted by saving per cost, best first. At the forward/backward boundary of a
//     Transformer every kept activation is live at once, so there the order is a fractional
//     knapsack's and a prefix of it is the cheapest way to save a given number of bytes.
//  4. The chosen prefix is the shortest one whose rewritten graph plan-memory fits in the budget:
//     17 evenly spaced prefix lengths first, then a binary search between the last one over the
//     budget and the first under it. Each probe is a real plan (schedule, in-place reuse,
//     placement), so fragmentation and the schedule's own choices are counted, not estimated. The
//     total is not monotone at the end of the order (recomputing GPT-2's logits makes them live
//     beside their gradient), which is why the coarse pass comes first. When no probe fits, the
//     pass fails with the smallest total it reached.
//  5. Pruning: the 24 costliest chosen values are each tried out of the set (a real plan each);
//     a value whose removal still fits was not live at the peak, and its FLOPs are saved.
// Clones are placed just before their first backward reader (and their own clones just before
// them), named `%remat.<name>` with the original's source location, so a dump shows what was
// recomputed and where. Without a budget (or when the plan already fits) nothing changes.
//
// What it leaves to others: the schedule and placement of the rewritten graph (plan-memory), the
// proof that the plan fits (check-plan), and smaller units of recomputation than an op's whole
// result (fused attention recomputes blocks inside one kernel).
#include "passes/remat.h"

#include "passes/liveness.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "passes/stats.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

namespace gptc {

int64_t plannedTotal(const Graph& g) {
  MemoryPlan plan = planMemory(g);
  return plan.persistentBytes + plan.inputBytes + plan.arenaBytes;
}

namespace {

bool recomputable(OpKind k) {
  switch (k) {
  case OpKind::DynamicUpdateSlice: // writes state in place
  case OpKind::AdamWMoment1:
  case OpKind::AdamWMoment2:
  case OpKind::AdamWUpdate:
  case OpKind::GlobalNorm:
  case OpKind::ClipScale:
  case OpKind::CrossEntropy: // the loss
    return false;
  default:
    return true;
  }
}

/// The forward/backward structure of a training graph, computed once.
struct Analysis {
  int lastForward = -1;        // node index of the loss's op; -1: no backward
  std::vector<bool> kept;      // per value: a forward value some backward op reads
  std::vector<int> root;       // per value: storage owner (views followed)
  std::vector<int> candidates; // storage owners, in value order
  std::unordered_map<int, std::vector<int>> members; // owner -> kept values sharing its bytes
};

Analysis analyze(const Graph& g) {
  Analysis a;
  size_t nv = g.values.size();
  a.kept.assign(nv, false);
  StorageInfo s = analyzeViews(g);
  a.root = s.root;
  int loss = g.find("loss");
  if (loss < 0 || g.values[loss].kind != ValueKind::Op) return a;
  a.lastForward = g.values[loss].def;
  if (a.lastForward + 1 >= int(g.nodes.size())) return a;
  auto isForward = [&](int v) {
    return g.values[v].kind == ValueKind::Op && g.values[v].def <= a.lastForward;
  };
  for (size_t n = a.lastForward + 1; n < g.nodes.size(); ++n)
    for (int o : g.nodes[n].operands)
      if (isForward(o)) a.kept[o] = true;
  std::vector<bool> banned(nv, false); // owners that must stay: outputs, updates, the loss
  for (int o : g.outputs)
    banned[a.root[o]] = true;
  for (const Update& u : g.updates)
    banned[a.root[u.value]] = true;
  banned[a.root[loss]] = true;
  for (size_t v = 0; v < nv; ++v) {
    if (!a.kept[v]) continue;
    int r = a.root[v];
    if (g.values[r].kind != ValueKind::Op || !isForward(r)) continue;
    a.members[r].push_back(int(v));
  }
  for (auto& [r, ms] : a.members) {
    bool ok = !banned[r] && recomputable(g.defOf(r).kind);
    for (int m : ms)
      ok = ok && !banned[m] && recomputable(g.defOf(m).kind);
    if (ok) a.candidates.push_back(r);
  }
  std::sort(a.candidates.begin(), a.candidates.end());
  return a;
}

int64_t cloneCost(const Graph& g, int v) {
  const Node& n = g.defOf(v);
  return nodeFlops(g, n) + g.type(v).numel();
}

/// The graph with the candidates in `chosen` recomputed in the backward. `cloned` (optional) gets
/// the original names of every clone, `extraFlops` their FLOPs.
Graph rewrite(const Graph& g, const Analysis& a, const std::vector<int>& chosen,
              std::vector<std::string>* cloned, int64_t* extraFlops) {
  size_t nv = g.values.size();
  std::vector<bool> recompute(nv, false); // kept values whose bytes are not kept any more
  for (int r : chosen)
    for (int m : a.members.at(r))
      recompute[m] = true;
  Graph out = g;
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() + 4 * chosen.size());
  std::unordered_map<int, int> cloneOf;
  std::set<std::string> names;
  if (extraFlops) *extraFlops = 0;
  // A forward operand must be cloned when its bytes are not there in the backward: it is being
  // recomputed, or nothing in the backward kept it alive.
  auto needsClone = [&](int v) {
    return g.values[v].kind == ValueKind::Op && g.values[v].def <= a.lastForward &&
           g.values[a.root[v]].kind == ValueKind::Op && (recompute[v] || !a.kept[v]);
  };
  std::function<int(int)> cloneValue = [&](int v) -> int {
    if (auto it = cloneOf.find(v); it != cloneOf.end()) return it->second;
    Node c = g.defOf(v);
    for (int& o : c.operands)
      if (needsClone(o)) o = cloneValue(o);
    Value val = g.values[v];
    std::string base = "remat." + val.name, name = base;
    for (int i = 1; g.find(name) >= 0 || names.count(name); ++i)
      name = base + "_" + std::to_string(i);
    names.insert(name);
    val.name = name;
    int id = int(out.values.size());
    out.values.push_back(std::move(val));
    c.result = id;
    if (extraFlops) *extraFlops += nodeFlops(g, g.defOf(v));
    if (cloned) cloned->push_back(g.values[v].name);
    nodes.push_back(std::move(c));
    cloneOf[v] = id;
    return id;
  };
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    Node node = g.nodes[n];
    if (int(n) > a.lastForward)
      for (int& o : node.operands)
        if (recompute[o]) o = cloneValue(o);
    nodes.push_back(std::move(node));
  }
  out.nodes = std::move(nodes);
  out.reindex();
  return out;
}

struct Probe {
  int chosen;
  int64_t peak;
  int64_t extraFlops;
};

} // namespace

Expected<bool> rematerialize(Graph& g, int64_t budget, RematReport* report, bool sweep) {
  RematReport local;
  RematReport& rep = report ? *report : local;
  rep = {};
  rep.budget = budget;
  if (budget <= 0 && !sweep) return false;
  Analysis a = analyze(g);
  rep.candidates = int(a.candidates.size());
  rep.stepFlops = computeStats(g).flops;

  // Cost of each candidate alone: the clones it needs (a dry rewrite would be wasteful; the
  // recursion is the same as rewrite's, without building a graph).
  std::vector<std::pair<double, int>> order; // (bytes per cost, owner)
  std::unordered_map<int, int64_t> costOf;
  for (int r : a.candidates) {
    std::set<int> visit;
    std::set<int> members(a.members.at(r).begin(), a.members.at(r).end());
    std::function<void(int)> walk = [&](int v) {
      if (!visit.insert(v).second) return;
      for (int o : g.defOf(v).operands)
        if (g.values[o].kind == ValueKind::Op && g.values[o].def <= a.lastForward &&
            g.values[a.root[o]].kind == ValueKind::Op && (members.count(o) || !a.kept[o]))
          walk(o);
    };
    for (int m : a.members.at(r))
      walk(m);
    int64_t cost = 0;
    for (int v : visit)
      cost += cloneCost(g, v);
    costOf[r] = cost;
    order.push_back({double(g.type(r).bytes()) / double(std::max<int64_t>(cost, 1)), r});
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  std::vector<int> ranked;
  for (auto& [ratio, r] : order)
    ranked.push_back(r);

  std::map<int, Probe> probes;
  auto probe = [&](int k) -> const Probe& {
    if (auto it = probes.find(k); it != probes.end()) return it->second;
    std::vector<int> chosen(ranked.begin(), ranked.begin() + k);
    int64_t flops = 0;
    Graph h = k ? rewrite(g, a, chosen, nullptr, &flops) : Graph(g);
    return probes[k] = Probe{k, plannedTotal(h), flops};
  };
  int n = int(ranked.size());
  rep.peakBefore = probe(0).peak;
  // A coarse pass over the prefix lengths (the sweep's points), then a binary search between the
  // last coarse point over the budget and the first under it. The planned total is not monotone in
  // the prefix length everywhere (recomputing the logits makes them live beside their gradient),
  // so the coarse pass also finds the smallest plan for the error message.
  int steps = std::min(n, 16);
  std::vector<int> coarse;
  for (int i = 0; i <= steps; ++i)
    coarse.push_back(steps ? int(int64_t(n) * i / steps) : 0);
  bool needSearch = budget > 0 && rep.peakBefore > budget;
  if (sweep || needSearch)
    for (int k : coarse) {
      const Probe& p = probe(k);
      if (sweep) rep.sweep.push_back({p.chosen, p.peak, p.extraFlops});
    }
  int best = -1;
  if (needSearch) {
    int hi = -1;
    for (int k : coarse)
      if (probe(k).peak <= budget) {
        hi = k;
        break;
      }
    if (hi < 0) {
      // Refine around the smallest coarse point before giving up.
      int at = 0;
      for (int k : coarse)
        if (probe(k).peak < probe(at).peak) at = k;
      for (int k = std::max(0, at - n / 16); k <= std::min(n, at + n / 16); ++k)
        if (probe(k).peak <= budget) {
          hi = k;
          break;
        }
    }
    if (hi < 0) {
      int64_t smallest = INT64_MAX;
      for (auto& [k, p] : probes)
        smallest = std::min(smallest, p.peak);
      rep.smallest = smallest;
      return Diag{{},
                  fmt::format("--memory-budget {}: the smallest plan recomputation reaches is {} "
                              "({} bytes; {} without it)",
                              humanBytes(budget), humanBytes(smallest), smallest,
                              humanBytes(rep.peakBefore))};
    }
    int lo = 0; // the largest probed prefix below hi that is over the budget
    for (auto& [k, p] : probes)
      if (k < hi && p.peak > budget) lo = std::max(lo, k);
    while (hi - lo > 1) {
      int mid = (lo + hi) / 2;
      (probe(mid).peak <= budget ? hi : lo) = mid;
    }
    best = hi;
  }
  int64_t smallest = INT64_MAX;
  for (auto& [k, p] : probes)
    smallest = std::min(smallest, p.peak);
  rep.smallest = smallest;
  if (best <= 0) {
    rep.peakAfter = rep.peakBefore;
    return false;
  }
  std::vector<int> chosen(ranked.begin(), ranked.begin() + best);
  int64_t peak = probe(best).peak;
  // Pruning: a value in the prefix that is not live at the peak saves nothing and still costs its
  // FLOPs. The costliest chosen values are dropped one at a time, each drop kept when the plan
  // still fits (a bounded number of probes: the cheap ones are not worth a plan each).
  std::vector<int> byCost = chosen;
  std::stable_sort(byCost.begin(), byCost.end(),
                   [&](int x, int y) { return costOf[x] > costOf[y]; });
  for (size_t i = 0; i < byCost.size() && i < 24; ++i) {
    std::vector<int> trial;
    for (int r : chosen)
      if (r != byCost[i]) trial.push_back(r);
    int64_t total = plannedTotal(rewrite(g, a, trial, nullptr, nullptr));
    if (total <= budget) {
      chosen = std::move(trial);
      peak = total;
    }
  }
  for (int r : chosen)
    rep.recomputed.push_back(
        {g.values[r].name, std::string(opName(g.defOf(r).kind)), g.type(r).bytes()});
  g = rewrite(g, a, chosen, &rep.cloned, &rep.extraFlops);
  rep.peakAfter = peak;
  return true;
}

Expected<int64_t> parseByteSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.'))
    ++i;
  std::string number = text.substr(0, i), unit = text.substr(i);
  double value = 0;
  bool ok = !number.empty();
  try {
    if (ok) value = std::stod(number);
  } catch (...) {
    ok = false;
  }
  static const std::pair<const char*, double> units[] = {
      {"", 1},
      {"B", 1},
      {"K", 1024.0},
      {"KiB", 1024.0},
      {"KB", 1e3},
      {"M", 1048576.0},
      {"MiB", 1048576.0},
      {"MB", 1e6},
      {"G", 1073741824.0},
      {"GiB", 1073741824.0},
      {"GB", 1e9},
  };
  double scale = 0;
  for (auto [name, s] : units)
    if (unit == name) scale = s;
  if (!ok || scale == 0 || !(value > 0) || value * scale > 9e18)
    return Diag{{},
                fmt::format("--memory-budget '{}': expected a size such as 3GiB, 800MiB or "
                            "1.5G (or 'sweep')",
                            text)};
  return int64_t(std::llround(value * scale));
}

std::string rematReportText(const RematReport& r) {
  std::string out;
  auto pct = [&](int64_t flops) {
    return r.stepFlops ? 100.0 * double(flops) / double(r.stepFlops) : 0.0;
  };
  if (r.budget > 0)
    out += fmt::format("memory budget {}: planned {} ({} without recomputation)\n",
                       humanBytes(r.budget), humanBytes(r.peakAfter), humanBytes(r.peakBefore));
  else
    out += fmt::format("memory budget sweep: planned {} without recomputation, {} with every "
                       "candidate recomputed\n",
                       humanBytes(r.peakBefore), humanBytes(r.smallest));
  if (r.budget > 0) {
    out += fmt::format("  recomputed     {} of {} candidates ({} clones), extra FLOPs {} ({:.2f}% "
                       "of the step)\n",
                       r.recomputed.size(), r.candidates, r.cloned.size(),
                       groupDigits(r.extraFlops), pct(r.extraFlops));
    // By op kind, in the greedy's order of first appearance.
    std::vector<std::string> kinds;
    for (const RematReport::Item& it : r.recomputed)
      if (std::find(kinds.begin(), kinds.end(), it.op) == kinds.end()) kinds.push_back(it.op);
    for (const std::string& k : kinds) {
      int count = 0;
      int64_t bytes = 0;
      std::string names;
      for (const RematReport::Item& it : r.recomputed) {
        if (it.op != k) continue;
        ++count, bytes += it.bytes;
        if (count <= 3) names += (names.empty() ? "%" : ", %") + it.name;
      }
      if (count > 3) names += ", ...";
      out +=
          fmt::format("    {:<20} {:>4} values {:>10}  {}\n", k, count, humanBytes(bytes), names);
    }
  }
  if (!r.sweep.empty()) {
    out += fmt::format("  {:>10} {:>12} {:>22} {:>8}\n", "recomputed", "planned", "extra FLOPs",
                       "of step");
    for (const RematReport::Point& p : r.sweep)
      out += fmt::format("  {:>10} {:>12} {:>22} {:>7.2f}%\n", p.chosen, humanBytes(p.peak),
                         groupDigits(p.extraFlops), pct(p.extraFlops));
  }
  return out;
}

std::string rematSweepSvg(const RematReport& r, const std::string& title) {
  const int w = 720, h = 420, left = 80, right = 20, top = 40, bottom = 50;
  double maxX = 0, maxY = 0;
  for (const RematReport::Point& p : r.sweep) {
    maxX = std::max(maxX, r.stepFlops ? 100.0 * double(p.extraFlops) / double(r.stepFlops) : 0.0);
    maxY = std::max(maxY, double(p.peak));
  }
  maxX = maxX > 0 ? maxX * 1.05 : 1;
  maxY = maxY > 0 ? maxY * 1.05 : 1;
  auto X = [&](double pct) { return left + (w - left - right) * pct / maxX; };
  auto Y = [&](double bytes) { return h - bottom - (h - top - bottom) * bytes / maxY; };
  std::string out = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" "
                                "height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n",
                                w, h);
  out += fmt::format("<rect width=\"{}\" height=\"{}\" fill=\"white\"/>\n", w, h);
  out += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"14\">{}</text>\n", left, title);
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", left,
                     h - bottom, w - right);
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", left,
                     h - bottom, top);
  for (int i = 0; i <= 4; ++i) {
    double y = maxY * i / 4, x = maxX * i / 4;
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6,
                       Y(y) + 4, humanBytes(int64_t(y)));
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.2f}%</text>\n", X(x),
                       h - bottom + 16, x);
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">extra FLOPs (% of the "
                     "step)</text>\n",
                     (left + w - right) / 2, h - 10);
  out += fmt::format("<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" "
                     "text-anchor=\"middle\">planned memory</text>\n",
                     (top + h - bottom) / 2, (top + h - bottom) / 2);
  if (r.budget > 0 && r.budget < maxY)
    out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"red\" "
                       "stroke-dasharray=\"6 4\"/>\n",
                       left, Y(double(r.budget)), w - right, Y(double(r.budget)));
  std::string pts;
  for (const RematReport::Point& p : r.sweep) {
    double x = X(r.stepFlops ? 100.0 * double(p.extraFlops) / double(r.stepFlops) : 0.0);
    double y = Y(double(p.peak));
    pts += fmt::format("{:.1f},{:.1f} ", x, y);
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"steelblue\"><title>{} "
                       "recomputed: {}, +{:.2f}% FLOPs</title></circle>\n",
                       x, y, p.chosen, humanBytes(p.peak),
                       r.stepFlops ? 100.0 * double(p.extraFlops) / double(r.stepFlops) : 0.0);
  }
  out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"steelblue\"/>\n", pts);
  out += "</svg>\n";
  return out;
}

Expected<bool> runRemat(PassContext& ctx) {
  if (ctx.memoryBudget <= 0 && !ctx.memoryBudgetSweep) return false;
  if (ctx.noMemoryPlan)
    return Diag{{}, "--memory-budget needs the memory plan (drop --no-memory-plan)"};
  auto report = std::make_shared<RematReport>();
  Expected<bool> changed =
      rematerialize(ctx.graph, ctx.memoryBudget, report.get(), ctx.memoryBudgetSweep);
  if (!changed) {
    // Recomputation keeps whole values: a language model's [rows, V] logits (and their gradient)
    // stay the floor. The fused, chunked head (passes/fuse_lm_head.cpp) removes them, so say so.
    auto fused = ctx.options.find("lm-head.fused");
    bool headFused = fused != ctx.options.end() && fused->second == "1";
    bool hasLoss = std::any_of(ctx.graph.nodes.begin(), ctx.graph.nodes.end(),
                               [](const Node& n) { return n.kind == OpKind::CrossEntropy; });
    if (!hasLoss || headFused) return changed.error();
    return Diag{changed.error().loc,
                fmt::format("{}; --fused-lm-head can go lower (the logits are then never whole)",
                            changed.error().message)};
  }
  ctx.count("remat.values", int64_t(report->recomputed.size()));
  ctx.count("remat.clones", int64_t(report->cloned.size()));
  ctx.count("remat.extra-flops", report->extraFlops);
  ctx.remat = report;
  return *changed;
}

} // namespace gptc
