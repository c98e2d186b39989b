// tests/fault/test_fault.cpp — fault injection through the built gptc binary: a write that fails
// mid-checkpoint (a file-size limit, RLIMIT_FSIZE, makes write(2) fail with EFBIG exactly as a
// full disk fails it with ENOSPC: same code paths, no tmpfs or LD_PRELOAD needed) gives a clear
// error and exit 2, leaves the previous checkpoint loadable, no half-written folder or object-cache
// entry where a reader would take it for a good one, and the resumed run still ends bit for bit
// where the uninterrupted run ended; and every file a run writes, truncated or with one flipped
// bit, is refused in one line with exit 2 by the command that reads it.
#include "runtime/train_checkpoint.h"
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
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

/// Runs gptc with `args`; with fileLimit > 0, no file it writes may grow beyond that many bytes.
Run runGptc(const std::vector<std::string>& args, rlim_t fileLimit = 0,
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
  int status = 0;
  ::waitpid(pid, &status, 0);
  Run r;
  r.code = cli_test::exitCode(status);
  r.out = slurp(outPath);
  r.err = slurp(errPath);
  return r;
}

std::vector<std::string> trainArgs(const fs::path& out, std::vector<std::string> extra = {},
                                   const std::string& steps = "4") {
  std::vector<std::string> a = {
      "run",       "--train",
      "--model",   std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph",
      "--data",    std::string(GPTC_SOURCE_DIR) + "/data/tinyshakespeare.txt",
      "--set",     "L=1",
      "C=32",      "NH=2",
      "maxT=16",   "-b",
      "2",         "-t",
      "8",         "--steps",
      "4",         "-n",
      "1",         "--keep",
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
