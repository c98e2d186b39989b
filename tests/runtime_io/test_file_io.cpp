// Shared file helpers: whole-file reads, positioned reads, atomic writes, CRC-32, shapes.
#include "runtime/formats/file_io.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>

using namespace gptc;
using namespace gptc::testing;

TEST_CASE("file_io: CRC-32 check value and chaining") {
  CHECK(crc32("123456789", 9) == 0xCBF43926u);
  CHECK(crc32("", 0) == 0u);
  CHECK(crc32("6789", 4, crc32("12345", 5)) == 0xCBF43926u);
}

TEST_CASE("file_io: atomic writes replace the file and leave no temporary") {
  TempDir t;
  auto p = t.path("f.txt");
  REQUIRE(writeFileAtomic(p, std::string_view("first")).ok());
  REQUIRE(writeFileAtomic(p, std::string_view("second version")).ok());
  CHECK(*readFileText(p) == "second version");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(t.dir)) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
  {
    // An aborted writer leaves the previous file intact and cleans up its temporary.
    auto w = AtomicFileWriter::create(p);
    REQUIRE(w.ok());
    REQUIRE(w->write(std::span<const uint8_t>(junkBytes(3 << 20, 1))).ok());
  }
  CHECK(*readFileText(p) == "second version");
  files = 0;
  for (auto& e : std::filesystem::directory_iterator(t.dir)) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
  // Large writes go through the buffer and around it.
  auto big = junkBytes((1 << 20) + 123, 5);
  auto w = AtomicFileWriter::create(p);
  REQUIRE(w->write(big.data(), 100).ok());
  REQUIRE(w->write(big.data() + 100, big.size() - 100).ok());
  REQUIRE(w->commit().ok());
  CHECK(readRaw(p) == big);
  CHECK_FALSE(w->write(big.data(), 1).ok());
  CHECK_FALSE(w->commit().ok());
  // A directory that does not exist is an error naming the path.
  auto bad = writeFileAtomic(t.path("no/such/dir/f"), std::string_view("x"));
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error(), "no/such/dir/f"));
}

TEST_CASE("file_io: reads check everything") {
  TempDir t;
  auto missing = readFileBytes(t.path("missing"));
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error(), "missing: cannot open: No such file or directory"));
  auto dir = readFileBytes(t.dir.string());
  REQUIRE_FALSE(dir.ok());
  CHECK(contains(dir.error(), "is a directory"));
  auto p = t.path("ten");
  writeRaw(p, junkBytes(10, 3));
  auto limited = readFileBytes(p, 9);
  REQUIRE_FALSE(limited.ok());
  CHECK(contains(limited.error(), "limit"));
  CHECK(readFileBytes(p)->size() == 10);
  auto r = FileReader::open(p);
  REQUIRE(r.ok());
  CHECK(r->size() == 10);
  uint8_t buf[16];
  CHECK(r->readAt(2, buf, 8).ok());
  auto past = r->readAt(4, buf, 7);
  REQUIRE_FALSE(past.ok());
  CHECK(contains(past.error(), "past the end"));
  CHECK_FALSE(r->readAt(uint64_t(1) << 63, buf, 1).ok());
  auto empty = t.path("empty");
  writeRaw(empty, {});
  CHECK(readFileBytes(empty)->empty());
}

TEST_CASE("file_io: shapes and element counts") {
  std::vector<int64_t> s{2, 3, 4};
  CHECK(checkedNumel(s) == 24);
  CHECK(checkedNumel(std::vector<int64_t>{}) == 1);
  CHECK(checkedNumel(std::vector<int64_t>{0, 1 << 30}) == 0);
  CHECK(checkedNumel(std::vector<int64_t>{-1}) == -1);
  CHECK(checkedNumel(std::vector<int64_t>{1 << 30, 1 << 30}) == -1);
  CHECK(shapeString(s) == "[2, 3, 4]");
  CHECK(shapeString(std::vector<int64_t>{}) == "[]");
  IoResult<int> bad = ioError("x.bin", "broken");
  CHECK(bad.error() == "x.bin: broken");
  IoResult<std::string> good = std::string("v");
  CHECK(good.ok());
  CHECK(good.error().empty());
}
