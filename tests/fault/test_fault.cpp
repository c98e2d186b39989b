// tests/fault/test_fault.cpp — fault injection through the built gptc binary: a write that fails
// mid-checkpoint (a file-size limit, RLIMIT_FSIZE, makes write(2) fail with EFBIG exactly as a
// full disk fails it with ENOSPC: same code paths, no tmpfs or LD_PRELOAD needed) gives a clear
// error and exit 2, leaves the previous checkpoint loadable, no half-written folder or object-cache
// entry where a reader would take it for a good one, and the resumed run still ends bit for bit
// where the uninterrupted run ended; and every file a run writes, truncated or with one flipped
// bit, is refused in one line with exit 2 by the command that reads it; SIGKILL at random moments
// of a run checkpointing every step, then --resume, ends bit for bit (scripts/kill_resume.py is
// the 50-kill form); main.log on a full disk keeps whole lines only.
#include "runtime/train/progress.h"
#include "runtime/train/train_checkpoint.h"
#include "runtime/train/trainer.h"
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

using cli_test::Run;
using cli_test::slurp;
using cli_test::writeBytes;

fs::path scratch() {
  static const fs::path d = [] {
    fs::path p = fs::path(GPTC_BINARY_DIR) / "fault_test";
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

/// Starts gptc with `args`, its stdout and stderr into two files of the scratch folder; with
/// fileLimit > 0, no file it writes may grow beyond that many bytes. Returns the child's pid.
pid_t startGptc(const std::vector<std::string>& args, rlim_t fileLimit = 0,
                const std::string& cacheDir = "") {
  fs::path outPath = scratch() / "stdout.txt", errPath = scratch() / "stderr.txt";
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int o = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (!cacheDir.empty()) ::setenv("GPTC_CACHE_DIR", cacheDir.c_str(), 1);
    if (fileLimit > 0) {
      ::signal(SIGXFSZ, SIG_IGN); // write(2) then fails with EFBIG instead of killing
      struct rlimit rl {
        fileLimit, fileLimit
      };
      ::setrlimit(RLIMIT_FSIZE, &rl);
    }
    std::vector<std::string> all = {std::string(GPTC_BINARY_DIR) + "/tools/gptc"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

/// Waits for the child started by startGptc; with killAfter > 0 seconds, SIGKILLs it then if it
/// is still running (code 128 + 9).
Run waitGptc(pid_t pid, double killAfter = 0) {
  int status = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    pid_t w = ::waitpid(pid, &status, killAfter > 0 ? WNOHANG : 0);
    REQUIRE(w >= 0);
    if (w == pid) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= killAfter)
      ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  Run r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = cli_test::exitCode(status);
  r.out = slurp(scratch() / "stdout.txt");
  r.err = slurp(scratch() / "stderr.txt");
  return r;
}

/// Runs gptc with `args` to its end (see startGptc).
Run runGptc(const std::vector<std::string>& args, rlim_t fileLimit = 0,
            const std::string& cacheDir = "") {
  return waitGptc(startGptc(args, fileLimit, cacheDir));
}

std::vector<std::string> trainArgs(const fs::path& out, std::vector<std::string> extra = {},
                                   const std::string& steps = "4", const std::string& every = "1") {
  std::vector<std::string> a = {
      "run",       "--train",
      "--model",   std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph",
      "--data",    std::string(GPTC_SOURCE_DIR) + "/data/tinyshakespeare.txt",
      "--set",     "L=1",
      "C=32",      "NH=2",
      "maxT=16",   "-b",
      "2",         "-t",
      "8",         "--steps",
      steps,       "-n",
      every,       "--keep",
      "5",         "--val-every",
      "0",         "--sample",
      "0",         "-o",
      out.string()};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<std::string> hiddenLeftovers(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.find(".tmp") != std::string::npos) found.push_back(e.path().string());
  }
  return found;
}

} // namespace

TEST_CASE("a write failing mid-checkpoint: exit 2, the previous checkpoint intact, resume exact") {
  const fs::path ref = scratch() / "reference", run = scratch() / "full_disk";
  Run r0 = runGptc(trainArgs(ref), 0, (scratch() / "cache_ref").string());
  REQUIRE_MESSAGE(r0.code == 0, r0.err);
  const std::string finalParams = slurp(ref / "model.ckpt");
  REQUIRE(!finalParams.empty());
  // The same run, with the step 3 and 4 checkpoints gone: it resumes from step 2.
  fs::create_directories(run);
  fs::copy(ref / "checkpoints", run / "checkpoints", fs::copy_options::recursive);
  fs::remove_all(run / "checkpoints" / gptc::checkpointFolderName(3));
  fs::remove_all(run / "checkpoints" / gptc::checkpointFolderName(4));
  const std::string step2 = (run / "checkpoints" / gptc::checkpointFolderName(2)).string();
  const std::string step2State = slurp(step2 + "/state.bin");

  // 16 KB per file: the key and main.log fit, JIT objects and checkpoints (~60 KB) do not.
  const fs::path cache = scratch() / "cache_full";
  Run full = runGptc(trainArgs(run, {"--resume"}), 16 << 10, cache.string());
  CHECK(full.code == 2);
  CHECK(full.errLines() == 1);
  CHECK_MESSAGE(full.err.find("File too large") != std::string::npos, full.err);
  // Nothing half-written where a reader would look: no step 3, no hidden temporaries.
  CHECK(!fs::exists(run / "checkpoints" / gptc::checkpointFolderName(3)));
  CHECK(hiddenLeftovers(run).empty());
  gptc::IoResult<std::string> latest = gptc::latestCheckpoint((run / "checkpoints").string());
  REQUIRE(latest);
  CHECK(*latest == step2);
  CHECK(gptc::readTrainCheckpoint(step2));
  CHECK(slurp(step2 + "/state.bin") == step2State);
  // The object cache: the objects that did not fit left no entry, and no temporary.
  CHECK(hiddenLeftovers(cache).empty());
  for (const auto& e : fs::directory_iterator(cache))
    if (e.path().extension() == ".o") CHECK(fs::exists(e.path().string() + ".sum"));

  // Space again: the resumed run ends exactly where the uninterrupted one ended.
  Run again = runGptc(trainArgs(run, {"--resume"}), 0, cache.string());
  REQUIRE_MESSAGE(again.code == 0, again.err);
  CHECK(again.err.find("warning") == std::string::npos); // no bad cache entry was left
  CHECK(slurp(run / "model.ckpt") == finalParams);
}

TEST_CASE("every file a run writes, truncated or bit-flipped: one line, exit 2") {
  const fs::path ref = scratch() / "damage_source";
  Run r0 = runGptc(trainArgs(ref, {}, "1"), 0, (scratch() / "cache_ref").string());
  REQUIRE_MESSAGE(r0.code == 0, r0.err);
  const fs::path step = ref / "checkpoints" / gptc::checkpointFolderName(1);
  struct Target {
    fs::path file;
    std::vector<std::string> reader; // the command that reads it
  };
  const std::string model = std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph";
  const std::vector<std::string> gen = {"run",  model,  "--generate", "--set", "L=1",
                                        "C=32", "NH=2", "maxT=16",    "T=8",   "--prompt",
                                        "a",    "-n",   "2"};
  auto with = [](std::vector<std::string> v, std::vector<std::string> more) {
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  Target targets[] = {
      {ref / "model.ckpt", with(gen, {"--init", (ref / "model.ckpt").string()})},
      {ref / "vocab.bin", with(gen, {"--init", (ref / "model.ckpt").string(), "--vocab",
                                     (ref / "vocab.bin").string()})},
      {step / "state.bin", trainArgs(scratch() / "resume_bad", {"--resume", step.string()}, "1")},
      {step / "model.bin", trainArgs(scratch() / "resume_bad", {"--resume", step.string()}, "1")},
  };
  int tried = 0;
  for (const Target& t : targets) {
    const std::string good = slurp(t.file);
    REQUIRE(good.size() > 16);
    const std::string damaged[] = {
        good.substr(0, good.size() / 2), // truncated
        good.substr(0, good.size() - 1), // one byte short
        [&] {
          std::string b = good;
          b[b.size() / 2] ^= 0x04;
          return b;
        }(), // one bit
        "",
    };
    for (const std::string& bytes : damaged) {
      CAPTURE(t.file.string());
      CAPTURE(bytes.size());
      writeBytes(t.file, bytes);
      Run r = runGptc(t.reader);
      CHECK(r.code == 2);
      CHECK_MESSAGE(r.errLines() == 1, r.err);
      CHECK_MESSAGE(r.err.find(t.file.filename().string()) != std::string::npos, r.err);
      ++tried;
    }
    writeBytes(t.file, good);
  }
  MESSAGE(tried << " damaged files refused");
}

TEST_CASE("SIGKILL at 3 random moments of a run checkpointing every step: resume is bit for bit") {
  // The short form of scripts/kill_resume.py (50 kills): one run folder killed three times at a
  // moment drawn over the run's length, resumed after each kill, then let finish.
  const std::string steps = "10";
  const fs::path ref = scratch() / "kill_reference", run = scratch() / "killed";
  const std::string cache = (scratch() / "cache_kill").string();
  REQUIRE(runGptc(trainArgs(ref, {}, steps), 0, cache).code == 0); // fills the object cache
  fs::remove_all(ref);
  Run r0 = runGptc(trainArgs(ref, {}, steps), 0, cache);
  REQUIRE_MESSAGE(r0.code == 0, r0.err);
  const std::string refLog = slurp(ref / "main.log");
  const fs::path last = fs::path("checkpoints") / gptc::checkpointFolderName(10);
  const std::string refModel = slurp(ref / last / "model.bin");
  const std::string refState = slurp(ref / last / "state.bin");
  REQUIRE(!refModel.empty());

  // Starts the run (resuming when a checkpoint exists) and SIGKILLs it after `killAfter` s (0:
  // let it finish); a resume must say it continues from the newest complete step folder.
  int resumes = 0;
  auto attempt = [&](double killAfter) {
    gptc::IoResult<std::string> newest = gptc::latestCheckpoint((run / "checkpoints").string());
    std::vector<std::string> extra;
    if (newest) extra.push_back("--resume");
    Run r = waitGptc(startGptc(trainArgs(run, extra, steps), 0, cache), killAfter);
    if (newest && r.out.find("resume  ") != std::string::npos) {
      ++resumes;
      const std::string step = newest->substr(newest->rfind('_') + 1);
      CHECK_MESSAGE(r.out.find("resume  " + *newest + ": step " + std::to_string(std::stoll(step)) +
                               " of") != std::string::npos,
                    r.out);
    }
    return r;
  };
  std::mt19937 rng(20261207);
  for (int kill = 0; kill < 3; ++kill) {
    Run r = attempt(r0.seconds * std::uniform_real_distribution<double>(0.2, 1.0)(rng));
    CAPTURE(kill);
    CHECK_MESSAGE((r.code == 128 + SIGKILL || r.code == 0), r.err);
    // What the killed process logged is the uninterrupted run's log up to where it died.
    CHECK(refLog.rfind(slurp(run / "main.log"), 0) == 0);
    if (r.code == 0) break; // it reached the end before the kill
    gptc::IoResult<std::string> latest = gptc::latestCheckpoint((run / "checkpoints").string());
    if (latest) CHECK(gptc::readTrainCheckpoint(*latest)); // the newest always loads
  }
  Run end = attempt(0);
  REQUIRE_MESSAGE(end.code == 0, end.err);
  CHECK(slurp(run / "main.log") == refLog);
  CHECK(slurp(run / last / "model.bin") == refModel);
  CHECK(slurp(run / last / "state.bin") == refState);
  MESSAGE(resumes << " resumes after SIGKILL, the end equal to the uninterrupted run's");
}

TEST_CASE("main.log on a full disk: the error returned, the file ends with the last whole line") {
  const fs::path path = scratch() / "full_main.log";
  int pipeFd[2];
  REQUIRE(::pipe(pipeFd) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) { // 100 bytes fit: the note and 5 lines of 17 bytes; the 6th is cut mid-way
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {
      100, 100
    };
    ::setrlimit(RLIMIT_FSIZE, &rl);
    gptc::IoResult<gptc::MainLog> log = gptc::MainLog::open(path.string());
    if (!log || !log->note("run")) ::_exit(3);
    for (int step = 0; step < 100; ++step)
      if (gptc::IoStatus st = log->train(step, 2.5f); !st) {
        ssize_t n = ::write(pipeFd[1], st.error().data(), st.error().size());
        ::_exit(n > 0 && step > 0 ? 0 : 4);
      }
    ::_exit(5); // the limit never hit
  }
  ::close(pipeFd[1]);
  char buf[512];
  ssize_t n = ::read(pipeFd[0], buf, sizeof buf);
  ::close(pipeFd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(cli_test::exitCode(status) == 0);
  const std::string error(buf, size_t(std::max<ssize_t>(n, 0)));
  CHECK_MESSAGE(error.find("full_main.log: File too large") != std::string::npos, error);
  const std::string text = slurp(path);
  CHECK(text == "# run\ns:0 trl:2.500000\ns:1 trl:2.500000\ns:2 trl:2.500000\n"
                "s:3 trl:2.500000\ns:4 trl:2.500000\n");
}

TEST_CASE("disk full while writing main.log or run.card: exit 2, one line, only whole files") {
  const std::string cache = (scratch() / "cache_log").string();
  const fs::path ref = scratch() / "log_reference";
  // 400 steps, no step checkpoints (-n 0): main.log grows by a line a step.
  Run r0 = runGptc(trainArgs(ref, {}, "400", "0"), 0, cache);
  REQUIRE_MESSAGE(r0.code == 0, r0.err);
  const std::string refLog = slurp(ref / "main.log");
  const std::string refCard = slurp(ref / "run.card");
  REQUIRE(refLog.size() > 6000);
  REQUIRE(!refCard.empty());

  SUBCASE("main.log") {
    const fs::path run = scratch() / "log_full";
    fs::remove_all(run);
    // Larger than run.card, smaller than the log: the limit is hit in main.log, mid-run.
    const rlim_t limit = refCard.size() + 1024;
    REQUIRE(limit < refLog.size());
    Run r = runGptc(trainArgs(run, {}, "400", "0"), limit, cache);
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.errLines() == 1, r.err);
    CHECK_MESSAGE(r.err.find("main.log: File too large") != std::string::npos, r.err);
    const std::string log = slurp(run / "main.log");
    CHECK(!log.empty());
    CHECK(log.back() == '\n');        // whole lines only
    CHECK(refLog.rfind(log, 0) == 0); // each of them the uninterrupted run's
    CHECK(slurp(run / "run.card") == refCard);
    CHECK(hiddenLeftovers(run).empty());
  }
  SUBCASE("run.card") {
    const fs::path run = scratch() / "card_full";
    fs::remove_all(run);
    const rlim_t limit = refCard.size() / 2;
    Run r = runGptc(trainArgs(run, {}, "400", "0"), limit, cache);
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.errLines() == 1, r.err);
    CHECK_MESSAGE(r.err.find("run.card") != std::string::npos, r.err);
    CHECK(!fs::exists(run / "run.card")); // never a half card
    CHECK(hiddenLeftovers(run).empty());
  }
}

TEST_CASE("NaN mid-run: the op and its .graph line, exit 1, the last good checkpoint kept") {
  // --lr 1e30: the first update leaves finite but huge parameters (step 1's checkpoint is
  // good); step 2's forward pass overflows.
  const fs::path run = scratch() / "diverged";
  fs::remove_all(run);
  Run r = runGptc(trainArgs(run, {"--lr", "1e30"}, "6"), 0, (scratch() / "cache_nan").string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.errLines() == 1, r.err);
  CHECK_MESSAGE(r.err.find("training diverged") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("models/chargpt.graph:") != std::string::npos, r.err); // the op's line
  CHECK_MESSAGE(r.err.find(" = ") != std::string::npos, r.err);                   // the op
  CHECK_MESSAGE(r.err.find("last good checkpoint") != std::string::npos, r.err);
  // The newest checkpoint loads and holds finite values only; nothing after it was written.
  gptc::IoResult<std::string> latest = gptc::latestCheckpoint((run / "checkpoints").string());
  REQUIRE_MESSAGE(latest, latest.error());
  CHECK_MESSAGE(r.err.find(*latest) != std::string::npos, r.err);
  gptc::IoResult<gptc::TrainCheckpoint> c = gptc::readTrainCheckpoint(*latest);
  REQUIRE_MESSAGE(c, c.error());
  CHECK(gptc::firstNonFinite(c->params).empty());
  CHECK(gptc::firstNonFinite(c->optimizer).empty());
  CHECK(!fs::exists(run / "model.ckpt"));
  CHECK(hiddenLeftovers(run).empty());
}
