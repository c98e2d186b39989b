// Interpreter kernels for the fused op kinds (ir/ops.def's last section, made by passes/fuse.cpp).
// Each runs the ops it replaces one after the other through evalOp, with the same attributes and
// the same f32 rounding between steps, so a fused graph's interpreter result is bit-identical to
// the unfused graph's: the interpreter stays the oracle for the fused JIT kernels, and fusion can
// be checked on the interpreter alone. Speed is the JIT's job (codegen/lower_fused.cpp).
#include "runtime/interpreter_kernels.h"

namespace gptc {
namespace {

/// Runs `kind` on `operands` into `out`; the message names the step that failed.
std::string step(OpKind kind, std::vector<const Tensor*> operands, Attrs attrs, Tensor& out) {
  return evalOp(kind, operands, attrs, out);
}

/// Moves `t` into the kernel's result (same type: the fused op's shape rule is the composition's).
void give(EvalArgs& e, Tensor& t) {
  e.out.f = std::move(t.f);
}

} // namespace

std::string eval_ScaleMaskSoftmax(EvalArgs& e) {
  // x (...,Tq,Tk) -> softmax(causal_mask(scale(x, s), offset))
  Tensor scaled, masked, y;
  if (auto err = step(OpKind::Scale, {e.in[0]}, {{"s", attrFloat(e.attrs, "s")}}, scaled);
      !err.empty())
    return err;
  if (auto err =
          step(OpKind::CausalMask, {&scaled}, {{"offset", attrInt(e.attrs, "offset")}}, masked);
      !err.empty())
    return err;
  if (auto err = step(OpKind::Softmax, {&masked}, {}, y); !err.empty()) return err;
  give(e, y);
  return "";
}

std::string eval_MaskedSoftmaxGrad(EvalArgs& e) {
  // y, dy (...,C), keep broadcasting to them -> scale(mask_fill(softmax_grad(y, dy), keep, 0), s)
  Tensor g, masked, out;
  if (auto err = step(OpKind::SoftmaxGrad, {e.in[0], e.in[1]}, {}, g); !err.empty()) return err;
  if (auto err = step(OpKind::MaskFill, {&g, e.in[2]}, {{"value", 0.0}}, masked); !err.empty())
    return err;
  if (auto err = step(OpKind::Scale, {&masked}, {{"s", attrFloat(e.attrs, "s")}}, out);
      !err.empty())
    return err;
  give(e, out);
  return "";
}

std::string eval_LinearGelu(EvalArgs& e) {
  // x (...,K), w (N,K), b (N) -> gelu(x @ w^T + b) (...,N)
  Tensor pre, y;
  if (auto err = step(OpKind::Linear, {e.in[0], e.in[1], e.in[2]}, {}, pre); !err.empty())
    return err;
  if (auto err = step(OpKind::Gelu, {&pre}, {}, y); !err.empty()) return err;
  give(e, y);
  return "";
}

std::string eval_MatMulGeluGrad(EvalArgs& e) {
  // a, b as matmul's; x (...,M,N) the GELU's input -> gelu_grad(x, a @ b)
  Tensor dy, dx;
  Attrs mm{{"ta", attrInt(e.attrs, "ta")}, {"tb", attrInt(e.attrs, "tb")}};
  if (auto err = step(OpKind::MatMul, {e.in[0], e.in[1]}, mm, dy); !err.empty()) return err;
  if (auto err = step(OpKind::GeluGrad, {e.in[2], &dy}, {}, dx); !err.empty()) return err;
  give(e, dx);
  return "";
}

std::string eval_EmbeddingGradAdd(EvalArgs& e) {
  // acc (rows,C), ids (...), dy (...,C) -> add(acc, embedding_grad(ids, dy){rows}). The add is
  // commutative bit for bit, so add(embedding_grad, acc) fuses to the same op.
  Tensor scattered, sum;
  Attrs rows{{"rows", e.in[0]->type.shape[0]}};
  if (auto err = step(OpKind::EmbeddingGrad, {e.in[1], e.in[2]}, rows, scattered); !err.empty())
    return err;
  if (auto err = step(OpKind::Add, {e.in[0], &scattered}, {}, sum); !err.empty()) return err;
  give(e, sum);
  return "";
}

} // namespace gptc
