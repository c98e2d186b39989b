// runtime/exec/mpi_comm.h — the process's place in an MPI job: rank, world size, and the few
// collectives gptc needs (sum all-reduce, reduce-scatter, all-gather of f32; an all-gather of bytes
// for the start-up check; a broadcast for the checkpoint's state).
//
// How MPI is loaded, and why: gptc dlopen()s Open MPI's libmpi.so.40 at run time, and only when
// the process was started by mpirun (OMPI_COMM_WORLD_SIZE in the environment). So
//   * `gptc run --train` without mpirun never touches MPI: no library is loaded, rank 0 of 1, and
//     every collective is a copy (the single-process semantics of the IR's collective ops);
//   * the binary has no link-time dependency on MPI and builds without MPI headers (Open MPI's
//     handles are the addresses of its predefined objects, ompi_mpi_comm_world and friends, which
//     dlsym returns; the few function types are written below), so one build serves machines with
//     and without Open MPI;
//   * launched by mpirun on a machine without the library, it is one line: "gptc: launched by
//     mpirun (N ranks) but libmpi.so.40 cannot be loaded: ...; install openmpi-bin", exit 2.
// Linking libmpi instead would make every run of gptc load Open MPI (and its ~40 plugins) and
// fail to start where it is absent. Only Open MPI's ABI is supported (MPICH's handles are ints);
// CMake's GPTC_MPI=OFF compiles the layer out (mpirun launches then say so in one line).
//
// Errors: the world communicator uses MPI_ERRORS_RETURN, so a failed call is an error value here
// (fatal(): one line, then MPI_Abort so the job ends instead of hanging). A rank that dies is
// noticed by mpirun, which ends the others (docs/scale-out.md has the measured delay).
//
// Threads: the JIT's collective kernels call in on thread 0 of the team (codegen/
// lower_collective.cpp), in schedule order; the trainer calls from its own thread between steps:
// one call at a time, MPI_THREAD_SERIALIZED.
//
// What it leaves to others: which values are reduced (passes/data_parallel.cpp), the kernels that
// call in here (codegen/collectives.h, runtime/interp/interpreter_ops_collective.cpp), the rank's
// share of the data and the rank-0-only files (runtime/train/trainer.cpp, tools/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gptc::mpi {

/// Rank and size of this process's job; {0, 1} when not launched by mpirun.
struct World {
  int rank = 0;
  int size = 1;
  bool active = false; ///< MPI is loaded and initialised
};

/// Whether the environment says mpirun started this process (Open MPI's OMPI_COMM_WORLD_SIZE),
/// and with how many ranks (1 when not).
int launchedRanks();

/// Loads and initialises MPI when launched by mpirun (idempotent; a no-op otherwise) and installs
/// the collectives the JIT's kernels call. "" or a one-line reason (library missing, init failed).
std::string init();
/// MPI_Finalize when init() started MPI (idempotent).
void finalize();
const World& world();

/// Prints "gptc: rank R: <message>" to stderr and ends the whole job (MPI_Abort(code) when MPI is
/// active, else exit(code)).
[[noreturn]] void fatal(const std::string& message, int code = 2);

/// Ends the whole job with `code` and no message of its own (the caller printed why):
/// MPI_Abort when MPI is active, else exit(code).
[[noreturn]] void abortJob(int code);

/// out = Σ over ranks of in (n floats; in == out is in place). On one rank a copy.
void allreduceSum(const float* in, float* out, int64_t n);
/// The sum over ranks of in (n floats), cut into `ranks` slices of S = ceil(n / ranks) floats
/// (zeros past n): this rank's slice to out (S floats).
void reduceScatter(const float* in, float* out, int64_t n, int ranks);
/// Every rank's S floats in rank order, the first n of them to out (S = ceil(n / ranks)).
void allGather(const float* in, float* out, int64_t n, int ranks);
/// Every rank's `bytes` bytes of `mine`, in rank order.
std::vector<std::string> allGatherBytes(const std::string& mine);
/// rank `root`'s n floats to every rank.
void broadcast(float* data, int64_t n, int root);
/// Waits for every rank.
void barrier();

/// The start-up check: every rank hashes `text` (its compiled plan and flags) and learns every
/// other rank's hash. "" when all agree, else the same one-line error on every rank naming the
/// first rank that differs from rank 0 — every rank returns, so none waits on the others.
std::string checkSameEverywhere(const std::string& what, const std::string& text);

} // namespace gptc::mpi
