// runtime/train/batch_source.cpp — language-model windows and digit-sorting batches (see
// batch_source.h).
#include "runtime/train/batch_source.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gptc {

namespace {

uint64_t mix64(uint64_t z) { // SplitMix64's finaliser
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The type of input `name`, or nullptr when `g` has no such input.
const TensorType* inputType(const Graph& g, const char* name) {
  int v = g.find(name);
  if (v < 0 || g.values[v].kind != ValueKind::Input) return nullptr;
  return &g.type(v);
}

std::string checkInput(const Graph& g, const char* name, const TensorType& want) {
  const TensorType* t = inputType(g, name);
  if (!t) return fmt::format("the graph has no input `{}`", name);
  if (!(*t == want))
    return fmt::format("the graph's input `{}` is not i32[{}]", name, fmt::join(want.shape, ", "));
  return "";
}

class LmSource final : public BatchSource {
public:
  explicit LmSource(RandomBatchSampler s, int B, int T) : s_(std::move(s)), B_(B), T_(T) {}
  std::string check(const Graph& g) const override {
    TensorType want{DType::i32, {B_, T_}};
    if (std::string e = checkInput(g, "tokens", want); !e.empty()) return e;
    return checkInput(g, "targets", want);
  }
  NamedInputs batch(uint64_t index) const override {
    Batch b = s_.sample(index);
    Tensor x(TensorType{DType::i32, {B_, T_}}), y(TensorType{DType::i32, {B_, T_}}); // (B,T)
    x.i = std::move(b.inputs);
    y.i = std::move(b.targets);
    NamedInputs out;
    out.emplace_back("tokens", std::move(x));
    out.emplace_back("targets", std::move(y));
    return out;
  }
  int64_t tokensPerBatch() const override { return int64_t(B_) * T_; }

private:
  RandomBatchSampler s_;
  int64_t B_, T_;
};

class SortSource final : public BatchSource {
public:
  SortSource(uint64_t seed, int B, int S, int T) : seed_(seed), B_(B), S_(S), T_(T) {}
  std::string check(const Graph& g) const override {
    if (std::string e = checkInput(g, "src", TensorType{DType::i32, {B_, S_}}); !e.empty())
      return e;
    if (std::string e = checkInput(g, "tgt_in", TensorType{DType::i32, {B_, T_}}); !e.empty())
      return e;
    return checkInput(g, "tgt_out", TensorType{DType::i32, {B_, T_}});
  }
  NamedInputs batch(uint64_t index) const override {
    Tensor src(TensorType{DType::i32, {B_, S_}});    // (B,S), zero = PAD
    Tensor tgtIn(TensorType{DType::i32, {B_, T_}});  // (B,T)
    Tensor tgtOut(TensorType{DType::i32, {B_, T_}}); // (B,T)
    const int maxLen = int(std::min(S_ - 1, T_ - 2));
    for (int b = 0; b < B_; ++b) {
      std::vector<int32_t> d = sortExample(seed_, index, b, maxLen).digits;
      const int n = int(d.size());
      int32_t* s = &src.i[size_t(b) * S_];
      int32_t* ti = &tgtIn.i[size_t(b) * T_];
      int32_t* to = &tgtOut.i[size_t(b) * T_];
      for (int k = 0; k < n; ++k)
        s[k] = kSortDigit0 + d[k];
      s[n] = kSortEos;
      std::sort(d.begin(), d.end());
      ti[0] = kSortBos;
      for (int k = 0; k < n; ++k)
        ti[k + 1] = to[k] = kSortDigit0 + d[k];
      ti[n + 1] = to[n] = kSortEos;
    }
    NamedInputs out;
    out.emplace_back("src", std::move(src));
    out.emplace_back("tgt_in", std::move(tgtIn));
    out.emplace_back("tgt_out", std::move(tgtOut));
    return out;
  }
  int64_t tokensPerBatch() const override { return B_ * T_; }

private:
  uint64_t seed_;
  int64_t B_, S_, T_;
};

} // namespace

std::unique_ptr<BatchSource> makeLmSource(std::vector<uint16_t> tokens, int B, int T, uint64_t seed,
                                          std::string* err) {
  IoResult<RandomBatchSampler> s = RandomBatchSampler::create(std::move(tokens), B, T, seed);
  if (!s) return *err = s.error(), nullptr;
  return std::make_unique<LmSource>(std::move(*s), B, T);
}

std::unique_ptr<BatchSource> makeLmSourceFor(const Graph& g, std::vector<uint16_t> tokens,
                                             uint64_t seed, std::string* err) {
  const TensorType* t = inputType(g, "tokens");
  const TensorType* y = inputType(g, "targets");
  if (!t || !y) return *err = "the graph needs inputs `tokens` and `targets`", nullptr;
  if (t->dtype != DType::i32 || t->rank() != 2 || !(*y == *t))
    return *err = "the graph's tokens and targets must both be i32[B, T]", nullptr;
  return makeLmSource(std::move(tokens), int(t->shape[0]), int(t->shape[1]), seed, err);
}

bool isSortModel(const Graph& g) {
  return inputType(g, "src") && inputType(g, "tgt_in") && inputType(g, "tgt_out");
}

std::unique_ptr<BatchSource> makeSortSourceFor(const Graph& g, uint64_t seed, std::string* err) {
  const TensorType* src = inputType(g, "src");
  const TensorType* tin = inputType(g, "tgt_in");
  if (!src || !tin || !inputType(g, "tgt_out"))
    return *err = "the graph needs inputs `src`, `tgt_in` and `tgt_out`", nullptr;
  if (src->dtype != DType::i32 || src->rank() != 2 || tin->dtype != DType::i32 ||
      tin->rank() != 2 || src->shape[0] != tin->shape[0])
    return *err = "the graph's src must be i32[B, S] and tgt_in, tgt_out i32[B, T]", nullptr;
  const int64_t B = src->shape[0], S = src->shape[1], T = tin->shape[1];
  if (S < 2 || T < 3)
    return *err = fmt::format("the sorting task needs S >= 2 and T >= 3 (got S={} T={})", S, T),
           nullptr;
  auto s = std::make_unique<SortSource>(seed, int(B), int(S), int(T));
  if (std::string e = s->check(g); !e.empty()) return *err = e, nullptr;
  return s;
}

SortExample sortExample(uint64_t seed, uint64_t index, int row, int maxLen) {
  // One independent stream per (seed, index, row): state = mix(seed ^ mix(index) ^ mix(row)).
  uint64_t state = mix64(seed ^ mix64(index * 0x100000001b3ULL + uint64_t(row) * 0x9e37ULL + 1));
  auto next = [&] { return state = mix64(state); };
  SortExample ex;
  const int n = 1 + int(next() % uint64_t(maxLen));
  ex.digits.resize(size_t(n));
  for (int32_t& d : ex.digits)
    d = int32_t(next() % 10);
  return ex;
}

void SortAccuracy::add(const Tensor& logits, const Tensor& tgtOut) {
  const int64_t B = tgtOut.type.shape[0], T = tgtOut.type.shape[1]; // (B,T)
  const int64_t V = logits.type.shape.back();                       // logits (B,T,V)
  for (int64_t b = 0; b < B; ++b) {
    bool all = true;
    for (int64_t t = 0; t < T; ++t) {
      int32_t want = tgtOut.i[size_t(b * T + t)];
      if (want == kSortPad) continue;
      const float* row = &logits.f[size_t((b * T + t) * V)];
      int32_t best = int32_t(std::max_element(row, row + V) - row);
      ++tokenCount;
      if (best == want)
        ++tokenHits;
      else
        all = false;
    }
    ++sequenceCount;
    sequenceHits += all;
  }
}

} // namespace gptc
