// Interpreter kernels for the fused op kinds (ir/ops.def's last section, made by passes/fuse.cpp).
// Each runs the composition its op stands for (ir/fused_ops.h, the one definition of its math)
// step by step through evalOp, with the same attributes and the same f32 rounding between steps,
// so a fused graph's interpreter result is bit-identical to the unfused graph's: the interpreter
// stays the oracle for the fused JIT kernels, and fusion can be checked on the interpreter alone.
// Speed is the JIT's job (codegen/lower_fused.cpp).
#include "runtime/interp/interpreter_kernels.h"

#include "ir/fused_ops.h"

namespace gptc {
namespace {

/// Evaluates the steps of `kind`'s composition in turn and moves the last one's values into the
/// kernel's result (same type: the fused op's shape rule is the composition's).
std::string evalComposition(OpKind kind, EvalArgs& e) {
  const Decomposition& d = *decompositionOf(kind);
  std::vector<TensorType> types;
  for (const Tensor* t : e.in)
    types.push_back(t->type);
  std::vector<Tensor> results(d.steps.size());
  for (size_t k = 0; k < d.steps.size(); ++k) {
    const FusedStep& s = d.steps[k];
    std::vector<const Tensor*> operands;
    for (StepOperand o : s.operands)
      operands.push_back(o.fromStep ? &results[size_t(o.index)] : e.in[size_t(o.index)]);
    Attrs attrs;
    if (std::string err = stepAttrs(s, e.attrs, types, &attrs); !err.empty()) return err;
    if (std::string err = evalOp(s.kind, operands, attrs, results[k]); !err.empty()) return err;
  }
  e.out.f = std::move(results.back().f);
  return "";
}

} // namespace

// x (...,Tq,Tk) -> softmax(causal_mask(scale(x, s), offset))
std::string eval_ScaleMaskSoftmax(EvalArgs& e) {
  return evalComposition(OpKind::ScaleMaskSoftmax, e);
}
// y, dy (...,C), keep broadcasting to them -> scale(mask_fill(softmax_grad(y, dy), keep, 0), s)
std::string eval_MaskedSoftmaxGrad(EvalArgs& e) {
  return evalComposition(OpKind::MaskedSoftmaxGrad, e);
}
// x (...,K), w (N,K), b (N) -> gelu(x @ w^T + b) (...,N)
std::string eval_LinearGelu(EvalArgs& e) {
  return evalComposition(OpKind::LinearGelu, e);
}
// a, b as matmul's; x (...,M,N) the GELU's input -> gelu_grad(x, a @ b)
std::string eval_MatMulGeluGrad(EvalArgs& e) {
  return evalComposition(OpKind::MatMulGeluGrad, e);
}
// acc (rows,C), ids (...), dy (...,C) -> add(acc, embedding_grad(ids, dy){rows}). The add is
// commutative bit for bit, so add(embedding_grad, acc) fuses to the same op.
std::string eval_EmbeddingGradAdd(EvalArgs& e) {
  return evalComposition(OpKind::EmbeddingGradAdd, e);
}

} // namespace gptc
