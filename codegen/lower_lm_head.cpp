// codegen/lower_lm_head.cpp — the fused LM head (linear_cross_entropy and its gradient, made by
// passes/fuse_lm_head.cpp): the logits x·wᵀ are made chunk by chunk into this thread's scratch
// (CallForm::Scratch), used there, and dropped, so the step never holds [rows, N] of them.
// Semantics are runtime/interp/interpreter_ops_lm_head.cpp's (matmul, then cross_entropy or
// cross_entropy_grad, then the two gradient matmuls); the per-row math is cross_entropy's kernels'
// (lower_embedding.cpp: the same logSumExp, exp, and selects). Every product is the generated
// matmul (codegen/matmul.h), emitted as a function of this module and called by one thread on its
// own chunk (thread 0 of 1, no work counter): threads split chunks, never a chunk's matmul.
//
//   linear_cross_entropy (two phases, lower.h):
//     fn       chunks of kRows rows over threads: L = x_c·wᵀ [m, N] in scratch; each counted row's
//              lse(L[r, :classes]) - L[r, t] into the partials (f32, one per row)
//     combine  one thread: the counted rows' losses summed in row order in double, / count
//   linear_cross_entropy_grad -> [dx (rows·C), dw (N·C)] (two phases):
//     fn       chunks of rows over threads: L = x_c·wᵀ; each row's lse into the partials; L becomes
//              dlogits in place, (softmax - onehot)·dloss/count (0 on ignored rows and on columns
//              >= classes); dx_c = dlogits·w, written straight into dx's rows
//     combine  slices of kCols rows of w over threads: for each block of kBlock rows in row order,
//              Ls = x_blk·w_sliceᵀ [mb, ns] again, dlogits from the saved lse, dw_slice +=
//              dlogitsᵀ·x_blk. Each slice of dw is one thread's and is summed over the rows in the
//              same order whatever the thread count, so dw is deterministic without atomics or
//              per-thread copies of w's size.
// The cost is two extra head-sized matmuls in the backward (five for the head instead of three);
// the memory is kRows·N + the matmul's packing per thread (GPT-2: 25.8 MB) instead of rows·N twice.
// Targets outside [0, classes) are skipped as cross_entropy's kernel skips them (the runtime checks
// the inputs first: lower_embedding.cpp's header).
#include "codegen/lower.h"
#include "codegen/matmul_emit.h"
#include "codegen/vector_math.h"

#include <fmt/format.h>
#include <limits>
#include <map>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

constexpr int64_t kRows = 128;  ///< rows per chunk of the forward and of dx: L is kRows·N floats
constexpr int64_t kCols = 128;  ///< rows of w per slice of dw
constexpr int64_t kBlock = 512; ///< rows of x per block of a dw slice: Ls is kBlock·kCols floats

struct Head {
  int64_t C, rows, N, classes, ignore;
  explicit Head(const KernelSpec& spec) {
    C = spec.operands[0].shape.back();
    rows = spec.operands[0].numel() / C;
    N = spec.operands[1].shape[0];
    classes = attrInt(spec.attrs, "classes");
    if (classes == 0) classes = N;
    ignore = attrInt(spec.attrs, "ignore_index");
  }
};

/// The matmul functions a kernel calls, each emitted once per shape, and the scratch the largest
/// one packs into.
class Matmuls {
public:
  /// own: bytes of the kernel's own buffer at the start of the scratch (64-byte multiple); the
  /// matmuls pack into what follows it.
  Matmuls(ModuleBuilder& mb, std::string prefix, int64_t own)
      : mb_(mb), prefix_(std::move(prefix)), own_(own) {}

