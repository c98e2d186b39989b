// fuzz/fuzz_util.h — helpers shared by the libFuzzer targets: the readers under test take paths,
// so each input is written to a per-process scratch file first (in /dev/shm when it exists).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace gptc::fuzz {

/// A scratch folder of this process, created once.
inline const std::string& scratchDir() {
  static const std::string dir = [] {
    struct stat st {};
    std::string base = ::stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
    std::string d = base + "/gptc_fuzz_" + std::to_string(::getpid());
    ::mkdir(d.c_str(), 0700);
    return d;
  }();
  return dir;
}

/// Writes `bytes` to scratchDir()/name (replacing it) and returns the path.
inline std::string writeScratch(const std::string& name, std::string_view bytes) {
  std::string path = scratchDir() + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += size_t(n);
  }
  ::close(fd);
  return path;
}

/// Fails the run (libFuzzer reports it as a crash with this input).
[[noreturn]] inline void fuzzFail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

/// Splits `data` at the first occurrence of `sep` (the rest after it); no sep: all in `first`.
inline void splitAt(std::string_view data, std::string_view sep, std::string_view* first,
                    std::string_view* rest) {
  size_t at = data.find(sep);
  *first = data.substr(0, at);
  *rest = at == std::string_view::npos ? std::string_view() : data.substr(at + sep.size());
}

} // namespace gptc::fuzz
