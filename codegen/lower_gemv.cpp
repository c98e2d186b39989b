// codegen/lower_gemv.cpp — matmul and linear with few rows (M <= kGemvMaxRows): the decode step's
// case, where every weight is read once per token and the packed GEMM kernel (codegen/matmul.h)
// would read it twice (packing B, then the micro-kernel). Here B is streamed once:
//   transB (B [N,K], linear's w, tied logits): C[m,n] = Σ_k A[m,k]·B[n,k] — a dot product per
//     output, vectorized over k; outputs are split over threads by columns n;
//   B [K,N]: C[m,:] = Σ_k A[m,k]·B[k,:] — rows of B scaled and added, vectorized over n; split
//     over threads by (batch, m) rows. A row whose A[m,k] is exactly 0 is skipped (not read): the
//     decode step's attention weights are 0 past its position, so w·V streams only the cache
//     rows written so far. Exact for finite B; a NaN or inf in a skipped row of B does not reach
//     C (the interpreter's 0·NaN would) — only rows that a zero weight multiplies.
// Each output is computed by exactly one thread with the same code whatever the thread count, so
// results do not depend on it. What it leaves to others: larger M (the packed kernel), the
// decision to call it (lower_matmul.cpp).
#include "codegen/lower.h"
#include "codegen/matmul.h"

namespace gptc::codegen {

using llvm::Value;

/// Emits C = A·B (+ bias) for `s` (s.M <= kGemvMaxRows) as a Standard kernel: operands A, B and,
/// with the Bias epilogue, the bias.
std::string emitGemv(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                     LoweredKernel* out, const MatmulShape& s) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const int64_t M = s.M, N = s.N, K = s.K, batch = s.batch;
    const bool bias = s.epilogue == MatmulEpilogue::Bias;
    Value *A = E.operand(0), *B = E.operand(1), *C = E.result();
    Value* biasPtr = bias ? E.operand(2) : nullptr;
    const int64_t aStride = M * K, bStride = s.batchedB ? N * K : 0, cStride = M * N;
    if (s.transB) {
      // One work item per (batch, n): the dot products of B's row n with every row of A.
      E.parallelFor(batch * N, [&](Value* item) {
        Value* bi = b.CreateUDiv(item, E.ci(N));
        Value* n = b.CreateURem(item, E.ci(N));
        Value* bRow = b.CreateAdd(b.CreateMul(bi, E.ci(bStride)), b.CreateMul(n, E.ci(K)));
        Value* bias0 = bias ? E.loadF(biasPtr, n) : nullptr;
        for (int64_t m = 0; m < M; ++m) {
          Value* aRow = b.CreateAdd(b.CreateMul(bi, E.ci(aStride)), E.ci(m * K));
          Value* acc = E.reduce(E.ci(0), E.ci(K), {E.cf(0.0)}, [&](Value* k, const auto& a) {
            Value* x = E.loadF(A, b.CreateAdd(aRow, k));
            Value* w = E.loadF(B, b.CreateAdd(bRow, k));
            return std::vector<Value*>{b.CreateFAdd(a[0], b.CreateFMul(x, w))};
          })[0];
          if (bias0) acc = b.CreateFAdd(acc, bias0);
          Value* cIdx = b.CreateAdd(b.CreateMul(bi, E.ci(cStride)), b.CreateAdd(E.ci(m * N), n));
          E.storeF(C, cIdx, acc);
        }
      });
      return "";
    }
    // B [K,N]: one work item per (batch, m) row of C, accumulated over k in place.
    E.parallelFor(batch * M, [&](Value* item) {
      Value* bi = b.CreateUDiv(item, E.ci(M));
      Value* m = b.CreateURem(item, E.ci(M));
      Value* c0 = b.CreateMul(item, E.ci(N));
      Value* a0 = b.CreateAdd(b.CreateMul(bi, E.ci(aStride)), b.CreateMul(m, E.ci(K)));
      Value* b0 = b.CreateMul(bi, E.ci(bStride));
      E.loop(N, [&](Value* n) {
        E.storeF(C, b.CreateAdd(c0, n), bias ? E.loadF(biasPtr, n) : E.cf(0.0));
      });
      E.loop(E.ci(0), E.ci(K), [&](Value* k) {
        Value* x = E.loadF(A, b.CreateAdd(a0, k));
        Value* bRow = b.CreateAdd(b0, b.CreateMul(k, E.ci(N)));
        // A row of B whose coefficient is exactly 0 adds nothing (for finite B) and is not read:
        // the decode step's attention weights are 0 past the position (causal_mask_at, then
        // softmax), so w·V reads only the cache rows written so far, not all ctx of them.
        E.ifThen(b.CreateFCmpUNE(x, E.cf(0.0)), [&] {
          E.loop(N, [&](Value* n) {
            Value* ci = b.CreateAdd(c0, n);
            E.storeF(
                C, ci,
                b.CreateFAdd(E.loadF(C, ci), b.CreateFMul(x, E.loadF(B, b.CreateAdd(bRow, n)))));
          });
        });
      });
    });
    return "";
  });
}

} // namespace gptc::codegen
