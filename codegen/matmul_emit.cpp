// codegen/matmul_emit.cpp — emits the LLVM IR of a shape-specialised matmul kernel (GotoBLAS /
// BLIS structure). Everything static about the shape (M, N, K, strides, transposes, blocking,
// edge sizes) is a constant in the IR; only pointers and the thread id/count are arguments.
//
//   kernel(A, B, C, bias, scratch, tid, nt, work)
//     items = batch × nBlocks × runs of runM M blocks; threads claim items from work's counter
//     (kernel_emitter.h's claim loop; work null: items tid, tid+nt, ...)
//     for each claimed item (b, jn, run):                    (an N block of ≤ nc columns)
//       for pc in K blocks:                                   (≤ kc rows of K)
//         packB: B[b][pc, jn] → Bp  as NR-wide slivers [k][NR]       (L2/L3; one sliver in L1)
//         for im in the run's M blocks:                       (≤ mc rows)
//           packA: A[b][im, pc] → Ap as MR-tall slivers [k][MR]      (L2)
//           for jr in slivers of Bp: for ir in slivers of Ap:
//             micro-kernel: MR×NR tile of C in registers, acc += a[k][i] ⊗ b[k][:]
//
// Packing makes the micro-kernel's loads contiguous whatever the transposes: a transposed source
// (rows contiguous in K) goes through an in-register lanes×lanes transpose (shufflevector network),
// a non-transposed one is copied with (masked) vector loads. Partial slivers are zero-padded, so
// the micro-kernel always runs full K loops; edge tiles (M % MR, N % NR rows/columns) use their own
// micro-kernel variants with fewer accumulators and masked C loads/stores.
//
// What it leaves to others: the blocking numbers (planMatmul, matmul.cpp), compilation (jit.cpp),
// and the parallel region and scratch allocation (the runtime, or CompiledMatmul::run).
#include "codegen/matmul_emit.h"
#include "codegen/kernel_emitter.h"
#include "codegen/vector_math.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>

#include <functional>
#include <map>

namespace gptc::codegen {

namespace {

using llvm::BasicBlock;
using llvm::Function;
using llvm::PHINode;
using llvm::Type;
using llvm::Value;

class MatmulEmitter {
public:
  MatmulEmitter(ModuleBuilder& mb, const MatmulShape& s, const MatmulPlan& p, std::string_view name)
      : mb_(mb), C_(mb.ctx()), s_(s), p_(p), name_(name), b_(C_) {
    f32_ = Type::getFloatTy(C_);
    i64_ = Type::getInt64Ty(C_);
    i32_ = Type::getInt32Ty(C_);
    i1_ = Type::getInt1Ty(C_);
    ptr_ = llvm::PointerType::getUnqual(C_);
    vec_ = llvm::FixedVectorType::get(f32_, p.lanes);
    applyFastMathPolicy(b_);
  }

