// tests/codegen_matmul/matmul_test.cpp — the generated matmul (codegen/matmul.h) against a naive
// triple loop in double, over transposes, batches (batched and shared B), accumulate, bias, odd
// and degenerate sizes (1×1×1, M=1 decode rows, K=1), several K/M/N blocks, 1 and 2 OpenMP
// threads, and the raw calling convention with other thread counts.
//
// Accuracy criterion (docs/matmul.md): max |C - C_ref| / max |C_ref| <= 1e-5, with inputs
// uniform in [-1, 1]. Guard floats after C and after each thread's scratch catch stray writes.
#include "codegen/matmul.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace gptc::codegen;

namespace {

constexpr double kTolerance = 1e-5;
constexpr float kGuard = 12345.678f;
constexpr int kGuardFloats = 64;

std::vector<float> randomVec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v)
    x = d(rng);
  return v;
}

std::string name(const MatmulShape& s) {
  std::string n = std::to_string(s.batch) + "x[" + std::to_string(s.M) + "x" + std::to_string(s.N) +
                  "x" + std::to_string(s.K) + "]";
  if (s.transA) n += " transA";
  if (s.transB) n += " transB";
  if (!s.batchedB) n += " sharedB";
  if (s.accumulate) n += " acc";
  if (s.epilogue == MatmulEpilogue::Bias) n += " bias";
  return n;
}

struct Problem {
  MatmulShape s;
  std::vector<float> A, B, bias, C0; // C0: the initial C (matters with accumulate)
  std::vector<double> ref;
};

Problem makeProblem(const MatmulShape& s, uint32_t seed) {
  Problem p;
  p.s = s;
  p.A = randomVec(size_t(s.batch * s.M * s.K), seed);
  p.B = randomVec(size_t((s.batchedB ? s.batch : 1) * s.K * s.N), seed + 1);
  p.bias = randomVec(size_t(s.N), seed + 2);
  p.C0 = randomVec(size_t(s.batch * s.M * s.N), seed + 3);
  p.ref.assign(p.C0.size(), 0.0);
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* A = p.A.data() + b * s.M * s.K;
    const float* B = p.B.data() + (s.batchedB ? b * s.K * s.N : 0);
    for (int64_t m = 0; m < s.M; ++m)
      for (int64_t n = 0; n < s.N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < s.K; ++k) {
          double a = s.transA ? A[k * s.M + m] : A[m * s.K + k];
          double bb = s.transB ? B[n * s.K + k] : B[k * s.N + n];
          acc += a * bb;
        }
        size_t c = size_t((b * s.M + m) * s.N + n);
        if (s.accumulate) acc += p.C0[c];
        if (s.epilogue == MatmulEpilogue::Bias) acc += p.bias[size_t(n)];
        p.ref[c] = acc;
      }
  }
  return p;
}

/// max |C - ref| / max |ref|, or +inf if a guard was overwritten.
double relError(const Problem& p, const std::vector<float>& C) {
  for (size_t i = p.ref.size(); i < C.size(); ++i)
    if (C[i] != kGuard) return INFINITY;
  double maxDiff = 0, maxRef = 0;
  for (size_t i = 0; i < p.ref.size(); ++i) {
    maxDiff = std::max(maxDiff, std::abs(double(C[i]) - p.ref[i]));
    maxRef = std::max(maxRef, std::abs(p.ref[i]));
    if (std::isnan(C[i])) return INFINITY;
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

std::vector<float> initialC(const Problem& p) {
  std::vector<float> C = p.C0;
  C.resize(C.size() + kGuardFloats, kGuard);
  return C;
}

/// Compiles `s` and checks it with OpenMP run() on 1 and 2 threads.
void checkShape(const MatmulShape& s, const MatmulTuning& t = {}) {
  CAPTURE(name(s));
  static uint32_t seed = 1;
  Problem p = makeProblem(s, seed += 7);
  std::string err;
  auto cm = CompiledMatmul::compile(s, &err, t);
  REQUIRE_MESSAGE(cm, err);
  CAPTURE(describe(cm->plan()));
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    std::vector<float> C = initialC(p);
    cm->run(p.A.data(), p.B.data(), C.data(), p.bias.data(), threads);
    double e = relError(p, C);
    CHECK(e <= kTolerance);
    if (std::getenv("GPTC_TEST_VERBOSE"))
      MESSAGE(name(s) << " threads=" << threads << " rel.error=" << e);
  }
}

std::vector<MatmulShape> withTransposes(int64_t M, int64_t N, int64_t K) {
  std::vector<MatmulShape> v;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      MatmulShape s;
      s.M = M, s.N = N, s.K = K, s.transA = ta, s.transB = tb;
      v.push_back(s);
    }
  return v;
}

} // namespace

