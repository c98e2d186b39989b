// safetensors: reading (F32/F16/BF16), writing, malformed headers and ranges, and the Hugging Face
// GPT-2 -> llm.c mapping on a tiny 2-layer C=8 model written by the test.
#include "runtime/formats/safetensors.h"
#include "tests/runtime_io/io_test_util.h"

#include <cmath>
#include <doctest/doctest.h>

using namespace gptc;
using namespace gptc::testing;

namespace {
/// A safetensors file from a header text and raw data bytes.
std::vector<uint8_t> stFile(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b;
  appendU64(b, header.size());
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

float valueOf(const std::string& name, size_t i) {
  return float(crc32(name.data(), name.size()) % 1000) + float(i) * 0.001f;
}

NamedTensor filled(const std::string& name, std::vector<int64_t> shape) {
  NamedTensor t{name, shape, std::vector<float>(size_t(checkedNumel(shape)))};
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = valueOf(name, i);
  return t;
}

/// Hugging Face GPT-2 tensors for L layers, C channels, V tokens, maxT positions.
std::vector<NamedTensor> hfGpt2(int64_t L, int64_t C, int64_t V, int64_t maxT) {
  std::vector<NamedTensor> ts{filled("wte.weight", {V, C}), filled("wpe.weight", {maxT, C})};
  for (int64_t l = 0; l < L; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    ts.push_back(filled(h + "ln_1.weight", {C}));
    ts.push_back(filled(h + "ln_1.bias", {C}));
    ts.push_back(filled(h + "attn.bias", {1, 1, maxT, maxT})); // causal-mask buffer: ignored
    ts.push_back(filled(h + "attn.c_attn.weight", {C, 3 * C}));
    ts.push_back(filled(h + "attn.c_attn.bias", {3 * C}));
    ts.push_back(filled(h + "attn.c_proj.weight", {C, C}));
    ts.push_back(filled(h + "attn.c_proj.bias", {C}));
    ts.push_back(filled(h + "ln_2.weight", {C}));
    ts.push_back(filled(h + "ln_2.bias", {C}));
    ts.push_back(filled(h + "mlp.c_fc.weight", {C, 4 * C}));
    ts.push_back(filled(h + "mlp.c_fc.bias", {4 * C}));
    ts.push_back(filled(h + "mlp.c_proj.weight", {4 * C, C}));
    ts.push_back(filled(h + "mlp.c_proj.bias", {C}));
  }
  ts.push_back(filled("ln_f.weight", {C}));
  ts.push_back(filled("ln_f.bias", {C}));
  return ts;
}
} // namespace

TEST_CASE("safetensors: F32 round trip and header layout") {
  TempDir t;
  auto p = t.path("x.safetensors");
  std::vector<NamedTensor> ts{filled("b", {2, 3}), filled("a", {4}), filled("empty", {0})};
  REQUIRE(writeSafetensors(p, ts, {{"format", "pt"}}).ok());
  auto raw = readRaw(p);
  uint64_t n = loadU64(raw.data());
  CHECK(n % 8 == 0);
  CHECK(raw.size() == 8 + n + 40);
  auto idx = readSafetensorsIndex(p);
  REQUIRE_MESSAGE(idx.ok(), idx.error());
  CHECK(idx->metadata.at("format") == "pt");
  REQUIRE(idx->entries.size() == 3);
  CHECK(idx->entries[0].name == "b"); // file order, not name order
  auto back = readSafetensors(p);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 3);
  CHECK((*back)[0].data == ts[0].data);
  CHECK((*back)[1].shape == std::vector<int64_t>{4});
  CHECK((*back)[1].data == ts[1].data);
  auto onlyA = readSafetensors(p, [](const std::string& s) { return s == "a"; });
  REQUIRE(onlyA->size() == 1);
  CHECK(onlyA->front().name == "a");
  CHECK_FALSE(writeSafetensors(t.path("dup"), {filled("a", {1}), filled("a", {1})}).ok());
  CHECK_FALSE(writeSafetensors(t.path("bad"), {NamedTensor{"a", {2}, {1.0f}}}).ok());
  auto badName = writeSafetensors(t.path("bad"), {NamedTensor{"\xff\xfe", {1}, {1.0f}}});
  REQUIRE_FALSE(badName.ok()); // JSON needs UTF-8 names; the JSON library's exception is caught
  CHECK(contains(badName.error(), t.path("bad")));
}

