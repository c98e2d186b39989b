// tests/generate/test_generate.cpp — the KV-cache decode step against full recomputation: greedy
// tokens from the generator (prefill + decode steps, caches as state) must equal greedy tokens
// from the plain inference graph run on the whole context each time, on chargpt, a tiny GPT-2, a
// tiny llama (rotary positions: rope at the step's position) and the seq2seq decoder, on the
// interpreter and on the JIT. Also: the decode graph's shape (caches, pos, last-position logits),
// batch == one at a time, and the context errors.
#include "passes/decode_step.h"
#include "passes/quantize.h"
#include "runtime/formats/quantize.h"
#include "runtime/generate/beam_search.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/sampling.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gptc {
namespace {

std::shared_ptr<ast::Program> load(const std::string& model) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/" + model;
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> p = parseProgram(*text, path);
  REQUIRE(bool(p));
  return *p;
}

const ConstOverrides kChar = {{"L", "2"}, {"C", "32"}, {"NH", "4"}, {"maxT", "24"}, {"drop", "0"}};
const ConstOverrides kLlama = {{"L", "2"}, {"C", "32"}, {"NH", "4"}, {"F", "64"}, {"T", "24"}};
const ConstOverrides kGpt2 = {{"V", "61"}, {"Vp", "64"}, {"maxT", "24"},
                              {"L", "2"},  {"NH", "2"},  {"C", "16"}};
constexpr uint64_t kSeed = 7;

/// The graph's seeded init with normal(std) params scaled by 8: at std 0.02 a random GPT's greedy
/// token is little more than its input token (tied embeddings), so attention and positions would
/// hardly be tested; larger weights make every part of the step matter.
ParamMap strongParams(const Graph& g) {
  ParamMap out = initParams(g, kSeed);
  for (auto& [name, t] : out) {
    const Value& v = g.value(g.find(name));
    if (v.kind != ValueKind::Param) continue;
    if (v.init.kind == ParamInit::Normal)
      for (float& x : t.f)
        x *= 8.0f;
  }
  for (auto it = out.begin(); it != out.end();)
    it = g.value(g.find(it->first)).kind == ValueKind::Param ? std::next(it) : out.erase(it);
  return out;
}

void bindStrong(StepEngine& e) {
  for (const auto& [name, t] : strongParams(e.graph()))
    REQUIRE(e.bind(name, t) == "");
}

/// Greedy tokens by full recomputation (runtime/generate/sampling.h) on the inference graph with T
/// = the context, so no window slides.
std::vector<int32_t> recompute(const std::string& model, ConstOverrides sets, int64_t ctx,
                               std::vector<int32_t> prompt, int n, int64_t vocab,
                               const std::string& weights = "f32") {
  sets["B"] = "1";
  sets["T"] = std::to_string(ctx);
  Expected<Graph> g = buildGraph(load(model), sets, "inference");
  REQUIRE_MESSAGE(bool(g), (g ? "" : g.error().render()));
  ParamMap strong = strongParams(*g);
  if (weights != "f32") { // the same weights as the decode step, read through dequantize
    QuantizeOptions o;
    o.dtype = weights == "bf16" ? DType::bf16 : DType::i8;
    o.block = weights == "int8-row" ? 0 : 32;
    Expected<Graph> q = quantizeWeights(*g, o);
    REQUIRE(bool(q));
    ParamMap qp;
    REQUIRE(quantizeParams(*q, strong, &qp) == "");
    strong = std::move(qp);
    g = std::move(q);
  }
  std::string err;
  auto e = makeEngine(Engine::Interpreter, std::move(*g), 1, {}, &err);
  REQUIRE_MESSAGE(e, err);
  for (const auto& [name, t] : strong)
    REQUIRE(e->bind(name, t) == "");
  std::vector<int32_t> ctxTokens = prompt;
  SamplingOptions greedy;
  greedy.temperature = 0;
  // Vp > V (GPT-2): recompute one token at a time and pick among the first V logits.
  Tensor in(TensorType{DType::i32, {1, ctx}}), out;
  for (const Value& v : e->graph().values)
    if (v.kind == ValueKind::Input) REQUIRE(e->bind(v.name, Tensor(v.type)) == "");
  for (int k = 0; k < n; ++k) {
    std::fill(in.i.begin(), in.i.end(), 0);
    std::copy(ctxTokens.begin(), ctxTokens.end(), in.i.begin());
    REQUIRE(e->bind("tokens", in) == "");
    REQUIRE(e->run() == "");
    REQUIRE(e->read("logits", &out) == "");
    int64_t W = out.type.shape.back();
    const float* row = out.f.data() + (int64_t(ctxTokens.size()) - 1) * W;
    SampleRng rng(0);
    ctxTokens.push_back(pickToken({row, size_t(vocab)}, greedy, rng));
  }
  return {ctxTokens.begin() + int64_t(prompt.size()), ctxTokens.end()};
}

