// The interpreter's kernels for the generation ops (ir/ops.def, section "generation"): a slice and
// an overwrite at a runtime position, and the causal mask at a runtime offset. The start position
// is clamped as XLA clamps DynamicSlice/DynamicUpdateSlice, so no position can read or write out of
// bounds; the generator never relies on the clamp (it checks positions against the context first).
// What it leaves to others: the decode-step graph that uses them (passes/decode_step.cpp).
#include "runtime/interp/interpreter_kernels.h"

#include <algorithm>
#include <limits>

namespace gptc {
namespace {

int axisOf(const Attrs& attrs, int rank) {
  int64_t a = attrInt(attrs, "axis");
  return int(a < 0 ? a + rank : a);
}

} // namespace

std::string eval_DynamicSlice(EvalArgs& e) {
  // out = x[..., s:s+size, ...] on axis, s = clamp(start, 0, dim-size): (outer, size, inner)
  // blocks.
  const Tensor &x = *e.in[0], &start = *e.in[1]; // x (...,dim,...), start i32[]
  int axis = axisOf(e.attrs, x.type.rank());
  int64_t dim = x.type.shape[axis], size = e.out.type.shape[axis];
  int64_t s = std::clamp<int64_t>(start.i[0], 0, dim - size);
  int64_t inner = stridesOf(x.type.shape)[axis], outer = x.numel() / (dim * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < size; ++j)
      for (int64_t k = 0; k < inner; ++k)
        e.out.f[(o * size + j) * inner + k] = x.f[(o * dim + s + j) * inner + k];
  return "";
}

std::string eval_DynamicUpdateSlice(EvalArgs& e) {
  // out = x, then out[..., s:s+n, ...] = update, s = clamp(start, 0, dim-n).
  const Tensor &x = *e.in[0], &u = *e.in[1], &start = *e.in[2]; // x (...,dim,...), u (...,n,...)
  int axis = axisOf(e.attrs, x.type.rank());
  int64_t dim = x.type.shape[axis], n = u.type.shape[axis];
  int64_t s = std::clamp<int64_t>(start.i[0], 0, dim - n);
  int64_t inner = stridesOf(x.type.shape)[axis], outer = x.numel() / (dim * inner);
  e.out.f = x.f;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < inner; ++k)
        e.out.f[(o * dim + s + j) * inner + k] = u.f[(o * n + j) * inner + k];
  return "";
}

std::string eval_CausalMaskAt(EvalArgs& e) {
  // x (...,Tq,Tk): query i (at position pos+i) may see key j only when j <= pos + i.
  const Tensor &x = *e.in[0], &pos = *e.in[1];
  int r = x.type.rank();
  int64_t tq = x.type.shape[r - 2], tk = x.type.shape[r - 1], p = pos.i[0];
  const float negInf = -std::numeric_limits<float>::infinity();
  for (int64_t idx = 0; idx < x.numel(); ++idx) {
    int64_t j = idx % tk, i = (idx / tk) % tq;
    e.out.f[idx] = j > i + p ? negInf : x.f[idx];
  }
  return "";
}

std::string eval_CacheMatMul(EvalArgs& e) {
  // a (...,T,D) · cache (...,ctx,D)ᵀ over the rows j < s + T written so far; 0 past them.
  const Tensor &a = *e.in[0], &c = *e.in[1], &pos = *e.in[2];
  int r = a.type.rank();
  int64_t T = a.type.shape[r - 2], D = a.type.shape[r - 1], ctx = c.type.shape[r - 2];
  int64_t rows = std::clamp<int64_t>(pos.i[0], 0, ctx - T) + T, batch = a.numel() / (T * D);
  for (int64_t bi = 0; bi < batch; ++bi)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < ctx; ++j) {
        double acc = 0.0;
        for (int64_t d = 0; j < rows && d < D; ++d)
          acc += double(a.f[(bi * T + t) * D + d]) * double(c.f[(bi * ctx + j) * D + d]);
        e.out.f[(bi * T + t) * ctx + j] = float(acc);
      }
  return "";
}

} // namespace gptc
