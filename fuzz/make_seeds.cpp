// fuzz/make_seeds.cpp — writes the small seed inputs of tests/fuzz/ with gptc's own writers (a
// tiny llm.c checkpoint, a step folder's state.bin, a safetensors file, token shards, a vocabulary,
// an object-cache entry), so the fuzzers start from valid files. Run once by hand:
//   build-fuzz/fuzz/fuzz_make_seeds tests/fuzz
#include "codegen/object_cache.h"
#include "runtime/formats/safetensors.h"
#include "runtime/text/char_tokenizer.h"
#include "runtime/text/token_data.h"
#include "runtime/train/train_checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace gptc;
namespace fs = std::filesystem;

namespace {

void check(const IoStatus& st) {
  if (!st) {
    std::fprintf(stderr, "%s\n", st.error().c_str());
    std::exit(1);
  }
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR (tests/fuzz)\n");
    return 2;
  }
  fs::path out = argv[1];
  fs::path tmp = fs::temp_directory_path() / "gptc_make_seeds";
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  // llm.c checkpoint: the smallest legal GPT-2 (V 8 padded to 8, L 1, C 4, NH 1, T 4).
  Gpt2Config cfg{4, 8, 1, 1, 4, 8};
  Gpt2Weights w = zeroGpt2Weights(cfg);
  float x = 0.25f;
  for (NamedTensor& t : w.tensors)
    for (float& v : t.data)
      v = (x = -x * 1.5f);
  check(writeLlmcCheckpoint((tmp / "a.bin").string(), w));
  put(out / "llmc_checkpoint" / "tiny_gpt2.bin", slurp(tmp / "a.bin"));

  // gptc checkpoint: a step folder's state.bin (moments + curves) and a model.ckpt.
  TrainCheckpoint c;
  c.step = 3;
  c.info = {{"model", "models/chargpt.graph"}, {"B", "2"}, {"T", "4"}};
  c.params.push_back({"wte", {3, 2}, {1, 2, 3, 4, 5, 6}});
  c.optimizer.push_back({"m.wte", {3, 2}, {0.5f, 0, 0, 0, 0, -1}});
  c.trainCurve = {{0, 2.5f}, {1, 2.25f}, {2, 2.0f}};
  c.valCurve = {{2, 2.1f}};
  std::string folder;
  check(writeTrainCheckpoint((tmp / "ckpt").string(), c, 1, &folder));
  put(out / "gptc_checkpoint" / "state.bin", slurp(fs::path(folder) / "state.bin"));
  put(out / "gptc_checkpoint" / "model.bin", slurp(fs::path(folder) / "model.bin"));

  // safetensors: two F32 tensors.
  check(writeSafetensors((tmp / "m.safetensors").string(),
                         {{"h.0.attn.bias", {2, 2}, {1, 0, 0, 1}}, {"wte.weight", {3}, {1, 2, 3}}},
                         {{"format", "pt"}}));
  put(out / "safetensors" / "two.safetensors", slurp(tmp / "m.safetensors"));

  // token shard, raw tokens, loader state.
  std::vector<uint16_t> toks = {50256, 464, 2068, 7586, 21831, 13, 50256, 1, 2, 3};
  check(writeLlmcTokens((tmp / "s.bin").string(), toks));
  put(out / "token_shard" / "shard.bin", slurp(tmp / "s.bin"));
  check(writeRawTokens((tmp / "r.bin").string(), toks));
  put(out / "token_shard" / "raw.bin", slurp(tmp / "r.bin"));
  LoaderState ls;
  ls.kind = LoaderState::Sequential;
  ls.step = 7;
  ls.position = 40;
  ls.B = 2;
  ls.T = 4;
  check(saveLoaderState((tmp / "l.bin").string(), ls));
  put(out / "token_shard" / "loader_state.bin", slurp(tmp / "l.bin"));

  // character vocabulary.
  check(CharTokenizer::fromText("To be, or not to be\n").save((tmp / "v.bin").string()));
  put(out / "char_vocab" / "vocab.bin", slurp(tmp / "v.bin"));

  // object cache entry: sum, 0xff 0xfe, object (the fuzz target's key and name).
  codegen::CacheKey key{};
  for (size_t i = 0; i < key.size(); ++i)
    key[i] = uint8_t(i * 37 + 11);
  std::string object = std::string("\x7f"
                                   "ELF\x02\x01\x01",
                                   7) +
                       std::string(57, '\0') + "code";
  put(out / "object_cache" / "entry",
      codegen::makeCacheSum(key, "gptc-0123", object) + "\xff\xfe" + object);
  fs::remove_all(tmp);
  return 0;
}
