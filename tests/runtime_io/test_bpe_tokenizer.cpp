// GPT-2 BPE against reference ids made by the npm package gpt-3-encoder (see
// tests/fixtures/gpt2_tokenizer/make_reference.js), round trips, and malformed vocab files.
#include "runtime/text/bpe_tokenizer.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace gptc;
using namespace gptc::testing;

namespace {
// The tokenizer files are run-time assets (assets/gpt2_tokenizer); the reference ids are a fixture.
const std::string kAssets = std::string(GPTC_SOURCE_DIR) + "/assets/gpt2_tokenizer";
const std::string kDir = std::string(GPTC_SOURCE_DIR) + "/tests/fixtures/gpt2_tokenizer";

const BpeTokenizer& gpt2() {
  static auto tok = BpeTokenizer::loadDir(kAssets);
  REQUIRE_MESSAGE(tok.ok(), tok.error());
  return *tok;
}

std::string roundTrip(const std::string& s) {
  auto ids = gpt2().encode(s);
  REQUIRE(ids.ok());
  auto back = gpt2().decode(*ids);
  REQUIRE(back.ok());
  return *back;
}
} // namespace

TEST_CASE("bpe: loads GPT-2's vocabulary") {
  CHECK(gpt2().vocabSize() == 50257);
  CHECK(gpt2().mergeCount() == 50000);
  CHECK(gpt2().eot() == 50256);
  CHECK(*gpt2().tokenBytes(50256) == "<|endoftext|>");
  CHECK(*gpt2().tokenBytes(995) == " world");
}

TEST_CASE("bpe: Hello world") {
  auto ids = gpt2().encode("Hello world");
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<int32_t>{15496, 995});
}

TEST_CASE("bpe: matches the reference encoder on mixed text") {
  auto ref = readFileText(kDir + "/reference.json");
  REQUIRE(ref.ok());
  auto j = nlohmann::json::parse(*ref);
  REQUIRE(j["cases"].size() >= 10);
  for (const auto& c : j["cases"]) {
    auto text = c["text"].get<std::string>();
    auto want = c["ids"].get<std::vector<int32_t>>();
    auto got = gpt2().encode(text);
    REQUIRE(got.ok());
    CAPTURE(text);
    CHECK(*got == want);
    CHECK(roundTrip(text) == text);
  }
}

TEST_CASE("bpe: matches the reference encoder on all of tinyshakespeare") {
  auto ref = nlohmann::json::parse(*readFileText(kDir + "/reference.json"))["whole_file"];
  auto text = readFileText(std::string(GPTC_SOURCE_DIR) + "/" + ref["file"].get<std::string>());
  REQUIRE_MESSAGE(text.ok(), text.error());
  auto ids = gpt2().encode(*text);
  REQUIRE(ids.ok());
  CHECK(ids->size() == ref["count"].get<size_t>());
  auto first = ref["first"].get<std::vector<int32_t>>();
  CHECK(std::vector<int32_t>(ids->begin(), ids->begin() + long(first.size())) == first);
  uint32_t h = 0x811c9dc5u; // FNV-1a over the ids' little-endian bytes, as make_reference.js
  for (int32_t id : *ids)
    for (int k = 0; k < 4; ++k)
      h = (h ^ ((uint32_t(id) >> (8 * k)) & 0xFF)) * 0x01000193u;
  CHECK(h == ref["fnv1a"].get<uint32_t>());
  CHECK(*gpt2().decode(*ids) == *text);
}

TEST_CASE("bpe: round trips arbitrary bytes, including invalid UTF-8") {
  CHECK(roundTrip("") == "");
  CHECK(roundTrip("café — naïve 日本\n\n  x") == "café — naïve 日本\n\n  x");
  std::string bad = "ok \xff\xfe bad \xc3 truncated \xe6\x97 end \x80";
  CHECK(roundTrip(bad) == bad);
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(char(b));
  CHECK(roundTrip(all) == all);
  auto junk = junkBytes(5000, 7);
  std::string js(junk.begin(), junk.end());
  CHECK(roundTrip(js) == js);
}

