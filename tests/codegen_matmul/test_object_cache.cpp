// tests/codegen_matmul/test_object_cache.cpp — the object cache never runs an entry it did not
// write itself: corrupted, truncated, empty, foreign (another key's entry under this name) and
// unsigned entries are discarded with a warning naming the file, and the module is compiled
// again; the folder is made 0700 and another user's folder turns the cache off.
#include "codegen/jit.h"
#include "codegen/object_cache.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace gptc::codegen;
namespace fs = std::filesystem;

namespace {

const char* kAddIR = R"(
define i32 @gptc_cache_add(i32 %a, i32 %b) {
  %s = add i32 %a, %b
  ret i32 %s
}
)";
const char* kMulIR = R"(
define i32 @gptc_cache_mul(i32 %a, i32 %b) {
  %s = mul i32 %a, %b
  ret i32 %s
}
)";

std::string freshDir(const char* tag) {
  std::string d = fs::temp_directory_path().string() + "/gptc_objcache_test_" + tag + "_" +
                  std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(d, ec);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

struct Outcome {
  int hits = 0, misses = 0, rejected = 0;
  int sum = 0; // the function's result on (3, 4)
  std::vector<std::string> warnings;
};

/// A fresh JIT on `dir` adds `ir` and calls `fn`(3, 4).
Outcome compileAndRun(const std::string& dir, const char* ir, const char* fn) {
  Outcome o;
  JitOptions opts;
  opts.cacheDir = dir;
  opts.warn = [&](const std::string& w) { o.warnings.push_back(w); };
  std::string err;
  auto jit = Jit::create(opts, &err);
  REQUIRE_MESSAGE(jit, err);
  REQUIRE_MESSAGE(jit->addModuleFromIR(ir, "t.ll", &err), err);
  auto* f = reinterpret_cast<int (*)(int, int)>(jit->lookup(fn, &err));
  REQUIRE_MESSAGE(static_cast<bool>(f), err);
  o.sum = f(3, 4);
  o.hits = jit->stats().cacheHits;
  o.misses = jit->stats().cacheMisses;
  o.rejected = jit->stats().cacheRejected;
  return o;
}

/// The single `.o` entry of `dir` whose sum names `ir`'s function (by elimination: the newest).
fs::path onlyEntry(const std::string& dir) {
  fs::path found;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".o") found = e.path();
  return found;
}

} // namespace

TEST_CASE("object cache: a folder of 0700, a key of 0600, an entry and its sum") {
  std::string dir = freshDir("layout");
  Outcome first = compileAndRun(dir, kAddIR, "gptc_cache_add");
  CHECK(first.misses == 1);
  CHECK(first.sum == 7);
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir + "/key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_size == 32);
  fs::path entry = onlyEntry(dir);
  REQUIRE(!entry.empty());
  CHECK(fs::exists(entry.string() + ".sum"));
  Outcome second = compileAndRun(dir, kAddIR, "gptc_cache_add");
  CHECK(second.hits == 1);
  CHECK(second.rejected == 0);
  CHECK(second.warnings.empty());
  fs::remove_all(dir);
}