  Function* emit();

private:
  // ---- small IR helpers ----
  Value* c64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }
  Value* gepF(Value* base, Value* idx) { return b_.CreateInBoundsGEP(f32_, base, idx); }
  Value* gepF(Value* base, int64_t idx) { return idx == 0 ? base : gepF(base, c64(idx)); }
  Value* min64(Value* a, Value* b) { return b_.CreateSelect(b_.CreateICmpSLT(a, b), a, b); }
  Value* zeroVec() { return llvm::Constant::getNullValue(vec_); }
  /// Constant mask: lane < n.
  Value* constMask(int n) {
    std::vector<llvm::Constant*> bits;
    for (int l = 0; l < p_.lanes; ++l)
      bits.push_back(llvm::ConstantInt::get(i1_, l < n));
    return llvm::ConstantVector::get(bits);
  }
  /// Runtime mask: lane + offset < n.
  Value* runtimeMask(Value* n, int offset) {
    std::vector<llvm::Constant*> iota;
    for (int l = 0; l < p_.lanes; ++l)
      iota.push_back(llvm::ConstantInt::get(i64_, l + offset));
    return b_.CreateICmpSLT(llvm::ConstantVector::get(iota), b_.CreateVectorSplat(p_.lanes, n));
  }
  Value* loadVec(Value* ptr, int validLanes, llvm::Align align = llvm::Align(4)) {
    if (validLanes >= p_.lanes) return b_.CreateAlignedLoad(vec_, ptr, align);
    return b_.CreateMaskedLoad(vec_, ptr, llvm::Align(4), constMask(validLanes), zeroVec());
  }
  void storeVec(Value* v, Value* ptr, int validLanes, llvm::Align align = llvm::Align(4)) {
    if (validLanes >= p_.lanes)
      b_.CreateAlignedStore(v, ptr, align);
    else
      b_.CreateMaskedStore(v, ptr, llvm::Align(4), constMask(validLanes));
  }
  BasicBlock* block(const char* name) {
    return BasicBlock::Create(C_, name, b_.GetInsertBlock()->getParent());
  }
  /// for (i = start; i < end; i += step) body(i); leaves the builder after the loop.
  void forLoop(Value* start, Value* end, int64_t step, const char* name,
               const std::function<void(Value*)>& body) {
    BasicBlock* pre = b_.GetInsertBlock();
    BasicBlock* head = block(name);
    BasicBlock* bodyBB = block(name);
    BasicBlock* exit = block(name);
    b_.CreateBr(head);
    b_.SetInsertPoint(head);
    PHINode* i = b_.CreatePHI(i64_, 2, name);
    i->addIncoming(start, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, end), bodyBB, exit);
    b_.SetInsertPoint(bodyBB);
    body(i);
    i->addIncoming(b_.CreateAdd(i, c64(step)), b_.GetInsertBlock());
    b_.CreateBr(head);
    b_.SetInsertPoint(exit);
  }
  /// if (cond) then(); leaves the builder after the if.
  void ifThen(Value* cond, const std::function<void()>& then) {
    BasicBlock* thenBB = block("then");
    BasicBlock* cont = block("endif");
    b_.CreateCondBr(cond, thenBB, cont);
    b_.SetInsertPoint(thenBB);
    then();
    b_.CreateBr(cont);
    b_.SetInsertPoint(cont);
  }
  void ifThenElse(Value* cond, const std::function<void()>& then,
                  const std::function<void()>& otherwise) {
    BasicBlock* thenBB = block("then");
    BasicBlock* elseBB = block("else");
    BasicBlock* cont = block("endif");
    b_.CreateCondBr(cond, thenBB, elseBB);
    b_.SetInsertPoint(thenBB);
    then();
    b_.CreateBr(cont);
    b_.SetInsertPoint(elseBB);
    otherwise();
    b_.CreateBr(cont);
    b_.SetInsertPoint(cont);
  }
  Function* newFunction(Type* ret, std::vector<Type*> args, const std::string& suffix) {
    auto* ft = llvm::FunctionType::get(ret, args, false);
    Function* f = mb_.createInternalFunction(ft, name_ + "." + suffix);
    for (auto& a : f->args())
      if (a.getType() == ptr_) a.addAttr(llvm::Attribute::NoAlias);
    return f;
  }

  // ---- pieces ----
  void transposeInRegisters(std::vector<Value*>& rows);
  void transposePack(Value* src, Value* ld, int R, Value* nValid, Value* dst, int64_t dstStride,
                     Value* kc);
  void contigPack(Value* src, int64_t ld, int R, Value* nValid, Value* dst, int64_t dstStride,
                  Value* kc);
  Function* packAFunction();
  Function* packBFunction();
  Function* microKernel(int mr, int nr);
  Value* applyEpilogue(Value* acc, Value* biasVec);

  ModuleBuilder& mb_;
  llvm::LLVMContext& C_;
  const MatmulShape& s_;
  const MatmulPlan& p_;
  std::string name_;
  llvm::IRBuilder<> b_;
  Type *f32_, *i64_, *i32_, *i1_, *ptr_;
  llvm::FixedVectorType* vec_;
  std::map<std::pair<int, int>, Function*> microKernels_;
};