TEST_CASE("safetensors: F16 and BF16 convert to f32") {
  TempDir t;
  auto p = t.path("h.safetensors");
  std::string header = R"({"a":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},)"
                       R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]}})";
  std::vector<uint8_t> data;
  for (uint16_t h : {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00}) { // 1, -2, 65504, 2^-24, inf
    data.push_back(uint8_t(h));
    data.push_back(uint8_t(h >> 8));
  }
  for (uint16_t b : {0x3F80, 0xC060}) { // 1, -3.5
    data.push_back(uint8_t(b));
    data.push_back(uint8_t(b >> 8));
  }
  writeRaw(p, stFile(header, data));
  auto r = readSafetensors(p);
  REQUIRE_MESSAGE(r.ok(), r.error());
  CHECK((*r)[0].data[0] == 1.0f);
  CHECK((*r)[0].data[1] == -2.0f);
  CHECK((*r)[0].data[2] == 65504.0f);
  CHECK((*r)[0].data[3] == std::ldexp(1.0f, -24));
  CHECK(std::isinf((*r)[0].data[4]));
  CHECK((*r)[1].data == std::vector<float>{1.0f, -3.5f});
  // Every half, against the compiler's own conversion.
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 x;
    std::memcpy(&x, &h, 2);
    float want = float(x), got = halfToFloat(uint16_t(h));
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else if (std::memcmp(&want, &got, 4) != 0) {
      CHECK(got == want); // reports the first mismatch
      break;
    }
  }
}

TEST_CASE("safetensors: malformed files") {
  TempDir t;
  auto bad = t.path("bad.safetensors");
  auto expectError = [&](const std::vector<uint8_t>& b, const std::string& what) {
    writeRaw(bad, b);
    auto r = readSafetensors(bad);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), bad + ": "));
    CHECK(contains(r.error(), what));
  };
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                  uint64_t b, uint64_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(e) + "]}";
  };
  std::vector<uint8_t> d16(16, 0);
  expectError({}, "empty file");
  expectError({1, 2, 3}, "too short");
  std::vector<uint8_t> huge;
  appendU64(huge, uint64_t(1) << 40);
  expectError(huge, "100 MiB");
  std::vector<uint8_t> longer;
  appendU64(longer, 50);
  longer.push_back('{');
  expectError(longer, "truncated");
  expectError(stFile("{not json", {}), "not valid JSON");
  expectError(stFile("[1,2]", {}), "not a JSON object");
  expectError(stFile("{\"a\": 5}", {}), "not a JSON object");
  expectError(stFile(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", d16), "dtype");
  expectError(stFile("{" + entry("a", "Q7", "[4]", 0, 16) + "}", d16), "unknown dtype \"Q7\"");
  expectError(stFile("{" + entry("a", "F32", "[-4]", 0, 16) + "}", d16), "non-natural");
  expectError(stFile("{" + entry("a", "F32", "[4]", 16, 0) + "}", d16), "end before");
  expectError(stFile("{" + entry("a", "F32", "[3]", 0, 16) + "}", d16), "needs 12");
  expectError(
      stFile("{" + entry("a", "F32", "[4]", 0, 16) + "," + entry("b", "F32", "[2]", 8, 16) + "}",
             d16),
      "overlaps");
  expectError(stFile("{" + entry("a", "F32", "[2]", 8, 16) + "}", d16), "belong to no tensor");
  expectError(stFile("{" + entry("a", "F32", "[2]", 0, 8) + "}", d16), "8 trailing bytes");
  expectError(stFile("{" + entry("a", "F32", "[8]", 0, 32) + "}", d16), "truncated");
  expectError(stFile("{" + entry("a", "I32", "[4]", 0, 16) + "}", d16), "dtype I32 cannot be read");
  expectError(stFile(R"({"__metadata__": {"k": 1}})", {}), "__metadata__");
  expectError(stFile("{" + entry("a", "F32", "[4]", 0, 16) + "}", junkBytes(40, 2)), "trailing");
  expectError(junkBytes(64, 8), "");
  // A file with an I64 tensor is readable when that tensor is filtered out.
  writeRaw(bad, stFile("{" + entry("ids", "I64", "[1]", 0, 8) + "," +
                           entry("w", "F32", "[2]", 8, 16) + "}",
                       d16));
  auto filtered = readSafetensors(bad, [](const std::string& s) { return s == "w"; });
  REQUIRE_MESSAGE(filtered.ok(), filtered.error());
  CHECK(filtered->size() == 1);
  // An empty safetensors file (header "{}", no data) is valid.
  writeRaw(bad, stFile("{}", {}));
  CHECK(readSafetensors(bad)->empty());
}

TEST_CASE("safetensors: Hugging Face GPT-2 maps onto llm.c's layout") {
  TempDir t;
  const int64_t L = 2, C = 8, V = 10, maxT = 8;
  auto hf = hfGpt2(L, C, V, maxT);
  for (auto& x : hf)
    x.name = "transformer." + x.name; // some exports carry the prefix
  hf.push_back(filled("lm_head.weight", {V, C}));
  auto p = t.path("model.safetensors");
  REQUIRE(writeSafetensors(p, hf).ok());
  auto w = loadHuggingFaceGpt2(p, /*numHeads=*/2);
  REQUIRE_MESSAGE(w.ok(), w.error());
  CHECK(w->config == Gpt2Config{int32_t(maxT), int32_t(V), int32_t(L), 2, int32_t(C), 128});
  REQUIRE(checkGpt2Weights("mapped", *w).ok());
  const auto& wte = w->find("wte")->data;
  CHECK(wte[0] == valueOf("wte.weight", 0));
  CHECK(wte[size_t(V * C - 1)] == valueOf("wte.weight", size_t(V * C - 1)));
  for (size_t i = size_t(V * C); i < wte.size(); ++i)
    REQUIRE(wte[i] == 0.0f); // padding rows
  // qkvw[l][o][i] = c_attn.weight(layer l)[i][o]
  const auto& qkvw = w->find("qkvw")->data;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t o = 0; o < 3 * C; ++o)
      for (int64_t i = 0; i < C; ++i)
        REQUIRE(qkvw[size_t((l * 3 * C + o) * C + i)] ==
                valueOf("h." + std::to_string(l) + ".attn.c_attn.weight", size_t(i * 3 * C + o)));
  // fcprojw[l][o][i] = mlp.c_proj.weight(layer l)[i][o], HF [4C, C] -> llm.c [C, 4C]
  const auto& fcprojw = w->find("fcprojw")->data;
  CHECK(fcprojw[size_t((1 * C + 2) * 4 * C + 5)] ==
        valueOf("h.1.mlp.c_proj.weight", size_t(5 * C + 2)));
  // Biases and norms stack over layers.
  CHECK(w->find("qkvb")->data[size_t(3 * C + 4)] == valueOf("h.1.attn.c_attn.bias", 4));
  CHECK(w->find("ln2w")->data[size_t(C + 7)] == valueOf("h.1.ln_2.weight", 7));
  CHECK(w->find("lnfb")->data[3] == valueOf("ln_f.bias", 3));
  // And the result is a valid llm.c checkpoint.
  REQUIRE(writeLlmcCheckpoint(t.path("model.bin"), *w).ok());
  auto back = readLlmcCheckpoint(t.path("model.bin"), w->config);
  REQUIRE(back.ok());
  CHECK(back->find("qkvw")->data == qkvw);
  CHECK(gpt2FromHuggingFace(hfGpt2(L, C, V, maxT), 2, 64)->config.Vp == 64);
}

