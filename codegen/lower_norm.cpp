// codegen/lower_norm.cpp — lowerings of the row-wise ops over the last axis: layernorm and its two
// gradients, softmax and its gradient. A tensor (...,C) is rows of C; rows are split over the
// threads, and each row statistic is a vectorized f32 reduction (reassoc lets LLVM keep several
// vector accumulators, i.e. a multiple-accumulator sum). The interpreter sums in double
// (runtime/interp/interpreter_ops_norm.cpp); the difference is ~C·2^-24 relative at worst, well
// inside the 1e-5 tests. Leaves masking to causal_mask/mask_fill.
#include "codegen/lower.h"
#include "codegen/vector_math.h"

#include <limits>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

struct RowStats {
  Value* mean;
  Value* rstd;
};

/// Σ_c f(c) over one row, in f32.
Value* rowSum(KernelEmitter& E, int64_t C, const std::function<Value*(Value*)>& f) {
  return E.reduce(E.ci(0), E.ci(C), {E.cf(0.0)}, [&](Value* c, const Vals& acc) {
    return Vals{E.b().CreateFAdd(acc[0], f(c))};
  })[0];
}

/// mean and 1/sqrt(biased variance + eps) of row x[base .. base+C), two passes as the interpreter.
RowStats rowStats(KernelEmitter& E, Value* x, Value* base, int64_t C, double eps) {
  auto& b = E.b();
  auto at = [&](Value* c) { return E.loadF(x, b.CreateAdd(base, c)); };
  Value* mean = b.CreateFMul(rowSum(E, C, at), E.cf(1.0 / double(C)));
  Value* sq = rowSum(E, C, [&](Value* c) {
    Value* d = b.CreateFSub(at(c), mean);
    return b.CreateFMul(d, d);
  });
  Value* var = b.CreateFMul(sq, E.cf(1.0 / double(C)));
  Value* rstd =
      b.CreateFDiv(E.cf(1.0), b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt,
                                                     b.CreateFAdd(var, E.cf(float(eps)))));
  return {mean, rstd};
}

int64_t lastDim(const TensorType& t) {
  return t.shape.empty() ? 1 : t.shape.back();
}

} // namespace

std::string lower_LayerNorm(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  // x (R,C), w (C), b (C) -> (x - mean)·rstd·w + b
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.result), rows = spec.result.numel() / C;
    double eps = attrFloat(spec.attrs, "eps");
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      RowStats s = rowStats(E, E.operand(0), base, C, eps);
      E.loop(C, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        Value* xhat = b.CreateFMul(b.CreateFSub(E.loadF(E.operand(0), i), s.mean), s.rstd);
        E.storeF(
            E.result(), i,
            b.CreateFAdd(b.CreateFMul(xhat, E.loadF(E.operand(1), c)), E.loadF(E.operand(2), c)));
      });
    });
    return "";
  });
}

std::string lower_LayerNormGradX(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                 LoweredKernel* out) {
  // x (R,C), w (C), dy (R,C): with xhat = (x-mean)·rstd, g = dy·w:
  //   dx = rstd·(g - mean(g) - xhat·mean(g·xhat))
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.result), rows = spec.result.numel() / C;
    double eps = attrFloat(spec.attrs, "eps");
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      RowStats s = rowStats(E, E.operand(0), base, C, eps);
      auto gAndXhat = [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        Value* g = b.CreateFMul(E.loadF(E.operand(2), i), E.loadF(E.operand(1), c));
        Value* xhat = b.CreateFMul(b.CreateFSub(E.loadF(E.operand(0), i), s.mean), s.rstd);
        return std::pair{g, xhat};
      };
      Vals sums =
          E.reduce(E.ci(0), E.ci(C), {E.cf(0.0), E.cf(0.0)}, [&](Value* c, const Vals& acc) {
            auto [g, xhat] = gAndXhat(c);
            return Vals{b.CreateFAdd(acc[0], g), b.CreateFAdd(acc[1], b.CreateFMul(g, xhat))};
          });
      Value* meanG = b.CreateFMul(sums[0], E.cf(1.0 / double(C)));
      Value* meanGX = b.CreateFMul(sums[1], E.cf(1.0 / double(C)));
      E.loop(C, [&](Value* c) {
        auto [g, xhat] = gAndXhat(c);
        Value* d = b.CreateFSub(b.CreateFSub(g, meanG), b.CreateFMul(xhat, meanGX));
        E.storeF(E.result(), b.CreateAdd(base, c), b.CreateFMul(s.rstd, d));
      });
    });
    return "";
  });
}

