// remat: rematerialization under a memory budget (gptc compile/run --memory-budget SIZE).
//
// A training step keeps every forward value the backward reads, from the forward pass to its last
// backward reader; at long contexts those activations are most of the step's memory. Under a
// budget this pass chooses forward values that the backward recomputes instead of keeping: each
// chosen value gets a clone, `%remat.<name>`, computed by the same op from the same operands just
// before its first backward reader, and the backward reads the clone. Recomputation uses the same
// kernels on the same bytes (dropout's mask is a pure function of seed, salt and index), so the
// step's results are bit-identical with and without it. See passes/remat.cpp for the algorithm.
//
// What it leaves to others: the schedule and the placement (plan-memory plans the rewritten graph)
// and the proof that the plan fits the budget (check-plan, plan_checker.cpp).
#pragma once
#include "ir/diag.h"
#include "ir/graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

/// What remat decided, for the compile summary and the sweep table.
struct RematReport {
  int64_t budget = 0;     ///< bytes; 0 = no budget (sweep)
  int64_t peakBefore = 0; ///< planned total (persistent + inputs + arena) without remat
  int64_t peakAfter = 0;  ///< planned total of the chosen plan
  int64_t smallest = 0;   ///< the smallest planned total remat reached
  int64_t stepFlops = 0;  ///< FLOPs of the step without remat
  int64_t extraFlops = 0; ///< FLOPs of the clones
  int candidates = 0;     ///< forward values the backward reads, recomputable
  struct Item {
    std::string name; ///< the original forward value
    std::string op;   ///< its op kind
    int64_t bytes = 0;
  };
  std::vector<Item> recomputed;    ///< the chosen forward values, best saving per FLOP first
  std::vector<std::string> cloned; ///< every clone made (chosen values and what they needed)
  struct Point {
    int chosen = 0;   ///< candidates recomputed (a prefix of the greedy order)
    int64_t peak = 0; ///< planned total
    int64_t extraFlops = 0;
  };
  std::vector<Point> sweep; ///< --memory-budget sweep: from no remat to every candidate
};

/// Planned total of a graph (persistent + inputs + arena), as plan-memory would plan it.
int64_t plannedTotal(const Graph& g);

/// Rewrites `g` to fit `budget` bytes of planned memory with the fewest extra FLOPs the greedy
/// finds. budget <= 0: no change. A budget below the smallest reachable plan is a Diag that states
/// that smallest plan. `sweep`: also fill report->sweep (and change nothing when budget <= 0).
Expected<bool> rematerialize(Graph& g, int64_t budget, RematReport* report = nullptr,
                             bool sweep = false);

/// The compile summary's lines: budget, planned total, extra FLOPs, what was recomputed (by op
/// kind), and with a sweep the trade-off table.
std::string rematReportText(const RematReport& report);

/// The sweep as an SVG curve: planned total (y) against extra FLOPs in % of the step (x), with the
/// budget (if any) as a dashed line.
std::string rematSweepSvg(const RematReport& report, const std::string& title);

/// "3GiB", "800MiB", "1.5G", "123456" -> bytes; a Diag for anything else.
Expected<int64_t> parseByteSize(const std::string& text);

} // namespace gptc
