// The optimizer as a graph pass: appends AdamW (torch.optim.AdamW's algorithm, decoupled weight
// decay, bias correction) after the backward, as ordinary ops that update every param and its two
// moments in place through Graph::updates (`update %wte = %wte.new`).
//
// What the pass adds, per param p with a gradient %grad.p (passes/autodiff.h):
//   state m.p, v.p : like p, init zeros           the moments persist across steps
//   %m.p.new = adamw_moment1(%m.p, %grad.p, %grad_clip) {beta = beta1}
//   %v.p.new = adamw_moment2(%v.p, %grad.p, %grad_clip) {beta = beta2}
//   %p.new   = adamw_update(%p, %m.p.new, %v.p.new, %lr, %step) {beta1, beta2, eps, wd}
// and once: `input lr : f32[]`, `input step : i32[]` (runtime scalars, so a schedule needs no
// recompiling; step counts updates from 1), `%grad_norm = global_norm(every grad)` as an output,
// and with clipping `%grad_clip = clip_scale(%grad_norm)`, which the moments apply to the gradient
// (without clipping they take two operands). The step's outputs are the loss and %grad_norm: the
// forward's other outputs are dropped unless OptimizerOptions::keepForwardOutputs.
//
// Weight decay goes only to per-layer matrices: params whose rank, per layer, is >= 2 (a param read
// through `select` is a stack over layers, so its per-layer rank is its rank - 1). Biases,
// LayerNorm weights and other vectors are not decayed (nanoGPT's and llm.c's rule).
//
// The hyperparameters are the pass's options (PassContext::options: optimizer.beta1, .beta2, .eps,
// .weight-decay, .grad-clip), defaulting to nanoGPT's (0.9, 0.95, 1e-8, 0.1, 1.0); the command line
// sets them with --beta1, --beta2, --eps, --weight-decay, --grad-clip (tools/options.h). They are
// attributes of the update ops, so they are fixed per compiled step; the learning rate and step
// stay runtime inputs, so a schedule never recompiles. What it leaves
// to others: the learning-rate schedule and the step counter (the trainer), fusing the update ops
// (fusion passes), their JIT lowering (codegen).
#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

#include <map>
#include <string>
#include <vector>

namespace gptc {

struct OptimizerOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weightDecay = 0.1; ///< for per-layer matrices only
  double clip = 1.0;        ///< max global gradient norm; 0 = no clipping
  bool keepGradients =
      false; ///< keep grad.<p> as outputs (tests, parity); else only the update reads them
  /// Keep the forward's other outputs (`logits`) as outputs of the training step. Off: the step's
  /// caller reads the loss and the gradient norm, and an output lives to the end of the step, so
  /// GPT-2's logits (49 MiB) would sit at the memory peak beside every gradient. The values stay
  /// in the graph under their names (the study tracer observes them by name).
  bool keepForwardOutputs = false;
  /// ZeRO-1 over this many ranks (pass options data-parallel.zero=1 and data-parallel.ranks; 0:
  /// none). passes/data_parallel.cpp left each %grad.p as this rank's slice f32[S], S =
  /// ceil(numel/ranks), and the runtime input `rank : i32[]`; then per param:
  ///   state m.p, v.p : f32[S]                       this rank's slice of the moments
  ///   %p.slice = reshape(dynamic_slice(reshape(pad(reshape(%p, [n])), [ranks, S]), %rank), [S])
  ///   %p.slice.new = adamw_update(%p.slice, %m.p.new, %v.p.new, %lr, %step)
  ///   %p.new = all_gather(%p.slice.new) {ranks, shape = p's}
  /// and %grad_norm = global_norm(all_gather(each rank's norm of its slices)): the whole norm.
  int zeroRanks = 0;
};

struct OptimizerResult {
  std::vector<int> params;  ///< updated params (value ids), declaration order
  std::vector<int> decayed; ///< the subset that gets weight decay
  int gradNorm = -1;        ///< the %grad_norm output
  int opsAdded = 0;
};

/// Whether AdamW decays `param`: its per-layer rank is >= 2 (see above).
bool decaysWeights(const Graph& g, int param);

/// Appends the AdamW update for every param that has a %grad.<param>. Errors: no gradients at all
/// (autodiff has not run), an existing `lr`/`step` value of another kind or type, a name clash.
Expected<OptimizerResult> appendAdamW(Graph& g, const OptimizerOptions& options = {});

/// The optimizer's settings as pass options (PassContext::options), the way a caller hands them to
/// the `optimizer` pass through the driver: "optimizer.beta1", "optimizer.beta2", "optimizer.eps",
/// "optimizer.weight-decay", "optimizer.grad-clip" (0 = no clipping), each a decimal number written
/// so that it reads back exactly.
std::map<std::string, std::string> optimizerPassOptions(const OptimizerOptions& options);

/// The settings in `passOptions` over the defaults; a Diag names a malformed or out-of-range one
/// (betas in [0, 1), eps > 0, weight decay and clip >= 0).
Expected<OptimizerOptions>
optimizerOptionsFrom(const std::map<std::string, std::string>& passOptions);

/// The `optimizer` pass (passes/passes.def): appendAdamW with the options in ctx.options (the
/// defaults above when none are given).
Expected<bool> runOptimizerPass(PassContext& ctx);

} // namespace gptc