// rows[i] holds row i of an L×L block (L = lanes, a power of two); afterwards rows[j] holds
// column j. Stage `s` swaps bit s of the row index with bit s of the lane index (a butterfly):
// for each pair (i, i|s) with bit s of i clear, the off-diagonal s×s sub-blocks trade places.
// log2(L) stages × L two-source shuffles; x86 lowers them to vunpck*/vshuf*/vpermt2ps.
void MatmulEmitter::transposeInRegisters(std::vector<Value*>& rows) {
  const int L = p_.lanes;
  for (int s = 1; s < L; s <<= 1) {
    std::vector<int> lo(L), hi(L);
    for (int j = 0; j < L; ++j) {
      lo[j] = (j & s) ? L + (j ^ s) : j; // a'[j] = j&s ? b[j^s] : a[j]
      hi[j] = (j & s) ? L + j : (j ^ s); // b'[j] = j&s ? b[j]   : a[j^s]
    }
    for (int i = 0; i < L; ++i) {
      if (i & s) continue;
      Value* a = rows[i];
      Value* b = rows[i | s];
      rows[i] = b_.CreateShuffleVector(a, b, lo);
      rows[i | s] = b_.CreateShuffleVector(a, b, hi);
    }
  }
}

// dst[k·dstStride + i] = i < nValid ? src[i·ld + k] : 0   for i < R (R ≤ lanes), k < kc.
// Source rows are contiguous in k: load lanes-wide pieces of R rows, transpose in registers,
// store R lanes per k. nValid may be ≤ 0 (all zero) or ≥ R (all valid).
void MatmulEmitter::transposePack(Value* src, Value* ld, int R, Value* nValid, Value* dst,
                                  int64_t dstStride, Value* kc) {
  const int L = p_.lanes;
  Value* kcMain = b_.CreateAnd(kc, c64(~int64_t(L - 1))); // kc rounded down to lanes
  auto body = [&](bool partial) {
    // Row pointers; invalid rows read row 0 (in bounds) and are zeroed by a select.
    std::vector<Value*> rowPtr(R), valid(R);
    for (int i = 0; i < R; ++i) {
      valid[i] = partial ? b_.CreateICmpSLT(c64(i), nValid) : nullptr;
      Value* row = partial ? b_.CreateSelect(valid[i], c64(i), c64(0)) : c64(i);
      rowPtr[i] = gepF(src, b_.CreateMul(row, ld));
    }
    forLoop(c64(0), kcMain, L, "tp.k", [&](Value* k) {
      std::vector<Value*> rows(L, zeroVec());
      for (int i = 0; i < R; ++i) {
        Value* v = b_.CreateAlignedLoad(vec_, gepF(rowPtr[i], k), llvm::Align(4));
        rows[i] = partial ? b_.CreateSelect(valid[i], v, zeroVec()) : v;
      }
      transposeInRegisters(rows);
      for (int j = 0; j < L; ++j)
        storeVec(rows[j], gepF(dst, b_.CreateMul(b_.CreateAdd(k, c64(j)), c64(dstStride))), R);
    });
    forLoop(kcMain, kc, 1, "tp.tail", [&](Value* k) {
      for (int i = 0; i < R; ++i) {
        Value* x = b_.CreateAlignedLoad(f32_, gepF(rowPtr[i], k), llvm::Align(4));
        if (partial) x = b_.CreateSelect(valid[i], x, llvm::ConstantFP::get(f32_, 0.0));
        b_.CreateAlignedStore(x, gepF(dst, b_.CreateAdd(b_.CreateMul(k, c64(dstStride)), c64(i))),
                              llvm::Align(4));
      }
    });
  };
  ifThenElse(
      b_.CreateICmpSGE(nValid, c64(R)), [&] { body(false); },
      [&] {
        // Nothing valid: zero-fill without touching src (it may point past the matrix).
        ifThenElse(
            b_.CreateICmpSLE(nValid, c64(0)),
            [&] {
              forLoop(c64(0), kc, 1, "tp.zero", [&](Value* k) {
                Value* row = gepF(dst, b_.CreateMul(k, c64(dstStride)));
                for (int i = 0; i < R; i += L)
                  storeVec(zeroVec(), gepF(row, i), R - i);
              });
            },
            [&] { body(true); });
      });
}

