// codegen/object_cache.cpp — the object cache's folder, key and entry checks (see object_cache.h).
#include "codegen/object_cache.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/SHA256.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace gptc::codegen {

namespace {

constexpr std::string_view kSumMagic = "gptc-objcache-sum-v1";

std::string errnoText() {
  return std::strerror(errno);
}

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string tempName(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

} // namespace

std::string prepareCacheDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p(dir);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return "cannot create the JIT cache folder " + dir + ": " + errnoText();
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return "cannot read the JIT cache folder " + dir;
  if (!S_ISDIR(st.st_mode)) return "the JIT cache folder " + dir + " is not a directory";
  if (st.st_uid != ::geteuid())
    return "the JIT cache folder " + dir + " belongs to another user (uid " +
           std::to_string(st.st_uid) + ")";
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    return "the JIT cache folder " + dir + " is open to other users and cannot be made 0700";
  return "";
}

std::string loadOrCreateCacheKey(const std::string& dir, CacheKey* key) {
  const std::string path = dir + "/key";
  std::string bytes;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (readCacheFile(path, 64, &bytes).empty() && bytes.size() == key->size()) {
      std::memcpy(key->data(), bytes.data(), key->size());
      return "";
    }
    // Missing or malformed: a new key (entries made under the old one stop verifying).
    int rnd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rnd < 0) return "cannot open /dev/urandom: " + errnoText();
    CacheKey fresh{};
    ssize_t n = ::read(rnd, fresh.data(), fresh.size());
    ::close(rnd);
    if (n != ssize_t(fresh.size())) return "cannot read /dev/urandom";
    std::error_code ec;
    std::filesystem::remove(path, ec); // a malformed key, if any
    // link() refuses to replace: of two processes creating the key at once, one key wins and
    // both read it back.
    std::string tmp = tempName(path);
    if (!writeCacheFile(
            tmp, std::string_view(reinterpret_cast<const char*>(fresh.data()), fresh.size())))
      return "cannot write " + path;
    int rc = ::link(tmp.c_str(), path.c_str());
    int linkErr = errno;
    std::filesystem::remove(tmp, ec);
    if (rc != 0 && linkErr != EEXIST)
      return "cannot create " + path + ": " + std::strerror(linkErr);
  }
  return "cannot read " + path;
}

std::string cacheEntryMac(const CacheKey& key, std::string_view name, std::string_view object) {
  // HMAC (RFC 2104) with SHA-256: H((K ^ opad) || H((K ^ ipad) || message)), 64-byte blocks.
  std::array<uint8_t, 64> ipad{}, opad{};
  for (size_t i = 0; i < 64; ++i) {
    uint8_t k = i < key.size() ? key[i] : 0;
    ipad[i] = k ^ 0x36;
    opad[i] = k ^ 0x5c;
  }
  llvm::SHA256 inner;
  inner.update(llvm::ArrayRef<uint8_t>(ipad.data(), ipad.size()));
  inner.update(llvm::StringRef(name.data(), name.size()));
  inner.update(llvm::StringRef("\0", 1));
  inner.update(llvm::StringRef(object.data(), object.size()));
  std::array<uint8_t, 32> innerDigest = inner.final();
  llvm::SHA256 outer;
  outer.update(llvm::ArrayRef<uint8_t>(opad.data(), opad.size()));
  outer.update(llvm::ArrayRef<uint8_t>(innerDigest.data(), innerDigest.size()));
  std::array<uint8_t, 32> mac = outer.final();
  return hex(mac.data(), mac.size());
}

std::string makeCacheSum(const CacheKey& key, std::string_view name, std::string_view object) {
  return std::string(kSumMagic) + "\n" + std::to_string(object.size()) + "\n" +
         cacheEntryMac(key, name, object) + "\n";
}

std::string checkCacheEntry(const CacheKey& key, std::string_view name, std::string_view object,
                            std::string_view sumText) {
  // Three lines: magic, decimal size, 64 hex digits. Nothing else is accepted.
  std::string_view rest = sumText;
  auto line = [&](std::string_view* out) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return false;
    *out = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    return true;
  };
  std::string_view magic, sizeText, macText;
  if (!line(&magic) || !line(&sizeText) || !line(&macText) || !rest.empty())
    return "malformed checksum file";
  if (magic != kSumMagic) return "unknown checksum format";
  // Decimal as makeCacheSum writes it: no sign, no leading zero (one text per size).
  if (sizeText.empty() || sizeText.size() > 12 || (sizeText.size() > 1 && sizeText[0] == '0'))
    return "malformed checksum file";
  uint64_t size = 0;
  for (char c : sizeText) {
    if (c < '0' || c > '9') return "malformed checksum file";
    size = size * 10 + uint64_t(c - '0');
  }
  if (macText.size() != 64) return "malformed checksum file";
  if (object.empty()) return "empty object";
  if (object.size() != size)
    return "truncated or resized: " + std::to_string(object.size()) + " bytes, " +
           std::to_string(size) + " written";
  // Compare in constant time (the MAC is a secret-dependent value).
  std::string expected = cacheEntryMac(key, name, object);
  unsigned diff = 0;
  for (size_t i = 0; i < 64; ++i)
    diff |= unsigned(uint8_t(expected[i]) ^ uint8_t(macText[i]));
  return diff ? "checksum mismatch (modified, or written under another key)" : "";
}

std::string readCacheFile(const std::string& path, uint64_t maxBytes, std::string* out) {
  out->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return errno == ENOENT ? "missing" : "cannot open: " + errnoText();
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0)
    why = "cannot stat: " + errnoText();
  else if (!S_ISREG(st.st_mode))
    why = "not a regular file";
  else if (st.st_uid != ::geteuid())
    why = "owned by another user";
  else if (uint64_t(st.st_size) > maxBytes)
    why = "too large (" + std::to_string(st.st_size) + " bytes)";
  if (why.empty()) {
    out->resize(size_t(st.st_size));
    size_t done = 0;
    while (done < out->size()) {
      ssize_t n = ::read(fd, out->data() + done, out->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += size_t(n);
    }
    out->resize(done); // a file that shrank while read is caught by the size check
  }
  ::close(fd);
  return why;
}

bool writeCacheFile(const std::string& path, std::string_view bytes) {
  std::string tmp = tempName(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  bool ok = done == bytes.size();
  ok &= ::close(fd) == 0;
  // rename() is atomic: a reader sees the old file or the whole new one.
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

} // namespace gptc::codegen
