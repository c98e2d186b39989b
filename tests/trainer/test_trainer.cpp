// tests/trainer/test_trainer.cpp — the trainer's pieces: the learning-rate schedule (warmup,
// cosine, floor), a short JIT training run of a tiny chargpt on a few KB of Shakespeare whose loss
// falls, the JIT and the interpreter agreeing on the first three training losses (dropout off),
// sampling that a seed makes reproducible, and the progress line / main.log / SVG formats.
#include "runtime/exec/step_engine.h"
#include "runtime/formats/llmc_checkpoint.h"
#include "runtime/generate/sampling.h"
#include "runtime/text/char_tokenizer.h"
#include "runtime/train/lr_schedule.h"
#include "runtime/train/progress.h"
#include "runtime/train/trainer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <numeric>
#include <sstream>

namespace gptc {
namespace {

/// A tiny chargpt: 1 layer, C=32, 2 heads, B=4, T=16 (seconds per run even under ASan).
ConstOverrides tinySets(const std::string& drop, int B = 4) {
  return {{"L", "1"},  {"C", "32"},   {"NH", "2"}, {"maxT", "16"}, {"B", fmt::format("{}", B)},
          {"T", "16"}, {"drop", drop}};
}

Graph build(const ConstOverrides& sets, const std::string& pipeline) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph";
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  Expected<Graph> g = buildGraph(std::move(*program), sets, pipeline);
  REQUIRE_MESSAGE(bool(g), (g ? std::string() : g.error().render()));
  return std::move(*g);
}

std::unique_ptr<StepEngine> engine(Engine which, Graph g) {
  std::string err;
  std::unique_ptr<StepEngine> e = makeEngine(which, std::move(g), 2, {}, &err);
  REQUIRE_MESSAGE(e, err);
  return e;
}

/// The first `bytes` of tinyshakespeare, as ids of the full text's vocabulary (65 symbols).
TokenSplit shakespeare(size_t bytes) {
  IoResult<std::string> text =
      readFileText(std::string(GPTC_SOURCE_DIR) + "/data/tinyshakespeare.txt");
  REQUIRE_MESSAGE(text.ok(), text.error());
  CharTokenizer tok = CharTokenizer::fromText(*text);
  REQUIRE(tok.vocabSize() == 65);
  IoResult<std::vector<int32_t>> ids = tok.encode(std::string_view(*text).substr(0, bytes));
  REQUIRE(ids.ok());
  IoResult<std::vector<uint16_t>> narrow = narrowTokens(*ids);
  REQUIRE(narrow.ok());
  IoResult<TokenSplit> split = splitTrainVal(*narrow, 0.1);
  REQUIRE(split.ok());
  return std::move(*split);
}

TEST_CASE("lr schedule: linear warmup, cosine decay, floor") {
  LrSchedule s{.maxLr = 1e-3, .minLr = 1e-4, .warmupSteps = 10, .totalSteps = 110};
  CHECK(s.check().empty());
  CHECK(s.lrAt(0) == doctest::Approx(1e-4)); // (0+1)/10 of the peak: the first step moves
  CHECK(s.lrAt(4) == doctest::Approx(5e-4));
  CHECK(s.lrAt(9) == doctest::Approx(1e-3));    // warmup ends at the peak
  CHECK(s.lrAt(10) == doctest::Approx(1e-3));   // the cosine starts at the peak
  CHECK(s.lrAt(59) == doctest::Approx(5.5e-4)); // halfway through the decay: the mean
  CHECK(s.lrAt(109) == doctest::Approx(1e-4));  // the last step sits on the floor
  CHECK(s.lrAt(500) == doctest::Approx(1e-4));  // and stays there
  for (int64_t k = 10; k < 109; ++k)
    CHECK(s.lrAt(k + 1) <= s.lrAt(k)); // monotone after warmup
  LrSchedule flat{.maxLr = 2e-3, .minLr = 2e-3, .warmupSteps = 0, .totalSteps = 5};
  CHECK(flat.lrAt(0) == doctest::Approx(2e-3));
  CHECK(flat.lrAt(4) == doctest::Approx(2e-3));
  LrSchedule allWarmup{.maxLr = 1.0, .minLr = 0.0, .warmupSteps = 4, .totalSteps = 4};
  CHECK(allWarmup.lrAt(3) == doctest::Approx(1.0));
  CHECK_FALSE(LrSchedule{.maxLr = -1}.check().empty());
  CHECK_FALSE(LrSchedule{.maxLr = 1e-3, .minLr = 1e-2}.check().empty());
  CHECK_FALSE(LrSchedule{.maxLr = 1e-3, .minLr = 0, .warmupSteps = -1}.check().empty());
  CHECK_FALSE(
      LrSchedule{.maxLr = 1e-3, .minLr = 0, .warmupSteps = 0, .totalSteps = 0}.check().empty());
}

TEST_CASE("JIT training of a tiny chargpt on 8 KB of Shakespeare: the loss falls") {
  auto train = engine(Engine::Jit, build(tinySets("0.1"), "train"));
  auto eval = engine(Engine::Jit, build(tinySets("0"), "inference"));
  TrainOptions o;
  o.steps = 60;
  o.schedule = LrSchedule{.maxLr = 1e-2, .minLr = 1e-3, .warmupSteps = 5, .totalSteps = 60};
  o.valEvery = 30;
  o.valBatches = 4;
  o.seed = 7;
  std::string err;
  auto trainer = Trainer::create(*train, eval.get(), shakespeare(8192), o, &err);
  REQUIRE_MESSAGE(trainer, err);
  REQUIRE(trainer->initParams().empty());
  std::vector<float> losses;
  while (!trainer->finished()) {
    StepReport r;
    std::string e = trainer->step(&r);
    REQUIRE_MESSAGE(e.empty(), e);
    CHECK(r.step == trainer->stepsDone());
    CHECK(r.totalSteps == 60);
    CHECK(std::isfinite(r.gradNorm));
    CHECK(r.lr == doctest::Approx(o.schedule.lrAt(r.step - 1)));
    CHECK(r.valLoss.has_value() == (r.step == 1 || r.step == 31)); // before steps 0 and 30
    losses.push_back(r.loss);
  }
  float finalVal = 0;
  REQUIRE(trainer->validate(&finalVal).empty());
  auto mean = [](auto begin, auto end) { return std::accumulate(begin, end, 0.0) / (end - begin); };
  double first = mean(losses.begin(), losses.begin() + 5),
         last = mean(losses.end() - 10, losses.end());
  MESSAGE(fmt::format("train loss {:.3f} -> {:.3f}; val {:.3f} -> {:.3f}", first, last,
                      trainer->valCurve().front().loss, finalVal));
  CHECK(first == doctest::Approx(std::log(65.0)).epsilon(0.05)); // uniform at init
  CHECK(last < first - 0.6); // it learns letter statistics (measured: 3.97 -> 3.18)
  CHECK(finalVal < trainer->valCurve().front().loss - 0.5);
  REQUIRE(trainer->valCurve().size() == 3);
  CHECK(trainer->valCurve()[1].step == 30);
  CHECK(trainer->trainCurve().size() == 60);

  // The checkpoint holds every param and both AdamW moments of each.
  auto dir = std::filesystem::path(GPTC_BINARY_DIR) / "trainer_test_out";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "tiny.ckpt").string();
  REQUIRE(trainer->saveCheckpoint(path, "{\"test\":1}").empty());
  IoResult<GptcCheckpoint> ck = readGptcCheckpoint(path);
  REQUIRE_MESSAGE(ck.ok(), ck.error());
  CHECK(ck->metadata == "{\"test\":1}");
  CHECK(ck->find("wte") != nullptr);
  CHECK(ck->find("m.wte") != nullptr);
  CHECK(ck->find("v.qkvw") != nullptr);
}

