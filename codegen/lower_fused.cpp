// codegen/lower_fused.cpp — lowerings of the fused op kinds that passes/fuse.cpp makes
// (ir/ops.def's last section). Each is one kernel doing the work of the ops it replaces, with the
// intermediate values kept in registers instead of written to memory and read back:
//   scale_mask_softmax   one pass of softmax over rows whose elements are scaled and masked as
//                        they are loaded (three kernels and two [B,H,T,T] round trips before);
//   masked_softmax_grad  softmax_grad with the mask and the scale applied as the row is stored;
//   linear_gelu          the generated matmul with GELU in its register-tile epilogue;
//   matmul_gelu_grad     the generated matmul with gelu' of an aux tensor in its epilogue;
//   embedding_grad_add   embedding_grad's scatter summed per row, then added to acc once (in
//   place).
// Semantics match runtime/interp/interpreter_ops_fused.cpp (the unfused ops in sequence) to the
// same tolerances as the unfused lowerings. What it leaves to others: the matmul kernel itself
// (codegen/matmul_emit.cpp), loops and threads (KernelEmitter), deciding what to fuse (passes/).
#include "codegen/lower.h"
#include "codegen/matmul_emit.h"
#include "codegen/vector_math.h"

#include <limits>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

std::string emitMatmulOp(ModuleBuilder& mb, const MatmulShape& shape, const std::string& name,
                         LoweredKernel* out) {
  if (std::string bad = validateMatmulShape(shape); !bad.empty()) return bad;
  out->fn = emitMatmulKernel(mb, shape, planMatmul(shape), name);
  out->fn->addFnAttr(llvm::Attribute::NoInline);
  out->workSlots = 1;
  out->form = CallForm::Matmul; // (A, B, C, bias-or-aux, scratch, tid, nthreads)
  out->scratchBytes = matmulScratchBytes(shape);
  return "";
}

} // namespace

std::string lower_ScaleMaskSoftmax(ModuleBuilder& mb, const KernelSpec& spec,
                                   const std::string& name, LoweredKernel* out) {
  // x (...,Tq,Tk): v = j > i + offset ? -inf : x·s, then softmax of v per row, as lower_Softmax
  // (max, sum of exp stored, scale by 1/sum; a row of all -inf gives zeros). In place is fine:
  // each element is read before its exp is stored.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& s = spec.result.shape;
    int64_t tq = s[s.size() - 2], C = s.back(), rows = spec.result.numel() / C;
    int64_t offset = attrInt(spec.attrs, "offset");
    float scale = float(attrFloat(spec.attrs, "s"));
    const double inf = std::numeric_limits<double>::infinity();
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      Value* limit = b.CreateAdd(b.CreateURem(r, E.ci(tq)), E.ci(offset)); // i + offset
      auto v = [&](Value* c) {
        Value* x = b.CreateFMul(E.loadF(E.operand(0), b.CreateAdd(base, c)), E.cf(scale));
        return b.CreateSelect(b.CreateICmpSGT(c, limit), E.cf(-inf), x);
      };
      Value* mx = E.reduce(E.ci(0), E.ci(C), {E.cf(-inf)}, [&](Value* c, const Vals& acc) {
        // maximum, not maxnum: LLVM 19 vectorizes it, and a NaN in the row makes the whole row
        // NaN, as in the interpreter (maxnum skipped it and gave zeros around a NaN).
        return Vals{b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc[0], v(c))};
      })[0];
      mx = b.CreateSelect(b.CreateFCmpOEQ(mx, E.cf(-inf)), E.cf(0.0), mx);
      Value* sum = E.reduce(E.ci(0), E.ci(C), {E.cf(0.0)}, [&](Value* c, const Vals& acc) {
        Value* e = emitExp(b, b.CreateFSub(v(c), mx));
        E.storeF(E.result(), b.CreateAdd(base, c), e);
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

std::string lower_MaskedSoftmaxGrad(ModuleBuilder& mb, const KernelSpec& spec,
                                    const std::string& name, LoweredKernel* out) {
  // y, dy (R,C); keep (f32 or i32) repeats over the leading axes (its shape is a suffix of y's,
  // which the fusion pass checks): out = keep ? s·y·(dy - Σ dy·y) : 0.
  const Shape &ys = spec.result.shape, &ks = spec.operands[2].shape;
  if (ks.size() > ys.size() || !std::equal(ks.begin(), ks.end(), ys.end() - ks.size()))
    return "masked_softmax_grad: keep must repeat over leading axes only";
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = ys.back(), rows = spec.result.numel() / C, keepN = spec.operands[2].numel();
    bool keepInt = spec.operands[2].dtype == DType::i32;
    float scale = float(attrFloat(spec.attrs, "s"));
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      Value* kbase = b.CreateURem(base, E.ci(keepN)); // C divides keepN (or keepN divides C)
      Value* dot = E.reduce(E.ci(0), E.ci(C), {E.cf(0.0)}, [&](Value* c, const Vals& acc) {
        Value* i = b.CreateAdd(base, c);
        return Vals{
            b.CreateFAdd(acc[0], b.CreateFMul(E.loadF(E.operand(0), i), E.loadF(E.operand(1), i)))};
      })[0];
      E.loop(C, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        Value* k = keepN >= C ? b.CreateAdd(kbase, c) : b.CreateURem(c, E.ci(keepN));
        Value* kept = keepInt ? b.CreateICmpNE(E.loadI(E.operand(2), k), E.ci32(0))
                              : b.CreateFCmpUNE(E.loadF(E.operand(2), k), E.cf(0.0));
        Value* g =
            b.CreateFMul(E.loadF(E.operand(0), i), b.CreateFSub(E.loadF(E.operand(1), i), dot));
        E.storeF(E.result(), i, b.CreateFMul(b.CreateSelect(kept, g, E.cf(0.0)), E.cf(scale)));
      });
    });
    return "";
  });
}

