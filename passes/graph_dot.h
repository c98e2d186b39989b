// passes/graph_dot.h — a Graph as Graphviz dot text (gptc compile --emit=dot): one box per op
// with its result's name, op kind and shape, one ellipse per input, param and state, an edge per
// operand. Boxes are coloured by the part of the step they belong to — forward (blue), backward
// (orange: gradients, named d.* / grad.*), optimizer (green: AdamW, the norm and clipping) — and
// views that emit no code are drawn dashed, so a dump of the train pipeline shows the three parts
// at a glance.
//
// What it leaves to others: rendering (Graphviz's `dot -Tsvg`, run by the CLI when installed) and
// choosing which graph to draw (the pipeline flags: --stop-after, --pipeline train, fusion).
#pragma once
#include "ir/graph.h"

#include <string>

namespace gptc {

struct DotOptions {
  bool shapes = true;       ///< the result type under each op
  bool declarations = true; ///< inputs, params and state as their own nodes
  std::string title;        ///< a label on top; empty: none
};

std::string graphToDot(const Graph& g, const DotOptions& options = {});

} // namespace gptc