// dst[k·dstStride + i] = i < nValid ? src[k·ld + i] : 0   for i < R, k < kc.
// Source is contiguous along i: lanes-wide (masked) loads, one or more per k.
void MatmulEmitter::contigPack(Value* src, int64_t ld, int R, Value* nValid, Value* dst,
                               int64_t dstStride, Value* kc) {
  const int L = p_.lanes;
  auto body = [&](bool partial) {
    forLoop(c64(0), kc, 1, "cp.k", [&](Value* k) {
      Value* s = gepF(src, b_.CreateMul(k, c64(ld)));
      Value* d = gepF(dst, b_.CreateMul(k, c64(dstStride)));
      for (int c = 0; c < R; c += L) {
        Value* v;
        if (partial) {
          Value* mask = runtimeMask(nValid, c);
          if (R - c < L) mask = b_.CreateAnd(mask, constMask(R - c));
          v = b_.CreateMaskedLoad(vec_, gepF(s, c), llvm::Align(4), mask, zeroVec());
        } else {
          v = loadVec(gepF(s, c), R - c);
        }
        storeVec(v, gepF(d, c), R - c);
      }
    });
  };
  ifThenElse(
      b_.CreateICmpSGE(nValid, c64(R)), [&] { body(false); }, [&] { body(true); });
}

// packA(Ab, Ap, m0, mb, k0, kc): rows m0..m0+mb of A (this batch), columns k0..k0+kc, into
// ceil(mb/MR) slivers of [kc][MR].
Function* MatmulEmitter::packAFunction() {
  Function* f = newFunction(Type::getVoidTy(C_), {ptr_, ptr_, i64_, i64_, i64_, i64_}, "packA");
  auto a = f->arg_begin();
  Value *Ab = a++, *Ap = a++, *m0 = a++, *mb = a++, *k0 = a++, *kc = a++;
  b_.SetInsertPoint(BasicBlock::Create(C_, "entry", f));
  const int MR = p_.mr;
  Value* slivers = b_.CreateUDiv(b_.CreateAdd(mb, c64(MR - 1)), c64(MR));
  forLoop(c64(0), slivers, 1, "pa.s", [&](Value* sl) {
    Value* r0 = b_.CreateMul(sl, c64(MR));
    Value* nValid = b_.CreateSub(mb, r0);
    Value* dst = gepF(Ap, b_.CreateMul(r0, kc));
    Value* m = b_.CreateAdd(m0, r0);
    if (!s_.transA) // A[m, k] at m·K + k: rows contiguous in k → transpose
      transposePack(gepF(Ab, b_.CreateAdd(b_.CreateMul(m, c64(s_.K)), k0)), c64(s_.K), MR, nValid,
                    dst, MR, kc);
    else // A[m, k] at k·M + m: contiguous in m
      contigPack(gepF(Ab, b_.CreateAdd(b_.CreateMul(k0, c64(s_.M)), m)), s_.M, MR, nValid, dst, MR,
                 kc);
  });
  b_.CreateRetVoid();
  return f;
}

// packB(Bb, Bp, n0, nb, k0, kc): columns n0..n0+nb of B, rows k0..k0+kc, into ceil(nb/NR)
// slivers of [kc][NR].
Function* MatmulEmitter::packBFunction() {
  Function* f = newFunction(Type::getVoidTy(C_), {ptr_, ptr_, i64_, i64_, i64_, i64_}, "packB");
  auto a = f->arg_begin();
  Value *Bb = a++, *Bp = a++, *n0 = a++, *nb = a++, *k0 = a++, *kc = a++;
  b_.SetInsertPoint(BasicBlock::Create(C_, "entry", f));
  const int NR = p_.nr, L = p_.lanes;
  Value* slivers = b_.CreateUDiv(b_.CreateAdd(nb, c64(NR - 1)), c64(NR));
  forLoop(c64(0), slivers, 1, "pb.s", [&](Value* sl) {
    Value* c0 = b_.CreateMul(sl, c64(NR));
    Value* nValid = b_.CreateSub(nb, c0);
    Value* dst = gepF(Bp, b_.CreateMul(c0, kc));
    Value* n = b_.CreateAdd(n0, c0);
    if (s_.transB) { // B[k, n] at n·K + k: rows contiguous in k → transpose, lanes columns at a
                     // time
      for (int g = 0; g < NR; g += L) {
        Value* row = b_.CreateAdd(n, c64(g));
        transposePack(gepF(Bb, b_.CreateAdd(b_.CreateMul(row, c64(s_.K)), k0)), c64(s_.K), L,
                      b_.CreateSub(nValid, c64(g)), gepF(dst, g), NR, kc);
      }
    } else { // B[k, n] at k·N + n: contiguous in n
      contigPack(gepF(Bb, b_.CreateAdd(b_.CreateMul(k0, c64(s_.N)), n)), s_.N, NR, nValid, dst, NR,
                 kc);
    }
  });
  b_.CreateRetVoid();
  return f;
}