std::vector<std::vector<int32_t>> kvGreedy(const std::string& model, const ConstOverrides& sets,
                                           Engine engine, std::vector<std::vector<int32_t>> prompts,
                                           int n, int64_t vocab, bool prefill = true,
                                           const std::string& weights = "f32") {
  GeneratorConfig cfg;
  cfg.engine = engine;
  cfg.threads = 2;
  cfg.batch = int64_t(prompts.size());
  cfg.prefill = prefill;
  cfg.weights = weights;
  std::string err;
  auto gen = Generator::create(load(model), sets, cfg, &err);
  REQUIRE_MESSAGE(gen, err);
  REQUIRE(gen->initParams(kSeed) == "");
  // Params are given as the model declares them (f32), whatever the step's weights.
  ConstOverrides one = sets; // the params do not depend on B and T; the model's own T may not fit
  one["B"] = "1";
  one["T"] = "1";
  Expected<Graph> f32 = expandProgram(*load(model), one);
  REQUIRE(bool(f32));
  REQUIRE(gen->setParams(strongParams(*f32)) == "");
  GenerateRequest req;
  req.prompts = prompts;
  req.maxNew = n;
  req.sampling.temperature = 0;
  req.vocab = vocab;
  std::vector<std::vector<int32_t>> out;
  REQUIRE_MESSAGE(generate(*gen, req, {}, &out) == "", "generate failed");
  return out;
}

} // namespace

TEST_CASE("the decode step: caches as state, pos an input, logits at the last position only") {
  ConstOverrides sets = kChar;
  sets["B"] = "2";
  sets["T"] = "5";
  Expected<Graph> full = expandProgram(*load("chargpt.graph"), sets);
  REQUIRE(bool(full));
  Expected<Graph> d = buildDecodeStep(*full, {});
  REQUIRE_MESSAGE(bool(d), (d ? "" : d.error().render()));
  int pos = d->find("pos");
  REQUIRE(pos >= 0);
  CHECK(d->type(pos) == TensorType{DType::i32, {}});
  CHECK(d->find("targets") < 0); // the loss is gone, and with it its inputs
  CHECK(d->find("seed") < 0);    // and every dropout
  CHECK(d->updates.size() == 4); // K and V of 2 layers
  for (const Update& u : d->updates) {
    CHECK(d->value(u.state).kind == ValueKind::State);
    CHECK(d->type(u.state) == TensorType{DType::f32, {2, 4, 24, 8}}); // (B,NH,maxT,C/NH)
    CHECK(d->defOf(u.value).kind == OpKind::DynamicUpdateSlice);
  }
  CHECK(d->type(d->find("logits")) == TensorType{DType::f32, {2, 1, 65}});
  CHECK(d->outputs.size() == 1);
  int masks = 0;
  for (const Node& n : d->nodes) {
    CHECK(n.kind != OpKind::CausalMask);
    CHECK(n.kind != OpKind::Dropout);
    masks += n.kind == OpKind::CausalMaskAt;
  }
  CHECK(masks == 2);
}

TEST_CASE("the scores of a step of <= 4 tokens are cache_matmul; a prefill's, matmul") {
  for (int64_t t : {1, 4, 5}) {
    CAPTURE(t);
    ConstOverrides sets = kChar;
    sets["B"] = "2";
    sets["T"] = std::to_string(t);
    Expected<Graph> full = expandProgram(*load("chargpt.graph"), sets);
    REQUIRE(bool(full));
    Expected<Graph> d = buildDecodeStep(*full, {});
    REQUIRE_MESSAGE(bool(d), (d ? "" : d.error().render()));
    int scores = 0, scoresMatmul = 0;
    for (const Node& n : d->nodes) {
      bool readsK = n.operands.size() > 1 && d->value(n.operands[1]).name.rfind("cache.k.", 0) == 0;
      if (n.kind == OpKind::CacheMatMul) {
        ++scores;
        CHECK(readsK); // K's cache, after the append
        CHECK(n.operands[2] == d->find("pos"));
      }
      scoresMatmul += n.kind == OpKind::MatMul && readsK;
    }
    CHECK(scores == (t <= kCacheMatMulMaxRows ? 2 : 0)); // one per layer
    CHECK(scoresMatmul == (t <= kCacheMatMulMaxRows ? 0 : 2));
  }
}

