// codegen/object_cache.h — the trust rules of the JIT's on-disk object cache (codegen/jit.cpp):
// the folder, the per-user key, and the check that an entry is one gptc wrote itself.
//
// A cached object is machine code that gptc jumps into, so an entry is used only when
//   - the folder is a real directory owned by the user, with no access for group or others
//     (created 0700; a folder of ours with looser modes is tightened, one of another user's is
//     refused and the cache is off for the run);
//   - its companion `<entry>.sum` holds the object's size and an HMAC-SHA256 of (entry name,
//     object bytes) under a random 32-byte key kept in `<folder>/key` (0600). The name is in the
//     MAC, so a valid entry copied under another key's name ("foreign") is refused too.
// An entry that fails any check is discarded and the module compiled again: never executed.
//
// This header is LLVM-free (the fuzz target and tests include it); the SHA-256 is LLVM's.
// It leaves the cache key (a hash of the IR) and the hit/miss bookkeeping to jit.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gptc::codegen {

using CacheKey = std::array<uint8_t, 32>;

/// Objects larger than this are not cached entries (a 124M-parameter GPT-2 step is ~1 MB).
constexpr uint64_t kMaxCachedObjectBytes = uint64_t(256) << 20;

/// Creates `dir` (and its parents) with mode 0700 and checks it: a directory (not a symlink),
/// owned by the effective user; group/other permissions are removed from a folder of ours.
/// "" when usable, else why not (one line naming the folder).
std::string prepareCacheDirectory(const std::string& dir);

/// Reads `<dir>/key` (32 random bytes, 0600), creating it from /dev/urandom when missing or not
/// 32 bytes long. "" and *key filled, or why not.
std::string loadOrCreateCacheKey(const std::string& dir, CacheKey* key);

/// HMAC-SHA256(key, name || 0 || object), as 64 lowercase hex digits.
std::string cacheEntryMac(const CacheKey& key, std::string_view name, std::string_view object);

/// The text of `<entry>.sum` for an object.
std::string makeCacheSum(const CacheKey& key, std::string_view name, std::string_view object);

/// Checks an entry read from disk: "" when `sumText` is a well-formed sum for exactly this name
/// and these bytes under `key`, else a short reason ("truncated: 12 of 4096 bytes", "checksum
/// mismatch", ...). Never reads beyond the views; this is the fuzzed entry reader.
std::string checkCacheEntry(const CacheKey& key, std::string_view name, std::string_view object,
                            std::string_view sumText);

/// Reads a regular file of at most maxBytes without following a symlink or blocking on a FIFO.
/// "" and *out filled; "missing" when it does not exist; else a short reason.
std::string readCacheFile(const std::string& path, uint64_t maxBytes, std::string* out);

/// Writes `bytes` to `path` atomically (a 0600 temporary beside it, then rename). Errors (a full
/// disk) remove the temporary and leave any previous file; returns false then.
bool writeCacheFile(const std::string& path, std::string_view bytes);

} // namespace gptc::codegen
