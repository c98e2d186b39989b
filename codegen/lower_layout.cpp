// codegen/lower_layout.cpp — lowerings of the layout ops: reshape, transpose, split/merge heads,
// slice, pad, concat, select, stack, broadcast. Each is a copy, written either as runs of
// contiguous elements (emitCopyRows: reshape, slice, pad, concat, select, stack) or as a strided
// gather (emitMap with the operand's strides permuted: transpose, heads, broadcast). Elements move
// as 4-byte integers so i32 token ids and masks pass through bit for bit. When the memory plan
// makes one of these a view (placement.noCode), step() emits no call at all; these kernels are
// for the cases where bytes really move. Semantics: runtime/interp/interpreter_ops_layout.cpp.
#include "codegen/lower.h"

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

int normAxis(int64_t axis, int rank) {
  return int(axis < 0 ? axis + rank : axis);
}

/// result[i] = operand 0 read through `strides` (per result axis) from `offset`.
std::string gather(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                   LoweredKernel* out, const Shape& outShape, std::vector<int64_t> strides) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, outShape, {MapOperand{0, std::move(strides), /*isInt=*/true}},
            [](const Vals& v, Value*) { return v[0]; });
    return "";
  });
}

/// (outer, len, inner) view of a shape around `axis`.
struct AxisView {
  int64_t outer, len, inner;
};
AxisView around(const Shape& s, int axis) {
  AxisView v{1, s[axis], 1};
  for (int d = 0; d < axis; ++d)
    v.outer *= s[d];
  for (size_t d = axis + 1; d < s.size(); ++d)
    v.inner *= s[d];
  return v;
}

} // namespace

std::string lower_Reshape(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitCopyRows(E, E.operand(0), 0, 0, E.result(), 0, 0, 1, spec.result.numel());
    return "";
  });
}

std::string lower_Transpose(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  // out axis d reads x's axis perm[d]
  const auto& perm = attrInts(spec.attrs, "perm");
  std::vector<int64_t> xs = stridesOf(spec.operands[0].shape), st;
  for (int64_t p : perm)
    st.push_back(xs[p]);
  return gather(mb, spec, name, out, spec.result.shape, st);
}

std::string lower_SplitHeads(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  // x (B,T,H*D) -> (B,H,T,D): out[b,h,t,d] = x[b,t,h*D+d]
  const Shape& s = spec.result.shape;
  int64_t H = s[1], T = s[2], D = s[3];
  return gather(mb, spec, name, out, s, {T * H * D, D, H * D, 1});
}

std::string lower_MergeHeads(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  // x (B,H,T,D) -> (B,T,H*D), written as out (B,T,H,D): out[b,t,h,d] = x[b,h,t,d]
  const Shape& s = spec.operands[0].shape;
  int64_t B = s[0], H = s[1], T = s[2], D = s[3];
  return gather(mb, spec, name, out, {B, T, H, D}, {H * T * D, D, T * D, 1});
}

std::string lower_Broadcast(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  return gather(mb, spec, name, out, spec.result.shape,
                broadcastStrides(spec.operands[0].shape, spec.result.shape));
}

std::string lower_Slice(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                        LoweredKernel* out) {
  // x[..., start:end, ...]: `outer` runs of (end-start)·inner contiguous elements
  int axis = normAxis(attrInt(spec.attrs, "axis"), spec.operands[0].rank());
  AxisView x = around(spec.operands[0].shape, axis);
  int64_t start = attrInt(spec.attrs, "start"), len = spec.result.shape[axis];
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitCopyRows(E, E.operand(0), start * x.inner, x.len * x.inner, E.result(), 0, len * x.inner,
                 x.outer, len * x.inner);
    return "";
  });
}

std::string lower_Pad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                      LoweredKernel* out) {
  // per outer row: `before` zeros, x's run, `after` zeros (three disjoint copies)
  int axis = normAxis(attrInt(spec.attrs, "axis"), spec.operands[0].rank());
  AxisView x = around(spec.operands[0].shape, axis);
  int64_t before = attrInt(spec.attrs, "before"), after = attrInt(spec.attrs, "after");
  int64_t outRow = (before + x.len + after) * x.inner;
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitCopyRows(E, nullptr, 0, 0, E.result(), 0, outRow, x.outer, before * x.inner);
    emitCopyRows(E, E.operand(0), 0, x.len * x.inner, E.result(), before * x.inner, outRow, x.outer,
                 x.len * x.inner);
    emitCopyRows(E, nullptr, 0, 0, E.result(), (before + x.len) * x.inner, outRow, x.outer,
                 after * x.inner);
    return "";
  });
}

std::string lower_Concat(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out) {
  int axis = normAxis(attrInt(spec.attrs, "axis"), spec.result.rank());
  AxisView o = around(spec.result.shape, axis);
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    int64_t at = 0;
    for (size_t k = 0; k < spec.operands.size(); ++k) {
      int64_t len = spec.operands[k].shape[axis];
      emitCopyRows(E, E.operand(int(k)), 0, len * o.inner, E.result(), at * o.inner,
                   o.len * o.inner, o.outer, len * o.inner);
      at += len;
    }
    return "";
  });
}

std::string lower_Select(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out) {
  int64_t block = spec.result.numel(), index = attrInt(spec.attrs, "index");
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitCopyRows(E, E.operand(0), index * block, 0, E.result(), 0, 0, 1, block);
    return "";
  });
}

std::string lower_Stack(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                        LoweredKernel* out) {
  int64_t block = spec.operands[0].numel();
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    for (size_t k = 0; k < spec.operands.size(); ++k)
      emitCopyRows(E, E.operand(int(k)), 0, 0, E.result(), int64_t(k) * block, 0, 1, block);
    return "";
  });
}

} // namespace gptc::codegen
