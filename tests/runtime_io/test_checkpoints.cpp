// llm.c GPT-2 checkpoints and gptc named-tensor checkpoints: round trips, header-only reads,
// config checks, and every kind of malformed file.
#include "runtime/formats/llmc_checkpoint.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>

using namespace gptc;
using namespace gptc::testing;

namespace {
Gpt2Config tinyConfig() {
  return Gpt2Config{/*maxT=*/8, /*V=*/10, /*L=*/2, /*NH=*/2, /*C=*/8, /*Vp=*/16};
}

Gpt2Weights tinyWeights() {
  auto w = zeroGpt2Weights(tinyConfig());
  float v = 0.0f;
  for (auto& t : w.tensors)
    for (auto& x : t.data)
      x = (v += 0.25f);
  return w;
}

std::vector<uint8_t> llmcHeader(std::vector<int32_t> ints) {
  std::vector<uint8_t> b;
  for (int32_t v : ints)
    appendI32(b, v);
  b.resize(1024, 0);
  return b;
}
} // namespace

TEST_CASE("llmc: tensor specs follow llm.c's order and shapes") {
  auto specs = llmcTensorSpecs(Gpt2Config{1024, 50257, 12, 12, 768, 50304});
  REQUIRE(specs.size() == 16);
  CHECK(specs[0].name == "wte");
  CHECK(specs[0].shape == std::vector<int64_t>{50304, 768});
  CHECK(specs[4].name == "qkvw");
  CHECK(specs[4].shape == std::vector<int64_t>{12, 2304, 768});
  CHECK(specs[12].name == "fcprojw");
  CHECK(specs[12].shape == std::vector<int64_t>{12, 768, 3072});
  CHECK(specs[15].name == "lnfb");
  int64_t total = 0;
  for (auto& s : specs)
    total += checkedNumel(s.shape);
  CHECK(total == 124475904); // llm.c prints "num_parameters: 124475904" for gpt2_124M.bin
}

TEST_CASE("llmc: round trip, header-only read, config check") {
  TempDir t;
  auto p = t.path("model.bin");
  auto w = tinyWeights();
  REQUIRE(writeLlmcCheckpoint(p, w).ok());
  auto raw = readRaw(p);
  int64_t params = 0;
  for (auto& x : w.tensors)
    params += int64_t(x.data.size());
  CHECK(raw.size() == size_t(1024 + 4 * params));
  CHECK(loadI32(raw.data()) == 20240326);
  CHECK(loadI32(raw.data() + 4) == 3);
  CHECK(loadI32(raw.data() + 28) == 16); // Vp
  auto h = readLlmcHeader(p);
  REQUIRE(h.ok());
  CHECK(*h == tinyConfig());
  auto back = readLlmcCheckpoint(p, tinyConfig());
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->tensors.size() == 16);
  for (size_t i = 0; i < 16; ++i) {
    CHECK(back->tensors[i].name == w.tensors[i].name);
    CHECK(back->tensors[i].shape == w.tensors[i].shape);
    CHECK(back->tensors[i].data == w.tensors[i].data);
  }
  CHECK(back->find("lnfb")->data.back() == w.find("lnfb")->data.back());
  CHECK(back->find("nope") == nullptr);

  auto model = tinyConfig();
  model.L = 12;
  auto mismatch = readLlmcCheckpoint(p, model);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error() == p + ": L is 2 in the file but 12 in the model");
  Gpt2Config file124{1024, 50257, 12, 12, 768, 50304}, model2 = file124;
  model2.L = 2;
  CHECK(checkConfigMatches("gpt2_124M.bin", file124, model2).error() ==
        "gpt2_124M.bin: L is 12 in the file but 2 in the model");
  CHECK(checkConfigMatches("x", file124, file124).ok());

  // The writer refuses weights that do not match their config.
  auto bad = tinyWeights();
  bad.find("qkvw")->data.pop_back();
  CHECK_FALSE(writeLlmcCheckpoint(t.path("bad.bin"), bad).ok());
  bad = tinyWeights();
  bad.find("fcw")->shape = {2, 8, 32};
  auto st = writeLlmcCheckpoint(t.path("bad.bin"), bad);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.error(), "'fcw' has shape [2, 8, 32], expected [2, 32, 8]"));
  CHECK_FALSE(std::filesystem::exists(t.path("bad.bin")));
}