// The epilogue after the K reduction and the optional C accumulation; one register (lanes
// columns of one row) at a time. `in` is the bias (Bias, BiasGelu) or the aux value (GeluGradAux)
// for these columns. GELU is the tanh form written as x·sigmoid(2u), u = sqrt(2/pi)(x+0.044715x³),
// as codegen/lower_elementwise.cpp writes gelu and gelu_grad.
Value* MatmulEmitter::applyEpilogue(Value* acc, Value* in) {
  auto splat = [&](double v) {
    return b_.CreateVectorSplat(p_.lanes, llvm::ConstantFP::get(f32_, v));
  };
  auto sigmoid2u = [&](Value* x, Value** uOut) {
    Value* u = b_.CreateFMul(
        splat(0.7978845608028654),
        b_.CreateFAdd(x, b_.CreateFMul(splat(0.044715), b_.CreateFMul(x, b_.CreateFMul(x, x)))));
    *uOut = u;
    return b_.CreateFDiv(splat(1.0),
                         b_.CreateFAdd(splat(1.0), emitExp(b_, b_.CreateFMul(u, splat(-2.0)))));
  };
  switch (s_.epilogue) {
  case MatmulEpilogue::None:
    return acc;
  case MatmulEpilogue::Bias:
    return b_.CreateFAdd(acc, in);
  case MatmulEpilogue::BiasGelu: {
    // The bias-added value is rounded to f32 before GELU, as linear then gelu does.
    Value* x = b_.CreateFAdd(acc, in);
    Value* u = nullptr;
    return b_.CreateFMul(x, sigmoid2u(x, &u));
  }
  case MatmulEpilogue::GeluGradAux: {
    // gelu'(x) = s + 2x·s·(1-s)·u', s = sigmoid(2u), 1-s = sigmoid(-2u), u' =
    // sqrt(2/pi)(1+3·0.044715x²)
    Value* x = in;
    Value* u = nullptr;
    Value* sg = sigmoid2u(x, &u);
    Value* oneMinusS = b_.CreateFDiv(
        splat(1.0), b_.CreateFAdd(splat(1.0), emitExp(b_, b_.CreateFMul(u, splat(2.0)))));
    Value* du = b_.CreateFMul(
        splat(0.7978845608028654),
        b_.CreateFAdd(splat(1.0), b_.CreateFMul(splat(3.0 * 0.044715), b_.CreateFMul(x, x))));
    Value* d = b_.CreateFAdd(
        sg, b_.CreateFMul(b_.CreateFMul(b_.CreateFMul(splat(2.0), x), b_.CreateFMul(sg, oneMinusS)),
                          du));
    return b_.CreateFMul(acc, d);
  }
  }
  return acc;
}

