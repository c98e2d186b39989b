// tests/jit/test_thread_team.cpp — the per-process thread team (codegen/thread_team.h): every tid
// of a job runs once, barriers order the phases of a job, a job inside a job runs inline, jobs
// from two threads take turns, parallelForEach visits every index once, and an idle team sleeps
// (no CPU time while nothing runs); the spin budget follows the waits it has seen.
#include "codegen/thread_team.h"

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <chrono>
#include <thread>

namespace gptc {
namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

TEST_CASE("thread team: each tid of a job runs once, barriers separate the phases") {
  ThreadTeam& team = ThreadTeam::shared();
  for (int n : {1, 2, 3, 5}) {
    CAPTURE(n);
    constexpr int kRounds = 300;
    std::vector<std::atomic<int>> count(kRounds);
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    std::atomic<bool> ok{true};
    team.run(n, [&](int tid, int nt) {
      if (nt != n) ok = false;
      seen[size_t(tid)]++;
      for (int r = 0; r < kRounds; ++r) {
        count[size_t(r)]++;
        team.barrier();
        if (count[size_t(r)].load() != n) ok = false; // everyone arrived before anyone left
        team.barrier();
      }
    });
    CHECK(ok.load());
    for (auto& s : seen)
      CHECK(s.load() == 1);
  }
}

TEST_CASE("thread team: a job inside a job runs inline on one thread") {
  ThreadTeam& team = ThreadTeam::shared();
  std::atomic<int> inner{0};
  team.run(2, [&](int, int) {
    team.run(4, [&](int tid, int nt) {
      CHECK(tid == 0);
      CHECK(nt == 1);
      team.barrier(); // a no-op in a one-thread job
      inner++;
    });
    CHECK(ThreadTeam::inJob());
  });
  CHECK(inner.load() == 2);
  CHECK_FALSE(ThreadTeam::inJob());
}

TEST_CASE("thread team: jobs from two threads take turns") {
  std::atomic<int64_t> sum{0};
  auto client = [&] {
    for (int i = 0; i < 200; ++i)
      parallelForEach(
          64, [&](int64_t k) { sum += k; }, 2);
  };
  std::thread a(client), b(client);
  a.join();
  b.join();
  CHECK(sum.load() == 2 * 200 * (63 * 64 / 2));
}

TEST_CASE("thread team: parallelForEach visits every index once") {
  std::vector<std::atomic<int>> hit(1000);
  parallelForEach(
      1000, [&](int64_t i) { hit[size_t(i)]++; }, 3);
  int bad = 0;
  for (auto& h : hit)
    bad += h.load() != 1;
  CHECK(bad == 0);
}

TEST_CASE("thread team: an idle team sleeps") {
  ThreadTeam& team = ThreadTeam::shared();
  team.run(3, [](int, int) {});
  // let the workers pass their spin and fall asleep, then watch the process's CPU time
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  double c0 = cpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  double used = cpuSeconds() - c0;
  CHECK(team.workers() >= 2);
  CHECK(used < 0.02); // spinning workers would burn ~0.4 s here
}

TEST_CASE("spin policy: long spins while waits are short, short spins for a while after a long one") {
  SpinPolicy p;
  CHECK(p.budgetMicros() == SpinPolicy::kMinSpinUs); // nothing seen yet
  for (int i = 0; i < 50; ++i)
    p.record(60); // short waits of 60 µs: spin long enough to catch them (4× the mean)
  CHECK(p.budgetMicros() >= 200);
  CHECK(p.budgetMicros() <= SpinPolicy::kLongWaitUs);
  for (int i = 0; i < 50; ++i)
    p.record(1e6); // waits far beyond the cap never push the budget past it
  p.record(SpinPolicy::kLongWaitUs); // a thread we waited for lost its core
  for (int i = 0; i < SpinPolicy::kShortAfterLong - 1; ++i) {
    p.record(60);
    REQUIRE(p.budgetMicros() == SpinPolicy::kMinSpinUs);
  }
  p.record(60); // kShortAfterLong short waits later, the long spins come back
  CHECK(p.budgetMicros() > SpinPolicy::kMinSpinUs);
}

} // namespace
} // namespace gptc
