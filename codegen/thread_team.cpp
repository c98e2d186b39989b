// codegen/thread_team.cpp — the per-process team and its spin-then-futex waits (see
// thread_team.h).
//
// Every wait in this file is "until this 32-bit word changes": spin (with `pause`) for up to a
// budget, then sleep in FUTEX_WAIT on the word. The budget is learned per thread and per kind of
// wait (SpinPolicy below): up to 500 µs while this thread's recent waits were short (a quiet
// machine, where a futex sleep and wake-up costs more than the wait), 50 µs for a while after a
// long one (a thread we waited for lost its core: then our core should go idle soon, because an
// idle core is where the scheduler moves the late thread). A writer changes the word with a seq_cst
// RMW and then calls FUTEX_WAKE only if someone declared itself a sleeper on that word (its
// *Sleepers_ count, incremented with seq_cst before the futex call, which rechecks the word in the
// kernel): either the writer sees the sleeper, or the sleeper's futex sees the new word. So the
// fast path makes no syscall.
#include "codegen/thread_team.h"

#include "codegen/thread_count.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GPTC_PAUSE() _mm_pause()
#else
#define GPTC_PAUSE() ((void)0)
#endif

namespace gptc {

// ---------------------------------------------------------------- waiting on a word

namespace {

thread_local int t_jobThreads = 0; // the current job's size on this thread; 0: not in a job

void futexWait(std::atomic<uint32_t>* w, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr,
          0);
}
void futexWakeAll(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr,
          0);
}

enum WaitSite { kWaitJob, kWaitDone, kWaitBarrier, kWaitSites };
thread_local SpinPolicy t_spin[kWaitSites];

/// Returns once *w != old: spins (fixedSpinMicros, or this thread's learned budget for `site`
/// when it is negative), then sleeps.
void waitChange(std::atomic<uint32_t>& w, uint32_t old, int fixedSpinMicros, WaitSite site,
                std::atomic<uint32_t>& sleepers) {
  if (w.load(std::memory_order_acquire) != old) return; // no wait: nothing to learn
  using Clock = std::chrono::steady_clock;
  SpinPolicy& policy = t_spin[site];
  const int spinMicros = fixedSpinMicros >= 0 ? fixedSpinMicros : policy.budgetMicros();
  const auto start = Clock::now();
  auto learn = [&] {
    policy.record(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  };
  if (spinMicros > 0) {
    const auto until = start + std::chrono::microseconds(spinMicros);
    for (int i = 1;; ++i) {
      if (w.load(std::memory_order_acquire) != old) return learn();
      GPTC_PAUSE();
      if ((i & 63) == 0 && Clock::now() >= until) break;
    }
  }
  sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (w.load(std::memory_order_seq_cst) == old)
    futexWait(&w, old);
  sleepers.fetch_sub(1, std::memory_order_relaxed);
  learn();
}

void bumpAndWake(std::atomic<uint32_t>& w, std::atomic<uint32_t>& sleepers) {
  w.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers.load(std::memory_order_seq_cst) > 0) futexWakeAll(&w);
}

} // namespace

// ---------------------------------------------------------------- the team

ThreadTeam& ThreadTeam::shared() {
  // Never destroyed: its workers sleep in the kernel until the process exits.
  static ThreadTeam* team = new ThreadTeam();
  return *team;
}

ThreadTeam::ThreadTeam() {
  // GPTC_SPIN_US=N: a fixed budget of N µs for every wait (0: sleep at once), for experiments.
  if (const char* s = std::getenv("GPTC_SPIN_US"); s && *s) spinMicros_ = std::max(0, std::atoi(s));
}

ThreadTeam::~ThreadTeam() {
  {
    std::lock_guard<std::mutex> lock(runMutex_);
    stopping_ = true;
    bumpAndWake(jobSeq_, jobSleepers_);
  }
  for (std::thread& t : threads_)
    t.join();
}

bool ThreadTeam::inJob() {
  return t_jobThreads > 0;
}

int ThreadTeam::workers() const {
  return int(threads_.size());
}

void ThreadTeam::ensureWorkers(int n) {
  while (int(threads_.size()) < n - 1) {
    int tid = int(threads_.size()) + 1;
    threads_.emplace_back([this, tid, seen = jobSeq_.load()] {
      t_jobThreads = 0;
      uint32_t last = seen;
      for (;;) {
        waitChange(jobSeq_, last, spinMicros_, kWaitJob, jobSleepers_);
        // A job posted while we slept may already be replaced by the next one if we are not part
        // of it: read its size and function, then check the sequence did not move meanwhile.
        uint32_t s = jobSeq_.load(std::memory_order_acquire);
        if (stopping_) return;
        int n = jobThreads_.load(std::memory_order_acquire);
        const std::function<void(int, int)>* fn = job_.load(std::memory_order_acquire);
        if (jobSeq_.load(std::memory_order_acquire) != s) continue;
        last = s;
        if (tid >= n) continue;
        t_jobThreads = n;
        (*fn)(tid, n);
        t_jobThreads = 0;
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
          bumpAndWake(doneSeq_, doneSleepers_);
      }
    });
  }
}

void ThreadTeam::run(int n, const std::function<void(int, int)>& fn) {
  if (n <= 1 || t_jobThreads > 0) { // one thread, or a job inside a job: inline, no barriers
    int saved = t_jobThreads;
    t_jobThreads = 1;
    fn(0, 1);
    t_jobThreads = saved;
    return;
  }
  std::lock_guard<std::mutex> lock(runMutex_);
  ensureWorkers(n);
  // Published by the seq_cst bump below; not written again until every participant has finished.
  job_.store(&fn, std::memory_order_relaxed);
  jobThreads_.store(n, std::memory_order_relaxed);
  pending_.store(uint32_t(n - 1), std::memory_order_relaxed);
  uint32_t done = doneSeq_.load(std::memory_order_relaxed);
  bumpAndWake(jobSeq_, jobSleepers_);
  t_jobThreads = n;
  fn(0, n);
  t_jobThreads = 0;
  waitChange(doneSeq_, done, spinMicros_, kWaitDone, doneSleepers_);
}

void ThreadTeam::barrier() {
  const int n = t_jobThreads;
  if (n <= 1) return;
  // The generation cannot move before we arrive (it needs all n), so reading it first is safe.
  uint32_t gen = barrierSeq_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == uint32_t(n)) {
    arrived_.store(0, std::memory_order_relaxed);
    bumpAndWake(barrierSeq_, barrierSleepers_);
  } else {
    waitChange(barrierSeq_, gen, spinMicros_, kWaitBarrier, barrierSleepers_);
  }
}

void parallelForEach(int64_t n, const std::function<void(int64_t)>& fn, int threads) {
  if (n <= 0) return;
  if (threads <= 0) threads = defaultThreadCount();
  threads = int(std::min<int64_t>(threads, n));
  std::atomic<int64_t> next{0};
  ThreadTeam::shared().run(threads, [&](int, int) {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;)
      fn(i);
  });
}

} // namespace gptc
