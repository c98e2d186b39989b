// Parameter init (seeded, per-name streams, the inits' statistics) and param_store (llm.c and gptc
// checkpoints bound to a small GPT-2 graph; config and shape mismatches as one-line errors).
#include "interp_test_util.h"

#include "ir/parser.h"
#include "runtime/formats/param_store.h"

#include <cmath>
#include <cstdio>

using namespace gptc;
using namespace gptc::test;

namespace {

Graph smallGpt2(const std::string& layers = "2") {
  Expected<std::string> text = readTextFile("models/gpt2.graph");
  REQUIRE(text);
  ConstOverrides set = {{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", layers},
                        {"NH", "2"}, {"C", "32"},   {"B", "2"},     {"T", "8"}};
  Expected<Graph> g = parseGraph(*text, "models/gpt2.graph", set);
  INFO((g ? std::string() : g.error().render()));
  REQUIRE(g);
  return std::move(*g);
}

std::string tempPath(const std::string& name) {
  return std::string(GPTC_BINARY_DIR) + "/" + name;
}

} // namespace

TEST_CASE("initParams: reproducible, per-name streams, the right statistics") {
  Graph g = smallGpt2();
  auto a = initParams(g, 1234), b = initParams(g, 1234), c = initParams(g, 1235);
  CHECK(a.size() == 16);
  CHECK(a.at("wte").f == b.at("wte").f);
  CHECK(a.at("wte").f != c.at("wte").f);
  CHECK(a.at("wte").f != a.at("wpe").f); // the name picks the stream
  for (float v : a.at("ln1w").f)
    CHECK(v == 1.0f);
  for (float v : a.at("qkvb").f)
    CHECK(v == 0.0f);
  // wte: 128*32 = 4096 draws of normal(0, 0.02): mean within 4 sigma (4*0.02/64 = 0.00125), std 5%.
  double sum = 0, sq = 0;
  for (float v : a.at("wte").f)
    sum += v, sq += double(v) * v;
  double n = double(a.at("wte").f.size()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  CHECK(std::abs(mean) < 0.00125);
  CHECK(sd == doctest::Approx(0.02).epsilon(0.05));
  // attprojw: normal(0.02 / sqrt(2L)) = 0.01 for L = 2.
  double sq2 = 0;
  for (float v : a.at("attprojw").f)
    sq2 += double(v) * v;
  CHECK(std::sqrt(sq2 / a.at("attprojw").f.size()) == doctest::Approx(0.01).epsilon(0.05));
  // A parameter's values do not depend on the other parameters: a 3-layer model's wte (same
  // shape, same name) is bit-identical.
  CHECK(initParams(smallGpt2("3"), 1234).at("wte").f == a.at("wte").f);
}

TEST_CASE("gpt2ConfigOf reads the sizes from the graph") {
  IoResult<Gpt2Config> c = gpt2ConfigOf(smallGpt2());
  REQUIRE(c);
  CHECK(*c == Gpt2Config{16, 64, 2, 2, 32, 128});
}

TEST_CASE("an llm.c checkpoint binds by name; a config mismatch is caught before the weights") {
  Graph g = smallGpt2();
  Gpt2Config config{16, 64, 2, 2, 32, 128};
  Gpt2Weights w = zeroGpt2Weights(config);
  for (NamedTensor& t : w.tensors)
    for (size_t k = 0; k < t.data.size(); ++k)
      t.data[k] = float(k % 97) * 0.01f + t.name.size();
  std::string path = tempPath("params_small.bin");
  REQUIRE(writeLlmcCheckpoint(path, w).ok());
  IoResult<ParamMap> p = loadParams(g, path);
  INFO(p.error());
  REQUIRE(p);
  CHECK(p->size() == 16);
  CHECK(p->at("fcw").f == w.find("fcw")->data);
  CHECK(p->at("fcw").type == TensorType{DType::f32, {2, 128, 32}});
  Interpreter interp(g);
  CHECK(bindParams(interp, *p) == "");

  IoResult<ParamMap> wrong = loadParams(smallGpt2("3"), path);
  REQUIRE(!wrong);
  CHECK(wrong.error() == path + ": L is 2 in the file but 3 in the model");
}

TEST_CASE("gptc checkpoints: missing and misshapen tensors are named") {
  Graph g = smallGpt2();
  GptcCheckpoint ck;
  for (auto& [name, t] : initParams(g, 5))
    ck.tensors.push_back({name, t.type.shape, t.f});
  ck.tensors.push_back({"adamw.m.wte", {1}, {0}}); // not the model's: ignored
  std::string path = tempPath("params_small.ckpt");
  REQUIRE(writeGptcCheckpoint(path, ck).ok());
  IoResult<ParamMap> p = loadParams(g, path);
  INFO(p.error());
  REQUIRE(p);
  CHECK(p->at("wte").f == initParams(g, 5).at("wte").f);

  ck.tensors.erase(ck.tensors.begin()); // drops "attprojb" (the map is ordered by name)
  REQUIRE(writeGptcCheckpoint(path, ck).ok());
  CHECK(loadParams(g, path).error() == path + ": no tensor for parameter 'attprojb' f32[2,32]");
  ck.tensors.insert(ck.tensors.begin(), {"attprojb", {32, 2}, std::vector<float>(64)});
  REQUIRE(writeGptcCheckpoint(path, ck).ok());
  CHECK(loadParams(g, path).error() ==
        path + ": tensor 'attprojb' is f32[32,2] but the model declares f32[2,32]");

  std::string junk = tempPath("params_junk.bin");
  REQUIRE(writeFileAtomic(junk, std::string_view("not a checkpoint at all")).ok());
  CHECK(loadParams(g, junk).error().find("neither an llm.c model file") != std::string::npos);
}
