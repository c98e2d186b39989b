// Character tokenizer: tinyshakespeare's 65 symbols, round trips, and the vocabulary file.
#include "runtime/text/char_tokenizer.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>

using namespace gptc;
using namespace gptc::testing;

TEST_CASE("char: tinyshakespeare has 65 symbols") {
  auto text = readFileText(std::string(GPTC_SOURCE_DIR) + "/data/tinyshakespeare.txt");
  REQUIRE_MESSAGE(text.ok(), text.error());
  auto tok = CharTokenizer::fromText(*text);
  CHECK(tok.vocabSize() == 65);
  CHECK(tok.symbols().front() == '\n');
  CHECK(tok.idOf(' ') == 1);
  CHECK(tok.idOf('a') == 39);
  auto ids = tok.encode(text->substr(0, 1000));
  REQUIRE(ids.ok());
  CHECK(*tok.decode(*ids) == text->substr(0, 1000));
}

TEST_CASE("char: encode and decode errors") {
  auto tok = CharTokenizer::fromText("hello world");
  CHECK(tok.vocabSize() == 8);
  auto bad = tok.encode("hello there");
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error(), "'t'"));
  CHECK(contains(bad.error(), "offset 6"));
  auto badId = tok.decode(std::vector<int32_t>{0, 8});
  REQUIRE_FALSE(badId.ok());
  CHECK(contains(badId.error(), "position 1"));
  CHECK_FALSE(tok.decode(std::vector<int32_t>{-3}).ok());
  CHECK_FALSE(CharTokenizer::fromSymbols({'b', 'a'}).ok());
  CHECK_FALSE(CharTokenizer::fromSymbols({'a', 'a'}).ok());
  CHECK(CharTokenizer::fromSymbols({'a', 'b'})->vocabSize() == 2);
}

TEST_CASE("char: vocabulary file round trip and malformed files") {
  TempDir t;
  auto tok = CharTokenizer::fromText("The quick brown fox.\n");
  auto p = t.path("vocab.chars");
  REQUIRE(tok.save(p).ok());
  auto back = CharTokenizer::load(p);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->symbols() == tok.symbols());
  CHECK(CharTokenizer::fromText("").save(t.path("empty")).ok() == false);

  const auto good = readRaw(p);
  auto expectError = [&](const std::vector<uint8_t>& bytes, const std::string& what) {
    auto bad = t.path("bad.chars");
    writeRaw(bad, bytes);
    auto r = CharTokenizer::load(bad);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), bad));
    CHECK(contains(r.error(), what));
  };
  expectError({}, "empty");
  expectError({good.begin(), good.begin() + 7}, "too short");
  expectError({good.begin(), good.end() - 1}, "truncated");
  auto trailing = good;
  trailing.push_back(0);
  expectError(trailing, "trailing");
  auto magic = good;
  magic[0] ^= 0xFF;
  expectError(magic, "bad magic");
  auto version = good;
  version[4] = 9;
  expectError(version, "version 9");
  auto count = good;
  count[8] = 0;
  expectError(count, "outside 1..256");
  auto corrupt = good;
  corrupt[13] ^= 0x01;
  expectError(corrupt, "checksum");
  expectError(junkBytes(100, 1), "bad magic");
  // A file with a valid checksum but unsorted symbols is still refused.
  std::vector<uint8_t> unsorted;
  appendU32(unsorted, CharTokenizer::kMagic);
  appendU32(unsorted, 1);
  appendU32(unsorted, 2);
  unsorted.push_back('b');
  unsorted.push_back('a');
  appendU32(unsorted, crc32(unsorted.data() + 12, 2));
  expectError(unsorted, "strictly increasing");
  auto missing = CharTokenizer::load(t.path("nope"));
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error(), "nope"));
  auto dir = CharTokenizer::load(t.dir.string());
  REQUIRE_FALSE(dir.ok());
  CHECK(contains(dir.error(), "directory"));
}
