// tests/cli/test_run_lock.cpp — one trainer per run folder (runtime/train/run_lock.h), through the
// built binary: a second `gptc run --train` on an --out that is in use refuses at once with exit
// code 2 and the holder's pid, writing nothing; the lock goes with its process, so a lock file
// left behind by a finished (or killed) run does not block the next one.
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using cli_test::q;
using cli_test::Run;

fs::path scratch() {
  static const fs::path d = cli_test::makeScratch("gptc_run_lock_");
  return d;
}

Run gptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

} // namespace

TEST_CASE("a run folder in use: the second trainer refuses; a stale lock file does not block") {
  fs::path out = scratch() / "locked_run";
  fs::create_directories(out);
  const std::string train = "run --train --set L=1 C=32 NH=2 maxT=16 -b 2 -t 8 --steps 1 "
                            "--sample 0 --val-every 0 -n 0 -o " +
                            q(out);
  // This process plays the first trainer: it holds the lock as gptc does.
  int fd = ::open((out / "lock").c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  std::string pid = std::to_string(::getpid());
  REQUIRE(::write(fd, pid.data(), pid.size()) == ssize_t(pid.size()));
  Run second = gptc(train);
  CHECK(second.code == 2);
  CHECK(second.errLines() == 1);
  CHECK_MESSAGE(second.err.find("in use by another gptc run --train (pid " + pid + ")") !=
                    std::string::npos,
                second.err);
  CHECK(!fs::exists(out / "main.log")); // it wrote nothing
  ::close(fd);                          // the first trainer ends (or dies): the lock is gone
  Run third = gptc(train);
  CHECK_MESSAGE(third.code == 0, third.err);
  CHECK(fs::exists(out / "main.log"));
  CHECK(fs::exists(out / "lock")); // left behind, and harmless: the flock is what locks
}
