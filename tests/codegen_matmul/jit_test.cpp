// tests/codegen_matmul/jit_test.cpp — the ORC JIT wrapper (codegen/jit.h): add + lookup, errors as
// values, process and absolute symbols, IR/asm capture, and the on-disk object cache (a second
// compile of the same module is a cache hit and needs no optimisation).
#include "codegen/jit.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace gptc::codegen;

namespace {

const char* kAddIR = R"(
define i32 @gptc_test_add(i32 %a, i32 %b) {
  %s = add i32 %a, %b
  ret i32 %s
}
)";

// Calls a symbol defined with defineAbsolute and one from the process (libc's abs).
const char* kCallbackIR = R"(
declare i32 @gptc_test_callback(i32)
declare i32 @abs(i32)
define i32 @gptc_test_call(i32 %x) {
  %y = call i32 @gptc_test_callback(i32 %x)
  %z = call i32 @abs(i32 %y)
  ret i32 %z
}
)";

extern "C" int testCallback(int x) {
  return -10 * x;
}

std::string tempDir(const char* tag) {
  std::string d = std::filesystem::temp_directory_path().string() + "/gptc_jit_test_" + tag + "_" +
                  std::to_string(::getpid());
  std::error_code ec;
  std::filesystem::remove_all(d, ec);
  return d;
}

JitOptions noCache() {
  JitOptions o;
  o.useCache = false;
  return o;
}

} // namespace

TEST_CASE("jit: add a module, look a function up, call it") {
  std::string err;
  auto jit = Jit::create(noCache(), &err);
  REQUIRE_MESSAGE(jit, err);
  CHECK(!jit->cpuName().empty());
  REQUIRE_MESSAGE(jit->addModuleFromIR(kAddIR, "add.ll", &err), err);
  auto* fn = reinterpret_cast<int (*)(int, int)>(jit->lookup("gptc_test_add", &err));
  REQUIRE_MESSAGE(static_cast<bool>(fn), err);
  CHECK(fn(40, 2) == 42);
}

TEST_CASE("jit: errors are values") {
  std::string err;
  auto jit = Jit::create(noCache(), &err);
  REQUIRE(jit);
  CHECK(!jit->addModuleFromIR("define i32 @f( {", "bad.ll", &err));
  CHECK(err.find("bad.ll:1:") == 0);
  err.clear();
  CHECK(jit->lookup("no_such_symbol", &err) == nullptr);
  CHECK(err.find("no_such_symbol") != std::string::npos);
}

TEST_CASE("jit: absolute symbols and process symbols resolve") {
  std::string err;
  auto jit = Jit::create(noCache(), &err);
  REQUIRE(jit);
  REQUIRE_MESSAGE(
      jit->defineAbsolute("gptc_test_callback", reinterpret_cast<void*>(&testCallback), &err), err);
  REQUIRE_MESSAGE(jit->addModuleFromIR(kCallbackIR, "cb.ll", &err), err);
  auto* fn = reinterpret_cast<int (*)(int)>(jit->lookup("gptc_test_call", &err));
  REQUIRE_MESSAGE(static_cast<bool>(fn), err);
  CHECK(fn(3) == 30); // abs(-30)
}

TEST_CASE("jit: IR before/after optimisation and assembly are captured") {
  std::string err;
  JitOptions o = noCache();
  o.captureIR = true;
  o.captureAsm = true;
  auto jit = Jit::create(o, &err);
  REQUIRE(jit);
  REQUIRE_MESSAGE(jit->addModuleFromIR(kAddIR, "add.ll", &err), err);
  CHECK(jit->irBeforeOptimization().find("define i32 @gptc_test_add") != std::string::npos);
  CHECK(jit->irAfterOptimization().find("@gptc_test_add") != std::string::npos);
  CHECK(jit->assembly().find("gptc_test_add:") != std::string::npos);
}

TEST_CASE("jit: the object cache makes the second compile a hit") {
  std::string err;
  JitOptions o;
  o.cacheDir = tempDir("cache");
  {
    auto jit = Jit::create(o, &err);
    REQUIRE(jit);
    CHECK(jit->cacheDirectory() == o.cacheDir);
    REQUIRE(jit->addModuleFromIR(kAddIR, "add.ll", &err));
    REQUIRE(jit->lookup("gptc_test_add", &err)); // compiles, writes the object
    CHECK(jit->stats().cacheMisses == 1);
    CHECK(jit->stats().cacheHits == 0);
  }
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(o.cacheDir))
    files += e.path().extension() == ".o";
  CHECK(files == 1);
  {
    auto jit = Jit::create(o, &err);
    REQUIRE(jit);
    REQUIRE(jit->addModuleFromIR(kAddIR, "add.ll", &err));
    CHECK(jit->stats().cacheHits == 1);
    CHECK(jit->stats().cacheMisses == 0);
    CHECK(jit->stats().optimizeSeconds == 0.0);
    auto* fn = reinterpret_cast<int (*)(int, int)>(jit->lookup("gptc_test_add", &err));
    REQUIRE_MESSAGE(static_cast<bool>(fn), err);
    CHECK(fn(1, 2) == 3);
  }
  {
    // A different module (one more instruction) is a miss.
    auto jit = Jit::create(o, &err);
    REQUIRE(jit);
    std::string other = std::string(kAddIR) + "define i32 @gptc_test_one() {\n  ret i32 1\n}\n";
    REQUIRE(jit->addModuleFromIR(other, "add.ll", &err));
    CHECK(jit->stats().cacheMisses == 1);
  }
  std::error_code ec;
  std::filesystem::remove_all(o.cacheDir, ec);
}

TEST_CASE("jit: the cache can be turned off with GPTC_CACHE_DIR=off") {
  const char* old = std::getenv("GPTC_CACHE_DIR");
  std::string saved = old ? old : "";
  ::setenv("GPTC_CACHE_DIR", "off", 1);
  std::string err;
  auto jit = Jit::create(JitOptions{}, &err);
  REQUIRE(jit);
  CHECK(jit->cacheDirectory().empty());
  if (old)
    ::setenv("GPTC_CACHE_DIR", saved.c_str(), 1);
  else
    ::unsetenv("GPTC_CACHE_DIR");
}
