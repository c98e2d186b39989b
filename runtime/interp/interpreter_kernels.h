// The reference interpreter's kernels: one function per op kind, declared here from ir/ops.def so a
// row without a kernel is a link error (the dispatch table in runtime/interp/interpreter.cpp takes the
// address of every eval_<Op>). Kernels are defined by family in runtime/interp/interpreter_ops_*.cpp; an
// engineer adding op rows defines their kernels in a file of their own (e.g.
// runtime/interp/interpreter_ops_optim.cpp) with the same signature.
//
// A kernel receives operands whose types the op's shape rule accepted and an `out` already sized to
// the rule's result type, so it only computes; it returns "" or a one-line reason that the data
// (not the types) is bad, e.g. a token id outside the table. The op's name and source location are
// added by the caller. Also here: the small index helpers the kernels share (strides,
// broadcasting).
#pragma once
#include "runtime/interp/interpreter.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

#define OP(E, ...) std::string eval_##E(EvalArgs&);
#include "ir/ops.def"
#undef OP

/// Row-major strides of a shape (the last axis has stride 1).
std::vector<int64_t> stridesOf(const Shape& shape);

/// Maps a flat index of a result of shape `out` to the flat index of an operand of shape `in` that
/// numpy-broadcasts to it (trailing axes aligned; an axis of size 1, or a missing leading axis,
/// repeats). Equal shapes map every index to itself.
class BroadcastIndex {
public:
  BroadcastIndex(const Shape& out, const Shape& in);
  int64_t operator()(int64_t flatOut) const {
    if (identity_) return flatOut;
    int64_t src = 0;
    for (int d = int(outShape_.size()) - 1; d >= 0; --d) {
      int64_t coord = flatOut % outShape_[d];
      flatOut /= outShape_[d];
      src += coord * inStride_[d];
    }
    return src;
  }

private:
  bool identity_ = false;
  Shape outShape_;
  std::vector<int64_t> inStride_; // aligned to out's axes; 0 where the operand repeats
};

/// Copies element `from` of `src` into element `to` of `dst` (same dtype; f32, bf16, i8 or i32): lets the
/// layout kernels (reshape, slice, concat, ...) move tokens and masks as well as activations.
inline void copyElement(Tensor& dst, int64_t to, const Tensor& src, int64_t from) {
  if (isFloatStored(dst.type.dtype))
    dst.f[to] = src.f[from];
  else
    dst.i[to] = src.i[from];
}

/// Rows of the last axis: a tensor [..., C] seen as (numel / C) rows of C.
inline int64_t rowsOf(const TensorType& t) {
  int64_t last = t.shape.empty() ? 1 : t.shape.back();
  return last == 0 ? 0 : t.numel() / last;
}

} // namespace gptc