void emitNormGradW(KernelEmitter& E, int64_t rows, int64_t C,
                   const std::function<XhatAt(llvm::Value* base)>& rowXhat) {
  auto& b = E.b();
  E.parallelRanges(
      C,
      [&](Value* c0, Value* c1) {
        E.loop(c0, c1, [&](Value* c) { E.storeF(E.result(), c, E.cf(0.0)); });
        E.ifThen(b.CreateICmpSLT(c0, c1), [&, c0 = c0, c1 = c1] {
          E.loop(E.ci(0), E.ci(rows), [&](Value* r) {
            Value* base = b.CreateMul(r, E.ci(C));
            XhatAt xhatAt = rowXhat(base);
            E.loop(c0, c1, [&](Value* c) {
              Value* i = b.CreateAdd(base, c);
              Value* acc = E.loadF(E.result(), c);
              E.storeF(E.result(), c,
                       b.CreateFAdd(acc, b.CreateFMul(E.loadF(E.operand(1), i), xhatAt(i))));
            });
          });
        });
      },
      /*perThread=*/1); // every chunk recomputes the row statistics
}

std::string lower_LayerNormGradW(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                 LoweredKernel* out) {
  // x (R,C), dy (R,C) -> dw (C) = Σ_rows dy·xhat, xhat = (x - mean)·rstd.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.operands[0]), rows = spec.operands[0].numel() / C;
    double eps = attrFloat(spec.attrs, "eps");
    emitNormGradW(E, rows, C, [&](Value* base) -> XhatAt {
      RowStats s = rowStats(E, E.operand(0), base, C, eps);
      return [&E, &b, s](Value* i) {
        return b.CreateFMul(b.CreateFSub(E.loadF(E.operand(0), i), s.mean), s.rstd);
      };
    });
    return "";
  });
}

std::string lower_Softmax(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  // exp(x - max) / Σ exp(x - max) per row; a row of all -inf gives zeros (max taken as 0, so
  // every exp is 0, and the reciprocal of a zero sum is taken as 0). In place is fine: each
  // element is read before it is overwritten with its exp.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.result), rows = spec.result.numel() / C;
    const double inf = std::numeric_limits<double>::infinity();
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      Value* mx = E.reduce(E.ci(0), E.ci(C), {E.cf(-inf)}, [&](Value* c, const Vals& acc) {
        // maximum, not maxnum: LLVM 19 vectorizes it, and a NaN in the row makes the whole row
        // NaN, as in the interpreter (maxnum skipped it and gave zeros around a NaN).
        return Vals{b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc[0],
                                            E.loadF(E.operand(0), b.CreateAdd(base, c)))};
      })[0];
      mx = b.CreateSelect(b.CreateFCmpOEQ(mx, E.cf(-inf)), E.cf(0.0), mx);
      Value* sum = E.reduce(E.ci(0), E.ci(C), {E.cf(0.0)}, [&](Value* c, const Vals& acc) {
        Value* i = b.CreateAdd(base, c);
        Value* e = emitExp(b, b.CreateFSub(E.loadF(E.operand(0), i), mx));
        E.storeF(E.result(), i, e);
        return Vals{b.CreateFAdd(acc[0], e)};
      })[0];
      Value* inv =
          b.CreateSelect(b.CreateFCmpOGT(sum, E.cf(0.0)), b.CreateFDiv(E.cf(1.0), sum), E.cf(0.0));
      E.loop(C, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        E.storeF(E.result(), i, b.CreateFMul(E.loadF(E.result(), i), inv));
      });
    });
    return "";
  });
}

std::string lower_SoftmaxGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                              LoweredKernel* out) {
  // y·(dy - Σ dy·y) per row
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.result), rows = spec.result.numel() / C;
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      Value* dot = rowSum(E, C, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        return b.CreateFMul(E.loadF(E.operand(0), i), E.loadF(E.operand(1), i));
      });
      E.loop(C, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        E.storeF(
            E.result(), i,
            b.CreateFMul(E.loadF(E.operand(0), i), b.CreateFSub(E.loadF(E.operand(1), i), dot)));
      });
    });
    return "";
  });
}

} // namespace gptc::codegen
