// Interpreter kernels for the layout ops: reshape, transpose, split/merge heads, slice, pad,
// concat, select, stack, broadcast. Each is a pure index map — every output element is copied from
// exactly one input element (or is zero, for pad) — and works for f32 and i32 alike (token ids and
// masks are reshaped and sliced too). They always copy; views and in-place reuse are the memory
// planner's job.
#include "runtime/interp/interpreter_kernels.h"

namespace gptc {
namespace {

/// Splits a flat index into coordinates of `shape` (row-major).
void unflatten(int64_t flat, const Shape& shape, std::vector<int64_t>& coord) {
  coord.resize(shape.size());
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    coord[d] = flat % shape[d];
    flat /= shape[d];
  }
}

int normAxis(int64_t axis, int rank) {
  return int(axis < 0 ? axis + rank : axis);
}

} // namespace

std::string eval_Reshape(EvalArgs& e) {
  // Same elements in the same row-major order.
  for (int64_t i = 0; i < e.out.numel(); ++i)
    copyElement(e.out, i, *e.in[0], i);
  return "";
}

std::string eval_Transpose(EvalArgs& e) {
  // out[c_0..c_{r-1}] = x[...] with x's axis perm[d] at out's axis d.
  const Tensor& x = *e.in[0];
  const auto& perm = attrInts(e.attrs, "perm");
  std::vector<int64_t> xStride = stridesOf(x.type.shape), coord;
  for (int64_t i = 0; i < e.out.numel(); ++i) {
    unflatten(i, e.out.type.shape, coord);
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); ++d)
      src += coord[d] * xStride[perm[d]];
    copyElement(e.out, i, x, src);
  }
  return "";
}

std::string eval_SplitHeads(EvalArgs& e) {
  // x (B,T,H*D) -> (B,H,T,D): out[b,h,t,d] = x[b,t,h*D+d]
  const Tensor& x = *e.in[0];
  const Shape& s = e.out.type.shape;
  int64_t B = s[0], H = s[1], T = s[2], D = s[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d)
          copyElement(e.out, ((b * H + h) * T + t) * D + d, x, (b * T + t) * H * D + h * D + d);
  return "";
}

std::string eval_MergeHeads(EvalArgs& e) {
  // x (B,H,T,D) -> (B,T,H*D): out[b,t,h*D+d] = x[b,h,t,d]
  const Tensor& x = *e.in[0];
  const Shape& s = x.type.shape;
  int64_t B = s[0], H = s[1], T = s[2], D = s[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d)
          copyElement(e.out, (b * T + t) * H * D + h * D + d, x, ((b * H + h) * T + t) * D + d);
  return "";
}

std::string eval_Slice(EvalArgs& e) {
  // out = x[..., start:end, ...] on `axis`: seen as (outer, len, inner) blocks.
  const Tensor& x = *e.in[0];
  int axis = normAxis(attrInt(e.attrs, "axis"), x.type.rank());
  int64_t start = attrInt(e.attrs, "start");
  int64_t inner = stridesOf(x.type.shape)[axis], len = e.out.type.shape[axis];
  int64_t xLen = x.type.shape[axis], outer = x.numel() / (xLen * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < len; ++j)
      for (int64_t k = 0; k < inner; ++k)
        copyElement(e.out, (o * len + j) * inner + k, x, (o * xLen + start + j) * inner + k);
  return "";
}

std::string eval_Pad(EvalArgs& e) {
  // `before` zeros, x, `after` zeros along `axis` (out is zero-filled already).
  const Tensor& x = *e.in[0];
  int axis = normAxis(attrInt(e.attrs, "axis"), x.type.rank());
  int64_t before = attrInt(e.attrs, "before");
  int64_t inner = stridesOf(x.type.shape)[axis], xLen = x.type.shape[axis];
  int64_t outLen = e.out.type.shape[axis],
          outer = xLen * inner == 0 ? 0 : x.numel() / (xLen * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < xLen; ++j)
      for (int64_t k = 0; k < inner; ++k)
        copyElement(e.out, (o * outLen + before + j) * inner + k, x, (o * xLen + j) * inner + k);
  return "";
}

std::string eval_Concat(EvalArgs& e) {
  // xs[0], xs[1], ... one after another along `axis`.
  int axis = normAxis(attrInt(e.attrs, "axis"), e.out.type.rank());
  int64_t inner = stridesOf(e.out.type.shape)[axis], outLen = e.out.type.shape[axis];
  int64_t outer = outLen * inner == 0 ? 0 : e.out.numel() / (outLen * inner);
  int64_t at = 0; // where along the axis the current operand starts
  for (const Tensor* x : e.in) {
    int64_t len = x->type.shape[axis];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len; ++j)
        for (int64_t k = 0; k < inner; ++k)
          copyElement(e.out, (o * outLen + at + j) * inner + k, *x, (o * len + j) * inner + k);
    at += len;
  }
  return "";
}

std::string eval_Select(EvalArgs& e) {
  // x (N,...) -> x[index] (...): one contiguous block.
  int64_t block = e.out.numel(), index = attrInt(e.attrs, "index");
  for (int64_t i = 0; i < block; ++i)
    copyElement(e.out, i, *e.in[0], index * block + i);
  return "";
}

std::string eval_Stack(EvalArgs& e) {
  // xs[k] (...) -> out[k] (n,...)
  int64_t block = e.in[0]->numel();
  for (size_t k = 0; k < e.in.size(); ++k)
    for (int64_t i = 0; i < block; ++i)
      copyElement(e.out, int64_t(k) * block + i, *e.in[k], i);
  return "";
}

std::string eval_Broadcast(EvalArgs& e) {
  BroadcastIndex src(e.out.type.shape, e.in[0]->type.shape);
  for (int64_t i = 0; i < e.out.numel(); ++i)
    copyElement(e.out, i, *e.in[0], src(i));
  return "";
}

} // namespace gptc
