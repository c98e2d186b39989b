// Liveness: which bytes each value needs, and when.
//
// First the storage analysis: a value either owns bytes or shares another value's (a view: reshape,
// select of a stacked parameter, a contiguous slice; an in-place result; the new value of an
// `update`, which takes its state's bytes). Then, over a schedule, the live interval of every
// storage owner: from the op that defines it to the last op that reads it or any of its views.
// Values the caller reads after the step (outputs) live to the end.
//
// What it leaves to others: choosing the schedule (schedule.cpp) and the offsets (plan_memory.cpp).
#pragma once
#include "ir/graph.h"
#include "passes/memory_plan.h"

#include <string>
#include <vector>

namespace gptc {

struct StorageInfo {
  std::vector<int> viewOf;    // per value: -1 or the value whose bytes it shares
  std::vector<int64_t> delta; // per value: byte offset inside the viewed value
  std::vector<bool> noCode;   // per value: its op needs no code (a pure view)
  std::vector<int> root;      // per value: the storage owner after following views
};

/// Views that need no decision: reshape, select, contiguous slice, and update aliases.
StorageInfo analyzeViews(const Graph& g);

/// Follows viewOf links to the owner, filling `root` and adding up `delta`.
void resolveRoots(StorageInfo& s);

/// Schedule position of each node (-1 for unscheduled).
std::vector<int> positionsOf(const Graph& g, const std::vector<int>& schedule);

/// Live interval per storage owner: [start, end] in schedule positions (start -1 for values that
/// exist before the step; end = schedule size when read after it). Non-owners get [-1, -1].
struct Intervals {
  std::vector<int> start, end;
};
Intervals computeIntervals(const Graph& g, const std::vector<int>& schedule, const StorageInfo& s);

/// Bytes rounded up to kBufferAlign.
inline int64_t alignUp(int64_t bytes) {
  return (bytes + kBufferAlign - 1) / kBufferAlign * kBufferAlign;
}

} // namespace gptc
