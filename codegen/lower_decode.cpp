// codegen/lower_decode.cpp — lowerings of the generation ops (ir/ops.def, section "generation"):
// dynamic_slice, dynamic_update_slice (a KV cache append), causal_mask_at and cache_matmul. The start
// position is an i32[] operand read at run time and clamped as the interpreter clamps it
// (runtime/interp/interpreter_ops_decode.cpp), so the kernels never touch memory outside their
// tensors.
//
// dynamic_update_slice is the one that matters for speed: when the plan puts its result in its
// operand's buffer (the KV cache updated in place) and the pointers are equal at run time, it only
// writes the new rows; otherwise it copies x row by row with the update spliced in. cache_matmul
// (the scores q·Kᵀ) reads the K cache's rows up to the step's last position, not all ctx of them.
// What it leaves to others: the decode-step graph (passes/decode_step.cpp), threads (parallelFor).
#include "codegen/lower.h"

#include <limits>

namespace gptc::codegen {

using llvm::Value;

namespace {

int axisOf(const KernelSpec& spec, int rank) {
  int64_t a = attrInt(spec.attrs, "axis");
  return int(a < 0 ? a + rank : a);
}

/// clamp(sext(start), 0, hi) as i64.
Value* clampedStart(KernelEmitter& E, Value* ptr, int64_t hi) {
  auto& b = E.b();
  Value* s = b.CreateSExt(E.loadI(ptr, E.ci(0)), E.i64());
  s = b.CreateSelect(b.CreateICmpSLT(s, E.ci(0)), E.ci(0), s);
  return b.CreateSelect(b.CreateICmpSGT(s, E.ci(hi)), E.ci(hi), s);
}

/// dst[d0 + k] = src[s0 + k] for k in [0, n): a vectorizable run of 4-byte elements.
void copyRun(KernelEmitter& E, Value* src, Value* s0, Value* dst, Value* d0, int64_t n) {
  auto& b = E.b();
  E.loop(n, [&](Value* k) { E.storeF(dst, b.CreateAdd(d0, k), E.loadF(src, b.CreateAdd(s0, k))); });
}

} // namespace

std::string lower_DynamicSlice(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  // x (outer, dim, inner) -> (outer, size, inner), rows starting at the runtime start.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& xs = spec.operands[0].shape;
    int axis = axisOf(spec, int(xs.size()));
    int64_t dim = xs[axis], size = spec.result.shape[axis];
    int64_t inner = stridesOf(xs)[axis], outer = spec.operands[0].numel() / (dim * inner);
    Value* s = clampedStart(E, E.operand(1), dim - size);
    E.parallelFor(outer * size, [&](Value* r) {
      Value* o = b.CreateUDiv(r, E.ci(size));
      Value* j = b.CreateURem(r, E.ci(size));
      Value* srcRow = b.CreateAdd(b.CreateMul(o, E.ci(dim)), b.CreateAdd(s, j));
      copyRun(E, E.operand(0), b.CreateMul(srcRow, E.ci(inner)), E.result(),
              b.CreateMul(r, E.ci(inner)), inner);
    });
    return "";
  });
}

std::string lower_DynamicUpdateSlice(ModuleBuilder& mb, const KernelSpec& spec,
                                     const std::string& name, LoweredKernel* out) {
  // x (outer, dim, inner), update (outer, n, inner): result rows [s, s+n) of each outer block come
  // from update, the others from x.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& xs = spec.operands[0].shape;
    int axis = axisOf(spec, int(xs.size()));
    int64_t dim = xs[axis], n = spec.operands[1].shape[axis];
    int64_t inner = stridesOf(xs)[axis], outer = spec.operands[0].numel() / (dim * inner);
    Value* s = clampedStart(E, E.operand(2), dim - n);
    auto writeUpdateRows = [&] {
      E.parallelFor(outer * n, [&](Value* r) {
        Value* o = b.CreateUDiv(r, E.ci(n));
        Value* j = b.CreateURem(r, E.ci(n));
        Value* dstRow = b.CreateAdd(b.CreateMul(o, E.ci(dim)), b.CreateAdd(s, j));
        copyRun(E, E.operand(1), b.CreateMul(r, E.ci(inner)), E.result(),
                b.CreateMul(dstRow, E.ci(inner)), inner);
      });
    };
    auto copyAll = [&] {
      E.parallelFor(outer * dim, [&](Value* r) {
        Value* o = b.CreateUDiv(r, E.ci(dim));
        Value* p = b.CreateURem(r, E.ci(dim));
        Value* fromUpdate =
            b.CreateAnd(b.CreateICmpSGE(p, s), b.CreateICmpSLT(p, b.CreateAdd(s, E.ci(n))));
        Value* d0 = b.CreateMul(r, E.ci(inner));
        E.ifThen(fromUpdate, [&] {
          Value* uRow = b.CreateAdd(b.CreateMul(o, E.ci(n)), b.CreateSub(p, s));
          copyRun(E, E.operand(1), b.CreateMul(uRow, E.ci(inner)), E.result(), d0, inner);
        });
        E.ifThen(b.CreateNot(fromUpdate),
                 [&] { copyRun(E, E.operand(0), d0, E.result(), d0, inner); });
      });
    };
    if (!spec.operandAliasesResult[0]) {
      copyAll();
      return "";
    }
    // In place (the plan gave the result x's bytes): only the new rows move.
    Value* same = b.CreateICmpEQ(E.operand(0), E.result());
    E.ifThen(same, writeUpdateRows);
    E.ifThen(b.CreateNot(same), copyAll);
    return "";
  });
}

