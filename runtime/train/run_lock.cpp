// runtime/train/run_lock.cpp — see run_lock.h.
#include "runtime/train/run_lock.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace gptc {

IoResult<RunLock> RunLock::acquire(const std::string& dir) try {
  const std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return ioError(path, std::string("cannot open the run lock: ") + std::strerror(errno));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    std::string holder;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
      holder += buf[i];
    ::close(fd);
    if (e == EWOULDBLOCK)
      return IoError{dir + " is in use by another gptc run --train" +
                     (holder.empty() ? std::string() : " (pid " + holder + ")") +
                     "; wait for it to finish or choose another --out"};
    return ioError(path, std::string("cannot lock: ") + std::strerror(e));
  }
  // Ours: record the pid (best effort; the flock, not the text, is the lock).
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    ssize_t w = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)w;
  }
  return RunLock(fd);
} catch (const std::exception& e) {
  return IoError{dir + ": " + e.what()};
}

RunLock& RunLock::operator=(RunLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_); // releases the flock
}

} // namespace gptc
