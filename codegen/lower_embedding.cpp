// codegen/lower_embedding.cpp — lowerings of the ops that index by token: embedding and its
// scatter-add gradient (and embedding_grad_add, the fused scatter into an existing gradient, made
// by passes/fuse.cpp), sinusoidal positions, cross-entropy and its gradient. Semantics are
// runtime/interp/interpreter_ops_embedding.cpp's. The interpreter rejects an id or target outside
// the table with an error; a kernel cannot return one, so it reads nothing out of bounds (a bad
// id gives a zero row, a bad target row is skipped) and runtime/exec/executable.cpp checks the
// inputs that feed these ops before each run, so the user gets the interpreter's message.
#include "codegen/lower.h"
#include "codegen/vector_math.h"

#include <limits>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

int64_t classesOf(const KernelSpec& spec) {
  int64_t c = attrInt(spec.attrs, "classes");
  return c == 0 ? spec.operands[0].shape.back() : c;
}

} // namespace

// The max is llvm.maximum, not maxnum: LLVM 19 vectorizes a maximum reduction without nnan, but
// keeps a maxnum one scalar (one maxss per logit: most of the time of a 50257-class row). They
// differ only for NaN, which makes the row's lse NaN either way (the exp sum sees it).
Value* logSumExp(KernelEmitter& E, Value* logits, Value* base, int64_t classes) {
  auto& b = E.b();
  const double inf = std::numeric_limits<double>::infinity();
  Value* mx = E.reduce(E.ci(0), E.ci(classes), {E.cf(-inf)}, [&](Value* c, const Vals& a) {
    return Vals{b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, a[0],
                                        E.loadF(logits, b.CreateAdd(base, c)))};
  })[0];
  Value* safe = b.CreateSelect(b.CreateFCmpOEQ(mx, E.cf(-inf)), E.cf(0.0), mx);
  Value* sum = E.reduce(E.ci(0), E.ci(classes), {E.cf(0.0)}, [&](Value* c, const Vals& a) {
    return Vals{
        b.CreateFAdd(a[0], emitExp(b, b.CreateFSub(E.loadF(logits, b.CreateAdd(base, c)), safe)))};
  })[0];
  return b.CreateFAdd(safe, emitLog(b, sum));
}

void storeMeanOfCounted(KernelEmitter& E, Value* partial, int64_t rows,
                        const std::function<Value*(Value* r)>& counted) {
  auto& b = E.b();
  llvm::Type* f64 = b.getDoubleTy();
  E.onOneThread([&] {
    // keepScalar: a sum in double, in row order, whatever LLVM's reassoc would allow
    Vals acc = E.reduce(
        E.ci(0), E.ci(rows), {llvm::ConstantFP::get(f64, 0.0), E.ci(0)},
        [&](Value* r, const Vals& a) {
          Value* isCounted = counted(r);
          Value* loss = b.CreateFPExt(E.loadF(partial, r), f64);
          return Vals{b.CreateSelect(isCounted, b.CreateFAdd(a[0], loss), a[0]),
                      b.CreateAdd(a[1], b.CreateZExt(isCounted, E.i64()))};
        },
        /*keepScalar=*/true);
    Value* m = b.CreateFDiv(acc[0], b.CreateSIToFP(acc[1], f64));
    Value* loss =
        b.CreateSelect(b.CreateICmpEQ(acc[1], E.ci(0)), llvm::ConstantFP::get(f64, 0.0), m);
    E.storeF(E.result(), E.ci(0), b.CreateFPTrunc(loss, E.f32()));
  });
}

Value* idInRange(KernelEmitter& E, Value* id, int64_t n) {
  auto& b = E.b();
  Value* w = b.CreateSExt(id, E.i64());
  return b.CreateAnd(b.CreateICmpSGE(w, E.ci(0)), b.CreateICmpSLT(w, E.ci(n)));
}

