// schedule: the execution order of a graph's ops, chosen to keep memory low.
//
// Heuristic (greedy list scheduling): among the ops whose operands are ready, run one that frees at
// least as many arena bytes as it allocates (it is the last reader of a buffer, e.g. an optimizer
// update consuming a finished gradient, or a view) if there is one; otherwise the ready op that
// came first in program order. So the program's order is kept except that memory-freeing ops move
// as early as their operands allow. Ops that overwrite persistent state (`update`) wait for every
// other reader of that state (anti-dependencies). Then, stage 2, an op whose result is larger than
// what it frees is sunk to just before its first successor (schedule.cpp, sinkLargeProducers): the
// list scheduler runs ready ops early, and a large result computed long before anything reads it
// only holds memory. What it leaves to others: placement (plan_memory.cpp).
#pragma once
#include "ir/graph.h"
#include "passes/liveness.h"

#include <vector>

namespace gptc {

std::vector<int> programOrder(const Graph& g);
/// `preferFreeing` false: program order, changed only where an update must wait for readers of its
/// state (the naive plan's schedule).
std::vector<int> scheduleForMemory(const Graph& g, const StorageInfo& storage,
                                   bool preferFreeing = true);

} // namespace gptc