  /// Calls C = A·B (per `shape`) on this thread alone: thread 0 of 1, no work counter.
  std::string call(KernelEmitter& E, const MatmulShape& shape, Value* A, Value* B, Value* Cp) {
    llvm::Function* fn = get(shape);
    if (!fn) return err_;
    auto* ptr = llvm::PointerType::getUnqual(E.ctx());
    Value* pack = E.b().CreateInBoundsGEP(E.b().getInt8Ty(), E.scratch(), E.ci(own_));
    Vals args{A, B, Cp, llvm::ConstantPointerNull::get(ptr), pack, E.ci32(0), E.ci32(1)};
    if (fn->arg_size() > args.size()) args.push_back(llvm::ConstantPointerNull::get(ptr));
    E.b().CreateCall(fn->getFunctionType(), fn, args);
    return "";
  }
  /// The kernel's scratch per thread: its own buffer, then the largest matmul's packing.
  int64_t scratchBytes() const { return own_ + (scratch_ + 63) / 64 * 64; }

private:
  llvm::Function* get(const MatmulShape& s) {
    std::string key = fmt::format("{}x{}x{}{}{}{}", s.M, s.N, s.K, s.transA ? "a" : "",
                                  s.transB ? "b" : "", s.accumulate ? "+" : "");
    auto it = fns_.find(key);
    if (it != fns_.end()) return it->second;
    if (std::string bad = validateMatmulShape(s); !bad.empty()) {
      err_ = bad;
      return nullptr;
    }
    MatmulTuning one;
    one.threadsHint = 1; // one thread runs each call
    MatmulPlan plan = planMatmul(s, one);
    llvm::Function* fn =
        emitMatmulKernel(mb_, s, plan, prefix_ + ".mm" + std::to_string(fns_.size()));
    fn->addFnAttr(llvm::Attribute::NoInline);
    scratch_ = std::max(scratch_, matmulScratchBytes(s, one));
    return fns_[key] = fn;
  }
  ModuleBuilder& mb_;
  std::string prefix_, err_;
  std::map<std::string, llvm::Function*> fns_;
  int64_t own_, scratch_ = 0;
};

/// The partials global of a two-phase kernel (emitTwoPhase's, with the Scratch form).
llvm::GlobalVariable* partialsGlobal(ModuleBuilder& mb, const std::string& name, int64_t n) {
  llvm::Type* arrTy = llvm::ArrayType::get(llvm::Type::getFloatTy(mb.ctx()), uint64_t(n));
  auto* g = new llvm::GlobalVariable(mb.module(), arrTy, /*isConstant=*/false,
                                     llvm::GlobalValue::InternalLinkage,
                                     llvm::ConstantAggregateZero::get(arrTy), name + ".partials");
  g->setAlignment(llvm::Align(64));
  return g;
}

/// Two Scratch-form functions, fn and combine, sharing the partials (lower.h's two phases).
std::string emitTwoPhaseScratch(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                LoweredKernel* out, int64_t partials, Matmuls& mm,
                                const std::function<std::string(KernelEmitter&, Value*)>& spread,
                                const std::function<std::string(KernelEmitter&, Value*)>& combine) {
  llvm::GlobalVariable* global = partialsGlobal(mb, name, partials);
  KernelEmitter first(mb, spec, name, /*withScratch=*/true);
  std::string e = spread(first, global);
  if (e.empty()) e = first.finish();
  KernelEmitter second(mb, spec, name + "_combine", /*withScratch=*/true);
  if (e.empty()) e = combine(second, global);
  if (e.empty()) e = second.finish();
  if (!e.empty()) return e; // the module is dropped with the failed step
  out->fn = first.function();
  out->form = CallForm::Scratch;
  out->workSlots = first.slots();
  out->combine = second.function();
  out->combineWorkSlots = second.slots();
  out->partialsBytes = partials * 4;
  out->scratchBytes = mm.scratchBytes();
  return "";
}

/// Whether target t (i32) counts: not ignore_index and in [0, classes).
Value* counted(KernelEmitter& E, const Head& h, Value* t) {
  auto& b = E.b();
  return b.CreateAnd(b.CreateICmpNE(b.CreateSExt(t, E.i64()), E.ci(h.ignore)),
                     idInRange(E, t, h.classes));
}

/// dloss / count (0 when no row counts), each thread counting the rows itself (rows integers).
Value* gradScale(KernelEmitter& E, const Head& h, Value* targets, Value* dlossPtr) {
  auto& b = E.b();
  Value* count = E.reduce(E.ci(0), E.ci(h.rows), {E.ci(0)}, [&](Value* r, const Vals& a) {
    return Vals{b.CreateAdd(a[0], b.CreateZExt(counted(E, h, E.loadI(targets, r)), E.i64()))};
  })[0];
  Value* dloss = E.loadF(dlossPtr, E.ci(0));
  return b.CreateSelect(b.CreateICmpEQ(count, E.ci(0)), E.cf(0.0),
                        b.CreateFDiv(dloss, b.CreateSIToFP(count, E.f32())));
}

/// cross_entropy_grad's element: (p - [col == t])·rowScale with p = exp(logit - lse); 0 when the
/// row does not count (even where its logits are inf: 0·inf would be NaN).
Value* dlogit(KernelEmitter& E, Value* logit, Value* lse, Value* col, Value* t64, Value* rowScale) {
  auto& b = E.b();
  Value* p = emitExp(b, b.CreateFSub(logit, lse));
  Value* g = b.CreateSelect(b.CreateICmpEQ(col, t64), b.CreateFSub(p, E.cf(1.0)), p);
  return b.CreateSelect(b.CreateFCmpOEQ(rowScale, E.cf(0.0)), E.cf(0.0), b.CreateFMul(g, rowScale));
}

