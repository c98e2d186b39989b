// Word tokenizer (runtime/text/word_tokenizer.h): the attention log's 13 words, round trips,
// errors, and the vocabulary file.
#include "runtime/text/word_tokenizer.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>

using namespace gptc;
using namespace gptc::testing;

TEST_CASE("words: data/attention_log.txt has 13 words, sorted") {
  auto text = readFileText(std::string(GPTC_SOURCE_DIR) + "/data/attention_log.txt");
  REQUIRE_MESSAGE(text.ok(), text.error());
  auto tok = WordTokenizer::fromText(*text);
  CHECK(tok.vocabSize() == 13);
  CHECK(tok.words().front() == ".");
  CHECK(tok.idOf("the") == 11);
  CHECK(tok.idOf("zebra") == -1);
  auto ids = tok.encode("the cat sat on the mat .\na dog ran to the park .");
  REQUIRE(ids.ok());
  CHECK(ids->size() == 14);
  CHECK(*tok.decode(*ids) == "the cat sat on the mat . a dog ran to the park .");
}

TEST_CASE("words: errors name the word or the id") {
  auto tok = WordTokenizer::fromText("b a  c\n\ta");
  CHECK(tok.vocabSize() == 3);
  auto bad = tok.encode("a b zebra");
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error(), "word 2 ('zebra')"));
  auto badId = tok.decode(std::vector<int32_t>{0, 3});
  REQUIRE_FALSE(badId.ok());
  CHECK(contains(badId.error(), "token 1 (id 3)"));
}

TEST_CASE("words: the vocabulary file round-trips and is validated") {
  TempDir d;
  auto tok = WordTokenizer::fromText("the cat sat on the mat .");
  REQUIRE(tok.save(d.path("vocab.words")).ok());
  auto back = WordTokenizer::load(d.path("vocab.words"));
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->words() == tok.words());
  writeRaw(d.path("unsorted"), {'b', '\n', 'a', '\n'});
  auto unsorted = WordTokenizer::load(d.path("unsorted"));
  REQUIRE_FALSE(unsorted.ok());
  CHECK(contains(unsorted.error(), "line 2"));
  writeRaw(d.path("spaced"), {'a', ' ', 'b', '\n'});
  CHECK_FALSE(WordTokenizer::load(d.path("spaced")).ok());
  writeRaw(d.path("empty"), {});
  CHECK_FALSE(WordTokenizer::load(d.path("empty")).ok());
}
