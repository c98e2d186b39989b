// The dead-node sweep behind the `dce` pass, callable by later passes (autodiff, fusion) that want
// a clean graph without running the pass. What it leaves to others: deciding what is dead beyond
// "reaches no output and no update" -- there is nothing else, all ops are pure.
#pragma once
#include "passes/pass_manager.h"

namespace gptc {

/// Removes every node whose result reaches no output and no update; returns how many.
int removeDeadNodes(Graph& g);

} // namespace gptc
