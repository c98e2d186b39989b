// The verifier: a Graph is well formed when every operand is defined before its use (so there are no
// cycles), names are unique, every node's attributes fit its op's schema and its result type is what
// the op's shape rule says, outputs and updates name existing values of matching types.
#pragma once
#include "ir/graph.h"

#include <string>

namespace gptc {

/// "" when the graph is well formed, else the first problem found (with the op's source location).
std::string verifyGraph(const Graph& g);

} // namespace gptc
