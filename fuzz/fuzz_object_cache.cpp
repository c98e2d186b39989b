// fuzz/fuzz_object_cache.cpp — the JIT object cache's entry reader (codegen/object_cache.h): the
// checksum file's parser and the keyed check. The input is `sum 0xff 0xfe object`; nothing but a
// sum made by makeCacheSum for exactly these bytes and this name may pass.
#include "codegen/object_cache.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gptc::codegen;
  CacheKey key{};
  for (size_t i = 0; i < key.size(); ++i)
    key[i] = uint8_t(i * 37 + 11);
  std::string_view bytes(reinterpret_cast<const char*>(data), size), sum, object;
  gptc::fuzz::splitAt(bytes, "\xff\xfe", &sum, &object);
  const std::string name = "gptc-0123";
  std::string why = checkCacheEntry(key, name, object, sum);
  if (why.empty() && std::string(sum) != makeCacheSum(key, name, object))
    gptc::fuzz::fuzzFail("a sum that gptc did not make was accepted");
  if (!object.empty() &&
      !checkCacheEntry(key, name, object, makeCacheSum(key, name, object)).empty())
    gptc::fuzz::fuzzFail("a sum gptc made is refused");
  // The file reader on the input as a file.
  std::string path = gptc::fuzz::writeScratch("entry.o", bytes);
  std::string read;
  if (readCacheFile(path, kMaxCachedObjectBytes, &read).empty() && read != bytes)
    gptc::fuzz::fuzzFail("readCacheFile returned other bytes");
  return 0;
}