TEST_CASE("bpe: end-of-text token") {
  auto literal = gpt2().encode("a<|endoftext|>b");
  REQUIRE(literal.ok());
  CHECK(std::find(literal->begin(), literal->end(), 50256) == literal->end());
  auto special = gpt2().encode("a<|endoftext|>b", /*allowEndOfText=*/true);
  REQUIRE(special.ok());
  CHECK(*special == std::vector<int32_t>{64, 50256, 65});
  CHECK(*gpt2().decode(*special) == "a<|endoftext|>b");
}

TEST_CASE("bpe: decoding an invalid id is an error, not a crash") {
  std::vector<int32_t> ids{15496, 50257};
  auto r = gpt2().decode(ids);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error(), "50257"));
  CHECK(contains(r.error(), "position 1"));
  CHECK_FALSE(gpt2().decode(std::vector<int32_t>{-1}).ok());
  CHECK_FALSE(gpt2().tokenBytes(1 << 30).ok());
}

TEST_CASE("bpe: malformed vocabulary files") {
  TempDir t;
  auto enc = t.path("encoder.json"), bpe = t.path("vocab.bpe");
  auto goodVocab = kAssets + "/vocab.bpe", goodEnc = kAssets + "/encoder.json";
  auto expectError = [](const IoResult<BpeTokenizer>& r, const std::string& file,
                        const std::string& what) {
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), file));
    CHECK(contains(r.error(), what));
  };
  expectError(BpeTokenizer::load(t.path("missing.json"), goodVocab), "missing.json", "cannot open");
  writeRaw(enc, {});
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "not valid JSON");
  writeRaw(enc, junkBytes(300, 3));
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "not valid JSON");
  writeFileAtomic(enc, std::string_view("[1, 2, 3]"));
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "object");
  writeFileAtomic(enc, std::string_view(R"({"a": 0, "b": 0})"));
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "used twice");
  writeFileAtomic(enc, std::string_view(R"({"a": 0, "b": 5})"));
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "dense");
  writeFileAtomic(enc, std::string_view(R"({"a": "zero"})"));
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "not an integer");
  writeFileAtomic(enc, std::string_view(R"({"a b": 0})")); // space is not in the byte alphabet
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "byte alphabet");
  writeFileAtomic(enc, std::string_view(R"({"a": 0})"));
  expectError(BpeTokenizer::load(enc, goodVocab), enc, "single byte");

  // Merges: a tiny vocabulary of the 256 bytes plus "ab".
  nlohmann::json small = nlohmann::json::parse(*readFileText(goodEnc));
  nlohmann::json tiny = nlohmann::json::object();
  int next = 0;
  for (auto it = small.begin(); it != small.end(); ++it)
    if (it.value().get<int>() < 256) tiny[it.key()] = next++;
  tiny["ab"] = next++;
  writeFileAtomic(enc, std::string_view(tiny.dump()));
  writeFileAtomic(bpe, std::string_view("#version: 0.2\na b\n"));
  auto ok = BpeTokenizer::load(enc, bpe);
  REQUIRE_MESSAGE(ok.ok(), ok.error());
  CHECK(ok->encode("abc")->size() == 2);
  writeFileAtomic(bpe, std::string_view("#version: 0.2\na b\nab\n"));
  expectError(BpeTokenizer::load(enc, bpe), bpe + ":3", "two tokens");
  writeFileAtomic(bpe, std::string_view("#version: 0.2\na b\nb c\n"));
  expectError(BpeTokenizer::load(enc, bpe), bpe + ":3", "not in");
  writeFileAtomic(bpe, std::string_view("#version: 0.2\na b\na b\n"));
  expectError(BpeTokenizer::load(enc, bpe), bpe + ":3", "twice");
  expectError(BpeTokenizer::load(enc, t.path("nope.bpe")), "nope.bpe", "cannot open");
}
