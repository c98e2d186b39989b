// Token shards, raw token files, the split, the batch loaders and their saved state.
#include "runtime/text/token_data.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>
#include <numeric>

using namespace gptc;
using namespace gptc::testing;

namespace {
std::vector<uint16_t> iota16(size_t n, uint16_t first = 0) {
  std::vector<uint16_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}
} // namespace

TEST_CASE("tokens: llm.c shard round trip and header layout") {
  TempDir t;
  auto p = t.path("shard.bin");
  auto tokens = iota16(1000, 7);
  REQUIRE(writeLlmcTokens(p, tokens).ok());
  auto raw = readRaw(p);
  REQUIRE(raw.size() == 1024 + 2000);
  CHECK(loadI32(raw.data()) == 20240520);
  CHECK(loadI32(raw.data() + 4) == 1);
  CHECK(loadI32(raw.data() + 8) == 1000);
  CHECK(raw[1024] == 7);
  auto h = readLlmcTokensHeader(p);
  REQUIRE(h.ok());
  CHECK(h->tokenCount == 1000);
  auto back = readLlmcTokens(p, 50257);
  REQUIRE(back.ok());
  CHECK(*back == tokens);
  // An empty shard is valid.
  REQUIRE(writeLlmcTokens(t.path("empty.bin"), {}).ok());
  CHECK(readLlmcTokens(t.path("empty.bin"))->empty());
}

TEST_CASE("tokens: malformed llm.c shards") {
  TempDir t;
  auto good = t.path("good.bin");
  REQUIRE(writeLlmcTokens(good, iota16(100, 60)).ok());
  const auto bytes = readRaw(good);
  auto bad = t.path("bad.bin");
  auto expectError = [&](const std::vector<uint8_t>& b, const std::string& what, int vocab = 0) {
    writeRaw(bad, b);
    auto r = readLlmcTokens(bad, vocab);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), bad));
    CHECK(contains(r.error(), what));
  };
  expectError({}, "empty");
  expectError({bytes.begin(), bytes.begin() + 100}, "too short");
  expectError({bytes.begin(), bytes.end() - 2}, "truncated");
  expectError({bytes.begin(), bytes.end() - 1}, "truncated");
  auto trailing = bytes;
  trailing.push_back(1);
  expectError(trailing, "trailing");
  auto magic = bytes;
  magic[0] = 0x39; // 20240520 = 0x0134D888 -> 0x0134D839 = 20240441
  expectError(magic, "bad magic 20240441 (expected 20240520)");
  auto version = bytes;
  version[4] = 2;
  expectError(version, "version 2");
  auto count = bytes;
  count[8] = 101;
  expectError(count, "truncated");
  count[11] = 0x80; // negative
  expectError(count, "negative");
  expectError(junkBytes(5000, 9), "bad magic");
  expectError(bytes, "token 100 at index 40 is outside the vocabulary (size 100)", 100);
  auto missing = readLlmcTokens(t.path("missing.bin"));
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error(), "missing.bin"));
}

TEST_CASE("tokens: raw uint16 files") {
  TempDir t;
  auto p = t.path("train.bin");
  auto tokens = iota16(33);
  REQUIRE(writeRawTokens(p, tokens).ok());
  CHECK(readRaw(p).size() == 66);
  CHECK(*readRawTokens(p) == tokens);
  auto odd = readRaw(p);
  odd.pop_back();
  writeRaw(p, odd);
  auto r = readRawTokens(p);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error(), "odd length 65"));
  REQUIRE(writeRawTokens(p, tokens).ok());
  CHECK_FALSE(readRawTokens(p, 32).ok());
  CHECK(readRawTokens(p, 33).ok());
}

TEST_CASE("tokens: narrowing and the train/val split") {
  CHECK(narrowTokens(std::vector<int32_t>{0, 65535})->size() == 2);
  CHECK_FALSE(narrowTokens(std::vector<int32_t>{65536}).ok());
  CHECK_FALSE(narrowTokens(std::vector<int32_t>{-1}).ok());
  auto tokens = iota16(1000);
  auto s = splitTrainVal(tokens);
  REQUIRE(s.ok());
  CHECK(s->train.size() == 900);
  CHECK(s->val.size() == 100);
  CHECK(s->val.front() == 900);
  CHECK(splitTrainVal(tokens, 0.0)->val.empty());
  CHECK_FALSE(splitTrainVal(tokens, 1.0).ok());
  CHECK_FALSE(splitTrainVal(tokens, -0.1).ok());
}