/// Bytes of a kernel's own buffer, rounded up so that the matmuls' packing after it stays aligned.
int64_t ownBytes(int64_t floats) {
  return (floats * 4 + 63) / 64 * 64;
}

/// For each chunk of kRows rows (the last may be shorter), claimed by the threads: L = x_c·wᵀ
/// [m, N] into the start of the scratch, then body(r0, m, L).
std::string forChunks(KernelEmitter& E, const Head& h, Matmuls& mm,
                      const std::function<std::string(Value* r0, int64_t m, Value* L)>& body) {
  auto& b = E.b();
  int64_t chunks = (h.rows + kRows - 1) / kRows, tail = h.rows - (chunks - 1) * kRows;
  Value* L = E.scratch();
  std::string err;
  E.parallelFor(chunks, [&](Value* c) {
    Value* r0 = b.CreateMul(c, E.ci(kRows));
    auto one = [&](int64_t m) {
      MatmulShape s;
      s.M = m;
      s.N = h.N;
      s.K = h.C;
      s.transB = true;
      s.batchedB = false;
      Value* x = E.addr(E.operand(0), b.CreateMul(r0, E.ci(h.C)));
      if (err.empty()) err = mm.call(E, s, x, E.operand(1), L);
      if (err.empty()) err = body(r0, m, L);
    };
    if (tail == kRows || chunks == 1) {
      one(tail);
    } else {
      Value* isTail = b.CreateICmpEQ(c, E.ci(chunks - 1));
      E.ifThen(isTail, [&] { one(tail); });
      E.ifThen(b.CreateNot(isTail), [&] { one(kRows); });
    }
  });
  return err;
}

} // namespace

std::string lower_LinearCrossEntropy(ModuleBuilder& mb, const KernelSpec& spec,
                                     const std::string& name, LoweredKernel* out) {
  Head h(spec);
  Matmuls mm(mb, name, ownBytes(kRows * h.N));
  auto rowLosses = [&](KernelEmitter& E, Value* partial) {
    auto& b = E.b();
    return forChunks(E, h, mm, [&](Value* r0, int64_t m, Value* L) {
      E.loop(m, [&](Value* j) {
        Value* r = b.CreateAdd(r0, j);
        Value* t = E.loadI(E.operand(2), r);
        E.ifThen(counted(E, h, t), [&] {
          Value* base = b.CreateMul(j, E.ci(h.N));
          Value* lse = logSumExp(E, L, base, h.classes);
          Value* xt = E.loadF(L, b.CreateAdd(base, b.CreateSExt(t, E.i64())));
          E.storeF(partial, r, b.CreateFSub(lse, xt));
        });
      });
      return std::string();
    });
  };
  auto mean = [&](KernelEmitter& E, Value* partial) {
    storeMeanOfCounted(E, partial, h.rows,
                       [&](Value* r) { return counted(E, h, E.loadI(E.operand(2), r)); });
    return std::string();
  };
  return emitTwoPhaseScratch(mb, spec, name, out, h.rows, mm, rowLosses, mean);
}

