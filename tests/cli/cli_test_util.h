// Helpers shared by the tests that drive the built gptc binary (tests/cli, tests/fault): the
// result of one run (exit code, stdout, stderr), running `gptc <args>` through the shell with both
// streams captured into files, a per-process scratch folder, and small file helpers.
//
// Each test file names its own scratch folder (makeScratch's prefix) and the folder carries the
// pid, so test binaries run in parallel, or from several build folders at once, never share files.
// Not in namespace gptc: some tests name their runner function `gptc`.
#pragma once
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace cli_test {

namespace fs = std::filesystem;

/// One run of the binary: its exit code and what it printed.
struct Run {
  int code = -1;
  std::string out, err;
  double seconds = 0;
  int errLines() const {
    int n = 0;
    for (char c : err)
      n += c == '\n';
    return n;
  }
  bool says(const std::string& s) const {
    return out.find(s) != std::string::npos || err.find(s) != std::string::npos;
  }
};

/// The whole file (empty if it cannot be read).
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes `bytes` to `p`, replacing what was there; returns `p`.
inline fs::path writeBytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  return p;
}

/// A path quoted for the shell.
inline std::string q(const fs::path& p) {
  return "'" + p.string() + "'";
}

/// A wait status as the shell reports it: the exit code, or 128 + the signal that killed it.
inline int exitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// A fresh, empty folder <tmp>/<prefix><pid>. Call it once per process (keep it in a static).
inline fs::path makeScratch(const std::string& prefix) {
  fs::path p = fs::temp_directory_path() / (prefix + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

/// Runs the shell command `cmd` with stdout and stderr redirected into the two files.
inline Run runShell(const std::string& cmd, const fs::path& outFile, const fs::path& errFile) {
  std::string full = cmd + " > " + q(outFile) + " 2> " + q(errFile);
  auto t0 = std::chrono::steady_clock::now();
  int status = std::system(full.c_str());
  Run r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = exitCode(status);
  r.out = slurp(outFile);
  r.err = slurp(errFile);
  return r;
}

/// Runs `gptc <args>` (a shell command line) from the current folder, capturing both streams in
/// `scratch`/out and `scratch`/err.
inline Run runGptcIn(const fs::path& scratch, const std::string& args) {
  return runShell(q(std::string(GPTC_BINARY_DIR) + "/tools/gptc") + " " + args, scratch / "out",
                  scratch / "err");
}

} // namespace cli_test
