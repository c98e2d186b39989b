// codegen/thread_team.h — the threads compiled code runs on: one team per process, shared by every
// engine (training step, evaluation, prefill, decode, the interpreter's loops), and the barrier
// that step() calls between dependent kernels (gptc_barrier, codegen/compile.cpp).
//
// Why not OpenMP: a compiled step is hundreds of short phases separated by barriers. On a machine
// where another program takes part of a core, a barrier that spins for a whole time slice, or a
// team whose idle threads keep spinning, turns "half a core taken" into a 4–20× slowdown. This team
//   - spins, then sleeps on a futex, in the barrier and between jobs (idle teams sleep); how long
//     it spins each thread learns from its own recent waits (thread_team.cpp's SpinPolicy);
//   - is one per process, so two engines never have two teams fighting over the cores;
// Its callers size jobs by what the process may really use (codegen/thread_count.h: affinity
// mask, cgroup CPU quota), not by the number of cores in the machine.
// Work inside a job is split by the kernels themselves (chunks claimed from an atomic counter,
// codegen/kernel_emitter.h), so a thread that the OS deschedules simply takes fewer chunks.
//
// What it leaves to others: what runs on the threads (compiled steps, runtime/exec/executable.cpp),
// the per-thread scratch (the caller).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gptc {

/// How long one thread spins at one kind of wait before it sleeps, from that thread's recent
/// waits there. After a long wait (kLongWaitUs or more: a thread we waited for had lost its
/// core, as beside a busy process) it spins only kMinSpinUs for the next kShortAfterLong waits,
/// so that its core goes idle and the scheduler can move the late thread there. Otherwise it
/// spins up to 4× the moving average (weight 1/8) of its waits, within [kMinSpinUs, kLongWaitUs],
/// so that a typical wait on a quiet machine ends while spinning, without a futex sleep and
/// wake-up (tens of µs on a VM, and a niced neighbour may take the core meanwhile).
class SpinPolicy {
public:
  static constexpr int kMinSpinUs = 50, kLongWaitUs = 500, kShortAfterLong = 256;
  int budgetMicros() const {
    if (shortWaitsLeft_ > 0) return kMinSpinUs;
    return std::clamp(int(4 * meanUs_), kMinSpinUs, kLongWaitUs);
  }
  void record(double waitedUs) {
    if (waitedUs >= kLongWaitUs)
      shortWaitsLeft_ = kShortAfterLong;
    else if (shortWaitsLeft_ > 0)
      --shortWaitsLeft_;
    meanUs_ += (std::min<double>(waitedUs, kLongWaitUs) - meanUs_) / 8;
  }

private:
  double meanUs_ = 0;
  int shortWaitsLeft_ = 0;
};

/// The per-process thread team. run(n, fn) calls fn(tid, n) on n threads, the caller being tid 0,
/// and returns when all n have returned. Jobs are serialised (a mutex): two engines on two threads
/// take turns, they do not oversubscribe the cores. A run() from inside a job runs fn(0, 1) inline.
class ThreadTeam {
public:
  static ThreadTeam& shared();

  void run(int n, const std::function<void(int tid, int n)>& fn);
  /// A barrier over the current job's threads (spins, then sleeps on a futex). Outside
  /// a job, or in a job of one thread, it returns at once.
  void barrier();
  /// Whether the calling thread is inside a job (of any size).
  static bool inJob();

  /// GPTC_SPIN_US: the fixed microseconds every wait spins before it sleeps (0: sleep at once);
  /// -1 (the default): each thread's budget is learned from its recent waits (50–500 µs).
  int spinMicros() const { return spinMicros_; }
  /// Worker threads started so far (the team grows to the largest n asked for, minus the caller).
  int workers() const;

  ~ThreadTeam();

private:
  ThreadTeam();
  void workerLoop(int tid);
  void ensureWorkers(int n);

  int spinMicros_ = -1; // < 0: learned per thread (SpinPolicy)
  std::mutex runMutex_; // one job at a time
  std::vector<std::thread> threads_;
  // The posted job; atomics because a worker that is not part of a job may read them late, while
  // the next job is being posted (it then sees jobSeq_ move and retries).
  std::atomic<const std::function<void(int, int)>*> job_{nullptr};
  std::atomic<int> jobThreads_{1};
  std::atomic<bool> stopping_{false};
  alignas(64) std::atomic<uint32_t> jobSeq_{0};     // futex word: bumped when a job is posted
  alignas(64) std::atomic<uint32_t> pending_{0};    // workers of the current job not yet done
  alignas(64) std::atomic<uint32_t> doneSeq_{0};    // futex word: bumped when pending_ reaches 0
  alignas(64) std::atomic<uint32_t> arrived_{0};    // barrier: threads arrived in this generation
  alignas(64) std::atomic<uint32_t> barrierSeq_{0}; // futex word: the barrier's generation
  // Threads asleep (or about to be) on each word: a count per word, so that a worker parked on
  // jobSeq_ (a job smaller than the team) does not make every barrier of that job call FUTEX_WAKE.
  alignas(64) std::atomic<uint32_t> jobSleepers_{0};
  alignas(64) std::atomic<uint32_t> doneSleepers_{0};
  alignas(64) std::atomic<uint32_t> barrierSleepers_{0};
};

/// fn(i) for every i in [0, n) on up to `threads` threads of the team (<= 0: defaultThreadCount()),
/// each thread claiming the next i from an atomic counter (initialisation, the interpreter).
void parallelForEach(int64_t n, const std::function<void(int64_t)>& fn, int threads = 0);

} // namespace gptc
