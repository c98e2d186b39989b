// Interpreter kernels for the fused LM head (linear_cross_entropy, made by
// passes/fuse_lm_head.cpp). Each runs the ops it replaces one after the other through evalOp, in
// the order autodiff builds them from the unfused matmul + cross_entropy: on the interpreter a
// graph with the fused head computes exactly what the unfused graph computes (bit for bit), so it
// stays the oracle for the JIT's chunked kernels (codegen/lower_lm_head.cpp). It materializes the
// [rows, N] logits, as the composition does; never making them whole is the JIT's business.
#include "runtime/interp/interpreter_kernels.h"

namespace gptc {
namespace {

Attrs xentAttrs(const Attrs& a) {
  return {{"ignore_index", attrInt(a, "ignore_index")}, {"classes", attrInt(a, "classes")}};
}

/// logits = matmul(x, w){tb = 1}   (...,N)
std::string logitsOf(const EvalArgs& e, Tensor& logits) {
  return evalOp(OpKind::MatMul, {e.in[0], e.in[1]}, (Attrs{{"ta", int64_t(0)}, {"tb", int64_t(1)}}),
                logits);
}

} // namespace

std::string eval_LinearCrossEntropy(EvalArgs& e) {
  // cross_entropy(matmul(x, w){tb=1}, targets)
  Tensor logits, loss;
  if (std::string err = logitsOf(e, logits); !err.empty()) return err;
  if (std::string err = evalOp(OpKind::CrossEntropy, {&logits, e.in[2]}, xentAttrs(e.attrs), loss);
      !err.empty())
    return err;
  e.out.f = std::move(loss.f);
  return "";
}

std::string eval_LinearCrossEntropyGrad(EvalArgs& e) {
  // What autodiff builds from the unfused ops (passes/gradients.cpp, matmul with a shared 2-D b):
  // dlogits = cross_entropy_grad(logits, targets, dloss); dx = matmul(dlogits, w);
  // dw = matmul(dlogits as [rows,N], x as [rows,C]){ta=1}. Packed [dx, dw].
  const Tensor &x = *e.in[0], &w = *e.in[1];
  int64_t C = x.type.shape.back(), N = w.type.shape[0], rows = x.numel() / C;
  Tensor logits, dlogits, dx, dw;
  if (std::string err = logitsOf(e, logits); !err.empty()) return err;
  if (std::string err = evalOp(OpKind::CrossEntropyGrad, {&logits, e.in[2], e.in[3]},
                               xentAttrs(e.attrs), dlogits);
      !err.empty())
    return err;
  if (std::string err = evalOp(OpKind::MatMul, {&dlogits, &w}, {}, dx); !err.empty()) return err;
  Tensor dRows = dlogits, xRows = x; // the flattened [rows, N] and [rows, C] views
  dRows.type.shape = {rows, N};
  xRows.type.shape = {rows, C};
  if (std::string err = evalOp(OpKind::MatMul, {&dRows, &xRows},
                               (Attrs{{"ta", int64_t(1)}, {"tb", int64_t(0)}}), dw);
      !err.empty())
    return err;
  std::copy(dx.f.begin(), dx.f.end(), e.out.f.begin());
  std::copy(dw.f.begin(), dw.f.end(), e.out.f.begin() + int64_t(dx.f.size()));
  return "";
}

} // namespace gptc
