// Tests of tests/reference/fixture.h: every committed PyTorch fixture loads and holds the tensors,
// shapes and --set constants it promises (so the interpreter, autodiff, JIT and trainer tests can
// rely on them), and malformed files are refused with a reason instead of crashing.
// Comparing gptc's numbers against the fixtures is left to those tests.
#include "tests/reference/fixture.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace {

using gptc::Fixture;
using gptc::FixtureTensor;
using Shape = std::vector<int64_t>;
using ParamShapes = std::vector<std::pair<std::string, Shape>>;

std::string fixtureStem(const std::string& model) {
  return std::string(GPTC_SOURCE_DIR) + "/tests/fixtures/reference/" + model;
}

Fixture load(const std::string& model) {
  std::string error;
  std::optional<Fixture> fx = gptc::loadFixture(fixtureStem(model), &error);
  INFO(error);
  REQUIRE(fx.has_value());
  return std::move(*fx);
}

int64_t constant(const Fixture& fx, const std::string& name) {
  auto it = fx.set.find(name);
  INFO("missing --set constant " << name);
  REQUIRE(it != fx.set.end());
  return std::stoll(it->second);
}

const FixtureTensor& tensor(const Fixture& fx, const std::string& name) {
  const FixtureTensor* t = fx.find(name);
  INFO("missing tensor " << name);
  REQUIRE(t != nullptr);
  return *t;
}

void checkTensor(const Fixture& fx, const std::string& name, int dtype, const Shape& shape) {
  const FixtureTensor& t = tensor(fx, name);
  INFO(name);
  CHECK(t.dtype == dtype);
  CHECK(t.shape == shape);
  const size_t numel = size_t(t.numel());
  if (dtype == FixtureTensor::kF32) {
    CHECK(t.f.size() == numel);
    CHECK(t.i.empty());
    size_t nonFinite = 0;
    for (float v : t.f)
      nonFinite += !std::isfinite(v);
    CHECK(nonFinite == 0);
  } else {
    CHECK(t.i.size() == numel);
    CHECK(t.f.empty());
  }
}

/// The checks every model shares: param/grad/adamw.param triples, outputs, optimizer traces, and
/// no tensor the list does not account for.
void checkCommon(const Fixture& fx, const ParamShapes& params,
                 const std::vector<std::pair<std::string, Shape>>& i32Inputs,
                 const Shape& logitsShape) {
  size_t expected = 0;
  for (const auto& [name, shape] : params) {
    checkTensor(fx, "param." + name, FixtureTensor::kF32, shape);
    checkTensor(fx, "grad." + name, FixtureTensor::kF32, shape);
    checkTensor(fx, "adamw.param." + name, FixtureTensor::kF32, shape);
    expected += 3;
  }
  for (const auto& [name, shape] : i32Inputs) {
    checkTensor(fx, "input." + name, FixtureTensor::kI32, shape);
    ++expected;
  }
  checkTensor(fx, "output.logits", FixtureTensor::kF32, logitsShape);
  checkTensor(fx, "output.loss", FixtureTensor::kF32, {});
  checkTensor(fx, "adamw.losses", FixtureTensor::kF32, {10});
  checkTensor(fx, "adamw.norms", FixtureTensor::kF32, {10});
  expected += 4;
  CHECK(fx.tensors.size() == expected);

  // The first AdamW step sees the same parameters and batch as the forward pass, and training
  // on one batch must lower the loss; norms are positive.
  const FixtureTensor& losses = tensor(fx, "adamw.losses");
  CHECK(losses.f[0] == tensor(fx, "output.loss").f[0]);
  CHECK(losses.f[9] < losses.f[0]);
  for (float n : tensor(fx, "adamw.norms").f)
    CHECK(n > 0.0f);
  // Zero-gradient slices (attention key biases) are ~0 in the float64 reference, and named
  // parameters exist.
  CHECK_FALSE(fx.zeroGradientSlices.empty());
  for (const gptc::FixtureSlice& z : fx.zeroGradientSlices) {
    INFO(z.param);
    const std::vector<bool> keep = fx.adamwComparable(z.param);
    REQUIRE(!keep.empty());
    const auto& g = tensor(fx, "grad." + z.param).f;
    size_t skipped = 0;
    float worst = 0.0f, largest = 0.0f;
    for (size_t k = 0; k < g.size(); ++k) {
      if (!keep[k])
        ++skipped, worst = std::max(worst, std::fabs(g[k]));
      else
        largest = std::max(largest, std::fabs(g[k]));
    }
    const int64_t rows =
        tensor(fx, "param." + z.param).numel() / tensor(fx, "param." + z.param).shape.back();
    CHECK(skipped == size_t(rows * (z.end - z.start)));
    CHECK(worst < 1e-12f);
    CHECK(largest > 1e-3f);
  }
  // The update moved every parameter that had a gradient.
  for (const auto& [name, shape] : params) {
    const auto& before = tensor(fx, "param." + name).f;
    const auto& after = tensor(fx, "adamw.param." + name).f;
    INFO(name);
    CHECK(before != after);
  }
}

