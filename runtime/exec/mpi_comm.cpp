// runtime/exec/mpi_comm.cpp — Open MPI loaded with dlopen when launched by mpirun (see mpi_comm.h).
#include "runtime/exec/mpi_comm.h"

#include "codegen/collectives.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fmt/format.h>
#include <mutex>

namespace gptc::mpi {
namespace {

World gWorld;
bool gStarted = false, gFinalized = false;

/// Time in the collectives the steps call (GPTC_MPI_STATS=1 prints it at finalize:
/// bench/mpi_bench.py's share of step time in communication).
struct Stats {
  int64_t calls = 0, floats = 0;
  double seconds = 0;
} gStats;
struct Timed {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  explicit Timed(int64_t n) {
    ++gStats.calls;
    gStats.floats += n;
  }
  ~Timed() {
    gStats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

#ifdef GPTC_MPI
// Open MPI's ABI (mpi.h of Open MPI 4): handles are pointers to predefined objects.
using Handle = void*;
constexpr int kSuccess = 0, kThreadSerialized = 2;
void* const kInPlace = reinterpret_cast<void*>(1);

struct Api {
  void* lib = nullptr;
  int (*init_thread)(int*, char***, int, int*) = nullptr;
  int (*finalize)() = nullptr;
  int (*comm_rank)(Handle, int*) = nullptr;
  int (*comm_size)(Handle, int*) = nullptr;
  int (*comm_set_errhandler)(Handle, Handle) = nullptr;
  int (*allreduce)(const void*, void*, int, Handle, Handle, Handle) = nullptr;
  int (*reduce_scatter_block)(const void*, void*, int, Handle, Handle, Handle) = nullptr;
  int (*allgather)(const void*, int, Handle, void*, int, Handle, Handle) = nullptr;
  int (*bcast)(void*, int, Handle, int, Handle) = nullptr;
  int (*barrier)(Handle) = nullptr;
  int (*abort)(Handle, int) = nullptr;
  int (*error_string)(int, char*, int*) = nullptr;
  Handle world = nullptr, f32 = nullptr, byte = nullptr, sum = nullptr, errorsReturn = nullptr;
} api;

template <class F> bool sym(F*& f, const char* name) {
  f = reinterpret_cast<F*>(dlsym(api.lib, name));
  return f != nullptr;
}

std::string errorText(int code) {
  char text[512];
  int len = 0;
  if (api.error_string && api.error_string(code, text, &len) == kSuccess)
    return std::string(text, size_t(len));
  return fmt::format("MPI error {}", code);
}

/// A failed call ends the job in one line (MPI_ERRORS_RETURN gave us the code).
void check(int rc, const char* what) {
  if (rc != kSuccess) fatal(fmt::format("{} failed: {}", what, errorText(rc)));
}

/// MPI counts are int: large buffers go in pieces of at most 2^30 elements.
constexpr int64_t kMaxCount = int64_t(1) << 30;

void mpiAllreduce(const float* in, float* out, int64_t n) {
  for (int64_t off = 0; off < n; off += kMaxCount) {
    int count = int(std::min(kMaxCount, n - off));
    const void* src = in == out ? kInPlace : static_cast<const void*>(in + off);
    check(api.allreduce(src, out + off, count, api.f32, api.sum, api.world), "MPI_Allreduce");
  }
}
#endif

void checkRanks(int ranks, const char* op) {
  if (ranks != gWorld.size)
    fatal(fmt::format("{} over {} ranks in a job of {} (compile the step for -np {})", op, ranks,
                      gWorld.size, gWorld.size));
}

} // namespace

int launchedRanks() {
  const char* s = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!s) return 1;
  int n = std::atoi(s);
  return n > 0 ? n : 1;
}

const World& world() {
  return gWorld;
}

void fatal(const std::string& message, int code) {
  std::fprintf(stderr, "gptc: rank %d: %s\n", gWorld.rank, message.c_str());
  std::fflush(stderr);
#ifdef GPTC_MPI
  if (gWorld.active && !gFinalized) api.abort(api.world, code);
#endif
  std::exit(code);
}

void abortJob(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#ifdef GPTC_MPI
  if (gWorld.active && !gFinalized) api.abort(api.world, code);
#endif
  std::exit(code);
}

std::string init() {
  if (gStarted) return "";
  gStarted = true;
  int ranks = launchedRanks();
  if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr) return ""; // not launched by mpirun
#ifndef GPTC_MPI
  return fmt::format("launched by mpirun ({} ranks) but this gptc was built without MPI "
                     "(cmake -DGPTC_MPI=ON)",
                     ranks);
#else
  // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve their symbols against libmpi's.
  api.lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
  if (!api.lib)
    return fmt::format("launched by mpirun ({} ranks) but libmpi.so.40 cannot be loaded: {}; "
                       "install Open MPI (apt-get install openmpi-bin)",
                       ranks, dlerror());
  bool ok = sym(api.init_thread, "MPI_Init_thread") && sym(api.finalize, "MPI_Finalize") &&
            sym(api.comm_rank, "MPI_Comm_rank") && sym(api.comm_size, "MPI_Comm_size") &&
            sym(api.comm_set_errhandler, "MPI_Comm_set_errhandler") &&
            sym(api.allreduce, "MPI_Allreduce") &&
            sym(api.reduce_scatter_block, "MPI_Reduce_scatter_block") &&
            sym(api.allgather, "MPI_Allgather") && sym(api.bcast, "MPI_Bcast") &&
            sym(api.barrier, "MPI_Barrier") && sym(api.abort, "MPI_Abort") &&
            sym(api.error_string, "MPI_Error_string");
  api.world = dlsym(api.lib, "ompi_mpi_comm_world");
  api.f32 = dlsym(api.lib, "ompi_mpi_float");
  api.byte = dlsym(api.lib, "ompi_mpi_byte");
  api.sum = dlsym(api.lib, "ompi_mpi_op_sum");
  api.errorsReturn = dlsym(api.lib, "ompi_mpi_errors_return");
  if (!ok || !api.world || !api.f32 || !api.byte || !api.sum || !api.errorsReturn)
    return "libmpi.so.40 is not Open MPI's (a symbol is missing); gptc speaks Open MPI's ABI";
  int provided = 0;
  if (int rc = api.init_thread(nullptr, nullptr, kThreadSerialized, &provided); rc != kSuccess)
    return fmt::format("MPI_Init_thread failed ({})", rc);
  gWorld.active = true;
  api.comm_set_errhandler(api.world, api.errorsReturn);
  api.comm_rank(api.world, &gWorld.rank);
  api.comm_size(api.world, &gWorld.size);
  if (provided < kThreadSerialized) fatal("the MPI library does not provide MPI_THREAD_SERIALIZED");
  codegen::CollectiveHooks hooks;
  hooks.allreduceSum = &allreduceSum;
  hooks.reduceScatter = &reduceScatter;
  hooks.allGather = &allGather;
  codegen::setCollectiveHooks(hooks);
  std::atexit(&finalize); // a normal exit of any rank finalises (mpirun treats a missing
                          // MPI_Finalize after MPI_Init as a failure of the job)
  return "";
#endif
}

void finalize() {
#ifdef GPTC_MPI
  if (gWorld.active && !gFinalized) {
    gFinalized = true;
    if (std::getenv("GPTC_MPI_STATS"))
      std::fprintf(stderr, "mpi: rank %d of %d: %lld collectives, %.1f MB, %.3f s\n", gWorld.rank,
                   gWorld.size, static_cast<long long>(gStats.calls), double(gStats.floats) * 4e-6,
                   gStats.seconds);
    codegen::setCollectiveHooks({});
    api.finalize();
  }
#endif
}

void allreduceSum(const float* in, float* out, int64_t n) {
  Timed timed(n);
#ifdef GPTC_MPI
  if (gWorld.active && gWorld.size > 1) return mpiAllreduce(in, out, n);
#endif
  if (in != out) std::memmove(out, in, size_t(n) * sizeof(float));
}

void reduceScatter(const float* in, float* out, int64_t n, int ranks) {
  Timed timed(n);
  checkRanks(ranks, "reduce_scatter");
  const int64_t S = (n + ranks - 1) / ranks;
#ifdef GPTC_MPI
  if (gWorld.active && gWorld.size > 1) {
    if (S > kMaxCount) fatal("reduce_scatter: a slice of more than 2^30 floats");
    std::vector<float> padded;
    const float* src = in;
    if (S * ranks != n) { // the last slice is short: pad it with zeros
      padded.assign(size_t(S * ranks), 0.0f);
      std::memcpy(padded.data(), in, size_t(n) * sizeof(float));
      src = padded.data();
    }
    check(api.reduce_scatter_block(src, out, int(S), api.f32, api.sum, api.world),
          "MPI_Reduce_scatter_block");
    return;
  }
#endif
  std::memmove(out, in, size_t(S) * sizeof(float)); // one rank: S = n
}

void allGather(const float* in, float* out, int64_t n, int ranks) {
  Timed timed(n);
  checkRanks(ranks, "all_gather");
  const int64_t S = (n + ranks - 1) / ranks;
#ifdef GPTC_MPI
  if (gWorld.active && gWorld.size > 1) {
    if (S > kMaxCount) fatal("all_gather: a slice of more than 2^30 floats");
    if (S * ranks == n) {
      check(api.allgather(in, int(S), api.f32, out, int(S), api.f32, api.world), "MPI_Allgather");
      return;
    }
    std::vector<float> all(size_t(S * ranks));
    check(api.allgather(in, int(S), api.f32, all.data(), int(S), api.f32, api.world),
          "MPI_Allgather");
    std::memcpy(out, all.data(), size_t(n) * sizeof(float));
    return;
  }
#endif
  std::memmove(out, in, size_t(n) * sizeof(float));
}

std::vector<std::string> allGatherBytes(const std::string& mine) {
#ifdef GPTC_MPI
  if (gWorld.active && gWorld.size > 1) {
    // Lengths first, so ranks with different texts cannot disagree on the count (no hang).
    int len = int(mine.size());
    std::vector<int> lens(size_t(gWorld.size));
    check(api.allgather(&len, int(sizeof(int)), api.byte, lens.data(), int(sizeof(int)), api.byte,
                        api.world),
          "MPI_Allgather");
    int most = 0;
    for (int l : lens)
      most = std::max(most, l);
    std::string padded = mine;
    padded.resize(size_t(most), '\0');
    std::string all(size_t(most) * size_t(gWorld.size), '\0');
    check(api.allgather(padded.data(), most, api.byte, all.data(), most, api.byte, api.world),
          "MPI_Allgather");
    std::vector<std::string> out;
    for (int r = 0; r < gWorld.size; ++r)
      out.push_back(all.substr(size_t(r) * size_t(most), size_t(lens[size_t(r)])));
    return out;
  }
#endif
  return {mine};
}

void broadcast(float* data, int64_t n, int root) {
#ifdef GPTC_MPI
  if (gWorld.active && gWorld.size > 1)
    for (int64_t off = 0; off < n; off += kMaxCount)
      check(api.bcast(data + off, int(std::min(kMaxCount, n - off)), api.f32, root, api.world),
            "MPI_Bcast");
#endif
}

void barrier() {
#ifdef GPTC_MPI
  if (gWorld.active && gWorld.size > 1) check(api.barrier(api.world), "MPI_Barrier");
#endif
}

std::string checkSameEverywhere(const std::string& what, const std::string& text) {
  uint64_t h = 1469598103934665603ULL; // FNV-1a 64
  for (unsigned char c : text)
    h = (h ^ c) * 1099511628211ULL;
  const std::string mine = fmt::format("{:016x}", h);
  std::vector<std::string> all = allGatherBytes(mine);
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      return fmt::format(
          "rank {} and rank 0 differ in their {} (hash {} vs {}): every rank must run "
          "the same gptc with the same flags and model",
          r, what, all[r], all[0]);
  return "";
}

} // namespace gptc::mpi
