// passes/svg_memory.h — a picture of a memory plan (gptc compile --emit=memory-svg, and the HTML
// report): the schedule runs left to right, the arena's bytes bottom to top, and every arena
// buffer is a bar from the op that writes it to the last op that reads it, at its offset. Bars
// that never overlap in time may share rows of bytes — that sharing is what the planner bought.
// The peak (the schedule position where the most bytes are live: the lower bound) is marked with
// a red line, the lower bound and the arena's size with dashed horizontal lines. Colours: forward
// values blue, gradients orange, optimizer results green, values the remat pass recomputes in the
// backward (%remat.<name>) purple.
//
// What it leaves to others: the plan itself (plan_memory.h), where the file goes (the CLI).
#pragma once
#include "passes/memory_plan.h"

#include <string>

namespace gptc {

/// A self-contained SVG (width x height user units). Each bar has a <title> tooltip: value name,
/// size, offset and live range.
std::string memoryTimelineSvg(const Graph& g, const MemoryPlan& plan, const std::string& title,
                              int width = 960, int height = 540);

} // namespace gptc