TEST_CASE("JIT and interpreter agree on the first 3 training losses (dropout off)") {
  std::vector<float> jitLoss, refLoss;
  for (Engine which : {Engine::Jit, Engine::Interpreter}) {
    auto train = engine(which, build(tinySets("0", 2), "train"));
    TrainOptions o;
    o.steps = 3;
    o.schedule = LrSchedule{.maxLr = 1e-2, .minLr = 1e-3, .warmupSteps = 1};
    o.seed = 3;
    std::string err;
    auto trainer = Trainer::create(*train, nullptr, shakespeare(2048), o, &err);
    REQUIRE_MESSAGE(trainer, err);
    REQUIRE(trainer->initParams().empty());
    while (!trainer->finished()) {
      StepReport r;
      REQUIRE(trainer->step(&r).empty());
      (which == Engine::Jit ? jitLoss : refLoss).push_back(r.loss);
    }
  }
  for (int k = 0; k < 3; ++k) {
    CAPTURE(k);
    CHECK(jitLoss[k] == doctest::Approx(refLoss[k]).epsilon(1e-4));
  }
  CHECK(jitLoss[2] < jitLoss[0]); // the updates in between really happened
}

TEST_CASE("sampling: a seed gives the same text; greedy and top-k") {
  auto forward = engine(Engine::Jit, build(tinySets("0", 1), "inference"));
  REQUIRE(forward->initParams(11).empty());
  auto sample = [&](uint64_t seed, double temperature, int topK) {
    std::vector<int32_t> ctx = {0};
    std::string e = sampleTokens(*forward, ctx, 40, SamplingOptions{temperature, topK, seed});
    REQUIRE_MESSAGE(e.empty(), e);
    CHECK(ctx.size() == 41);
    for (int32_t t : ctx)
      CHECK((t >= 0 && t < 65));
    return ctx;
  };
  CHECK(sample(5, 1.0, 0) == sample(5, 1.0, 0));
  CHECK(sample(5, 1.0, 0) != sample(6, 1.0, 0)); // 40 draws from ~uniform logits
  CHECK(sample(5, 0.0, 0) == sample(9, 0.0, 0)); // greedy ignores the seed
  CHECK(sample(5, 1.0, 1) == sample(5, 0.0, 0)); // top-1 is greedy
  // Longer than T = 16: the window slides and the output stays deterministic.
  std::vector<int32_t> a = {0}, b = {0};
  REQUIRE(sampleTokens(*forward, a, 30, {0.9, 5, 1}).empty());
  REQUIRE(sampleTokens(*forward, b, 30, {0.9, 5, 1}).empty());
  CHECK(a == b);

  // pickToken on hand-made logits.
  std::vector<float> logits = {0.f, 3.f, 3.f, -1.f};
  SampleRng rng(1);
  CHECK(pickToken(logits, {0.0, 0, 0}, rng) == 1); // ties go to the lower id
  for (int k = 0; k < 50; ++k) {
    int32_t t = pickToken(logits, {1.0, 2, 0}, rng);
    CHECK((t == 1 || t == 2)); // top-2 never picks ids 0 or 3
  }
  std::vector<float> sharp = {0.f, 10.f, 0.f};
  int ones = 0;
  for (int k = 0; k < 200; ++k)
    ones += pickToken(sharp, {0.1, 0, 0}, rng) == 1;
  CHECK(ones == 200); // a low temperature concentrates the mass
}

