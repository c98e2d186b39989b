// File I/O shared by the runtime's file formats: whole-file reads, positioned reads, atomic writes,
// CRC-32. POSIX calls are used directly (not iostreams) because atomic replacement needs fsync on
// the file and on its directory, and because errno gives the user a reason ("No such file or
// directory").
#include "runtime/formats/file_io.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>

namespace gptc {
namespace {

std::string osReason(int err) {
  return std::strerror(err);
}

/// Opens `path` for reading and checks that it is a regular file.
IoResult<std::pair<int, uint64_t>> openRegular(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ioError(path, "cannot open: " + osReason(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return ioError(path, "cannot stat: " + osReason(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return ioError(path,
                   S_ISDIR(st.st_mode) ? "is a directory, not a file" : "is not a regular file");
  }
  return std::pair<int, uint64_t>{fd, uint64_t(st.st_size)};
}

IoStatus preadAll(int fd, const std::string& path, uint64_t offset, void* dst, size_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    ssize_t got = ::pread(fd, p, n, off_t(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ioError(path,
                     "read failed at byte " + std::to_string(offset) + ": " + osReason(errno));
    }
    if (got == 0)
      return ioError(path, "unexpected end of file at byte " + std::to_string(offset) +
                               " (file changed while reading?)");
    p += got;
    n -= size_t(got);
    offset += uint64_t(got);
  }
  return {};
}

IoStatus writeAll(int fd, const std::string& path, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t put = ::write(fd, p, n);
    if (put < 0) {
      if (errno == EINTR) continue;
      return ioError(path, "write failed: " + osReason(errno));
    }
    p += put;
    n -= size_t(put);
  }
  return {};
}

std::string dirOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// Makes the rename durable: without this a power cut can forget the new directory entry.
void fsyncDir(const std::string& path) {
  int dfd = ::open(dirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return; // best effort: some filesystems refuse to open directories
  ::fsync(dfd);
  ::close(dfd);
}

std::atomic<uint64_t> tmpCounter{0};

} // namespace

IoResult<std::vector<uint8_t>> readFileBytes(const std::string& path, uint64_t maxBytes) try {
  auto f = openRegular(path);
  if (!f) return f.ioError();
  auto [fd, size] = *f;
  if (size > maxBytes) {
    ::close(fd);
    return ioError(path, "file is " + std::to_string(size) + " bytes, more than the limit of " +
                             std::to_string(maxBytes));
  }
  std::vector<uint8_t> bytes(size);
  IoStatus st = preadAll(fd, path, 0, bytes.data(), bytes.size());
  ::close(fd);
  if (!st) return st.ioError();
  return bytes;
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoResult<std::string> readFileText(const std::string& path, uint64_t maxBytes) try {
  auto b = readFileBytes(path, maxBytes);
  if (!b) return b.ioError();
  return std::string(b->begin(), b->end());
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoStatus writeFileAtomic(const std::string& path, std::span<const uint8_t> bytes) try {
  auto w = AtomicFileWriter::create(path);
  if (!w) return w.ioError();
  if (IoStatus st = w->write(bytes.data(), bytes.size()); !st) return st;
  return w->commit();
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoStatus writeFileAtomic(const std::string& path, std::string_view bytes) {
  return writeFileAtomic(
      path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

// ---- FileReader --------------------------------------------------------------------------------

IoResult<FileReader> FileReader::open(const std::string& path) {
  auto f = openRegular(path);
  if (!f) return f.ioError();
  return FileReader(path, f->first, f->second);
}

FileReader::FileReader(FileReader&& o) noexcept
    : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}

FileReader& FileReader::operator=(FileReader&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
  }
  return *this;
}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

IoStatus FileReader::readAt(uint64_t offset, void* dst, size_t n) const {
  if (offset > size_ || n > size_ - offset)
    return ioError(path_, "read of " + std::to_string(n) + " bytes at byte " +
                              std::to_string(offset) + " runs past the end of the file (" +
                              std::to_string(size_) + " bytes)");
  return preadAll(fd_, path_, offset, dst, n);
}

// ---- AtomicFileWriter --------------------------------------------------------------------------

IoResult<AtomicFileWriter> AtomicFileWriter::create(const std::string& path) {
  if (path.empty()) return ioError("<empty path>", "cannot write a file with an empty name");
  // pid + counter: two writers in one process, or two processes, never share a temporary.
  std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(tmpCounter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ioError(path, "cannot create temporary " + tmp + ": " + osReason(errno));
  return AtomicFileWriter(path, tmp, fd);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), fd_(std::exchange(o.fd_, -1)),
      buf_(std::move(o.buf_)), failed_(o.failed_) {}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& o) noexcept {
  if (this != &o) {
    abort();
    path_ = std::move(o.path_);
    tmp_ = std::move(o.tmp_);
    fd_ = std::exchange(o.fd_, -1);
    buf_ = std::move(o.buf_);
    failed_ = o.failed_;
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() {
  abort();
}

void AtomicFileWriter::abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(tmp_.c_str());
  }
  buf_.clear();
}

IoStatus AtomicFileWriter::flush() {
  if (buf_.empty()) return {};
  IoStatus st = writeAll(fd_, path_, buf_.data(), buf_.size());
  buf_.clear();
  if (!st) failed_ = true;
  return st;
}

IoStatus AtomicFileWriter::write(const void* data, size_t n) try {
  if (fd_ < 0) return ioError(path_, "write after the file was committed or aborted");
  if (failed_) return ioError(path_, "write after an earlier write failed");
  constexpr size_t kBuf = size_t(1) << 20;
  auto* p = static_cast<const uint8_t*>(data);
  if (buf_.size() + n <= kBuf) {
    buf_.insert(buf_.end(), p, p + n);
    return {};
  }
  if (IoStatus st = flush(); !st) return st;
  if (n >= kBuf) {
    IoStatus st = writeAll(fd_, path_, p, n);
    if (!st) failed_ = true;
    return st;
  }
  buf_.insert(buf_.end(), p, p + n);
  return {};
} catch (const std::exception& e) {
  return ioError(path_, std::string("failed: ") + e.what());
}

IoStatus AtomicFileWriter::commit() {
  if (fd_ < 0) return ioError(path_, "commit after the file was committed or aborted");
  if (failed_) {
    abort();
    return ioError(path_, "not written: an earlier write failed");
  }
  if (IoStatus st = flush(); !st) {
    abort();
    return st;
  }
  if (::fsync(fd_) != 0) {
    int e = errno;
    abort();
    return ioError(path_, "fsync failed: " + osReason(e));
  }
  if (::close(fd_) != 0) {
    int e = errno;
    fd_ = -1;
    ::unlink(tmp_.c_str());
    return ioError(path_, "close failed: " + osReason(e));
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    return ioError(path_, "cannot rename " + tmp_ + " into place: " + osReason(e));
  }
  fsyncDir(path_);
  return {};
}

// ---- CRC-32 ------------------------------------------------------------------------------------

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i)
    crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

int64_t checkedNumel(std::span<const int64_t> shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > limit / d) return -1;
    n *= d;
  }
  return n;
}

std::string shapeString(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

} // namespace gptc