std::string lower_LinearCrossEntropyGrad(ModuleBuilder& mb, const KernelSpec& spec,
                                         const std::string& name, LoweredKernel* out) {
  Head h(spec);
  // L (fn) and Ls (combine) share the start of the scratch: the two phases never overlap.
  Matmuls mm(mb, name, ownBytes(std::max(kRows * h.N, kBlock * kCols)));
  // fn: dlogits chunk by chunk, each row's lse kept for combine, dx_c = dlogits·w
  auto dx = [&](KernelEmitter& E, Value* lses) {
    auto& b = E.b();
    Value* scale = gradScale(E, h, E.operand(2), E.operand(3));
    return forChunks(E, h, mm, [&](Value* r0, int64_t m, Value* L) {
      E.loop(m, [&](Value* j) {
        Value* r = b.CreateAdd(r0, j);
        Value* t = E.loadI(E.operand(2), r);
        Value* t64 = b.CreateSExt(t, E.i64());
        Value* rowScale = b.CreateSelect(counted(E, h, t), scale, E.cf(0.0));
        Value* base = b.CreateMul(j, E.ci(h.N));
        Value* lse = logSumExp(E, L, base, h.classes);
        E.storeF(lses, r, lse);
        E.loop(h.classes, [&](Value* c) {
          Value* i = b.CreateAdd(base, c);
          E.storeF(L, i, dlogit(E, E.loadF(L, i), lse, c, t64, rowScale));
        });
        E.loop(E.ci(h.classes), E.ci(h.N),
               [&](Value* c) { E.storeF(L, b.CreateAdd(base, c), E.cf(0.0)); });
      });
      MatmulShape s; // dx_c [m, C] = dlogits [m, N] · w [N, C]
      s.M = m;
      s.N = h.C;
      s.K = h.N;
      s.batchedB = false;
      return mm.call(E, s, L, E.operand(1), E.addr(E.result(), b.CreateMul(r0, E.ci(h.C))));
    });
  };
  // combine: dw by slices of w's rows, each summed over the rows in blocks, in row order
  auto dw = [&](KernelEmitter& E, Value* lses) {
    auto& b = E.b();
    Value* scale = gradScale(E, h, E.operand(2), E.operand(3));
    Value* Ls = E.scratch();
    int64_t slices = (h.N + kCols - 1) / kCols, nTail = h.N - (slices - 1) * kCols;
    int64_t blocks = (h.rows + kBlock - 1) / kBlock, mTail = h.rows - (blocks - 1) * kBlock;
    Value* dwBase = E.addr(E.result(), E.ci(h.rows * h.C));
    std::string err;
    // One block: Ls [m, ns] = x_blk · w_sliceᵀ, made dlogits, then dw_slice += Lsᵀ · x_blk.
    auto block = [&](Value* v0, int64_t ns, Value* r0, int64_t m) {
      Value* x = E.addr(E.operand(0), b.CreateMul(r0, E.ci(h.C)));
      Value* wSlice = E.addr(E.operand(1), b.CreateMul(v0, E.ci(h.C)));
      Value* dwSlice = E.addr(dwBase, b.CreateMul(v0, E.ci(h.C)));
      MatmulShape s;
      s.M = m;
      s.N = ns;
      s.K = h.C;
      s.transB = true;
      s.batchedB = false;
      if (err.empty()) err = mm.call(E, s, x, wSlice, Ls);
      E.loop(m, [&](Value* j) {
        Value* r = b.CreateAdd(r0, j);
        Value* t = E.loadI(E.operand(2), r);
        Value* t64 = b.CreateSExt(t, E.i64());
        Value* rowScale = b.CreateSelect(counted(E, h, t), scale, E.cf(0.0));
        Value* lse = E.loadF(lses, r);
        Value* base = b.CreateMul(j, E.ci(ns));
        E.loop(ns, [&](Value* c) {
          Value* col = b.CreateAdd(v0, c);
          Value* i = b.CreateAdd(base, c);
          Value* g = dlogit(E, E.loadF(Ls, i), lse, col, t64, rowScale);
          E.storeF(Ls, i, b.CreateSelect(b.CreateICmpSLT(col, E.ci(h.classes)), g, E.cf(0.0)));
        });
      });
      MatmulShape t; // dw_slice [ns, C] += Lsᵀ [ns, m] · x_blk [m, C]
      t.M = ns;
      t.N = h.C;
      t.K = m;
      t.transA = true;
      t.batchedB = false;
      t.accumulate = true;
      if (err.empty()) err = mm.call(E, t, Ls, x, dwSlice);
    };
    auto slice = [&](Value* v0, int64_t ns) {
      Value* dwSlice = E.addr(dwBase, b.CreateMul(v0, E.ci(h.C)));
      E.loop(ns * h.C, [&](Value* i) { E.storeF(dwSlice, i, E.cf(0.0)); });
      if (blocks > 1)
        E.loop(
            E.ci(0), E.ci(blocks - 1),
            [&](Value* k) { block(v0, ns, b.CreateMul(k, E.ci(kBlock)), kBlock); },
            /*keepScalar=*/true);
      block(v0, ns, E.ci((blocks - 1) * kBlock), mTail);
    };
    E.parallelFor(slices, [&](Value* k) {
      Value* v0 = b.CreateMul(k, E.ci(kCols));
      if (nTail == kCols || slices == 1) {
        slice(v0, nTail);
      } else {
        Value* isTail = b.CreateICmpEQ(k, E.ci(slices - 1));
        E.ifThen(isTail, [&] { slice(v0, nTail); });
        E.ifThen(b.CreateNot(isTail), [&] { slice(v0, kCols); });
      }
    });
    return err;
  };
  std::string err = emitTwoPhaseScratch(mb, spec, name, out, h.rows, mm, dx, dw);
  out->fnWritesResult = true; // dx's rows
  return err;
}

} // namespace gptc::codegen
