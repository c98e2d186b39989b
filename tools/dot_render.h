// tools/dot_render.h — Graphviz as an optional helper: dot text in, SVG out, by running the
// `dot` program when it is installed (Debian's graphviz; scripts/setup.sh installs it).
//
// What it leaves to others: writing dot (passes/graph_dot.h).
#pragma once
#include <string>

namespace gptc::tools {

/// Whether a `dot` program is on PATH.
bool haveGraphviz();

/// Runs `dot -Tsvg` on `dot`; "" and *svg filled, or one line saying why not.
std::string renderDot(const std::string& dot, std::string* svg);

} // namespace gptc::tools