TEST_CASE("a graph without causal attention is a clear error") {
  Graph g;
  int x = g.addInput("x", {DType::f32, {1, 3, 4}});
  g.outputs.push_back(g.add(OpKind::Relu, {x}, {}, {}, "logits"));
  Expected<Graph> d = buildDecodeStep(g, {});
  REQUIRE(!d);
  CHECK(d.error().message.find("no causal self-attention") != std::string::npos);
}

TEST_CASE("greedy KV-cache decoding == full recomputation: chargpt, a tiny GPT-2, llama") {
  struct M {
    const char* model;
    ConstOverrides sets;
    int64_t vocab;
  };
  for (const M& m :
       {M{"chargpt.graph", kChar, 65}, M{"gpt2.graph", kGpt2, 61}, M{"llama.graph", kLlama, 65}}) {
    CAPTURE(m.model);
    std::vector<int32_t> prompt = {3, 14, 15, 9, 2, 6};
    const int n = 14; // prompt + n = 20 <= maxT 24
    std::vector<int32_t> want = recompute(m.model, m.sets, 24, prompt, n, m.vocab);
    MESSAGE(fmt::format("{}: {}", m.model, fmt::join(want, " ")));
    for (Engine e : {Engine::Interpreter, Engine::Jit}) {
      CAPTURE(e == Engine::Jit ? "JIT" : "interpreter");
      CHECK(kvGreedy(m.model, m.sets, e, {prompt}, n, m.vocab)[0] == want);
    }
    // Without a prefill step (the prompt through decode steps) the tokens are the same.
    CHECK(kvGreedy(m.model, m.sets, Engine::Jit, {prompt}, n, m.vocab, false)[0] == want);
  }
}

TEST_CASE("batch generation: each row equals its prompt generated alone") {
  std::vector<int32_t> a = {1, 2, 3, 4, 5}, b = {7, 8}, c = {9, 9, 4};
  auto batch = kvGreedy("chargpt.graph", kChar, Engine::Jit, {a, b, c}, 10, 65);
  REQUIRE(batch.size() == 3);
  CHECK(batch[0] == recompute("chargpt.graph", kChar, 24, a, 10, 65));
  CHECK(batch[1] == recompute("chargpt.graph", kChar, 24, b, 10, 65));
  CHECK(batch[2] == recompute("chargpt.graph", kChar, 24, c, 10, 65));
}

TEST_CASE("the context is checked before any step runs") {
  GeneratorConfig cfg;
  cfg.engine = Engine::Interpreter;
  std::string err;
  auto gen = Generator::create(load("chargpt.graph"), kChar, cfg, &err);
  REQUIRE_MESSAGE(gen, err);
  CHECK(gen->context() == 24);
  GenerateRequest req;
  req.prompts = {std::vector<int32_t>(25, 1)};
  req.maxNew = 1;
  std::vector<std::vector<int32_t>> out;
  std::string e = generate(*gen, req, {}, &out);
  CHECK(e.find("context is 24") != std::string::npos);
  req.prompts = {std::vector<int32_t>(20, 1)};
  req.maxNew = 5;
  e = generate(*gen, req, {}, &out);
  CHECK(e.find("-n 4 or less") != std::string::npos);
}

