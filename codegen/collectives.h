// codegen/collectives.h — the entry points the JIT's collective kernels call (allreduce,
// reduce_scatter, all_gather: ir/ops.def), as extern "C" symbols that compileStep defines in the
// JIT (codegen/compile.cpp), and the hook through which the runtime's MPI layer
// (runtime/exec/mpi_comm.h) supplies them. codegen cannot call into runtime/ (dependencies point
// one way: runtime → codegen), so the runtime installs its functions here when it starts MPI.
// Without a hook the single-process meaning applies: every collective over 1 rank is a copy.
//
// The kernels call them on thread 0 of the team, so every rank calls them in schedule order, one
// at a time; the other threads go on to the next kernel that does not touch these bytes (the
// step builder's barriers see the result like any kernel's).
#pragma once

#include <cstdint>

namespace gptc::codegen {

/// The runtime's collectives (runtime/exec/mpi_comm.h has their meaning).
struct CollectiveHooks {
  void (*allreduceSum)(const float* in, float* out, int64_t n) = nullptr;
  void (*reduceScatter)(const float* in, float* out, int64_t n, int ranks) = nullptr;
  void (*allGather)(const float* in, float* out, int64_t n, int ranks) = nullptr;
};

/// Installs the hooks (all three set) or, with {}, restores the single-process copies.
void setCollectiveHooks(const CollectiveHooks& hooks);

inline constexpr const char* kAllreduceSymbol = "gptc_allreduce_f32";
inline constexpr const char* kReduceScatterSymbol = "gptc_reduce_scatter_f32";
inline constexpr const char* kAllGatherSymbol = "gptc_all_gather_f32";

} // namespace gptc::codegen

/// What step() calls (n, ranks: the static sizes of the op; see ir/ops.def).
extern "C" void gptc_allreduce_f32(const float* in, float* out, int64_t n);
extern "C" void gptc_reduce_scatter_f32(const float* in, float* out, int64_t n, int32_t ranks);
extern "C" void gptc_all_gather_f32(const float* in, float* out, int64_t n, int32_t ranks);
