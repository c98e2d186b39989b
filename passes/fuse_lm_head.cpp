// fuse-lm-head: a language model's head and loss become one op, before autodiff.
//
//   cross_entropy(matmul(x, w){tb=1}, targets){ignore_index, classes}
//   -> linear_cross_entropy(x, w, targets){ignore_index, classes}
//
// Design (issue #17, item 3; the alternative was a pass after autodiff that cuts matmul ->
// cross_entropy -> grad ops into row chunks): a fused op made before autodiff, as fuse-attention
// makes `attention`. Its gradient rule (passes/gradients.cpp) is one linear_cross_entropy_grad
// whose result packs [dx, dw]; the kernels (codegen/lower_lm_head.cpp) compute the logits chunk by
// chunk of rows into a per-thread buffer, so the [rows, N] logits (GPT-2 at B 16, T 1024: 3.3 GB)
// and their gradient (as much again) exist nowhere in the step. The price is FLOPs: the backward
// recomputes the logits twice (for dx by chunks of rows, for dw by slices of w's rows, which keeps
// dw's sum over rows in row order for any thread count), five head-sized matmuls instead of three.
// A tied w (GPT-2's wte) needs nothing special: autodiff adds dw to the embedding's gradient.
//
// Training only (the train pipeline; on with --fused-lm-head, pass option lm-head.fused = 1): the
// training step hands out the loss, never the logits (the optimizer pass drops the forward's other
// outputs), so this pass drops the `logits` output it absorbs. Inference, generation, --eval and
// --trace, which ask for the logits, keep the unfused pair. A matmul that another op reads (or
// with a 3-D w, or transposed x) stays unfused; `linear` heads with a bias (seq2seq) too.
//
// What it leaves to others: the kernels (runtime/interp/interpreter_ops_lm_head.cpp, the
// composition; codegen/lower_lm_head.cpp, chunked), the gradient (gradients.cpp), the dead matmul
// (dce, called here).
#include "passes/dce.h"
#include "passes/pass_manager.h"

#include <algorithm>

namespace gptc {

Expected<bool> runFuseLmHead(PassContext& ctx) {
  auto on = ctx.options.find("lm-head.fused");
  if (on == ctx.options.end() || on->second != "1") return false;
  Graph& g = ctx.graph;
  std::vector<int> readers(g.values.size(), 0);
  for (const Node& n : g.nodes)
    for (int o : n.operands)
      readers[o]++;
  for (const Update& u : g.updates)
    readers[u.value] += 2; // state updated from the logits: they must exist
  int fused = 0;
  for (Node& n : g.nodes) {
    if (n.kind != OpKind::CrossEntropy) continue;
    int logits = n.operands[0];
    if (g.value(logits).kind != ValueKind::Op || readers[logits] != 1) continue;
    const Node& mm = g.nodes[g.value(logits).def];
    if (mm.kind != OpKind::MatMul || attrInt(mm.attrs, "ta") || !attrInt(mm.attrs, "tb")) continue;
    int x = mm.operands[0], w = mm.operands[1];
    if (g.type(w).rank() != 2) continue;
    std::vector<int> operands{x, w, n.operands[1]};
    Attrs attrs{{"ignore_index", attrInt(n.attrs, "ignore_index")},
                {"classes", attrInt(n.attrs, "classes")}};
    Expected<TensorType> t =
        inferType(OpKind::LinearCrossEntropy, {g.type(x), g.type(w), g.type(n.operands[1])}, attrs);
    if (!t || *t != g.type(n.result)) continue;
    n.kind = OpKind::LinearCrossEntropy;
    n.operands = std::move(operands);
    n.attrs = std::move(attrs);
    std::erase(g.outputs, logits); // the training step does not hand the logits out
    ++fused;
  }
  if (!fused) return false;
  ctx.count("fuse-lm-head.linear_cross_entropy", fused);
  ctx.count("fuse-lm-head.dce-removed", removeDeadNodes(g));
  return true;
}

} // namespace gptc
