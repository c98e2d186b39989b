// File I/O shared by the runtime's file formats (tokenizers, token data, checkpoints, safetensors):
// a result type that carries either a value or a one-line error naming the file, whole-file reads,
// a positioned reader for large files, atomic writes (temp file + fsync + rename + fsync of the
// directory, so a crash never leaves a half-written checkpoint under the real name), little-endian
// encoding helpers and CRC-32.
//
// Every public function of the file formats is noexcept in effect (a function-try-block turns even
// std::bad_alloc into an IoError), so callers handle one kind of failure: a value.
//
// It leaves every format's layout and validation to the format's own file; this one only moves
// bytes and reports OS errors. It depends on nothing else in gptc (plain std types), so the file
// formats can be tested without the compiler.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace gptc {

/// A one-line error: "path: what is wrong". Kept as its own type so IoResult<std::string> is
/// unambiguous.
struct IoError {
  std::string message;
};

/// Builds "path: what".
inline IoError ioError(std::string_view path, std::string_view what) {
  std::string m;
  m.reserve(path.size() + 2 + what.size());
  m.append(path).append(": ").append(what);
  return IoError{std::move(m)};
}

/// A value or an IoError (std::expected is C++23; this is the part the runtime's loaders need).
template <class T> class IoResult {
public:
  IoResult(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  IoResult(IoError e) : v_(std::in_place_index<1>, std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  /// The one-line message; empty when ok().
  const std::string& error() const {
    static const std::string none;
    return ok() ? none : std::get<1>(v_).message;
  }
  const IoError& ioError() const { return std::get<1>(v_); }

private:
  std::variant<T, IoError> v_;
};

/// Success or an IoError, for operations with no value (writes, checks).
class IoStatus {
public:
  IoStatus() = default; // success
  IoStatus(IoError e) : failed_(true), message_(std::move(e.message)) {}
  static IoStatus success() { return IoStatus(); }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& error() const { return message_; }
  IoError ioError() const { return IoError{message_}; }

private:
  bool failed_ = false;
  std::string message_;
};

/// The whole file as bytes. Fails (naming the path and the OS reason) when the file is missing,
/// a directory, unreadable, or larger than maxBytes.
IoResult<std::vector<uint8_t>> readFileBytes(const std::string& path,
                                             uint64_t maxBytes = uint64_t(1) << 34);
/// The whole file as a string (no newline conversion).
IoResult<std::string> readFileText(const std::string& path, uint64_t maxBytes = uint64_t(1) << 34);

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename over `path`,
/// fsync of the directory. On failure the temporary is removed and `path` is untouched.
IoStatus writeFileAtomic(const std::string& path, std::span<const uint8_t> bytes);
IoStatus writeFileAtomic(const std::string& path, std::string_view bytes);

/// Random-access reader for files too large to copy twice (checkpoints). Every read is checked:
/// a short read is an error naming the path, never a partly filled buffer that looks valid.
class FileReader {
public:
  static IoResult<FileReader> open(const std::string& path);
  FileReader(FileReader&&) noexcept;
  FileReader& operator=(FileReader&&) noexcept;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  /// Reads exactly n bytes at `offset` into dst.
  IoStatus readAt(uint64_t offset, void* dst, size_t n) const;

private:
  FileReader(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

/// Streaming atomic writer: bytes go to a temporary beside `path`; commit() fsyncs and renames it
/// into place. Destroying an uncommitted writer removes the temporary, so an error mid-way leaves
/// any previous file at `path` intact.
class AtomicFileWriter {
public:
  static IoResult<AtomicFileWriter> create(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&&) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  IoStatus write(const void* data, size_t n);
  IoStatus write(std::span<const uint8_t> bytes) { return write(bytes.data(), bytes.size()); }
  /// fsync, rename over the target, fsync the directory. The writer is finished afterwards.
  IoStatus commit();
  /// Removes the temporary (also done by the destructor).
  void abort();

private:
  AtomicFileWriter(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  IoStatus flush();
  std::string path_, tmp_;
  int fd_ = -1;
  std::vector<uint8_t> buf_; // batches small writes into large write(2) calls
  bool failed_ = false;
};

// ---- little-endian encoding -------------------------------------------------------------------
// Every gptc file format is little-endian. Headers are encoded byte by byte (portable); bulk
// float/uint16 arrays are memcpy'd, which is only correct on little-endian hosts (asserted).

static_assert(std::endian::native == std::endian::little,
              "gptc file formats memcpy bulk arrays; a big-endian host needs byte swaps here");

inline uint32_t loadU32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t loadU64(const uint8_t* p) {
  return uint64_t(loadU32(p)) | uint64_t(loadU32(p + 4)) << 32;
}
inline int32_t loadI32(const uint8_t* p) {
  return int32_t(loadU32(p));
}
inline int64_t loadI64(const uint8_t* p) {
  return int64_t(loadU64(p));
}
inline void appendU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(uint8_t(v >> (8 * i)));
}
inline void appendU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(uint8_t(v >> (8 * i)));
}
inline void appendI32(std::vector<uint8_t>& out, int32_t v) {
  appendU32(out, uint32_t(v));
}
inline void appendI64(std::vector<uint8_t>& out, int64_t v) {
  appendU64(out, uint64_t(v));
}

/// CRC-32 (IEEE 802.3, the zlib/PNG polynomial 0xEDB88320, reflected). Chain calls by passing the
/// previous result as `crc`; start with 0.
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

/// Number of elements of a shape, or -1 when a dim is negative or the product overflows `limit`.
int64_t checkedNumel(std::span<const int64_t> shape, int64_t limit = int64_t(1) << 40);

/// "[2, 3, 4]"
std::string shapeString(std::span<const int64_t> shape);

/// How a gptc checkpoint stores a tensor's values (its dtype field; docs/file-formats.md).
enum class StoredDType : uint32_t { f32 = 1, bf16 = 2, i8 = 3 };

/// A named tensor in host memory: the unit every checkpoint format reads and writes. The values
/// are floats whatever the stored dtype: a bf16 tensor holds bf16 numbers exactly, an i8 tensor
/// integers in [-128, 127] (as runtime/formats/quantize.h's host tensors do).
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data; // row-major, numel(shape) elements
  StoredDType dtype = StoredDType::f32;
};

} // namespace gptc