void checkTokensInRange(const FixtureTensor& t, int64_t lo, int64_t hi) {
  INFO(t.name);
  size_t outside = 0;
  for (int32_t id : t.i)
    outside += id < lo || id >= hi;
  CHECK(outside == 0);
}

} // namespace

TEST_CASE("gpt2 fixture: llm.c layout, padded vocabulary, tied weights") {
  Fixture fx = load("gpt2");
  CHECK(fx.model == "models/gpt2.graph");
  const int64_t V = constant(fx, "V"), Vp = constant(fx, "Vp"), maxT = constant(fx, "maxT");
  const int64_t L = constant(fx, "L"), C = constant(fx, "C"), B = constant(fx, "B"),
                T = constant(fx, "T");
  CHECK(constant(fx, "NH") == 2);
  CHECK(V == 64);
  CHECK(Vp == 128);
  ParamShapes params = {{"wte", {Vp, C}},
                        {"wpe", {maxT, C}},
                        {"ln1w", {L, C}},
                        {"ln1b", {L, C}},
                        {"qkvw", {L, 3 * C, C}},
                        {"qkvb", {L, 3 * C}},
                        {"attprojw", {L, C, C}},
                        {"attprojb", {L, C}},
                        {"ln2w", {L, C}},
                        {"ln2b", {L, C}},
                        {"fcw", {L, 4 * C, C}},
                        {"fcb", {L, 4 * C}},
                        {"fcprojw", {L, C, 4 * C}},
                        {"fcprojb", {L, C}},
                        {"lnfw", {C}},
                        {"lnfb", {C}}};
  checkCommon(fx, params, {{"tokens", {B, T}}, {"targets", {B, T}}}, {B, T, Vp});
  checkTokensInRange(tensor(fx, "input.tokens"), 0, V);
  checkTokensInRange(tensor(fx, "input.targets"), 0, V);
  // Padded vocabulary rows V..Vp-1 are reached by neither the embedding nor the loss.
  const auto& g = tensor(fx, "grad.wte").f;
  size_t paddedNonZero = 0;
  for (int64_t k = V * C; k < Vp * C; ++k)
    paddedNonZero += g[size_t(k)] != 0.0f;
  CHECK(paddedNonZero == 0);
  bool anyNonZero = false;
  for (int64_t k = 0; k < V * C; ++k)
    anyNonZero |= g[size_t(k)] != 0.0f;
  CHECK(anyNonZero);
  // Non-trivial parameters: layernorm weights are not all ones, biases not all zeros.
  CHECK(tensor(fx, "param.ln1w").f[0] != 1.0f);
  CHECK(tensor(fx, "param.qkvb").f[0] != 0.0f);
}

TEST_CASE("chargpt fixture: drop = 0 and a seed input") {
  Fixture fx = load("chargpt");
  CHECK(fx.model == "models/chargpt.graph");
  const int64_t V = constant(fx, "V"), maxT = constant(fx, "maxT"), L = constant(fx, "L");
  const int64_t C = constant(fx, "C"), B = constant(fx, "B"), T = constant(fx, "T");
  CHECK(V == 65);
  CHECK(constant(fx, "drop") == 0);
  ParamShapes params = {
      {"wte", {V, C}},         {"wpe", {maxT, C}},   {"ln1w", {L, C}},       {"ln1b", {L, C}},
      {"qkvw", {L, 3 * C, C}}, {"qkvb", {L, 3 * C}}, {"projw", {L, C, C}},   {"projb", {L, C}},
      {"ln2w", {L, C}},        {"ln2b", {L, C}},     {"fcw", {L, 4 * C, C}}, {"fcb", {L, 4 * C}},
      {"fc2w", {L, C, 4 * C}}, {"fc2b", {L, C}},     {"lnfw", {C}},          {"lnfb", {C}}};
  checkCommon(fx, params, {{"tokens", {B, T}}, {"targets", {B, T}}, {"seed", {}}}, {B, T, V});
  CHECK(tensor(fx, "input.seed").i == std::vector<int32_t>{0});
  checkTokensInRange(tensor(fx, "input.tokens"), 0, V);
}