TEST_CASE("seq2seq: encoder once, greedy decoder with a KV cache == full recomputation") {
  ConstOverrides sets = {{"LE", "2"}, {"LD", "2"}, {"drop", "0"}};
  std::vector<int32_t> src = {6, 12, 4, 3, 9, 2, 0, 0, 0, 0, 0, 0}; // digits 3 9 1 0 6, EOS, PAD
  const int64_t S = 12, T = 12;
  // Full recomputation: tgt_in = SOS + the tokens so far, PAD after; read position i's logits.
  ConstOverrides full = sets;
  full["B"] = "1";
  Expected<Graph> g = buildGraph(load("seq2seq.graph"), full, "inference");
  REQUIRE(bool(g));
  std::string err;
  auto ref = makeEngine(Engine::Interpreter, std::move(*g), 1, {}, &err);
  REQUIRE(ref);
  REQUIRE(ref->initParams(kSeed) == "");
  bindStrong(*ref);
  for (const Value& v : ref->graph().values)
    if (v.kind == ValueKind::Input) REQUIRE(ref->bind(v.name, Tensor(v.type)) == "");
  Tensor srcT(TensorType{DType::i32, {1, S}});
  srcT.i = src;
  REQUIRE(ref->bind("src", srcT) == "");
  std::vector<int32_t> want;
  Tensor tgt(TensorType{DType::i32, {1, T}}), out;
  tgt.i[0] = 1; // SOS
  for (int64_t i = 0; i < T - 1; ++i) {
    REQUIRE(ref->bind("tgt_in", tgt) == "");
    REQUIRE(ref->run() == "");
    REQUIRE(ref->read("logits", &out) == "");
    std::vector<float> row(out.f.begin() + i * 13, out.f.begin() + (i + 1) * 13);
    row[0] = row[1] = -INFINITY; // PAD and SOS are never generated
    int32_t id = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
    want.push_back(id);
    tgt.i[i + 1] = id;
  }
  for (Engine e : {Engine::Interpreter, Engine::Jit}) {
    GeneratorConfig cfg;
    cfg.engine = e;
    cfg.cut = {"mem"};
    cfg.tokenInput = "tgt_in";
    auto gen = Generator::create(load("seq2seq.graph"), sets, cfg, &err);
    REQUIRE_MESSAGE(gen, err);
    CHECK(gen->context() == T);
    REQUIRE(gen->initParams(kSeed) == "");
    REQUIRE(gen->setParams(strongParams(gen->decodeEngine().graph())) == "");
    REQUIRE(gen->encode(srcT) == "");
    GenerateRequest req;
    req.prompts = {{1}};
    req.maxNew = T - 1;
    req.sampling.temperature = 0;
    req.banned = {0, 1};
    std::vector<std::vector<int32_t>> got;
    REQUIRE(generate(*gen, req, {}, &got) == "");
    if (e == Engine::Jit) {
      // Beam search (one beam: finished hypotheses do not hold a beam, so it may look past an
      // early EOS): a hypothesis that ends at EOS or at the context, never PAD or SOS, and the
      // same one twice.
      BeamOptions bo;
      bo.beams = 1;
      bo.maxNew = T - 1;
      bo.banned = {0, 1};
      std::vector<int32_t> beam, again;
      REQUIRE(beamSearch(*gen, bo, &beam) == "");
      REQUIRE(beamSearch(*gen, bo, &again) == "");
      CHECK(beam == again);
      REQUIRE(!beam.empty());
      CHECK((beam.back() == 2 || int64_t(beam.size()) == T - 1));
      for (int32_t id : beam)
        CHECK((id >= 2 && id < 13));
    }
    CHECK_MESSAGE(got[0] == want,
                  fmt::format("got {} want {}", fmt::join(got[0], " "), fmt::join(want, " ")));
  }
}

} // namespace gptc

namespace gptc {

TEST_CASE("quantized weights: KV-cache decoding == recomputation with the same weights") {
  // The inference graph over the whole context, quantized the same way (its contractions read
  // dequantize(w.q, w.scale): the packed matmul's path), must pick the same greedy tokens as the
  // KV-cache steps, whose few-row contractions dequantize in registers.
  std::vector<int32_t> prompt = {3, 14, 15, 9, 2, 6};
  const int n = 12;
  for (std::string weights : {"bf16", "int8", "int8-row"}) {
    CAPTURE(weights);
    GeneratorConfig cfg;
    cfg.weights = weights;
    std::string err;
    auto gen = Generator::create(load("chargpt.graph"), kChar, cfg, &err);
    REQUIRE_MESSAGE(gen, err);
    const Graph& d = gen->decodeEngine().graph();
    int quantized = 0;
    for (const Value& v : d.values)
      quantized +=
          v.kind == ValueKind::Param && v.type.dtype != DType::f32 && v.type.dtype != DType::i32;
    CHECK(quantized == 5);     // wte (the tied head), qkvw, projw, fcw, fc2w
    CHECK(d.find("wte") >= 0); // the embedding still reads f32 rows
    std::vector<int32_t> want = recompute("chargpt.graph", kChar, 24, prompt, n, 65, weights);
    std::vector<int32_t> f32 = recompute("chargpt.graph", kChar, 24, prompt, n, 65);
    MESSAGE(fmt::format("{}: {} (f32: {})", weights, fmt::join(want, " "), fmt::join(f32, " ")));
    for (Engine e : {Engine::Interpreter, Engine::Jit}) {
      CAPTURE(e == Engine::Jit ? "JIT" : "interpreter");
      CHECK(kvGreedy("chargpt.graph", kChar, e, {prompt}, n, 65, true, weights)[0] == want);
    }
    CHECK(kvGreedy("chargpt.graph", kChar, Engine::Jit, {prompt}, n, 65, false, weights)[0] ==
          want);
  }
}

} // namespace gptc
