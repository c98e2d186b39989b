// runtime/train/run_lock.h — one trainer per run folder. `gptc run --train` holds an exclusive
// flock(2) on `<out>/lock` for its whole life, so a second trainer started on the same --out
// refuses at once instead of interleaving checkpoints and main.log lines with the first.
//
// The lock belongs to the open file description: it is released when the process exits, however
// it exits (return, crash, SIGKILL), so a stale lock file never blocks a later run. The file keeps
// the holder's pid, for the message. It leaves which folders to lock to the caller.
#pragma once

#include "runtime/formats/file_io.h"

#include <string>

namespace gptc {

class RunLock {
public:
  /// Locks `<dir>/lock` (dir must exist). Fails at once, without waiting, when another process
  /// holds it: "<dir> is in use by another gptc run --train (pid N)...".
  static IoResult<RunLock> acquire(const std::string& dir);
  RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&& o) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

} // namespace gptc