TEST_CASE("tokens: random batches are deterministic from (seed, step)") {
  auto tokens = iota16(5000);
  auto a = RandomBatchSampler::create(tokens, 4, 16, 1234);
  REQUIRE(a.ok());
  auto b0 = a->next();
  auto b1 = a->next();
  auto b2 = a->next();
  CHECK(b0.inputs.size() == 64);
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < 16; ++t) {
      size_t i = size_t(r * 16 + t);
      CHECK(b1.targets[i] == b1.inputs[i] + 1); // tokens are 0,1,2,...: target = next token
      if (t > 0) CHECK(b1.inputs[i] == b1.inputs[i - 1] + 1);
      CHECK(b1.inputs[i] + 16 <= 5000);
    }
  CHECK(b0.inputs != b1.inputs);
  // A fresh sampler jumping to step 2 sees the same batch; so does one restored from a file.
  auto fresh = RandomBatchSampler::create(tokens, 4, 16, 1234);
  CHECK(fresh->sample(2).inputs == b2.inputs);
  TempDir t;
  auto statePath = t.path("loader.state");
  a->restore(a->state()); // no-op
  auto st = a->state();
  CHECK(st.step == 3);
  REQUIRE(saveLoaderState(statePath, st).ok());
  auto loaded = loadLoaderState(statePath);
  REQUIRE(loaded.ok());
  REQUIRE(fresh->restore(*loaded).ok());
  CHECK(fresh->next().inputs == a->next().inputs);
  // Another seed, another stream; a mismatched state is refused and changes nothing.
  auto other = RandomBatchSampler::create(tokens, 4, 16, 99);
  CHECK(other->sample(0).inputs != b0.inputs);
  auto refused = other->restore(*loaded);
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.error(), "seed"));
  CHECK(other->step() == 0);
  auto otherB = RandomBatchSampler::create(tokens, 2, 16, 1234);
  auto r2 = otherB->restore(*loaded);
  REQUIRE_FALSE(r2.ok());
  CHECK(contains(r2.error(), "B is 4 in the saved state but 2 in this loader"));
  // Pinned values, computed independently from the formula in docs/file-formats.md: the
  // generator is part of the format, so changing it would silently change resumed runs.
  CHECK(a->offset(0, 0) == 882);
  CHECK(a->offset(0, 1) == 889);
  CHECK(a->offset(0, 2) == 4656);
  CHECK(a->offset(0, 3) == 2313);
  CHECK(b0.inputs[2 * 16] == 4656);
  CHECK(RandomBatchSampler::create(tokens, 4, 16, 1234, 1, 2)->offset(7, 2) == 4908);
  // Ranks draw different rows.
  auto rank1 = RandomBatchSampler::create(tokens, 4, 16, 1234, 1, 2);
  CHECK(rank1->sample(0).inputs != b0.inputs);
  CHECK_FALSE(RandomBatchSampler::create(iota16(16), 1, 16, 0).ok());
  CHECK(RandomBatchSampler::create(iota16(17), 1, 16, 0)->sample(5).inputs[0] == 0);
  CHECK_FALSE(RandomBatchSampler::create(tokens, 0, 16, 0).ok());
  CHECK_FALSE(RandomBatchSampler::create(tokens, 1 << 20, 1 << 20, 0).ok());
  CHECK_FALSE(RandomBatchSampler::create(tokens, 1, 16, 0, 2, 2).ok());
}

TEST_CASE("tokens: sequential loader follows llm.c's DataLoader") {
  // Two shards of 2*4*3+1 + 5 = 30 tokens: each holds 1 group of 2 ranks x B=3 x T=4 (24+1).
  std::vector<std::vector<uint16_t>> shards{iota16(30, 0), iota16(30, 1000)};
  auto r0 = SequentialLoader::create(shards, 3, 4, 0, 2);
  auto r1 = SequentialLoader::create(shards, 3, 4, 1, 2);
  REQUIRE(r0.ok());
  REQUIRE(r1.ok());
  auto a = r0->next(), b = r1->next();
  CHECK(a.inputs.front() == 0);
  CHECK(a.inputs.back() == 11);
  CHECK(a.targets.back() == 12);
  CHECK(b.inputs.front() == 12);
  CHECK(b.targets.back() == 24);
  auto st = r0->state(); // the first shard's tail (5 tokens) is skipped
  CHECK(st.shard == 1);
  auto c = r0->next();
  CHECK(c.inputs.front() == 1000);
  auto d = r0->next(); // wraps to shard 0
  CHECK(d.inputs.front() == 0);
  REQUIRE(r0->restore(st).ok());
  CHECK(r0->next().inputs == c.inputs);
  r0->reset();
  CHECK(r0->next().inputs == a.inputs);

  auto single = SequentialLoader::create({iota16(100)}, 2, 8);
  REQUIRE(single.ok());
  for (int i = 0; i < 6; ++i) {
    auto bt = single->next();
    CHECK(bt.inputs.front() == (i % 6) * 16);
  }
  CHECK(single->next().inputs.front() == 0); // 6*16 + 1 > 100: wrapped
  LoaderState bad = single->state();
  bad.position = 5;
  auto refused = single->restore(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.error(), "batch boundary"));
  CHECK_FALSE(single->restore(RandomBatchSampler::create(iota16(100), 2, 8, 0)->state()).ok());
  CHECK_FALSE(SequentialLoader::create({iota16(16)}, 2, 8).ok());
  CHECK_FALSE(SequentialLoader::create({}, 2, 8).ok());
}

TEST_CASE("tokens: malformed loader state files") {
  TempDir t;
  auto p = t.path("s");
  LoaderState s;
  s.kind = LoaderState::Sequential;
  s.step = 7;
  s.B = 2;
  s.T = 3;
  REQUIRE(saveLoaderState(p, s).ok());
  auto good = readRaw(p);
  auto back = loadLoaderState(p);
  REQUIRE(back.ok());
  CHECK(back->step == 7);
  CHECK(back->kind == LoaderState::Sequential);
  auto expectError = [&](const std::vector<uint8_t>& b, const std::string& what) {
    writeRaw(p, b);
    auto r = loadLoaderState(p);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error());
    CHECK(contains(r.error(), p));
    CHECK(contains(r.error(), what));
  };
  expectError({}, "empty");
  expectError({good.begin(), good.begin() + 4}, "too short");
  expectError({good.begin(), good.end() - 3}, "size mismatch");
  auto trailing = good;
  trailing.push_back(0);
  expectError(trailing, "size mismatch");
  auto magic = good;
  magic[2] = 0;
  expectError(magic, "bad magic");
  auto version = good;
  version[4] = 3;
  expectError(version, "version 3");
  auto corrupt = good;
  corrupt[30] ^= 4;
  expectError(corrupt, "checksum");
  expectError(junkBytes(88, 5), "bad magic");
}