TEST_CASE("seq2seq fixture: padded batch with SOS/EOS framing") {
  Fixture fx = load("seq2seq");
  CHECK(fx.model == "models/seq2seq.graph");
  const int64_t V = constant(fx, "V"), PAD = constant(fx, "PAD"), D = constant(fx, "D");
  const int64_t F = constant(fx, "F"), LE = constant(fx, "LE"), LD = constant(fx, "LD");
  const int64_t B = constant(fx, "B"), S = constant(fx, "S"), T = constant(fx, "T");
  CHECK(constant(fx, "H") == 2);
  CHECK(constant(fx, "drop") == 0);
  ParamShapes enc = {{"e_qkvw", {LE, 3 * D, D}}, {"e_qkvb", {LE, 3 * D}}, {"e_ow", {LE, D, D}},
                     {"e_ob", {LE, D}},          {"e_ln1w", {LE, D}},     {"e_ln1b", {LE, D}},
                     {"e_f1w", {LE, F, D}},      {"e_f1b", {LE, F}},      {"e_f2w", {LE, D, F}},
                     {"e_f2b", {LE, D}},         {"e_ln2w", {LE, D}},     {"e_ln2b", {LE, D}}};
  ParamShapes dec = {
      {"d_qkvw", {LD, 3 * D, D}}, {"d_qkvb", {LD, 3 * D}}, {"d_ow", {LD, D, D}},
      {"d_ob", {LD, D}},          {"d_ln1w", {LD, D}},     {"d_ln1b", {LD, D}},
      {"d_cqw", {LD, D, D}},      {"d_cqb", {LD, D}},      {"d_ckvw", {LD, 2 * D, D}},
      {"d_ckvb", {LD, 2 * D}},    {"d_cow", {LD, D, D}},   {"d_cob", {LD, D}},
      {"d_ln2w", {LD, D}},        {"d_ln2b", {LD, D}},     {"d_f1w", {LD, F, D}},
      {"d_f1b", {LD, F}},         {"d_f2w", {LD, D, F}},   {"d_f2b", {LD, D}},
      {"d_ln3w", {LD, D}},        {"d_ln3b", {LD, D}}};
  ParamShapes params = {{"src_emb", {V, D}}, {"tgt_emb", {V, D}}};
  params.insert(params.end(), enc.begin(), enc.end());
  params.insert(params.end(), dec.begin(), dec.end());
  params.push_back({"out_w", {V, D}});
  params.push_back({"out_b", {V}});
  checkCommon(fx, params, {{"src", {B, S}}, {"tgt_in", {B, T}}, {"tgt_out", {B, T}}, {"seed", {}}},
              {B, T, V});

  // Each row: digits (3..12), EOS (2), then only PAD; tgt_in = SOS + tgt_out shifted right;
  // the batch mixes lengths so padding shows in both src and targets, one row has length 1.
  const auto& src = tensor(fx, "input.src").i;
  const auto& tin = tensor(fx, "input.tgt_in").i;
  const auto& tout = tensor(fx, "input.tgt_out").i;
  bool sawPaddedSrc = false, sawLengthOne = false;
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = 0;
    while (n < S && src[size_t(b * S + n)] >= 3)
      ++n;
    REQUIRE(n < S);
    CHECK(src[size_t(b * S + n)] == 2);
    for (int64_t s = n + 1; s < S; ++s)
      CHECK(src[size_t(b * S + s)] == PAD);
    sawPaddedSrc |= n + 1 < S;
    sawLengthOne |= n == 1;
    CHECK(tin[size_t(b * T)] == 1);
    for (int64_t t = 0; t + 1 < T; ++t)
      CHECK(tin[size_t(b * T + t + 1)] == tout[size_t(b * T + t)]);
    CHECK(tout[size_t(b * T + n)] == 2);
    for (int64_t t = 1; t < n; ++t)
      CHECK(tout[size_t(b * T + t - 1)] <= tout[size_t(b * T + t)]);
  }
  CHECK(sawPaddedSrc);
  CHECK(sawLengthOne);
  CHECK(tensor(fx, "input.seed").i == std::vector<int32_t>{0});
}