TEST_CASE("matmul: small and odd shapes, all transpose combinations") {
  const int64_t dims[][3] = {{1, 1, 1},    {7, 13, 5},  {17, 33, 65}, {1, 64, 48},
                             {1, 50, 77},  {33, 47, 1}, {14, 32, 16}, {15, 33, 17},
                             {64, 64, 64}, {3, 200, 9}, {100, 5, 130}};
  for (auto& d : dims)
    for (const MatmulShape& s : withTransposes(d[0], d[1], d[2]))
      checkShape(s);
}

TEST_CASE("matmul: several K, M and N blocks") {
  // K > kc (several K blocks, partial last), M > mc, N > nc, with edges everywhere.
  for (const MatmulShape& s : withTransposes(45, 70, 600))
    checkShape(s);
  MatmulShape big;
  big.M = 530, big.N = 1100, big.K = 300, big.transB = true;
  checkShape(big);
  MatmulTuning small; // force many small blocks with the default tile
  small.kc = 32, small.mc = 28, small.nc = 64;
  for (const MatmulShape& s : withTransposes(61, 150, 100))
    checkShape(s, small);
}

TEST_CASE("matmul: batches with batched and shared B") {
  for (bool batchedB : {true, false})
    for (const MatmulShape& base : withTransposes(19, 40, 23)) {
      MatmulShape s = base;
      s.batch = 3;
      s.batchedB = batchedB;
      checkShape(s);
    }
  MatmulShape attn; // the attention shape, one (T×hs)·(T×hs)ᵀ per (batch, head)
  attn.batch = 12, attn.M = 64, attn.N = 64, attn.K = 64, attn.transB = true;
  checkShape(attn);
}

TEST_CASE("matmul: accumulate and bias epilogues") {
  for (const MatmulShape& base : withTransposes(21, 35, 300)) {
    for (int mode = 0; mode < 3; ++mode) {
      MatmulShape s = base;
      s.accumulate = mode != 1;
      if (mode >= 1) s.epilogue = MatmulEpilogue::Bias;
      checkShape(s);
    }
  }
  MatmulShape linear; // gptc's `linear`: x·Wᵀ + b
  linear.M = 64, linear.N = 96, linear.K = 48, linear.transB = true;
  linear.epilogue = MatmulEpilogue::Bias;
  checkShape(linear);
  linear.batch = 2, linear.batchedB = false, linear.M = 1; // decode rows, shared weight
  checkShape(linear);
}

TEST_CASE("matmul: AVX2-width kernel (8 lanes) on the same host") {
  MatmulTuning t;
  t.lanes = 8;
  for (const MatmulShape& s : withTransposes(17, 33, 65))
    checkShape(s, t);
  for (const MatmulShape& s : withTransposes(50, 90, 300))
    checkShape(s, t);
}

TEST_CASE("matmul: calling convention — threads partition C, scratch stays in bounds") {
  MatmulShape s;
  s.batch = 2, s.M = 37, s.N = 70, s.K = 41, s.transB = true, s.accumulate = true;
  s.epilogue = MatmulEpilogue::Bias;
  Problem p = makeProblem(s, 99);
  std::string err;
  MatmulTuning t;
  t.mc = 14, t.nc = 32; // many items, so every thread count gets uneven ranges
  auto cm = CompiledMatmul::compile(s, &err, t);
  REQUIRE_MESSAGE(cm, err);
  const int64_t scratchFloats = matmulScratchBytes(s, t) / 4;
  CHECK(scratchFloats * 4 == cm->plan().packABytes + cm->plan().packBBytes);
  for (int nt : {1, 2, 3, 5, 8, 64}) {
    CAPTURE(nt);
    std::vector<float> C = initialC(p);
    // Call the kernel directly, one "thread" after another, each with its own guarded scratch.
    const size_t per = size_t(scratchFloats + kGuardFloats + 16);
    std::vector<float> scratch(per * size_t(nt) + 16, kGuard);
    float* base = scratch.data();
    while (reinterpret_cast<uintptr_t>(base) % 64)
      ++base; // the kernel may assume 64-byte
    for (int tid = 0; tid < nt; ++tid)
      cm->kernel()(p.A.data(), p.B.data(), C.data(), p.bias.data(), base + per * size_t(tid), tid,
                   nt, nullptr);
    CHECK(relError(p, C) <= kTolerance);
    bool guardsOk = true;
    for (int tid = 0; tid < nt; ++tid)
      for (int g = 0; g < kGuardFloats; ++g)
        guardsOk &= base[per * size_t(tid) + size_t(scratchFloats + g)] == kGuard;
    CHECK(guardsOk);
  }
}