TEST_CASE("safetensors: GPT-2 mapping errors") {
  auto expectError = [](std::vector<NamedTensor> ts, int nh, const std::string& what) {
    auto r = gpt2FromHuggingFace(ts, nh, 0, "m.safetensors");
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), "m.safetensors: "));
    CHECK(contains(r.error(), what));
  };
  auto base = hfGpt2(2, 8, 10, 8);
  expectError(base, 3, "not divisible by NH");
  auto missing = base;
  missing.erase(missing.begin() + 5);
  expectError(missing, 2, "missing tensor 'h.0.attn.c_attn.weight'");
  auto shape = base;
  for (auto& x : shape)
    if (x.name == "h.1.mlp.c_fc.weight") x = filled(x.name, {32, 8});
  expectError(shape, 2, "'h.1.mlp.c_fc.weight' has shape [32, 8], expected [8, 32]");
  auto extra = base;
  extra.push_back(filled("h.0.attn.extra", {8}));
  expectError(extra, 2, "unexpected tensor 'h.0.attn.extra'");
  auto stray = base;
  stray.push_back(filled("h.999.ln_1.weight", {8})); // L=1000 claimed: refused before allocating
  expectError(stray, 2, "missing tensor 'h.2.");
  auto odd = base;
  odd.push_back(filled("h.x.ln_1.weight", {8}));
  expectError(odd, 2, "unexpected tensor 'h.x.ln_1.weight'");
  auto noWte = base;
  noWte.erase(noWte.begin());
  expectError(noWte, 2, "missing tensor 'wte.weight'");
  auto dup = base;
  dup.push_back(dup[0]);
  dup.back().name = "transformer.wte.weight";
  expectError(dup, 2, "appears twice");
}
