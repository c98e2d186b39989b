// The printer: a flat Graph in the text form the parser reads back.
//   input tokens : i32[4,64]
//   param wte : f32[50304,768] init normal(0.02)
//   %h.3 : f32[4,64,768] = layernorm(%x.3, %ln1w.3, %ln1b.3) {eps = 1e-05}   # gpt2.graph:21:7
//   output %loss
//   update %wte = %wte.new
#pragma once
#include "ir/graph.h"

#include <functional>
#include <string>

namespace gptc {

struct PrintOptions {
  bool locations = true; // trailing "# file:line:col"
  /// Extra text for a value's line (e.g. the memory plan's offset and live range), appended to the
  /// location comment. Empty function: none.
  std::function<std::string(int valueId)> annotate;
};

std::string printGraph(const Graph& g, const PrintOptions& opts = {});

} // namespace gptc