TEST_CASE("llmc: malformed checkpoints") {
  TempDir t;
  auto good = t.path("good.bin");
  REQUIRE(writeLlmcCheckpoint(good, tinyWeights()).ok());
  const auto bytes = readRaw(good);
  auto bad = t.path("bad.bin");
  auto expectError = [&](const std::vector<uint8_t>& b, const std::string& what) {
    writeRaw(bad, b);
    auto r = readLlmcCheckpoint(bad);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), bad + ": "));
    CHECK(contains(r.error(), what));
    CHECK_FALSE(readLlmcHeader(bad).ok());
  };
  auto missing = readLlmcCheckpoint(t.path("missing.bin"));
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error(), "missing.bin: cannot open"));
  expectError({}, "empty file");
  expectError({bytes.begin(), bytes.begin() + 1000}, "too short");
  expectError({bytes.begin(), bytes.end() - 1}, "truncated");
  expectError({bytes.begin(), bytes.begin() + 1024}, "truncated");
  auto trailing = bytes;
  trailing.insert(trailing.end(), {1, 2, 3, 4});
  expectError(trailing, "4 trailing bytes");
  auto magic = bytes;
  magic[0] ^= 1;
  expectError(magic, "bad magic 20240327 (expected 20240326)");
  auto v5 = bytes;
  v5[4] = 5;
  expectError(v5, "version 5 is bf16; gptc reads version 3 (fp32)");
  auto v1 = bytes;
  v1[4] = 1;
  expectError(v1, "unsupported version 1");
  expectError(junkBytes(4096, 11), "bad magic");
  // Insane sizes are refused from the header, before any allocation.
  expectError(llmcHeader({20240326, 3, 8, 10, 2, 2, 8, 16}), "truncated");
  expectError(llmcHeader({20240326, 3, 8, 10, 2, 3, 8, 16}), "not divisible by NH");
  expectError(llmcHeader({20240326, 3, 8, 10, 0, 2, 8, 16}), "L is 0");
  expectError(llmcHeader({20240326, 3, 8, 10, -2, 2, 8, 16}), "L is -2");
  expectError(llmcHeader({20240326, 3, 8, 17, 2, 2, 8, 16}), "smaller than V");
  expectError(llmcHeader({20240326, 3, 2147483647, 10, 2, 2, 8, 16}), "maxT is 2147483647");
  expectError(llmcHeader({20240326, 3, 1 << 20, 1 << 24, 1 << 10, 1, 1 << 16, 1 << 24}),
              "truncated");
  // Every prefix of a good file is refused.
  for (size_t n = 0; n < bytes.size(); n += (n < 1100 ? 1 : 61)) {
    writeRaw(bad, {bytes.begin(), bytes.begin() + long(n)});
    CHECK_FALSE(readLlmcCheckpoint(bad).ok());
  }
}

TEST_CASE("gptc checkpoint: round trip") {
  TempDir t;
  GptcCheckpoint ck;
  ck.metadata = R"({"step": 1200, "model": "chargpt"})";
  ck.tensors.push_back({"emb", {3, 4}, std::vector<float>(12, 1.5f)});
  ck.tensors.push_back({"scalar", {}, {42.0f}});
  ck.tensors.push_back({"empty", {0, 5}, {}});
  ck.tensors.push_back({"blocks.0.w", {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, -8}});
  auto p = t.path("model.gptc");
  REQUIRE(writeGptcCheckpoint(p, ck).ok());
  auto back = readGptcCheckpoint(p);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->metadata == ck.metadata);
  REQUIRE(back->tensors.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(back->tensors[i].name == ck.tensors[i].name);
    CHECK(back->tensors[i].shape == ck.tensors[i].shape);
    CHECK(back->tensors[i].data == ck.tensors[i].data);
  }
  CHECK(back->find("scalar")->data[0] == 42.0f);
  CHECK(readGptcCheckpoint(p)->tensors.size() == 4);
  // An empty checkpoint is valid too.
  REQUIRE(writeGptcCheckpoint(t.path("none"), {}).ok());
  CHECK(readGptcCheckpoint(t.path("none"))->tensors.empty());

  auto refuse = [&](GptcCheckpoint c, const std::string& what) {
    auto st = writeGptcCheckpoint(t.path("refused"), c);
    REQUIRE_FALSE(st.ok());
    CAPTURE(st.error());
    CHECK(contains(st.error(), what));
  };
  refuse({"", {{"a", {2}, {1}}}}, "holds 1 values for shape [2]");
  refuse({"", {{"a", {1}, {1}}, {"a", {1}, {1}}}}, "appears twice");
  refuse({"", {{"", {1}, {1}}}}, "name");
  refuse({"", {{"a", {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1}}}}, "rank 9");
  CHECK_FALSE(std::filesystem::exists(t.path("refused")));
}

