// Interpreter kernels for fused attention (ir/ops.def's last section, made by
// passes/fuse_attention.cpp). Like the other fused kinds (interpreter_ops_fused.cpp) each runs the
// ops it replaces one after the other through evalOp, so a graph with attention has, on the
// interpreter, exactly the unfused graph's forward (bit for bit) and the gradients autodiff builds
// from the unfused ops (the same ops in the same order, up to the sign of a masked zero): the
// interpreter stays the oracle for the JIT's blocked online-softmax kernels
// (codegen/lower_attention.cpp). It materializes the [...,Tq,Tk] weights, as the composition does;
// never materializing them is the JIT's business.
#include "runtime/interp/interpreter_kernels.h"

namespace gptc {
namespace {

struct AttentionArgs {
  const Tensor *q, *k, *v;
  const Tensor* keep = nullptr; ///< padded = 1
  const Tensor* seed = nullptr; ///< p > 0
};

AttentionArgs attentionArgs(const EvalArgs& e, size_t first) {
  AttentionArgs a{e.in[0], e.in[1], e.in[2]};
  size_t next = first;
  if (attrInt(e.attrs, "padded")) a.keep = e.in[next++];
  if (attrFloat(e.attrs, "p") > 0) a.seed = e.in[next++];
  return a;
}

/// The weights before dropout, w = softmax(mask_fill(causal_mask(scale(q kᵀ)))), and after it, wd.
std::string weights(const AttentionArgs& a, const Attrs& attrs, Tensor& w, Tensor& wd) {
  Tensor scores, scaled, causal, padded;
  if (std::string err = evalOp(OpKind::MatMul, {a.q, a.k},
                               (Attrs{{"ta", int64_t(0)}, {"tb", int64_t(1)}}), scores);
      !err.empty())
    return err;
  if (std::string err =
          evalOp(OpKind::Scale, {&scores}, (Attrs{{"s", attrFloat(attrs, "s")}}), scaled);
      !err.empty())
    return err;
  const Tensor* x = &scaled;
  if (attrInt(attrs, "causal")) {
    if (std::string err =
            evalOp(OpKind::CausalMask, {x}, (Attrs{{"offset", attrInt(attrs, "offset")}}), causal);
        !err.empty())
      return err;
    x = &causal;
  }
  if (a.keep) {
    if (std::string err = evalOp(OpKind::MaskFill, {x, a.keep}, {}, padded); !err.empty())
      return err;
    x = &padded;
  }
  if (std::string err = evalOp(OpKind::Softmax, {x}, {}, w); !err.empty()) return err;
  if (a.seed) {
    Attrs d{{"p", attrFloat(attrs, "p")}, {"salt", attrInt(attrs, "salt")}};
    if (std::string err = evalOp(OpKind::Dropout, {&w, a.seed}, d, wd); !err.empty()) return err;
  } else {
    wd = w;
  }
  return "";
}

} // namespace

std::string eval_Attention(EvalArgs& e) {
  // matmul(dropout(softmax(masks(scale(q kᵀ)))), v)
  AttentionArgs a = attentionArgs(e, 3);
  Tensor w, wd, out;
  if (std::string err = weights(a, e.attrs, w, wd); !err.empty()) return err;
  if (std::string err = evalOp(OpKind::MatMul, {&wd, a.v}, {}, out); !err.empty()) return err;
  e.out.f = std::move(out.f);
  return "";
}

std::string eval_AttentionGrad(EvalArgs& e) {
  // What autodiff builds from the unfused ops, in its order: dv = wdᵀ dout; dwd = dout vᵀ;
  // dw = dropout(dwd) (the same mask); ds = softmax_grad(w, dw) (zero where masked, as w is);
  // dscores = s ds; dq = dscores k; dk = dscoresᵀ q. Packed [dq, dk, dv].
  AttentionArgs a = attentionArgs(e, 5);
  const Tensor* dout = e.in[4];
  Tensor w, wd, dv, dwd, dwDropped, ds, dscores, dq, dk;
  if (std::string err = weights(a, e.attrs, w, wd); !err.empty()) return err;
  if (std::string err =
          evalOp(OpKind::MatMul, {&wd, dout}, (Attrs{{"ta", int64_t(1)}, {"tb", int64_t(0)}}), dv);
      !err.empty())
    return err;
  if (std::string err =
          evalOp(OpKind::MatMul, {dout, a.v}, (Attrs{{"ta", int64_t(0)}, {"tb", int64_t(1)}}), dwd);
      !err.empty())
    return err;
  const Tensor* dw = &dwd;
  if (a.seed) {
    Attrs d{{"p", attrFloat(e.attrs, "p")}, {"salt", attrInt(e.attrs, "salt")}};
    if (std::string err = evalOp(OpKind::Dropout, {&dwd, a.seed}, d, dwDropped); !err.empty())
      return err;
    dw = &dwDropped;
  }
  if (std::string err = evalOp(OpKind::SoftmaxGrad, {&w, dw}, {}, ds); !err.empty()) return err;
  if (std::string err =
          evalOp(OpKind::Scale, {&ds}, (Attrs{{"s", attrFloat(e.attrs, "s")}}), dscores);
      !err.empty())
    return err;
  if (std::string err = evalOp(OpKind::MatMul, {&dscores, a.k},
                               (Attrs{{"ta", int64_t(0)}, {"tb", int64_t(0)}}), dq);
      !err.empty())
    return err;
  if (std::string err = evalOp(OpKind::MatMul, {&dscores, a.q},
                               (Attrs{{"ta", int64_t(1)}, {"tb", int64_t(0)}}), dk);
      !err.empty())
    return err;
  std::vector<float>& out = e.out.f;
  size_t at = 0;
  for (const Tensor* t : {&dq, &dk, &dv}) {
    std::copy(t->f.begin(), t->f.end(), out.begin() + at);
    at += t->f.size();
  }
  return "";
}

} // namespace gptc
