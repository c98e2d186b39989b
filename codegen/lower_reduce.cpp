// codegen/lower_reduce.cpp — lowerings of reduce_sum/mean/max over any set of axes (global_norm,
// the optimizer's reduction, is in lower_optim.cpp). When the reduced axes are one
// contiguous block, x is (outer, R, inner): inner == 1 is a vectorized row reduction per output,
// inner > 1 accumulates whole vectors of inner elements (the column sums of a bias gradient);
// any other set of axes falls back to a per-output loop with index arithmetic. Sums are f32 with
// several vector accumulators; the interpreter (runtime/interp/interpreter_ops_reduce.cpp) sums in
// double. max propagates NaN (llvm.maximum), as the interpreter and torch.amax.
#include "codegen/lower.h"

#include <limits>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

enum class Reduction { Sum, Mean, Max };

Value* combine(KernelEmitter& E, Reduction k, Value* acc, Value* x) {
  if (k == Reduction::Max) return E.b().CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc, x);
  return E.b().CreateFAdd(acc, x);
}

std::string reduceOp(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                     LoweredKernel* out, Reduction kind) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& xs = spec.operands[0].shape;
    int rank = int(xs.size());
    std::vector<bool> reduced(size_t(rank), false);
    for (int64_t a : attrInts(spec.attrs, "axes"))
      reduced[size_t(a < 0 ? a + rank : a)] = true;
    int64_t R = 1;
    int first = rank, last = -1;
    for (int d = 0; d < rank; ++d)
      if (reduced[d]) {
        R *= xs[d];
        first = std::min(first, d);
        last = d;
      }
    bool block = true;
    for (int d = first; d <= last; ++d)
      block &= bool(reduced[d]);
    const double init = kind == Reduction::Max ? -std::numeric_limits<double>::infinity() : 0.0;
    auto finish = [&](Value* v) {
      return kind == Reduction::Mean ? b.CreateFDiv(v, E.cf(double(R))) : v;
    };
    const int64_t outN = spec.result.numel();
    Value* x = E.operand(0);

    if (last < 0) { // no axes: a copy
      E.parallelFor(outN, [&](Value* i) { E.storeF(E.result(), i, finish(E.loadF(x, i))); });
      return "";
    }
    if (block) {
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < first; ++d)
        outer *= xs[d];
      for (int d = last + 1; d < rank; ++d)
        inner *= xs[d];
      if (inner == 1) {
        E.parallelFor(outer, [&](Value* o) {
          Value* base = b.CreateMul(o, E.ci(R));
          Value* acc = E.reduce(E.ci(0), E.ci(R), {E.cf(init)}, [&](Value* r, const Vals& a) {
            return Vals{combine(E, kind, a[0], E.loadF(x, b.CreateAdd(base, r)))};
          })[0];
          E.storeF(E.result(), o, finish(acc));
        });
        return "";
      }
      // (outer, R, inner): items are (o, chunk of inner); each accumulates R vectors into out.
      const int64_t chunk = std::min<int64_t>(inner, 256);
      const int64_t nChunks = (inner + chunk - 1) / chunk;
      E.parallelFor(outer * nChunks, [&](Value* item) {
        Value* o = b.CreateUDiv(item, E.ci(nChunks));
        Value* lo = b.CreateMul(b.CreateURem(item, E.ci(nChunks)), E.ci(chunk));
        Value* hiRaw = b.CreateAdd(lo, E.ci(chunk));
        Value* hi = b.CreateSelect(b.CreateICmpSLT(hiRaw, E.ci(inner)), hiRaw, E.ci(inner));
        Value* obase = b.CreateMul(o, E.ci(inner));
        E.loop(lo, hi, [&](Value* i) { E.storeF(E.result(), b.CreateAdd(obase, i), E.cf(init)); });
        E.loop(E.ci(0), E.ci(R), [&](Value* r) {
          Value* xbase = b.CreateMul(b.CreateAdd(b.CreateMul(o, E.ci(R)), r), E.ci(inner));
          E.loop(lo, hi, [&](Value* i) {
            Value* oi = b.CreateAdd(obase, i);
            E.storeF(E.result(), oi,
                     combine(E, kind, E.loadF(E.result(), oi), E.loadF(x, b.CreateAdd(xbase, i))));
          });
        });
        if (kind == Reduction::Mean)
          E.loop(lo, hi, [&](Value* i) {
            Value* oi = b.CreateAdd(obase, i);
            E.storeF(E.result(), oi, finish(E.loadF(E.result(), oi)));
          });
      });
      return "";
    }
    // General: kept coordinates from the output index, reduced coordinates from r.
    std::vector<int64_t> st = stridesOf(xs), keptSt, redSt;
    Shape keptShape, redShape;
    for (int d = 0; d < rank; ++d) {
      (reduced[d] ? redShape : keptShape).push_back(xs[d]);
      (reduced[d] ? redSt : keptSt).push_back(st[d]);
    }
    E.parallelFor(outN, [&](Value* o) {
      Value* base = keptShape.empty() ? E.ci(0) : E.remap(o, keptShape, keptSt);
      Value* acc = E.reduce(E.ci(0), E.ci(R), {E.cf(init)}, [&](Value* r, const Vals& a) {
        return Vals{
            combine(E, kind, a[0], E.loadF(x, b.CreateAdd(base, E.remap(r, redShape, redSt))))};
      })[0];
      E.storeF(E.result(), o, finish(acc));
    });
    return "";
  });
}

} // namespace

std::string lower_ReduceSum(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                            LoweredKernel* o) {
  return reduceOp(mb, s, n, o, Reduction::Sum);
}
std::string lower_ReduceMean(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                             LoweredKernel* o) {
  return reduceOp(mb, s, n, o, Reduction::Mean);
}
std::string lower_ReduceMax(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                            LoweredKernel* o) {
  return reduceOp(mb, s, n, o, Reduction::Max);
}

} // namespace gptc::codegen