std::string lower_LinearGelu(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  // as lower_Linear: x rows · wᵀ, transB, with the bias + GELU epilogue
  const TensorType& x = spec.operands[0];
  MatmulShape s;
  s.K = x.shape.back();
  s.M = x.numel() / s.K;
  s.N = spec.operands[1].shape[0];
  s.transB = true;
  s.batchedB = false;
  s.epilogue = MatmulEpilogue::BiasGelu;
  return emitMatmulOp(mb, s, name, out);
}

std::string lower_MatMulGeluGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                 LoweredKernel* out) {
  // as lower_MatMul (a shared 2-D b folds the batch into M), with gelu' of the aux operand x
  // (laid out as the product) in the epilogue
  const Shape &a = spec.operands[0].shape, &bs = spec.operands[1].shape;
  bool ta = attrInt(spec.attrs, "ta"), tb = attrInt(spec.attrs, "tb");
  int ra = int(a.size()), rb = int(bs.size());
  MatmulShape s;
  s.transA = ta;
  s.transB = tb;
  s.M = ta ? a[ra - 1] : a[ra - 2];
  s.K = ta ? a[ra - 2] : a[ra - 1];
  s.N = tb ? bs[rb - 2] : bs[rb - 1];
  for (int d = 0; d < ra - 2; ++d)
    s.batch *= a[d];
  s.batchedB = rb > 2;
  if (!s.batchedB && !ta) {
    s.M *= s.batch;
    s.batch = 1;
  }
  s.epilogue = MatmulEpilogue::GeluGradAux;
  return emitMatmulOp(mb, s, name, out);
}

