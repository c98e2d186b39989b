// bench/matmul_bench.cpp — GFLOP/s of gptc's generated matmul (codegen/matmul.h) against OpenBLAS
// cblas_sgemm on the matmuls of a GPT-2 124M training step (B=4, T=64: 256 rows, C=768) and of
// attention (48 heads·batches of 64×64). Runs alternate (ours, OpenBLAS, ours, ...) so that both
// see the same machine load; the median of --reps runs is reported, for 1 and 2 threads.
//
// Only this benchmark links OpenBLAS. It leaves correctness to tests/codegen_matmul (but checks
// that both results agree, so a fast wrong kernel cannot win).
//
// Usage: matmul_bench [--reps N] [--threads 1,2] [--only SUBSTR] [--lanes L] [--tile MRxNR]
//                     [--kc N] [--mc N] [--nc N] [--run R] [--markdown] [--plan] [--asm FILE]
//                     [--cpu-time]
//   --cpu-time measures process CPU time instead of wall time (tuning on a loaded machine).
//   --plan prints each shape's blocking; --asm writes the first shape's assembly to FILE.
#include "codegen/matmul.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

using namespace gptc::codegen;

namespace {

struct Case {
  const char* name;
  MatmulShape shape;
};

MatmulShape mk(int64_t batch, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
  MatmulShape s;
  s.batch = batch, s.M = M, s.N = N, s.K = K, s.transA = ta, s.transB = tb;
  return s;
}

// GPT-2 124M, B=4, T=64: BT=256, C=768, 3C=2304, 4C=3072, Vp=50304, 48 = B·NH heads of hs=64.
std::vector<Case> gpt2Cases() {
  const int64_t BT = 256, C = 768, C3 = 2304, C4 = 3072, Vp = 50304;
  return {
      // forward: y = x·Wᵀ, W: [out, in]
      {"fwd qkv      x.Wt", mk(1, BT, C3, C, false, true)},
      {"fwd attproj  x.Wt", mk(1, BT, C, C, false, true)},
      {"fwd fc       x.Wt", mk(1, BT, C4, C, false, true)},
      {"fwd fcproj   x.Wt", mk(1, BT, C, C4, false, true)},
      {"fwd lm_head  x.Wt", mk(1, BT, Vp, C, false, true)},
      // backward: dX = dY·W
      {"bwd qkv      dY.W", mk(1, BT, C, C3, false, false)},
      {"bwd attproj  dY.W", mk(1, BT, C, C, false, false)},
      {"bwd fc       dY.W", mk(1, BT, C, C4, false, false)},
      {"bwd fcproj   dY.W", mk(1, BT, C4, C, false, false)},
      {"bwd lm_head  dY.W", mk(1, BT, C, Vp, false, false)},
      // backward: dW = dYᵀ·X
      {"bwd qkv     dYt.X", mk(1, C3, C, BT, true, false)},
      {"bwd attproj dYt.X", mk(1, C, C, BT, true, false)},
      {"bwd fc      dYt.X", mk(1, C4, C, BT, true, false)},
      {"bwd fcproj  dYt.X", mk(1, C, C4, BT, true, false)},
      {"bwd lm_head dYt.X", mk(1, Vp, C, BT, true, false)},
      // attention, one matmul per (batch, head)
      {"att 48x Q.Kt     ", mk(48, 64, 64, 64, false, true)},
      {"att 48x P.V      ", mk(48, 64, 64, 64, false, false)},
  };
}

std::vector<float> randomVec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v)
    x = d(rng);
  return v;
}

void blasMatmul(const MatmulShape& s, const float* A, const float* B, float* C, int threads) {
  auto one = [&](int64_t b) {
    cblas_sgemm(CblasRowMajor, s.transA ? CblasTrans : CblasNoTrans,
                s.transB ? CblasTrans : CblasNoTrans, int(s.M), int(s.N), int(s.K), 1.0f,
                A + b * s.M * s.K, int(s.transA ? s.M : s.K), B + (s.batchedB ? b * s.K * s.N : 0),
                int(s.transB ? s.K : s.N), 0.0f, C + b * s.M * s.N, int(s.N));
  };
  if (s.batch > 1 && threads > 1) {
    // Small batched products: OpenBLAS would run each one on one thread anyway; give it the
    // same parallelism over the batch that our kernel uses.
    openblas_set_num_threads(1);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < s.batch; ++b)
      one(b);
  } else {
    openblas_set_num_threads(threads);
    for (int64_t b = 0; b < s.batch; ++b)
      one(b);
  }
}

// --cpu-time: process CPU seconds instead of wall seconds. On a loaded machine this measures
// the work of a 1-thread run without the time spent descheduled (tuning only; the table uses
// wall time).
bool gCpuTime = false;

double now() {
  if (gCpuTime) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<int> parseList(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',')
      ++p;
    if (*p) ++p;
  }
  return v;
}

} // namespace