std::string lower_CausalMaskAt(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  // x (...,Tq,Tk): -inf where key j > query i + pos (pos read at run time, not clamped: any value
  // is a valid mask).
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& sh = spec.result.shape;
    int64_t tq = sh[sh.size() - 2], tk = sh.back(), rows = spec.result.numel() / tk;
    Value* pos = b.CreateSExt(E.loadI(E.operand(1), E.ci(0)), E.i64());
    E.parallelFor(rows, [&](Value* r) {
      Value* limit = b.CreateAdd(b.CreateURem(r, E.ci(tq)), pos); // i + pos
      Value* base = b.CreateMul(r, E.ci(tk));
      E.loop(tk, [&](Value* j) {
        Value* idx = b.CreateAdd(base, j);
        Value* x = E.loadF(E.operand(0), idx);
        E.storeF(E.result(), idx,
                 b.CreateSelect(b.CreateICmpSGT(j, limit),
                                E.cf(-std::numeric_limits<double>::infinity()), x));
      });
    });
    return "";
  });
}

std::string lower_CacheMatMul(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                              LoweredKernel* out) {
  // a (batch,T,D) · cache (batch,ctx,D)ᵀ -> (batch,T,ctx): columns j < s + T (s = clamp(pos, 0,
  // ctx-T), where the step's rows went) are dot products over D, vectorized by LLVM as the f32
  // GEMV's; the rest are 0 and their cache rows are never read. One work item per (batch, t)
  // row of the result; each column's sum is the same code whatever the thread count.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& as = spec.operands[0].shape;
    const size_t r = as.size();
    const int64_t T = as[r - 2], D = as[r - 1], ctx = spec.operands[1].shape[r - 2];
    const int64_t batch = spec.operands[0].numel() / (T * D);
    Value *A = E.operand(0), *Cache = E.operand(1), *Y = E.result();
    Value* rows = b.CreateAdd(clampedStart(E, E.operand(2), ctx - T), E.ci(T)); // written so far
    E.parallelFor(batch * T, [&](Value* item) {
      Value* a0 = b.CreateMul(item, E.ci(D));
      Value* c0 = b.CreateMul(b.CreateUDiv(item, E.ci(T)), E.ci(ctx * D));
      Value* y0 = b.CreateMul(item, E.ci(ctx));
      E.loop(E.ci(0), rows, [&](Value* j) {
        Value* cRow = b.CreateAdd(c0, b.CreateMul(j, E.ci(D)));
        Value* dot = E.reduce(E.ci(0), E.ci(D), {E.cf(0.0)}, [&](Value* d, const auto& acc) {
          Value* x = E.loadF(A, b.CreateAdd(a0, d));
          Value* k = E.loadF(Cache, b.CreateAdd(cRow, d));
          return std::vector<Value*>{b.CreateFAdd(acc[0], b.CreateFMul(x, k))};
        })[0];
        E.storeF(Y, b.CreateAdd(y0, j), dot);
      });
      E.loop(rows, E.ci(ctx), [&](Value* j) { E.storeF(Y, b.CreateAdd(y0, j), E.cf(0.0)); });
    });
    return "";
  });
}

} // namespace gptc::codegen
