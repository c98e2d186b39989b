// The lower-einsum pass (see passes/lower_einsum.cpp): einsum into transpose, reshape, matmul and
// reduce_sum. Also called by differentiate() so that a graph differentiated outside a pipeline
// gets einsum's gradient from its lowering too.
#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace gptc {

/// Rewrites every einsum of `g` in place (the graph is rebuilt; names, outputs and updates are
/// kept). The number of einsums rewritten, or a located error for a spec that does not fit.
Expected<int> lowerEinsums(Graph& g);

Expected<bool> runLowerEinsum(PassContext& ctx);

} // namespace gptc