std::string lower_EmbeddingGradAdd(ModuleBuilder& mb, const KernelSpec& spec,
                                   const std::string& name, LoweredKernel* out) {
  // acc (rows,C), ids (N), dy (N,C) -> (rows,C) = add(acc, embedding_grad(ids, dy)), rounded as
  // those two kernels round: a row's contributions are summed first, 0 + dy[p1] + dy[p2] + ... in
  // position order (embedding_grad's f32 order), into a stack buffer, and the sum is added to acc
  // once (add's rounding). Chunks are column ranges as in embedding_grad, so no two threads write
  // one element and every element is summed in the same order for any thread count.
  // In place (acc is the result's bytes: the planner's in_place reuse) only the rows named by ids
  // are read and written; otherwise acc is first copied to the result. Beyond the rows, the cost
  // is id compares: finding each id's first position and scanning the later ones for the same id,
  // at most N² per tile, 65k for GPT-2's N = B·T = 256.
  bool inPlace = !spec.operandIsResult.empty() && spec.operandIsResult[0];
  if (spec.operandAliasesResult[0] && !inPlace)
    return "embedding_grad_add: acc overlaps the result without being it";
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t rows = spec.operands[0].shape[0], C = spec.operands[0].shape[1];
    int64_t N = spec.operands[1].numel();
    // One row's running sums, a tile of columns at a time (in the entry block: a static alloca).
    const int64_t tile = std::min<int64_t>(C, 1024);
    Value* sum = b.CreateAlloca(E.f32(), E.ci(tile), "rowsum");
    E.parallelRanges(
        C,
        [&](Value* c0, Value* c1) {
          if (!inPlace)
            E.loop(E.ci(0), E.ci(rows), [&, c0 = c0, c1 = c1](Value* r) {
              Value* base = b.CreateMul(r, E.ci(C));
              E.loop(c0, c1, [&](Value* c) {
                Value* k = b.CreateAdd(base, c);
                E.storeF(E.result(), k, E.loadF(E.operand(0), k));
              });
            });
          Value* tiles = b.CreateUDiv(b.CreateAdd(b.CreateSub(c1, c0), E.ci(tile - 1)), E.ci(tile));
          E.loop(E.ci(0), E.ci(N), [&, c0 = c0, c1 = c1](Value* i) {
            Value* id = E.loadI(E.operand(1), i);
            // Only the first position of each id sums its row; later positions were summed with it.
            Value* seen = E.reduce(E.ci(0), i, {b.getFalse()}, [&](Value* j, const Vals& a) {
              return Vals{b.CreateOr(a[0], b.CreateICmpEQ(E.loadI(E.operand(1), j), id))};
            })[0];
            E.ifThen(b.CreateAnd(idInRange(E, id, rows), b.CreateNot(seen)), [&] {
              Value* dst = b.CreateMul(b.CreateSExt(id, E.i64()), E.ci(C));
              E.loop(E.ci(0), tiles, [&](Value* t) {
                Value* t0 = b.CreateAdd(c0, b.CreateMul(t, E.ci(tile)));
                Value* t1 =
                    b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, b.CreateAdd(t0, E.ci(tile)), c1);
                auto addRow = [&](Value* p, bool first) {
                  Value* src = b.CreateMul(p, E.ci(C));
                  E.loop(t0, t1, [&](Value* c) {
                    Value* k = b.CreateSub(c, t0);
                    Value* prev = first ? E.cf(0.0) : E.loadF(sum, k);
                    E.storeF(sum, k,
                             b.CreateFAdd(prev, E.loadF(E.operand(2), b.CreateAdd(src, c))));
                  });
                };
                addRow(i, true);
                E.loop(b.CreateAdd(i, E.ci(1)), E.ci(N), [&](Value* j) {
                  E.ifThen(b.CreateICmpEQ(E.loadI(E.operand(1), j), id), [&] { addRow(j, false); });
                });
                E.loop(t0, t1, [&](Value* c) {
                  Value* d = b.CreateAdd(dst, c);
                  E.storeF(
                      E.result(), d,
                      b.CreateFAdd(E.loadF(E.operand(0), d), E.loadF(sum, b.CreateSub(c, t0))));
                });
              });
            });
          });
        },
        /*perThread=*/1); // every chunk scans all N ids
    return "";
  });
}

} // namespace gptc::codegen