TEST_CASE("gptc checkpoint: malformed files") {
  TempDir t;
  GptcCheckpoint ck;
  ck.metadata = "{}";
  ck.tensors.push_back({"w", {4, 4}, std::vector<float>(16, 0.5f)});
  ck.tensors.push_back({"b", {4}, {1, 2, 3, 4}});
  auto good = t.path("good.gptc");
  REQUIRE(writeGptcCheckpoint(good, ck).ok());
  const auto bytes = readRaw(good);
  auto bad = t.path("bad.gptc");
  // The caller's object is only ever replaced by a fully validated result.
  GptcCheckpoint mine;
  mine.metadata = "mine";
  auto expectError = [&](const std::vector<uint8_t>& b, const std::string& what) {
    writeRaw(bad, b);
    auto r = readGptcCheckpoint(bad);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), bad + ": "));
    CHECK(contains(r.error(), what));
    if (r) mine = *r;
    CHECK(mine.metadata == "mine");
  };
  // Layout: magic 8, version 4, count 4, metadata length 8, "{}" -> first record at 26:
  // name length 4, "w", dtype 4 at 31, rank 4 at 35, dims 2x8 at 39, byte length 8 at 55, data
  // at 63.
  expectError({}, "empty file");
  expectError({bytes.begin(), bytes.begin() + 20}, "too short");
  expectError({bytes.begin(), bytes.end() - 1}, "truncated");
  expectError({bytes.begin(), bytes.end() - 40}, "truncated");
  auto trailing = bytes;
  trailing.insert(trailing.end(), {9, 9, 9, 9, 9});
  expectError(trailing, "trailing");
  auto magic = bytes;
  magic[3] = 'X';
  expectError(magic, "bad magic");
  auto llmc = bytes;
  llmc[0] = 0xC6;
  llmc[1] = 0xD7;
  llmc[2] = 0x34;
  llmc[3] = 0x01; // 20240326
  expectError(llmc, "llm.c GPT-2 checkpoint");
  auto version = bytes;
  version[8] = 3;
  expectError(version, "version 3");
  auto count = bytes;
  count[12] = 3;
  expectError(count, "truncated");
  auto dtype = bytes;
  dtype[31] = 7;
  expectError(dtype, "unknown dtype 7");
  auto rank = bytes;
  rank[35] = 99;
  expectError(rank, "rank 99");
  auto dim = bytes;
  dim[39] = 5; // [5, 4]: the byte length no longer matches
  expectError(dim, "does not match shape [5, 4]");
  auto huge = bytes;
  huge[46] = 0x7f; // a dim near 2^63
  expectError(huge, "too large");
  auto corrupt = bytes;
  corrupt[70] ^= 0x10; // a data byte: only the checksum can tell
  expectError(corrupt, "checksum mismatch");
  auto crc = bytes;
  crc.back() ^= 1;
  expectError(crc, "checksum mismatch");
  auto meta = bytes;
  meta[16] = 0xff;
  expectError(meta, "metadata length");
  expectError(junkBytes(300, 4), "bad magic");
  for (size_t n = 0; n < bytes.size(); ++n) {
    writeRaw(bad, {bytes.begin(), bytes.begin() + long(n)});
    CHECK_FALSE(readGptcCheckpoint(bad).ok());
  }
  // Every single-bit flip anywhere is detected.
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= uint8_t(1u << (i % 8));
    writeRaw(bad, flipped);
    CHECK_FALSE(readGptcCheckpoint(bad).ok());
  }
}