std::string lower_Embedding(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  // ids (N), table (V,C) -> (N,C): row ids[i] of the table
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t N = spec.operands[0].numel(), V = spec.operands[1].shape[0],
            C = spec.operands[1].shape[1];
    E.parallelFor(N, [&](Value* i) {
      Value* id = E.loadI(E.operand(0), i);
      Value* ok = idInRange(E, id, V);
      Value* src = b.CreateMul(b.CreateSelect(ok, b.CreateSExt(id, E.i64()), E.ci(0)), E.ci(C));
      Value* dst = b.CreateMul(i, E.ci(C));
      E.loop(C, [&](Value* c) {
        Value* v = E.loadF(E.operand(1), b.CreateAdd(src, c));
        E.storeF(E.result(), b.CreateAdd(dst, c), b.CreateSelect(ok, v, E.cf(0.0)));
      });
    });
    return "";
  });
}

std::string lower_EmbeddingGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                LoweredKernel* out) {
  // ids (N), dy (N,C) -> (rows,C): out[ids[i]] += dy[i]. Chunks are column ranges, so two tokens
  // with the same id never race and the sum order is the same for any chunking.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t N = spec.operands[0].numel(), C = spec.operands[1].shape.back();
    int64_t rows = attrInt(spec.attrs, "rows");
    E.parallelRanges(
        C,
        [&](Value* c0, Value* c1) {
          E.loop(E.ci(0), E.ci(rows), [&, c0 = c0, c1 = c1](Value* r) {
            Value* base = b.CreateMul(r, E.ci(C));
            E.loop(c0, c1,
                   [&](Value* c) { E.storeF(E.result(), b.CreateAdd(base, c), E.cf(0.0)); });
          });
          E.loop(E.ci(0), E.ci(N), [&, c0 = c0, c1 = c1](Value* i) {
            Value* id = E.loadI(E.operand(0), i);
            E.ifThen(idInRange(E, id, rows), [&] {
              Value* dst = b.CreateMul(b.CreateSExt(id, E.i64()), E.ci(C));
              Value* src = b.CreateMul(i, E.ci(C));
              E.loop(c0, c1, [&](Value* c) {
                Value* d = b.CreateAdd(dst, c);
                E.storeF(E.result(), d,
                         b.CreateFAdd(E.loadF(E.result(), d),
                                      E.loadF(E.operand(1), b.CreateAdd(src, c))));
              });
            });
          });
        },
        /*perThread=*/1); // every chunk scans all N ids
    return "";
  });
}

std::string lower_Sinusoidal(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  // (rows,dim): pe[p,2i] = sin(p / 10000^(2i/dim)), pe[p,2i+1] = cos(...), in double through libm
  // exactly as the interpreter (a constant table: accuracy over speed).
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    llvm::Type* f64 = b.getDoubleTy();
    auto cd = [&](double v) { return llvm::ConstantFP::get(f64, v); };
    int64_t rows = attrInt(spec.attrs, "rows"), dim = attrInt(spec.attrs, "dim");
    E.parallelFor(rows, [&](Value* p) {
      E.loop(dim / 2, [&](Value* i) {
        Value* expo = b.CreateFDiv(b.CreateSIToFP(b.CreateMul(i, E.ci(2)), f64), cd(double(dim)));
        Value* angle =
            b.CreateFDiv(b.CreateSIToFP(p, f64),
                         b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, cd(10000.0), expo));
        Value* at = b.CreateAdd(b.CreateMul(p, E.ci(dim)), b.CreateMul(i, E.ci(2)));
        E.storeF(E.result(), at,
                 b.CreateFPTrunc(b.CreateUnaryIntrinsic(llvm::Intrinsic::sin, angle), E.f32()));
        E.storeF(E.result(), b.CreateAdd(at, E.ci(1)),
                 b.CreateFPTrunc(b.CreateUnaryIntrinsic(llvm::Intrinsic::cos, angle), E.f32()));
      });
    });
    return "";
  });
}

