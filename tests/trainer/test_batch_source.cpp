// tests/trainer/test_batch_source.cpp — the batch sources the trainer draws from: the digit-sorting
// task's layout (src = digits, EOS, PAD; tgt_in = BOS, sorted, EOS; tgt_out = tgt_in shifted left),
// its length and digit distribution, purity in the batch index, and the language-model windows.
#include "runtime/exec/step_engine.h"
#include "runtime/train/batch_source.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fmt/format.h>

namespace gptc {
namespace {

Graph seq2seqGraph(int64_t B) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/seq2seq.graph";
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  Expected<Graph> g = buildGraph(
      std::move(*program), {{"B", fmt::format("{}", B)}, {"D", "16"}, {"F", "32"}}, "inference");
  REQUIRE_MESSAGE(bool(g), (g ? std::string() : g.error().render()));
  return std::move(*g);
}

const Tensor& input(const NamedInputs& in, const std::string& name) {
  auto it = std::find_if(in.begin(), in.end(), [&](auto& p) { return p.first == name; });
  REQUIRE(it != in.end());
  return it->second;
}

TEST_CASE("sorting batches: layout, lengths 1-10, digits 0-9, pure in the index") {
  Graph g = seq2seqGraph(256);
  REQUIRE(isSortModel(g));
  std::string err;
  auto src = makeSortSourceFor(g, 42, &err);
  REQUIRE_MESSAGE(src, err);
  CHECK(src->check(g).empty());
  CHECK(src->tokensPerBatch() == 256 * 12);
  std::vector<int> lengthCount(11, 0), digitCount(10, 0);
  for (uint64_t k = 0; k < 4; ++k) {
    NamedInputs in = src->batch(k);
    const Tensor &s = input(in, "src"), &ti = input(in, "tgt_in"), &to = input(in, "tgt_out");
    REQUIRE(s.type.shape == std::vector<int64_t>{256, 12});
    REQUIRE(ti.type.shape == std::vector<int64_t>{256, 12});
    for (int b = 0; b < 256; ++b) {
      const int32_t* sr = &s.i[size_t(b) * 12];
      const int32_t *tir = &ti.i[size_t(b) * 12], *tor = &to.i[size_t(b) * 12];
      int n = int(std::find(sr, sr + 12, kSortEos) - sr);
      REQUIRE((n >= 1 && n <= 10));
      ++lengthCount[n];
      std::vector<int32_t> digits(sr, sr + n);
      for (int32_t d : digits) {
        REQUIRE((d >= kSortDigit0 && d < kSortDigit0 + 10));
        ++digitCount[d - kSortDigit0];
      }
      for (int t = n + 1; t < 12; ++t)
        CHECK(sr[t] == kSortPad);
      std::sort(digits.begin(), digits.end());
      CHECK(tir[0] == kSortBos);
      for (int t = 0; t < n; ++t) {
        CHECK(tir[t + 1] == digits[size_t(t)]);
        CHECK(tor[t] == digits[size_t(t)]);
      }
      CHECK(tir[n + 1] == kSortEos);
      CHECK(tor[n] == kSortEos);
      for (int t = n + 2; t < 12; ++t)
        CHECK(tir[t] == kSortPad);
      for (int t = n + 1; t < 12; ++t)
        CHECK(tor[t] == kSortPad);
    }
  }
  // 1024 rows: every length and every digit appears, none dominates (uniform: ~102 and ~563).
  for (int n = 1; n <= 10; ++n)
    CHECK((lengthCount[size_t(n)] > 50 && lengthCount[size_t(n)] < 170));
  for (int d = 0; d < 10; ++d)
    CHECK((digitCount[size_t(d)] > 400 && digitCount[size_t(d)] < 740));

  // Pure: batch 3 is the same drawn alone, from a fresh source; another seed differs.
  auto again = makeSortSourceFor(g, 42, &err);
  CHECK(input(again->batch(3), "src").i == input(src->batch(3), "src").i);
  CHECK(input(src->batch(3), "src").i != input(src->batch(2), "src").i);
  auto other = makeSortSourceFor(g, 43, &err);
  CHECK(input(other->batch(3), "src").i != input(src->batch(3), "src").i);
}

TEST_CASE("sorting accuracy counts non-PAD positions, teacher-forced") {
  Tensor tgt(TensorType{DType::i32, {2, 3}});        // (B,T)
  tgt.i = {5, 2, 0, 7, 8, 2};                        // row 0: two real positions, one PAD
  Tensor logits(TensorType{DType::f32, {2, 3, 13}}); // (B,T,V)
  auto hot = [&](int b, int t, int id) { logits.f[size_t((b * 3 + t) * 13 + id)] = 1.f; };
  hot(0, 0, 5), hot(0, 1, 2), hot(0, 2, 9); // row 0 right (the PAD position is ignored)
  hot(1, 0, 7), hot(1, 1, 3), hot(1, 2, 2); // row 1: one miss
  SortAccuracy a;
  a.add(logits, tgt);
  CHECK(a.tokenCount == 5);
  CHECK(a.tokenHits == 4);
  CHECK(a.sequenceHits == 1);
  CHECK(a.sequences() == doctest::Approx(0.5));
}

TEST_CASE("batch sources refuse graphs without their inputs") {
  Graph g = seq2seqGraph(4);
  std::string err;
  CHECK(makeLmSourceFor(g, std::vector<uint16_t>(100, 1), 1, &err) == nullptr);
  CHECK(err.find("tokens") != std::string::npos);
  auto lm = makeLmSource(std::vector<uint16_t>(100, 1), 2, 8, 1, &err);
  REQUIRE(lm);
  CHECK(lm->check(g).find("tokens") != std::string::npos);
  CHECK(makeLmSource(std::vector<uint16_t>(5, 1), 2, 8, 1, &err) == nullptr); // < T+1 tokens
}

} // namespace
} // namespace gptc
