// The memory plan: where every value of a scheduled graph lives, decided before the first step
// runs.
//
// Three regions, each one contiguous block owned by the runtime:
//   Persistent — params, state (optimizer moments, KV caches) and the values that replace them
//                (`update %p = %p.new` aliases %p.new onto %p's bytes), laid out in declaration
//                order;
//   Input      — the values fed each step (tokens, targets, lr, step, seed);
//   Arena      — every other value; values whose live ranges do not overlap share bytes.
// A value may also be a View of another value's bytes (reshape, select of a stacked parameter,
// an in-place op's result): such a value has no storage of its own, and its op emits no code when
// the bytes already hold the right data (see `noCode`).
//
// Passes produce it (passes/schedule.cpp, liveness.cpp, plan_memory.cpp), passes/plan_checker.cpp
// verifies it, codegen and the runtime consume it: a value's address is base(region) + offset.
#pragma once
#include "ir/graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

enum class Region : uint8_t { Persistent, Input, Arena };
const char* regionName(Region);

/// Alignment of every buffer start in every region: a cache line, so that vector loads of a row
/// start aligned and two threads never write one line from two buffers.
constexpr int64_t kBufferAlign = 64;

struct ValuePlacement {
  Region region = Region::Arena;
  int64_t offset = 0; // bytes from the region's base
  int64_t bytes = 0;  // the value's size (type.bytes())
  int viewOf = -1;    // value id whose storage this value shares (reshape, select, in place), or -1
  bool noCode = false; // the defining op is a pure view: codegen and the runtime skip it
  int liveStart =
      -1; // schedule position of the defining op (-1: before the step; inputs, persistent)
  int liveEnd = -1; // last schedule position that reads it (schedule size: read after the step)
};

struct MemoryPlan {
  std::vector<int> schedule;             // node ids in execution order
  std::vector<ValuePlacement> placement; // indexed by value id
  int64_t persistentBytes = 0;
  int64_t inputBytes = 0;
  int64_t arenaBytes = 0;

  // The report (arena only): bytes of the plan, the lower bound (the most bytes live at any one
  // moment: no plan can do better) and the naive sum (every value its own buffer, as llm.c does).
  int64_t lowerBound = 0;
  int64_t naiveBytes = 0;
  int peakPosition = -1;                 // schedule position where the lower bound is reached
  std::string strategy;                  // which placement order won
  bool planned = true;                   // false: the naive plan (--no-memory-plan)
  std::vector<std::string> refusedReuse; // why in-place reuse was refused, op by op
  int64_t budget = 0; // --memory-budget: the checker proves the total fits (0: no budget)

  /// Address of a value's bytes, from the three region bases.
  int64_t offsetOf(int valueId) const { return placement[valueId].offset; }
  Region regionOf(int valueId) const { return placement[valueId].region; }
};

/// The trivial plan: schedule = program order, every value its own buffer, no reuse. Views still
/// share storage (a reshape is free). Used by codegen until passes/plan_memory.cpp lands, and by
/// --no-memory-plan.
MemoryPlan naivePlan(const Graph& g);

/// Independent check of a plan against its graph: every value placed in bounds and aligned, no two
/// values that are live at the same time overlap (views and declared in-place pairs excepted), the
/// schedule is a topological order, updates alias their state. "" or the first problem found.
std::string checkPlan(const Graph& g, const MemoryPlan& plan);

} // namespace gptc
