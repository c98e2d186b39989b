// codegen/collectives.cpp — the collective entry points of step() (see collectives.h).
#include "codegen/collectives.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gptc::codegen {
namespace {

std::atomic<const CollectiveHooks*> gHooks{nullptr};
CollectiveHooks gInstalled;

void oneRankOnly(int ranks) {
  if (ranks == 1) return;
  std::fprintf(stderr,
               "gptc: a collective over %d ranks runs in a process that is not part of an MPI job "
               "(start it with mpirun -np %d)\n",
               ranks, ranks);
  std::exit(2);
}

} // namespace

void setCollectiveHooks(const CollectiveHooks& hooks) {
  if (!hooks.allreduceSum) {
    gHooks.store(nullptr);
    return;
  }
  gInstalled = hooks;
  gHooks.store(&gInstalled);
}

} // namespace gptc::codegen

using gptc::codegen::gHooks;

extern "C" void gptc_allreduce_f32(const float* in, float* out, int64_t n) {
  if (const auto* h = gHooks.load()) return h->allreduceSum(in, out, n);
  if (in != out) std::memmove(out, in, size_t(n) * sizeof(float));
}

extern "C" void gptc_reduce_scatter_f32(const float* in, float* out, int64_t n, int32_t ranks) {
  if (const auto* h = gHooks.load()) return h->reduceScatter(in, out, n, ranks);
  gptc::codegen::oneRankOnly(ranks);
  std::memmove(out, in, size_t(n) * sizeof(float));
}

extern "C" void gptc_all_gather_f32(const float* in, float* out, int64_t n, int32_t ranks) {
  if (const auto* h = gHooks.load()) return h->allGather(in, out, n, ranks);
  gptc::codegen::oneRankOnly(ranks);
  std::memmove(out, in, size_t(n) * sizeof(float));
}