// uk(Ap, Bp, Ct, kc, loadC, last, biasT): the mr×nr tile at Ct (row stride N) gets
//   acc = Σ_k Ap[k·MR + i] · Bp[k·NR + j];  if loadC: acc += Ct;  if last: epilogue;  Ct = acc
// acc lives in mr × ceil(nr/lanes) vector registers. Packed slivers always have strides MR/NR.
Function* MatmulEmitter::microKernel(int mr, int nr) {
  auto key = std::make_pair(mr, nr);
  if (auto it = microKernels_.find(key); it != microKernels_.end()) return it->second;
  Function* f = newFunction(Type::getVoidTy(C_), {ptr_, ptr_, ptr_, i64_, i1_, i1_, ptr_},
                            "uk" + std::to_string(mr) + "x" + std::to_string(nr));
  microKernels_[key] = f;
  auto a = f->arg_begin();
  Value *Ap = a++, *Bp = a++, *Ct = a++, *kc = a++, *loadC = a++, *last = a++, *biasT = a++;
  auto saved = b_.saveIP();
  BasicBlock* entry = BasicBlock::Create(C_, "entry", f);
  b_.SetInsertPoint(entry);

  const int L = p_.lanes, MR = p_.mr, NR = p_.nr;
  const int nv = (nr + L - 1) / L;
  auto lanesOf = [&](int v) { return std::min(L, nr - v * L); }; // valid lanes of vector v
  const llvm::Align bAlign((NR * 4) % 64 == 0 && L == 16 ? 64 : 4);

  // K loop: acc[i][v] += splat(a[k][i]) * b[k][v]
  BasicBlock* loop = BasicBlock::Create(C_, "k", f);
  BasicBlock* after = BasicBlock::Create(C_, "k.done", f);
  b_.CreateBr(loop);
  b_.SetInsertPoint(loop);
  PHINode* k = b_.CreatePHI(i64_, 2, "k");
  k->addIncoming(c64(0), entry);
  std::vector<std::vector<PHINode*>> accPhi(mr, std::vector<PHINode*>(nv));
  for (int i = 0; i < mr; ++i)
    for (int v = 0; v < nv; ++v) {
      accPhi[i][v] = b_.CreatePHI(vec_, 2, "acc");
      accPhi[i][v]->addIncoming(zeroVec(), entry);
    }
  Value* pa = gepF(Ap, b_.CreateMul(k, c64(MR)));
  Value* pb = gepF(Bp, b_.CreateMul(k, c64(NR)));
  std::vector<Value*> bv(nv);
  for (int v = 0; v < nv; ++v)
    bv[v] = b_.CreateAlignedLoad(vec_, gepF(pb, v * L), bAlign);
  std::vector<std::vector<Value*>> acc(mr, std::vector<Value*>(nv));
  for (int i = 0; i < mr; ++i) {
    Value* ai = b_.CreateVectorSplat(L, b_.CreateAlignedLoad(f32_, gepF(pa, i), llvm::Align(4)));
    for (int v = 0; v < nv; ++v)
      acc[i][v] = b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec_}, {ai, bv[v], accPhi[i][v]});
  }
  Value* k1 = b_.CreateAdd(k, c64(1));
  k->addIncoming(k1, loop);
  for (int i = 0; i < mr; ++i)
    for (int v = 0; v < nv; ++v)
      accPhi[i][v]->addIncoming(acc[i][v], loop);
  b_.CreateCondBr(b_.CreateICmpSLT(k1, kc), loop, after);

  // C tile addresses.
  b_.SetInsertPoint(after);
  auto cPtr = [&](int i, int v) { return gepF(Ct, int64_t(i) * s_.N + v * L); };

  // if (loadC) acc += C
  {
    BasicBlock* from = b_.GetInsertBlock();
    BasicBlock* add = BasicBlock::Create(C_, "loadC", f);
    BasicBlock* join = BasicBlock::Create(C_, "loadC.done", f);
    b_.CreateCondBr(loadC, add, join);
    b_.SetInsertPoint(add);
    std::vector<std::vector<Value*>> sum = acc;
    for (int i = 0; i < mr; ++i)
      for (int v = 0; v < nv; ++v)
        sum[i][v] = b_.CreateFAdd(acc[i][v], loadVec(cPtr(i, v), lanesOf(v)));
    b_.CreateBr(join);
    b_.SetInsertPoint(join);
    for (int i = 0; i < mr; ++i)
      for (int v = 0; v < nv; ++v) {
        PHINode* phi = b_.CreatePHI(vec_, 2);
        phi->addIncoming(acc[i][v], from);
        phi->addIncoming(sum[i][v], add);
        acc[i][v] = phi;
      }
  }
  // if (last) epilogue
  if (s_.epilogue != MatmulEpilogue::None) {
    BasicBlock* from = b_.GetInsertBlock();
    BasicBlock* epi = BasicBlock::Create(C_, "epilogue", f);
    BasicBlock* join = BasicBlock::Create(C_, "epilogue.done", f);
    b_.CreateCondBr(last, epi, join);
    b_.SetInsertPoint(epi);
    std::vector<Value*> biasVec(nv, nullptr);
    if (s_.epilogue == MatmulEpilogue::Bias || s_.epilogue == MatmulEpilogue::BiasGelu)
      for (int v = 0; v < nv; ++v)
        biasVec[v] = loadVec(gepF(biasT, v * L), lanesOf(v));
    std::vector<std::vector<Value*>> out = acc;
    for (int i = 0; i < mr; ++i)
      for (int v = 0; v < nv; ++v) {
        // GeluGradAux: biasT is the aux tile, laid out as the C tile (row stride N)
        Value* in = s_.epilogue == MatmulEpilogue::GeluGradAux
                        ? loadVec(gepF(biasT, int64_t(i) * s_.N + v * L), lanesOf(v))
                        : biasVec[v];
        out[i][v] = applyEpilogue(acc[i][v], in);
      }
    BasicBlock* epiEnd = b_.GetInsertBlock();
    b_.CreateBr(join);
    b_.SetInsertPoint(join);
    for (int i = 0; i < mr; ++i)
      for (int v = 0; v < nv; ++v) {
        PHINode* phi = b_.CreatePHI(vec_, 2);
        phi->addIncoming(acc[i][v], from);
        phi->addIncoming(out[i][v], epiEnd);
        acc[i][v] = phi;
      }
  }
  for (int i = 0; i < mr; ++i)
    for (int v = 0; v < nv; ++v)
      storeVec(acc[i][v], cPtr(i, v), lanesOf(v));
  b_.CreateRetVoid();
  b_.restoreIP(saved);
  return f;
}