TEST_CASE("matmul: invalid shapes are reported, not crashed on") {
  std::string err;
  MatmulShape s;
  s.M = 0, s.N = 4, s.K = 4;
  CHECK(CompiledMatmul::compile(s, &err) == nullptr);
  CHECK(err.find("M, N, K") != std::string::npos);
}

TEST_CASE("matmul: the micro-kernel is vector FMA code") {
  MatmulShape s;
  s.M = 64, s.N = 64, s.K = 64;
  std::string err;
  auto cm = CompiledMatmul::compile(s, &err, {}, /*captureCode=*/true);
  REQUIRE_MESSAGE(cm, err);
  CHECK(cm->optimizedIR().find("llvm.fmuladd.v") != std::string::npos);
  CHECK(cm->assembly().find("vfmadd") != std::string::npos);
}

TEST_CASE("matmul: runs of M blocks per item give the same bits as one M block per item") {
  // The plan may give an item several M blocks so that B's panel is packed once for them; each C
  // block is still computed by one thread with K blocks in order, so the bits cannot change.
  MatmulShape s;
  s.batch = 2, s.M = 61, s.N = 70, s.K = 45, s.transB = true, s.accumulate = true;
  s.epilogue = MatmulEpilogue::Bias;
  Problem p = makeProblem(s, 7);
  std::vector<std::vector<float>> results;
  for (int64_t run : {1, 2, 3, 5}) {
    CAPTURE(run);
    MatmulTuning t;
    t.mc = 12, t.nc = 32, t.kc = 16, t.runM = run; // 6 M blocks, 3 N blocks, 3 K blocks
    std::string err;
    auto cm = CompiledMatmul::compile(s, &err, t);
    REQUIRE_MESSAGE(cm, err);
    CHECK(cm->plan().runM == run);
    CHECK(cm->plan().items ==
          s.batch * cm->plan().nBlocks * ((cm->plan().mBlocks + run - 1) / run));
    for (int threads : {1, 2, 3}) {
      std::vector<float> C = initialC(p);
      cm->run(p.A.data(), p.B.data(), C.data(), p.bias.data(), threads);
      CHECK(relError(p, C) <= kTolerance);
      results.push_back(C);
    }
  }
  for (const auto& C : results)
    CHECK(std::memcmp(C.data(), results[0].data(), C.size() * sizeof(float)) == 0);
}

TEST_CASE("matmul: the plan gives GPT-2's short matmuls whole columns of C blocks per item") {
  MatmulShape s; // GPT-2 124M at B 4, T 64: the attention projection, x · Wᵀ
  s.M = 256, s.N = 768, s.K = 768, s.transB = true;
  MatmulTuning t;
  t.lanes = 8, t.threadsHint = 2;
  MatmulPlan p = planMatmul(s, t);
  CAPTURE(describe(p));
  CHECK(p.mBlocks == 2);
  CHECK(p.runM == p.mBlocks);          // B's panel packed once per item
  CHECK(p.items >= 2 * t.threadsHint); // still enough items to balance
  CHECK(p.items % t.threadsHint == 0);
  s.M = 50304, s.N = 768, s.K = 256, s.transB = false, s.transA = true; // the LM head's dW
  p = planMatmul(s, t);
  CAPTURE(describe(p));
  CHECK(p.items >= 4 * t.threadsHint); // tall M: runs short enough for ≥ 4 items per thread
}
