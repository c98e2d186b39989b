// Interpreter kernels for the contractions, matmul and linear: every output element is one dot
// product accumulated in double and rounded once, so the result does not depend on summation order
// (the oracle a blocked, vectorised JIT kernel is compared with).
//
// For speed without cleverness, each operand is first copied into a "row of K" layout (a as [M,K],
// b as [N,K]) so every dot product walks two contiguous rows; rows of the output are independent,
// so they are split across OpenMP threads with identical results on any thread count. It leaves
// blocking, packing for registers and vectorisation to codegen/.
#include "runtime/interp/interpreter_kernels.h"

#include "codegen/thread_team.h"

namespace gptc {
namespace {

double dot(const float* x, const float* y, int64_t k) {
  double acc = 0.0;
  for (int64_t i = 0; i < k; ++i)
    acc += double(x[i]) * double(y[i]);
  return acc;
}

/// A [rows, cols] matrix (stride cols) or, when `transposed`, the same matrix stored as
/// [cols, rows]; copied into row-major [rows, cols].
std::vector<float> asRows(const float* src, int64_t rows, int64_t cols, bool transposed) {
  std::vector<float> out(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = transposed ? src[c * rows + r] : src[r * cols + c];
  return out;
}

} // namespace

std::string eval_MatMul(EvalArgs& e) {
  // a (...,M,K) [ta: (...,K,M)] @ b (...,K,N) [tb: (...,N,K)] -> (...,M,N); a 2-D b is shared by
  // every batch of a.
  const Tensor &a = *e.in[0], &b = *e.in[1];
  bool ta = attrInt(e.attrs, "ta") != 0, tb = attrInt(e.attrs, "tb") != 0;
  int ra = a.type.rank(), rb = b.type.rank();
  int64_t M = ta ? a.type.shape[ra - 1] : a.type.shape[ra - 2];
  int64_t K = ta ? a.type.shape[ra - 2] : a.type.shape[ra - 1];
  int64_t N = tb ? b.type.shape[rb - 2] : b.type.shape[rb - 1];
  int64_t batches = M * K == 0 ? 0 : a.numel() / (M * K);
  bool bShared = rb == 2;
  std::vector<float> bRows; // (N,K): row n holds column n of b
  for (int64_t bt = 0; bt < batches; ++bt) {
    std::vector<float> aRows = asRows(a.f.data() + bt * M * K, M, K, ta); // (M,K)
    if (bt == 0 || !bShared)
      // b [K,N] is "N rows of K, transposed"; b [N,K] (tb) already is N rows of K.
      bRows = asRows(b.f.data() + (bShared ? 0 : bt * K * N), N, K, !tb);
    float* out = e.out.f.data() + bt * M * N; // (M,N)
    parallelForEach(M, [&](int64_t m) {
      for (int64_t n = 0; n < N; ++n)
        out[m * N + n] = float(dot(aRows.data() + m * K, bRows.data() + n * K, K));
    });
  }
  return "";
}

std::string eval_Linear(EvalArgs& e) {
  // x (...,K) w (N,K) b (N) -> x @ w^T + b (...,N); the bias joins the double sum before rounding.
  const Tensor &x = *e.in[0], &w = *e.in[1], &bias = *e.in[2];
  int64_t K = w.type.shape[1], N = w.type.shape[0];
  int64_t rows = rowsOf(x.type);
  parallelForEach(rows, [&](int64_t r) {
    for (int64_t n = 0; n < N; ++n)
      e.out.f[r * N + n] =
          float(dot(x.f.data() + r * K, w.f.data() + n * K, K) + double(bias.f[n]));
  });
  return "";
}

} // namespace gptc