Function* MatmulEmitter::emit() {
  const MatmulShape& s = s_;
  const MatmulPlan& p = p_;
  Function* packA = packAFunction();
  Function* packB = packBFunction();
  const int MR = p.mr, NR = p.nr;
  const int mEdge = int(s.M % MR), nEdge = int(s.N % NR);
  // Create the micro-kernel variants up front (full tile + edge tiles that occur).
  microKernel(MR, NR);
  if (mEdge) microKernel(mEdge, NR);
  if (nEdge) microKernel(MR, nEdge);
  if (mEdge && nEdge) microKernel(mEdge, nEdge);

  auto* ft = llvm::FunctionType::get(Type::getVoidTy(C_),
                                     {ptr_, ptr_, ptr_, ptr_, ptr_, i32_, i32_, ptr_}, false);
  Function* f = mb_.createFunction(ft, name_);
  auto a = f->arg_begin();
  Value *A = a++, *B = a++, *Cm = a++, *bias = a++, *scratch = a++, *tid32 = a++, *nt32 = a++;
  Value* work = a++;
  A->setName("A"), B->setName("B"), Cm->setName("C"), bias->setName("bias");
  scratch->setName("scratch"), tid32->setName("thread_id"), nt32->setName("num_threads");
  work->setName("work");
  for (Value* v : {A, B, bias})
    f->addParamAttr(llvm::cast<llvm::Argument>(v)->getArgNo(), llvm::Attribute::ReadOnly);
  for (Value* v : {A, B, Cm, bias, scratch})
    f->addParamAttr(llvm::cast<llvm::Argument>(v)->getArgNo(), llvm::Attribute::NoAlias);
  b_.SetInsertPoint(BasicBlock::Create(C_, "entry", f));

  Value* tid = b_.CreateSExt(tid32, i64_);
  Value* nt = b_.CreateSExt(nt32, i64_);
  Value* Ap = scratch;
  Value* Bp = gepF(scratch, p.packABytes / 4);
  const int64_t runs = (p.mBlocks + p.runM - 1) / p.runM; // runs of M blocks per N block
  const int64_t perBatch = p.nBlocks * runs;

  // One claimed item at a time: an item is whole blocks of C (every K block, in order), so C
  // does not depend on which thread computed which item.
  emitClaimLoop(b_, f, work, 0, tid, nt, c64(p.items), [&](Value* item) {
    Value* bi = b_.CreateUDiv(item, c64(perBatch));
    Value* rem = b_.CreateURem(item, c64(perBatch));
    Value* jn = b_.CreateUDiv(rem, c64(runs));
    Value* im0 = b_.CreateMul(b_.CreateURem(rem, c64(runs)), c64(p.runM));
    Value* imEnd = min64(b_.CreateAdd(im0, c64(p.runM)), c64(p.mBlocks));
    Value* n0 = b_.CreateMul(jn, c64(p.nc));
    Value* nb = min64(c64(p.nc), b_.CreateSub(c64(s.N), n0));
    Value* Ab = gepF(A, b_.CreateMul(bi, c64(s.M * s.K)));
    Value* Bb = s.batchedB ? gepF(B, b_.CreateMul(bi, c64(s.K * s.N))) : B;
    Value* Cb = gepF(Cm, b_.CreateMul(bi, c64(s.M * s.N)));

    forLoop(c64(0), c64(p.kBlocks), 1, "pc", [&](Value* pc) {
      Value* isLast = b_.CreateICmpEQ(pc, c64(p.kBlocks - 1));
      Value* kc = b_.CreateSelect(isLast, c64(p.kcLast), c64(p.kc));
      Value* k0 = b_.CreateMul(pc, c64(p.kc));
      Value* loadC = s.accumulate ? llvm::ConstantInt::getTrue(C_) : b_.CreateICmpNE(pc, c64(0));
      b_.CreateCall(packB, {Bb, Bp, n0, nb, k0, kc});
      forLoop(im0, imEnd, 1, "im", [&](Value* im) {
        Value* m0 = b_.CreateMul(im, c64(p.mc));
        Value* mbv = min64(c64(p.mc), b_.CreateSub(c64(s.M), m0));
        b_.CreateCall(packA, {Ab, Ap, m0, mbv, k0, kc});
        Value* nSl = b_.CreateUDiv(b_.CreateAdd(nb, c64(NR - 1)), c64(NR));
        Value* mSl = b_.CreateUDiv(b_.CreateAdd(mbv, c64(MR - 1)), c64(MR));
        forLoop(c64(0), nSl, 1, "jr", [&](Value* jr) {
          Value* ncol = b_.CreateAdd(n0, b_.CreateMul(jr, c64(NR)));
          Value* bSl = gepF(Bp, b_.CreateMul(b_.CreateMul(jr, c64(NR)), kc));
          // bias + ncol, computed without inbounds: bias may be null when unused.
          bool perColumn =
              s.epilogue == MatmulEpilogue::Bias || s.epilogue == MatmulEpilogue::BiasGelu;
          Value* biasT =
              perColumn ? b_.CreateGEP(f32_, bias, ncol) : llvm::Constant::getNullValue(ptr_);
          Value* nFull = nEdge ? b_.CreateICmpSLE(b_.CreateAdd(ncol, c64(NR)), c64(s.N)) : nullptr;
          forLoop(c64(0), mSl, 1, "ir", [&](Value* ir) {
            Value* mrow = b_.CreateAdd(m0, b_.CreateMul(ir, c64(MR)));
            Value* aSl = gepF(Ap, b_.CreateMul(b_.CreateMul(ir, c64(MR)), kc));
            Value* ct = gepF(Cb, b_.CreateAdd(b_.CreateMul(mrow, c64(s.N)), ncol));
            if (s.epilogue == MatmulEpilogue::GeluGradAux) // aux[b][mrow, ncol], as C's tile
              biasT = gepF(bias, b_.CreateAdd(b_.CreateMul(bi, c64(s.M * s.N)),
                                              b_.CreateAdd(b_.CreateMul(mrow, c64(s.N)), ncol)));
            std::vector<Value*> args{aSl, bSl, ct, kc, loadC, isLast, biasT};
            Value* mFull =
                mEdge ? b_.CreateICmpSLE(b_.CreateAdd(mrow, c64(MR)), c64(s.M)) : nullptr;
            auto callFor = [&](bool fullM, bool fullN) {
              b_.CreateCall(microKernel(fullM ? MR : mEdge, fullN ? NR : nEdge), args);
            };
            auto byN = [&](bool fullM) {
              if (nFull)
                ifThenElse(
                    nFull, [&] { callFor(fullM, true); }, [&] { callFor(fullM, false); });
              else
                callFor(fullM, true);
            };
            if (mFull)
              ifThenElse(
                  mFull, [&] { byN(true); }, [&] { byN(false); });
            else
              byN(true);
          });
        });
      });
    });
  });
  b_.CreateRetVoid();
  return f;
}

} // namespace

llvm::Function* emitMatmulKernel(ModuleBuilder& mb, const MatmulShape& shape,
                                 const MatmulPlan& plan, std::string_view name) {
  return MatmulEmitter(mb, shape, plan, name).emit();
}

} // namespace gptc::codegen