TEST_CASE("object cache: bad entries are discarded, reported by name and compiled again") {
  struct Damage {
    const char* what;
    void (*apply)(const fs::path& entry, const fs::path& other);
    const char* says;
  } damages[] = {
      {"one flipped bit in the code",
       [](const fs::path& e, const fs::path&) {
         std::string b = slurp(e);
         b[b.size() / 2] ^= 0x10;
         spit(e, b);
       },
       "checksum mismatch"},
      {"truncated", [](const fs::path& e, const fs::path&) { spit(e, slurp(e).substr(0, 100)); },
       "truncated"},
      {"empty", [](const fs::path& e, const fs::path&) { spit(e, ""); }, "empty object"},
      {"foreign: another module's valid entry under this name",
       [](const fs::path& e, const fs::path& other) {
         fs::copy_file(other, e, fs::copy_options::overwrite_existing);
         fs::copy_file(other.string() + ".sum", e.string() + ".sum",
                       fs::copy_options::overwrite_existing);
       },
       "checksum mismatch"},
      {"no sum", [](const fs::path& e, const fs::path&) { fs::remove(e.string() + ".sum"); },
       "no checksum file"},
      {"a garbled sum",
       [](const fs::path& e, const fs::path&) { spit(e.string() + ".sum", "gptc\n12\nzz\n"); },
       "checksum"},
      {"a symlink instead of the object",
       [](const fs::path& e, const fs::path& other) {
         fs::remove(e);
         fs::create_symlink(other, e);
       },
       "cannot open"},
  };
  for (const Damage& d : damages) {
    CAPTURE(d.what);
    std::string dir = freshDir("bad");
    // Two entries: `mul` supplies the foreign object; `add` is the one damaged.
    compileAndRun(dir, kMulIR, "gptc_cache_mul");
    fs::path mulEntry = onlyEntry(dir);
    compileAndRun(dir, kAddIR, "gptc_cache_add");
    fs::path addEntry;
    for (auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".o" && e.path() != mulEntry) addEntry = e.path();
    REQUIRE(!addEntry.empty());
    d.apply(addEntry, mulEntry);

    Outcome o = compileAndRun(dir, kAddIR, "gptc_cache_add");
    CHECK(o.sum == 7); // compiled again: never the damaged (or the foreign `mul`) code
    CHECK(o.rejected == 1);
    CHECK(o.hits == 0);
    CHECK(o.misses == 1);
    REQUIRE(o.warnings.size() == 1);
    CHECK(o.warnings[0].find(addEntry.string()) != std::string::npos);
    CHECK(o.warnings[0].find(d.says) != std::string::npos);
    CHECK(o.warnings[0].find('\n') == std::string::npos);
    // The entry was rewritten whole: the next run is a clean hit.
    Outcome again = compileAndRun(dir, kAddIR, "gptc_cache_add");
    CHECK(again.hits == 1);
    CHECK(again.rejected == 0);
    fs::remove_all(dir);
  }
}

TEST_CASE("object cache: entries made under another key are refused") {
  std::string dir = freshDir("key");
  compileAndRun(dir, kAddIR, "gptc_cache_add");
  std::string key = slurp(dir + "/key");
  key[0] ^= 1;
  spit(dir + "/key", key);
  Outcome o = compileAndRun(dir, kAddIR, "gptc_cache_add");
  CHECK(o.rejected == 1);
  CHECK(o.sum == 7);
  // A key file of the wrong size is replaced by a new key.
  spit(dir + "/key", "short");
  Outcome o2 = compileAndRun(dir, kAddIR, "gptc_cache_add");
  CHECK(o2.rejected == 1);
  CHECK(fs::file_size(dir + "/key") == 32);
  fs::remove_all(dir);
}

TEST_CASE("object cache: a folder open to others is tightened; another user's is not used") {
  std::string dir = freshDir("perm");
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0777);
  compileAndRun(dir, kAddIR, "gptc_cache_add");
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  if (::geteuid() == 0) { // CI runs as root: give the folder away to `nobody`
    REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
    CHECK(prepareCacheDirectory(dir).find("belongs to another user") != std::string::npos);
  }
  fs::path file = dir + "/file";
  spit(file, "x");
  CHECK(prepareCacheDirectory(file.string()).find("not a directory") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("object cache: checkCacheEntry on hand-made sums") {
  CacheKey key{};
  key[3] = 7;
  std::string obj = "\x7f"
                    "ELF and some code";
  std::string sum = makeCacheSum(key, "gptc-abc", obj);
  CHECK(checkCacheEntry(key, "gptc-abc", obj, sum).empty());
  CHECK(!checkCacheEntry(key, "gptc-abd", obj, sum).empty()); // foreign name
  CHECK(!checkCacheEntry(key, "gptc-abc", obj + "x", sum).empty());
  CHECK(!checkCacheEntry(key, "gptc-abc", obj, sum + "\n").empty());
  CHECK(!checkCacheEntry(key, "gptc-abc", obj, sum.substr(0, sum.size() - 1)).empty());
  CHECK(!checkCacheEntry(key, "gptc-abc", "", makeCacheSum(key, "gptc-abc", "")).empty());
  CHECK(!checkCacheEntry(key, "gptc-abc", obj, "").empty());
  CacheKey other = key;
  other[0] = 1;
  CHECK(!checkCacheEntry(other, "gptc-abc", obj, sum).empty());
}
