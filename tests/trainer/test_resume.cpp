// tests/trainer/test_resume.cpp — checkpoints and resuming, through the built gptc binary as a user
// runs it: a run resumed from any saved step reproduces the uninterrupted run bit for bit (the
// final parameters, AdamW moments and loss curves compared byte for byte); SIGKILL at random
// moments — often in the middle of writing a checkpoint — never leaves a latest checkpoint that
// fails to load, and resuming after it still reproduces the run; Ctrl-C (SIGINT) saves and exits
// with 130. Also the step folders themselves: keep-K pruning, leftovers of interrupted writes
// ignored, every damaged file refused with a one-line error.
#include "runtime/train/train_checkpoint.h"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace gptc {
namespace {

namespace fs = std::filesystem;

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path outDir(const std::string& name) {
  fs::path d = fs::path(GPTC_BINARY_DIR) / "resume_test" / name;
  fs::remove_all(d);
  return d;
}

/// Starts `gptc run --train` on a tiny chargpt (12 steps, a checkpoint every step) writing into
/// `out`; stdout and stderr go to out.log. Returns the child's pid.
pid_t startRun(const fs::path& out, const std::vector<std::string>& extra = {}) {
  fs::create_directories(out.parent_path());
  std::vector<std::string> args = {std::string(GPTC_BINARY_DIR) + "/tools/gptc",
                                   "run",
                                   "--train",
                                   "--model",
                                   std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph",
                                   "--data",
                                   std::string(GPTC_SOURCE_DIR) + "/data/tinyshakespeare.txt",
                                   "--set",
                                   "L=1",
                                   "C=32",
                                   "NH=2",
                                   "maxT=16",
                                   "-b",
                                   "4",
                                   "-t",
                                   "16",
                                   "--steps",
                                   "12",
                                   "--warmup",
                                   "2",
                                   "--val-every",
                                   "4",
                                   "--val-batches",
                                   "2",
                                   "--sample",
                                   "0",
                                   "--threads",
                                   "2",
                                   "-n",
                                   "1",
                                   "--keep",
                                   "2",
                                   "-o",
                                   out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  std::string log = out.string() + ".log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

int waitExit(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int run(const fs::path& out, const std::vector<std::string>& extra = {}) {
  return waitExit(startRun(out, extra));
}

bool hasStepFolder(const fs::path& root) {
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind("step_", 0) == 0) return true;
  return false;
}

/// The final step folder and main.log of a finished run equal the reference's byte for byte.
void checkSameAsReference(const fs::path& ref, const fs::path& out) {
  const std::string last = "checkpoints/" + checkpointFolderName(12);
  CHECK(readAll(out / last / "model.bin") == readAll(ref / last / "model.bin"));
  CHECK(readAll(out / last / "state.bin") == readAll(ref / last / "state.bin"));
  CHECK(readAll(out / "main.log") == readAll(ref / "main.log"));
}

TEST_CASE("resume from every saved step, after SIGKILL mid-run, and after Ctrl-C: bit for bit") {
  // The uninterrupted run, once (doctest runs the test body again for every subcase).
  static const fs::path ref = [] {
    fs::path r = outDir("reference");
    REQUIRE_MESSAGE(run(r) == 0, readAll(r.string() + ".log"));
    return r;
  }();
  IoResult<TrainCheckpoint> final =
      readTrainCheckpoint((ref / "checkpoints/step_00000012").string());
  REQUIRE_MESSAGE(final.ok(), final.error());
  CHECK(final->step == 12);
  CHECK(final->trainCurve.size() == 12);
  CHECK(final->valCurve.size() == 4); // before steps 0, 4, 8 and after the last
  CHECK(!final->optimizer.empty());
  CHECK(hasStepFolder(ref / "checkpoints"));
  CHECK(!fs::exists(ref / "checkpoints/step_00000010")); // --keep 2: 11 and 12 only
  CHECK(fs::exists(ref / "checkpoints/step_00000011"));

  SUBCASE("resume from step 11 (a copy of the reference's folder)") {
    fs::path out = outDir("from11");
    fs::create_directories(out / "checkpoints");
    fs::copy(ref / "checkpoints/step_00000011", out / "checkpoints/step_00000011");
    REQUIRE(run(out, {"--resume"}) == 0);
    checkSameAsReference(ref, out);
  }
  SUBCASE("a resume with other flags is refused, naming the flag") {
    fs::path out = outDir("otherflags");
    REQUIRE(run(out, {"--resume", (ref / "checkpoints").string(), "--seed", "5"}) == 2);
    CHECK(readAll(out.string() + ".log").find("--seed") != std::string::npos);
  }
  SUBCASE("SIGKILL at random moments, then resume") {
    std::mt19937 rng(20261125);
    int midWrite = 0, trials = 2;
    for (int trial = 0; trial < trials; ++trial) {
      fs::path out = outDir(fmt::format("killed{}", trial));
      pid_t pid = startRun(out);
      // Wait for the first checkpoint, then kill within the next few steps' writes.
      for (int k = 0; k < 6000 && !hasStepFolder(out / "checkpoints"); ++k)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
      kill(pid, SIGKILL);
      waitExit(pid);
      std::error_code ec;
      for (fs::directory_iterator it(out / "checkpoints", ec), end; !ec && it != end;
           it.increment(ec))
        midWrite += it->path().filename().string().rfind(".step_", 0) == 0;
      IoResult<std::string> latest = latestCheckpoint((out / "checkpoints").string());
      REQUIRE_MESSAGE(latest.ok(), latest.error());
      IoResult<TrainCheckpoint> c = readTrainCheckpoint(*latest);
      REQUIRE_MESSAGE(c.ok(), c.error()); // the latest always loads
      REQUIRE(run(out, {"--resume"}) == 0);
      checkSameAsReference(ref, out);
    }
    MESSAGE(fmt::format("{} of {} kills left a half-written checkpoint folder behind", midWrite,
                        trials));
  }
  SUBCASE("Ctrl-C saves a checkpoint and exits 130; resume finishes the run") {
    fs::path out = outDir("interrupted");
    pid_t pid = startRun(out);
    for (int k = 0; k < 6000 && !hasStepFolder(out / "checkpoints"); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(pid, SIGINT);
    int rc = waitExit(pid);
    std::string log = readAll(out.string() + ".log");
    if (rc == 0) { // the run ended before the signal arrived: nothing to check
      MESSAGE("the run finished before SIGINT");
    } else {
      REQUIRE_MESSAGE(rc == 130, log);
      CHECK(log.find("interrupted at step") != std::string::npos);
      REQUIRE(run(out, {"--resume"}) == 0);
      checkSameAsReference(ref, out);
    }
  }
}

TrainCheckpoint smallCheckpoint(int64_t step) {
  TrainCheckpoint c;
  c.step = step;
  c.info = {{"seed", "7"}, {"model", "m.graph"}};
  c.params = {NamedTensor{"w", {2, 3}, {1, 2, 3, 4, 5, float(step)}}};
  c.optimizer = {NamedTensor{"m.w", {2, 3}, {0, 0, 0, 0, 0, 1}},
                 NamedTensor{"v.w", {2, 3}, {0, 0, 0, 0, 0, 2}}};
  for (int64_t s = 0; s < step; ++s)
    c.trainCurve.push_back({s, 4.0f - 0.1f * float(s)});
  c.valCurve = {{0, 4.5f}};
  return c;
}

TEST_CASE("step folders: round trip, keep K, leftovers ignored, damage refused") {
  fs::path root = outDir("folders");
  for (int64_t s : {1, 2, 3, 4}) {
    std::string folder;
    REQUIRE(writeTrainCheckpoint(root.string(), smallCheckpoint(s), 2, &folder).ok());
    CHECK(folder == (root / checkpointFolderName(s)).string());
  }
  CHECK(!fs::exists(root / "step_00000002"));
  CHECK(fs::exists(root / "step_00000003"));
  IoResult<std::string> latest = latestCheckpoint(root.string());
  REQUIRE(latest.ok());
  CHECK(*latest == (root / "step_00000004").string());
  IoResult<TrainCheckpoint> c = readTrainCheckpoint(*latest);
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->step == 4);
  CHECK(c->info.at("seed") == "7");
  CHECK(c->params[0].data[5] == 4.0f);
  CHECK(c->optimizer.size() == 2);
  CHECK(c->trainCurve.size() == 4);
  CHECK(c->trainCurve[3].loss == 4.0f - 0.3f);
  CHECK(c->valCurve.size() == 1);

  // A crash mid-write leaves a hidden temporary folder: never taken for a checkpoint, and
  // cleared by the next write.
  fs::create_directories(root / ".step_00000009.tmp");
  std::ofstream(root / ".step_00000009.tmp/model.bin") << "half";
  CHECK(*latestCheckpoint(root.string()) == (root / "step_00000004").string());
  REQUIRE(writeTrainCheckpoint(root.string(), smallCheckpoint(5), 2).ok());
  CHECK(!fs::exists(root / ".step_00000009.tmp"));
  // Saving a step that exists (a resumed run) replaces it.
  REQUIRE(writeTrainCheckpoint(root.string(), smallCheckpoint(5), 2).ok());
  CHECK(readTrainCheckpoint((root / "step_00000005").string()).ok());

  // Damage: every file whole and checksummed, or a one-line error naming it.
  fs::path bad = root / "step_00000005";
  std::string state = readAll(bad / "state.bin"), model = readAll(bad / "model.bin");
  auto expectError = [&](const char* what, const char* needle) {
    IoResult<TrainCheckpoint> r = readTrainCheckpoint(bad.string());
    CAPTURE(what);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(needle) != std::string::npos);
    CHECK(r.error().find('\n') == std::string::npos);
  };
  std::ofstream(bad / "state.bin", std::ios::binary) << state.substr(0, state.size() / 2);
  expectError("truncated state", "state.bin");
  std::string flipped = state;
  flipped[flipped.size() / 2] ^= 0x10;
  std::ofstream(bad / "state.bin", std::ios::binary) << flipped;
  expectError("a flipped bit in the state", "state.bin");
  std::ofstream(bad / "state.bin", std::ios::binary) << state;
  fs::remove(bad / "model.bin");
  expectError("missing model.bin", "model.bin");
  std::ofstream(bad / "model.bin", std::ios::binary) << model.substr(0, 40);
  expectError("truncated model.bin", "model.bin");
  std::ofstream(bad / "model.bin", std::ios::binary) << model;
  CHECK(readTrainCheckpoint(bad.string()).ok());
  CHECK_FALSE(latestCheckpoint((root / "nothing-here").string()).ok());
}

} // namespace
} // namespace gptc
