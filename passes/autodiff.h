// Reverse-mode automatic differentiation as a graph pass: appends to a forward Graph the ops that
// compute the gradient of a scalar loss with respect to every trained parameter (ValueKind::Param;
// never State or inputs). Each op kind's gradient rule lives in passes/gradients.cpp and emits
// ordinary IR ops, so the backward is printed, verified, optimised, planned and compiled exactly
// like the forward.
//
// Contract with the optimizer (passes/optimizer.h) and everyone else: the gradient of param `p` is
// the value named `grad.p` and is a graph output, so the interpreter and the trainer can read it.
// A param that does not reach the loss gets no `grad.p` (torch.optim skips params whose .grad is
// None, and so does our AdamW); the pass lists it in the result and as a warning.
//
// What it leaves to others: choosing the loss (the `loss` pass or the model's `output loss`), the
// update (passes/optimizer), removing dead or duplicate backward ops (simplify), fusing them.
#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

#include <string>
#include <vector>

namespace gptc {

struct AutodiffOptions {
  std::string loss = "loss"; ///< the value to differentiate; must be f32[]
};

struct AutodiffResult {
  struct ParamGrad {
    int param; ///< value id of the param
    int grad;  ///< value id of `grad.<param>`
  };
  std::vector<ParamGrad> grads; ///< in declaration order of the params
  std::vector<int> unused;      ///< params with no path to the loss (no gradient emitted)
  int opsAdded = 0;
};

/// Appends the backward of `options.loss` to `g`. Errors: no such loss, a loss that is not f32[],
/// an op on the path whose gradient rule refuses (e.g. a backward-only op: "not differentiable"),
/// located at that op.
Expected<AutodiffResult> differentiate(Graph& g, const AutodiffOptions& options = {});

/// The `autodiff` pass (passes/passes.def): differentiate(ctx.graph) with the default options,
/// reporting unused params as warnings and counting `autodiff.ops`.
Expected<bool> runAutodiffPass(PassContext& ctx);

/// The name the gradient of `param` gets: "grad.<param>".
std::string gradName(const std::string& param);

} // namespace gptc