int main(int argc, char** argv) {
  int reps = 7;
  std::vector<int> threadCounts{1, 2};
  std::string only;
  MatmulTuning tuning;
  bool markdown = false, showPlan = false;
  std::string asmFile;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "matmul_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--reps")
      reps = std::max(1, std::atoi(next()));
    else if (a == "--threads")
      threadCounts = parseList(next());
    else if (a == "--only")
      only = next();
    else if (a == "--lanes")
      tuning.lanes = std::atoi(next());
    else if (a == "--tile")
      std::sscanf(next(), "%dx%d", &tuning.mr, &tuning.nr);
    else if (a == "--kc")
      tuning.kc = std::atoll(next());
    else if (a == "--mc")
      tuning.mc = std::atoll(next());
    else if (a == "--nc")
      tuning.nc = std::atoll(next());
    else if (a == "--run")
      tuning.runM = std::atoll(next());
    else if (a == "--markdown")
      markdown = true;
    else if (a == "--plan")
      showPlan = true;
    else if (a == "--cpu-time")
      gCpuTime = true;
    else if (a == "--asm")
      asmFile = next();
    else {
      std::fprintf(stderr,
                   "usage: matmul_bench [--reps N] [--threads 1,2] [--only SUBSTR] "
                   "[--lanes L] [--tile MRxNR] [--kc N] [--mc N] [--nc N] [--run R] [--markdown] "
                   "[--plan] [--asm FILE] [--cpu-time]\n");
      return 2;
    }
  }
  std::printf("# OpenBLAS: %s (core %s)\n", openblas_get_config(), openblas_get_corename());
  if (markdown) {
    std::printf("| shape | batch×M×N×K | thr | gptc GFLOP/s | OpenBLAS GFLOP/s | ratio |\n");
    std::printf("|---|---|---:|---:|---:|---:|\n");
  } else {
    std::printf("%-18s %-22s %3s %10s %10s %6s\n", "shape", "batch x M x N x K", "thr", "gptc",
                "openblas", "ratio");
  }
  std::vector<double> ratios;
  for (const Case& c : gpt2Cases()) {
    if (!only.empty() && std::string(c.name).find(only) == std::string::npos) continue;
    const MatmulShape& s = c.shape;
    MatmulTuning t = tuning;
    std::string err;
    double t0 = now();
    auto cm = CompiledMatmul::compile(s, &err, t, /*captureCode=*/!asmFile.empty());
    double compileS = now() - t0;
    if (!cm) {
      std::fprintf(stderr, "%s: %s\n", c.name, err.c_str());
      return 1;
    }
    if (!asmFile.empty()) {
      if (FILE* f = std::fopen(asmFile.c_str(), "w")) {
        std::fputs(cm->assembly().c_str(), f);
        std::fclose(f);
      }
      asmFile.clear(); // the first selected shape only
    }
    if (showPlan)
      std::printf("# %s: %s (compile %.0f ms)\n", c.name, describe(cm->plan()).c_str(),
                  compileS * 1e3);
    std::vector<float> A = randomVec(size_t(s.batch * s.M * s.K), 1);
    std::vector<float> B = randomVec(size_t((s.batchedB ? s.batch : 1) * s.K * s.N), 2);
    std::vector<float> C1(size_t(s.batch * s.M * s.N)), C2(C1.size());
    const double flops = 2.0 * double(s.batch) * double(s.M) * double(s.N) * double(s.K);
    char dims[64];
    std::snprintf(dims, sizeof dims, "%lldx%lldx%lldx%lld%s%s", (long long)s.batch, (long long)s.M,
                  (long long)s.N, (long long)s.K, s.transA ? " tA" : "", s.transB ? " tB" : "");
    for (int threads : threadCounts) {
      std::vector<double> ours, blas;
      cm->run(A.data(), B.data(), C1.data(), nullptr, threads); // warm-up (and page-in)
      blasMatmul(s, A.data(), B.data(), C2.data(), threads);
      double maxDiff = 0, maxRef = 0;
      for (size_t i = 0; i < C1.size(); ++i) {
        maxDiff = std::max(maxDiff, double(std::abs(C1[i] - C2[i])));
        maxRef = std::max(maxRef, double(std::abs(C2[i])));
      }
      if (maxDiff > 1e-4 * maxRef) {
        std::fprintf(stderr, "%s: results differ from OpenBLAS (rel %.3g)\n", c.name,
                     maxDiff / maxRef);
        return 1;
      }
      for (int r = 0; r < reps; ++r) {
        double a = now();
        cm->run(A.data(), B.data(), C1.data(), nullptr, threads);
        ours.push_back(now() - a);
        double b = now();
        blasMatmul(s, A.data(), B.data(), C2.data(), threads);
        blas.push_back(now() - b);
      }
      double g = flops / median(ours) * 1e-9, gb = flops / median(blas) * 1e-9;
      ratios.push_back(g / gb);
      if (markdown)
        std::printf("| %s | %s | %d | %.1f | %.1f | %.2f |\n", c.name, dims, threads, g, gb,
                    g / gb);
      else
        std::printf("%-18s %-22s %3d %10.1f %10.1f %6.2f\n", c.name, dims, threads, g, gb, g / gb);
      std::fflush(stdout);
    }
  }
  if (!ratios.empty()) {
    double geo = 0;
    for (double r : ratios)
      geo += std::log(r);
    std::printf("# geometric mean ratio gptc/OpenBLAS: %.2f, min %.2f\n",
                std::exp(geo / double(ratios.size())),
                *std::min_element(ratios.begin(), ratios.end()));
  }
  return 0;
}
