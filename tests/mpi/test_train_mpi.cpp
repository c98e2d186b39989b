// Data-parallel training through the gptc binary under mpirun (docs/scale-out.md):
//   - equivalence: 2 ranks with -b 2 give, step for step, the losses of 1 rank with -b 4 (20 steps
//     of a tiny chargpt with its dropout on: rank r's rows are rows 2r, 2r+1 of the single
//     process's batch, and their dropout masks are keyed by the global row);
//   - resume across N: a checkpoint of 2 ranks continues on 1 rank, and the reverse, with the
//     losses of the uninterrupted run;
//   - the start-up check: ranks with different flags stop with one line each, exit 2;
//   - a rank that dies: the other exits with an error within seconds.
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <sstream>

using namespace cli_test;

namespace {

const fs::path& scratch() {
  static fs::path p = makeScratch("gptc_test_train_mpi_");
  return p;
}

/// Under ASan (CI), Open MPI's own allocations would be reported as leaks at every rank's exit:
/// leak checking is off for the ranks (-x forwards the variable to them).
std::string mpirun(int ranks) {
  return fmt::format("ASAN_OPTIONS=\"${{ASAN_OPTIONS:+$ASAN_OPTIONS:}}detect_leaks=0\" timeout 120 "
                     "mpirun --oversubscribe --allow-run-as-root -x ASAN_OPTIONS -np {} ",
                     ranks);
}

std::string gptcPath() {
  return q(std::string(GPTC_BINARY_DIR) + "/tools/gptc");
}

/// `gptc run --train` on a tiny chargpt (dropout 0.1), `batch` rows per rank, into `out`.
std::string trainArgs(int batch, const fs::path& out, int steps, const std::string& extra = "") {
  return fmt::format(
      "run --train --model {}/models/chargpt.graph --data {}/data/tinyshakespeare.txt "
      "--set L=1 C=32 NH=2 maxT=16 -b {} -t 16 --steps {} --warmup 2 --val-every 0 "
      "--val-batches 1 --sample 0 --threads 1 -o {} {}",
      GPTC_SOURCE_DIR, GPTC_SOURCE_DIR, batch, steps, q(out), extra);
}

Run runOn(int ranks, int batch, const std::string& name, int steps = 20,
          const std::string& extra = "") {
  fs::path out = scratch() / name;
  fs::remove_all(out);
  std::string cmd = (ranks > 1 ? mpirun(ranks) : std::string()) + gptcPath() + " " +
                    trainArgs(batch, out, steps, extra);
  return runShell(cmd, scratch() / (name + ".out"), scratch() / (name + ".err"));
}

/// step -> training loss, from main.log's "s:N trl:X" lines.
std::map<int, double> losses(const std::string& name) {
  std::map<int, double> out;
  std::istringstream in(slurp(scratch() / name / "main.log"));
  std::string line;
  while (std::getline(in, line)) {
    int step = 0;
    double loss = 0;
    if (std::sscanf(line.c_str(), "s:%d trl:%lf", &step, &loss) == 2) out[step] = loss;
  }
  return out;
}

void checkSameLosses(const std::map<int, double>& a, const std::map<int, double>& b, size_t n) {
  REQUIRE(a.size() == n);
  REQUIRE(b.size() == n);
  double worst = 0;
  for (auto [step, loss] : a) {
    CAPTURE(step);
    REQUIRE(b.count(step));
    worst = std::max(worst, std::fabs(loss - b.at(step)));
  }
  MESSAGE(fmt::format("largest loss difference over {} steps: {:.2g}", n, worst));
  CHECK(worst <= 1e-5);
}

} // namespace

TEST_CASE("2 ranks with -b 2 train as 1 rank with -b 4 (20 steps, dropout on)") {
  Run one = runOn(1, 4, "one");
  INFO(one.err);
  REQUIRE(one.code == 0);
  Run two = runOn(2, 2, "two");
  INFO(two.out);
  INFO(two.err);
  REQUIRE(two.code == 0);
  checkSameLosses(losses("one"), losses("two"), 20);
  MESSAGE(fmt::format("1 rank {:.1f} s, 2 ranks {:.1f} s", one.seconds, two.seconds));
}

