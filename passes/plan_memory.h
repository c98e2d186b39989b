// plan-memory: offset assignment in the arena, in-place reuse, and the plan's report.
//
// Stages: (1) storage analysis (liveness.h: views and update aliases); (2) the schedule
// (schedule.h); (3) in-place reuse: an op marked in_place in ir/ops.def writes its result over
// operand 0 when that buffer dies at the op and the sizes match (every refusal has a reason,
// printed with --explain-memory); (3b) stack in place: operands of a `stack` whose storage dies
// there are computed straight into their slice of the result, and the stack emits no code; (4)
// live intervals; (5) placement: several orders are tried —
// by size, by interval length, by start — each a best-fit over the free gaps of the buffers live at
// the same time, the smallest arena wins, and the search stops as soon as one reaches the lower
// bound. Persistent values (params, state) and inputs get their own regions in declaration order;
// observed values (PlanOptions::observe) follow the params and state in the Persistent region.
// What it leaves to others: proving the plan (plan_checker.cpp) and using it (codegen, runtime).
#pragma once
#include "passes/memory_plan.h"

#include <string>
#include <utility>
#include <vector>

namespace gptc {

struct PlanOptions {
  bool reorder = true; // memory-aware schedule; false keeps program order
  bool inPlace = true;
  bool stackInPlace = true; // stack operands written straight into their slice (plan_memory.cpp)
  bool explain = false;     // collect the reasons for refused in-place reuse
  /// Values to observe after the step (the study tracer, runtime/trace/trace.h): each one's storage
  /// goes to the Persistent region, after the params and state, and no in-place op may write over
  /// it, so its bytes still hold its value when run() returns. Nothing else changes: the schedule
  /// and every kernel are the same, only addresses move. Unknown names are ignored.
  std::vector<std::string> observe;
};

MemoryPlan planMemory(const Graph& g, const PlanOptions& opts = {});

/// The placement core, on plain intervals (inclusive [start, end], bytes already aligned): tries
/// each order, keeps the smallest, stops at `lowerBound`. Exposed for trace-replay tests.
struct BufferInterval {
  int64_t bytes;
  int start, end;
};
struct IntervalPlacement {
  std::vector<int64_t> offsets;
  int64_t bytes = 0;
  std::string strategy;
  std::vector<std::pair<std::string, int64_t>> tried; // order name -> arena bytes
};
IntervalPlacement placeIntervals(const std::vector<BufferInterval>& intervals, int64_t lowerBound);

/// The report: arena bytes, lower bound, naive sum, their ratios, persistent bytes by kind
/// (parameters, optimizer/other state), and the largest values live at the peak.
std::string memoryReport(const Graph& g, const MemoryPlan& plan, int topValues = 8);

/// "offset 0x1c00 size 12.0 KiB live [12, 40]" for a dump's annotation column.
std::string placementText(const MemoryPlan& plan, int valueId);

} // namespace gptc