TEST_CASE("progress: the step line, main.log, the SVG") {
  StepReport r;
  r.step = 12;
  r.totalSteps = 2000;
  r.loss = 2.48312f;
  r.valLoss = 2.51204f;
  r.lr = 6e-4;
  r.gradNorm = 0.914f;
  r.milliseconds = 143.2;
  r.tokensPerSecond = 28600;
  CHECK(formatStepLine(r) ==
        "step 12/2000 | loss 2.4831 | val 2.5120 | lr 6.0e-04 | norm 0.91 | 143 ms | 28.6k tok/s");
  r.valLoss.reset();
  CHECK(formatStepLine(r) ==
        "step 12/2000 | loss 2.4831 | lr 6.0e-04 | norm 0.91 | 143 ms | 28.6k tok/s");

  auto dir = std::filesystem::path(GPTC_BINARY_DIR) / "trainer_test_out";
  std::filesystem::create_directories(dir);
  std::string logPath = (dir / "main.log").string();
  {
    IoResult<MainLog> log = MainLog::open(logPath);
    REQUIRE(log.ok());
    log->val(0, 4.17f);
    log->train(0, 4.2f);
  }
  std::ifstream in(logPath);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "s:0 tel:4.170000\ns:0 trl:4.200000\n");
  CHECK_FALSE(MainLog::open((dir / "no/such/dir/main.log").string()).ok());

  std::string svg = lossCurveSvg({{0, 4.2f}, {1, 3.9f}, {2, NAN}, {3, 3.1f}},
                                 {{0, 4.17f}, {3, 3.2f}}, "a <title> & more");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("#1f77b4") != std::string::npos); // train curve
  CHECK(svg.find("#ff7f0e") != std::string::npos); // val curve
  CHECK(svg.find("a &lt;title&gt; &amp; more") != std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(lossCurveSvg({}, {}, "empty").find("</svg>") != std::string::npos);
}

} // namespace
} // namespace gptc