std::string lower_CrossEntropy(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  // logits (R,W), targets (R) -> f32[]: mean over counted rows of lse(logits[r,:classes]) -
  // logits[r,t]. Two phases (lower.h): rows over threads, each counted row's f32 loss into its
  // partial slot; after the barrier thread 0 sums the counted rows' losses in row order, in
  // double. The order of that sum is fixed, so the loss does not depend on the thread count.
  int64_t W = spec.operands[0].shape.back(), R = spec.operands[1].numel(),
          classes = classesOf(spec);
  int64_t ignore = attrInt(spec.attrs, "ignore_index");
  auto isCounted = [&](KernelEmitter& E, Value* t) {
    auto& b = E.b();
    return b.CreateAnd(b.CreateICmpNE(b.CreateSExt(t, E.i64()), E.ci(ignore)),
                       idInRange(E, t, classes));
  };
  auto rowLosses = [&](KernelEmitter& E, Value* partial) {
    auto& b = E.b();
    E.parallelFor(R, [&](Value* r) {
      Value* t = E.loadI(E.operand(1), r);
      E.ifThen(isCounted(E, t), [&] {
        Value* base = b.CreateMul(r, E.ci(W));
        Value* lse = logSumExp(E, E.operand(0), base, classes);
        Value* xt = E.loadF(E.operand(0), b.CreateAdd(base, b.CreateSExt(t, E.i64())));
        E.storeF(partial, r, b.CreateFSub(lse, xt));
      });
    });
    return std::string();
  };
  auto mean = [&](KernelEmitter& E, Value* partial) {
    storeMeanOfCounted(E, partial, R,
                       [&](Value* r) { return isCounted(E, E.loadI(E.operand(1), r)); });
    return std::string();
  };
  return emitTwoPhase(mb, spec, name, out, R, rowLosses, mean);
}

std::string lower_CrossEntropyGrad(ModuleBuilder& mb, const KernelSpec& spec,
                                   const std::string& name, LoweredKernel* out) {
  // logits (R,W), targets (R), dloss f32[] -> (R,W): (softmax(row[:classes]) -
  // onehot(t))·dloss/count on counted rows; 0 on ignored rows and on the padding columns >=
  // classes. Rows over threads; every thread counts the rows itself (R integers) rather than
  // waiting for a shared count.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t W = spec.operands[0].shape.back(), R = spec.operands[1].numel(),
            classes = classesOf(spec);
    int64_t ignore = attrInt(spec.attrs, "ignore_index");
    auto isCounted = [&](Value* t) {
      return b.CreateAnd(b.CreateICmpNE(b.CreateSExt(t, E.i64()), E.ci(ignore)),
                         idInRange(E, t, classes));
    };
    Value* count = E.reduce(E.ci(0), E.ci(R), {E.ci(0)}, [&](Value* r, const Vals& a) {
      return Vals{b.CreateAdd(a[0], b.CreateZExt(isCounted(E.loadI(E.operand(1), r)), E.i64()))};
    })[0];
    Value* dloss = E.loadF(E.operand(2), E.ci(0));
    Value* scale = b.CreateSelect(b.CreateICmpEQ(count, E.ci(0)), E.cf(0.0),
                                  b.CreateFDiv(dloss, b.CreateSIToFP(count, E.f32())));
    E.parallelFor(R, [&](Value* r) {
      Value* t = E.loadI(E.operand(1), r);
      Value* base = b.CreateMul(r, E.ci(W));
      Value* rowScale = b.CreateSelect(isCounted(t), scale, E.cf(0.0));
      Value* lse = logSumExp(E, E.operand(0), base, classes);
      Value* t64 = b.CreateSExt(t, E.i64());
      E.loop(classes, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        Value* p = emitExp(b, b.CreateFSub(E.loadF(E.operand(0), i), lse));
        Value* g = b.CreateSelect(b.CreateICmpEQ(c, t64), b.CreateFSub(p, E.cf(1.0)), p);
        // An ignored row is 0 even where its logits are inf (0·inf would be NaN).
        E.storeF(E.result(), i,
                 b.CreateSelect(b.CreateFCmpOEQ(rowScale, E.cf(0.0)), E.cf(0.0),
                                b.CreateFMul(g, rowScale)));
      });
      E.loop(E.ci(classes), E.ci(W),
             [&](Value* c) { E.storeF(E.result(), b.CreateAdd(base, c), E.cf(0.0)); });
    });
    return "";
  });
}

} // namespace gptc::codegen