// ---- malformed files ------------------------------------------------------------------------

namespace {

struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gptc_fix_XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    dir = made;
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string stem() const { return (dir / "f").string(); }
};

void put(std::vector<unsigned char>& b, uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k)
    b.push_back((unsigned char)(v >> (8 * k)));
}

/// One tensor "x" of shape [dim] holding the f32 bits of 1.5 and -2.
std::vector<unsigned char> oneTensorFile(uint32_t dtype = 0, int64_t dim = 2) {
  std::vector<unsigned char> b = {'G', 'P', 'T', 'C', 'F', 'I', 'X', '1'};
  put(b, 1, 4);
  put(b, 1, 4);
  b.push_back('x');
  put(b, dtype, 4);
  put(b, 1, 4);
  put(b, uint64_t(dim), 8);
  put(b, 0x3FC00000u, 4); // 1.5f
  put(b, 0xC0000000u, 4); // -2.0f
  return b;
}

void write(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

const char* kGoodJson = R"({"model": "models/x.graph", "set": {"B": 2, "p": 0.5, "s": "abc"}})";

std::string refusal(const Scratch& s) {
  std::string error;
  std::optional<Fixture> fx = gptc::loadFixture(s.stem(), &error);
  CHECK_FALSE(fx.has_value());
  return error;
}

} // namespace

TEST_CASE("fixture reader: a hand-written file reads back exactly") {
  Scratch s;
  write(s.stem() + ".fix", oneTensorFile());
  writeText(s.stem() + ".json", kGoodJson);
  std::string error;
  std::optional<Fixture> fx = gptc::loadFixture(s.stem(), &error);
  INFO(error);
  REQUIRE(fx.has_value());
  CHECK(fx->model == "models/x.graph");
  CHECK(fx->set.at("B") == "2");
  CHECK(fx->set.at("p") == "0.5");
  CHECK(fx->set.at("s") == "abc");
  const FixtureTensor& x = fx->tensors.at("x");
  CHECK(x.shape == Shape{2});
  CHECK(x.f == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("fixture reader: malformed files are refused with a reason") {
  Scratch s;
  writeText(s.stem() + ".json", kGoodJson);

  SUBCASE("missing file") {
    CHECK(refusal(s).find("cannot open") != std::string::npos);
  }
  SUBCASE("bad magic") {
    auto b = oneTensorFile();
    b[7] = '2';
    write(s.stem() + ".fix", b);
    CHECK(refusal(s).find("bad magic") != std::string::npos);
  }
  SUBCASE("truncated data") {
    auto b = oneTensorFile();
    b.pop_back();
    write(s.stem() + ".fix", b);
    CHECK(refusal(s).find("past the end") != std::string::npos);
  }
  SUBCASE("trailing bytes") {
    auto b = oneTensorFile();
    b.push_back(0);
    write(s.stem() + ".fix", b);
    CHECK(refusal(s).find("trailing") != std::string::npos);
  }
  SUBCASE("unknown dtype") {
    write(s.stem() + ".fix", oneTensorFile(7));
    CHECK(refusal(s).find("unknown dtype") != std::string::npos);
  }
  SUBCASE("negative dim") {
    write(s.stem() + ".fix", oneTensorFile(0, -1));
    CHECK(refusal(s).find("negative dim") != std::string::npos);
  }
  SUBCASE("a dim so large the element count would overflow") {
    write(s.stem() + ".fix", oneTensorFile(0, int64_t(1) << 62));
    CHECK(refusal(s).find("past the end") != std::string::npos);
  }
  SUBCASE("tensor count larger than the file") {
    auto b = oneTensorFile();
    b[8] = 2;
    write(s.stem() + ".fix", b);
    CHECK(refusal(s).find("truncated") != std::string::npos);
  }
  SUBCASE("json without set") {
    write(s.stem() + ".fix", oneTensorFile());
    writeText(s.stem() + ".json", R"({"model": "m"})");
    CHECK(refusal(s).find("\"set\"") != std::string::npos);
  }
  SUBCASE("json that does not parse") {
    write(s.stem() + ".fix", oneTensorFile());
    writeText(s.stem() + ".json", "{\"model\": ");
    CHECK(refusal(s).find("not a JSON object") != std::string::npos);
  }
}