TEST_CASE("gptc checkpoint: bf16 and i8 tensors (version 2)") {
  TempDir t;
  GptcCheckpoint ck;
  ck.metadata = "model=models/chargpt.graph";
  ck.tensors.push_back({"w", {2, 3}, {1, 2, 3, 4, 5, 6}}); // f32
  NamedTensor h{"w.h", {4}, {1.0f, -2.5f, 0.0078125f, -65536.0f}};
  h.dtype = StoredDType::bf16; // each a bf16 number (low 16 bits zero)
  NamedTensor q{"w.q", {2, 3}, {-128, 127, 0, -1, 5, 77}};
  q.dtype = StoredDType::i8;
  ck.tensors.push_back(h);
  ck.tensors.push_back(q);
  auto p = t.path("q.gptc");
  REQUIRE(writeGptcCheckpoint(p, ck).ok());
  auto bytes = readRaw(p);
  CHECK(bytes[8] == 2); // version 2: not every tensor is f32
  // f32 6·4 + bf16 4·2 + i8 6·1 bytes of data
  auto back = readGptcCheckpoint(p);
  REQUIRE_MESSAGE(back.ok(), back.error());
  REQUIRE(back->tensors.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(back->tensors[i].dtype == ck.tensors[i].dtype);
    CHECK(back->tensors[i].shape == ck.tensors[i].shape);
    CHECK(back->tensors[i].data == ck.tensors[i].data);
  }
  // All f32: version 1, byte for byte what gptc wrote before version 2 existed.
  GptcCheckpoint plain;
  plain.tensors.push_back({"w", {2}, {1, 2}});
  REQUIRE(writeGptcCheckpoint(t.path("plain"), plain).ok());
  CHECK(readRaw(t.path("plain"))[8] == 1);

  // Nothing is rounded on the way out: values that are not of the dtype are refused.
  auto refuse = [&](NamedTensor bad, const std::string& what) {
    auto st = writeGptcCheckpoint(t.path("refused"), {"", {bad}});
    REQUIRE_FALSE(st.ok());
    CAPTURE(st.error());
    CHECK(contains(st.error(), what));
  };
  NamedTensor notBf16{"x", {1}, {1.1f}, StoredDType::bf16};
  refuse(notBf16, "is not a bf16 number");
  NamedTensor notI8{"x", {2}, {1.0f, 0.5f}, StoredDType::i8};
  refuse(notI8, "is not an integer in [-128, 127]");
  NamedTensor big{"x", {1}, {128.0f}, StoredDType::i8};
  refuse(big, "is not an integer in [-128, 127]");

  // Corruption is caught as in version 1: every prefix, every bit flip, a version-1 file claiming
  // a narrow dtype, an unknown dtype, a byte length of the f32 size.
  auto bad = t.path("bad.gptc");
  for (size_t n = 0; n < bytes.size(); ++n) {
    writeRaw(bad, {bytes.begin(), bytes.begin() + long(n)});
    CHECK_FALSE(readGptcCheckpoint(bad).ok());
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= uint8_t(1u << (i % 8));
    writeRaw(bad, flipped);
    CHECK_FALSE(readGptcCheckpoint(bad).ok());
  }
  auto expectError = [&](const std::vector<uint8_t>& b, const std::string& what) {
    writeRaw(bad, b);
    auto r = readGptcCheckpoint(bad);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), what));
  };
  // Layout: 24 header bytes + 26 metadata; record 0 "w": name length 4, name 1, dtype at 55.
  // Record 1 "w.h" starts at 55 + 4 + 4 + 2·8 + 8 + 24 = 111: name length 4, name 3, dtype at 118.
  auto v1 = bytes;
  v1[8] = 1;
  expectError(v1, "version 1 stores f32 = 1 only");
  auto dtype = bytes;
  dtype[118] = 9;
  expectError(dtype, "unknown dtype 9");
  auto asI8 = bytes;
  asI8[118] = 3; // bf16 [4] claimed i8: 8 bytes for 4 values
  expectError(asI8, "does not match shape [4] (4 bytes of i8)");
}