TEST_CASE("--zero 1: 2 ranks with -b 2 train as 1 rank with -b 4 (20 steps, dropout on)") {
  Run one = runOn(1, 4, "one_z");
  INFO(one.err);
  REQUIRE(one.code == 0);
  Run two = runOn(2, 2, "two_z", 20, "--zero 1");
  INFO(two.out);
  INFO(two.err);
  REQUIRE(two.code == 0);
  checkSameLosses(losses("one_z"), losses("two_z"), 20);
}

TEST_CASE("a checkpoint of 2 ranks resumes on 1 rank, and the reverse") {
  Run whole = runOn(1, 4, "whole", 12);
  REQUIRE(whole.code == 0);
  // 2 ranks write step 6 (rank 0 alone), 1 rank continues from it to 12; then the reverse.
  struct Leg {
    int first, second;
    const char *firstExtra, *secondExtra;
  };
  for (Leg leg : {Leg{2, 1, "", ""}, Leg{1, 2, "", ""}, Leg{2, 1, "--zero 1", ""},
                  Leg{1, 2, "", "--zero 1"}}) {
    const int first = leg.first, second = leg.second;
    std::string name =
        fmt::format("from{}to{}{}", first, second, *leg.firstExtra || *leg.secondExtra ? "z" : "");
    name += *leg.firstExtra ? "a" : (*leg.secondExtra ? "b" : "");
    CAPTURE(name);
    fs::path out = scratch() / name;
    Run a =
        runOn(first, 4 / first, name, 12, std::string("--checkpoint-every 6 ") + leg.firstExtra);
    INFO(a.err);
    REQUIRE(a.code == 0);
    fs::path step6 = out / "checkpoints" / "step_00000006";
    REQUIRE(fs::exists(step6));
    std::string cmd = (second > 1 ? mpirun(second) : std::string()) + gptcPath() + " " +
                      trainArgs(4 / second, scratch() / (name + "_resumed"), 12,
                                "--resume " + q(step6) + " " + leg.secondExtra);
    Run b = runShell(cmd, scratch() / (name + "_b.out"), scratch() / (name + "_b.err"));
    INFO(b.out);
    INFO(b.err);
    REQUIRE(b.code == 0);
    std::map<int, double> want = losses("whole"), got = losses(name + "_resumed");
    checkSameLosses(want, got, 12);
  }
}

TEST_CASE("ranks with different flags stop at start-up with one line each, exit 2") {
  fs::path out = scratch() / "mismatch";
  // rank 1 trains with another learning rate: a different run card
  // double quotes: the outer shell passes \$ on, the inner one (one per rank) expands it
  std::string cmd = mpirun(2) + "sh -c \"" + gptcPath() + " " + trainArgs(2, out, 5) +
                    " --lr \\$((OMPI_COMM_WORLD_RANK + 1))e-3\"";
  Run r = runShell(cmd, scratch() / "mismatch.out", scratch() / "mismatch.err");
  INFO(r.out);
  INFO(r.err);
  CHECK(r.code == 2);
  CHECK(r.says("rank 1 and rank 0 differ in their compiled training step and flags"));
  CHECK(r.seconds < 60);
}

TEST_CASE("a rank that dies ends the job with an error within seconds") {
  fs::path out = scratch() / "killed";
  // rank 1 kills itself after 3 s of a long run; rank 0 must not wait for it forever
  std::string cmd = mpirun(2) +
                    "sh -c \"if [ \\$OMPI_COMM_WORLD_RANK = 1 ]; then (sleep 3; kill -9 \\$\\$) & "
                    "fi; exec " +
                    gptcPath() + " " + trainArgs(2, out, 100000) + "\"";
  Run r = runShell(cmd, scratch() / "killed.out", scratch() / "killed.err");
  INFO(r.out);
  INFO(r.err);
  CHECK(r.code != 0);
  CHECK(r.seconds < 30);
  MESSAGE(fmt::format("the job ended {:.1f} s after it started (rank 1 killed at ~3 s + start-up)",
                      r.seconds));
}
