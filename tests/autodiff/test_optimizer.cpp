// The AdamW pass against an independent double-precision transcription of torch.optim.AdamW with
// clip_grad_norm_ in front, on a graph whose gradients are known in closed form; plus which params
// get weight decay, and the shape of what the pass adds.
#include "ir/parser.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "runtime/interp/interpreter.h"

#include <algorithm>
#include <cmath>
#include <doctest/doctest.h>
#include <random>

using namespace gptc;

namespace {

// loss = Σ w²·x + Σ s[0]·b:  dw = 2·w·x, ds[0] = b, ds[1] = 0, db = s[0]
const char* kGraph = "param w : f32[3,4]\n"
                     "param s : f32[2,4]\n"
                     "param b : f32[4]\n"
                     "input x : f32[3,4]\n"
                     "output loss = add(reduce_sum(mul(mul(w, w), x)) {axes = [0, 1]},\n"
                     "                  reduce_sum(mul(select(s) {index = 0}, b)) {axes = [0]})\n";

struct Ref { // torch.optim.AdamW, in double
  std::vector<double> p, m, v;
  bool decay;
};

} // namespace

TEST_CASE("weight decay goes to per-layer matrices only") {
  Expected<Graph> g = parseGraph(kGraph, "opt.graph");
  REQUIRE(g);
  CHECK(decaysWeights(*g, g->find("w")));  // rank 2
  CHECK(!decaysWeights(*g, g->find("s"))); // [L, C] read per layer: per-layer rank 1
  CHECK(!decaysWeights(*g, g->find("b"))); // rank 1
}

TEST_CASE("AdamW with clipping matches a double transcription of torch for 6 steps") {
  for (double clip : {1.0, 0.0}) {
    CAPTURE(clip);
    Expected<Graph> parsed = parseGraph(kGraph, "opt.graph");
    REQUIRE(parsed);
    Graph g = std::move(*parsed);
    REQUIRE(differentiate(g));
    OptimizerOptions o;
    o.clip = clip;
    o.weightDecay = 0.1;
    Expected<OptimizerResult> r = appendAdamW(g, o);
    REQUIRE(r);
    CHECK(verifyGraph(g).empty());
    CHECK(r->decayed == std::vector<int>{g.find("w")});
    CHECK((g.find("grad_clip") >= 0) == (clip > 0));
    // The moments read the raw gradient and, when clipping, the scale: no mul of every gradient.
    for (const Node& n : g.nodes) {
      if (clip > 0 && n.kind != OpKind::AdamWMoment1 && n.kind != OpKind::AdamWMoment2)
        for (int o : n.operands)
          CHECK(o != g.find("grad_clip"));
      if (n.kind != OpKind::AdamWMoment1 && n.kind != OpKind::AdamWMoment2) continue;
      CHECK(g.value(n.operands[1]).name.rfind("grad.", 0) == 0);
      CHECK(n.operands.size() == (clip > 0 ? 3u : 2u));
      if (clip > 0) CHECK(n.operands[2] == g.find("grad_clip"));
    }
    CHECK(g.value(g.find("m.w")).kind == ValueKind::State);
    CHECK(g.type(g.find("lr")) == TensorType{DType::f32, {}});
    CHECK(g.type(g.find("step")) == TensorType{DType::i32, {}});
    CHECK(g.find("grad.w") >= 0);
    for (int out : g.outputs)
      CHECK(g.value(out).name.rfind("grad.", 0) != 0); // consumed, not outputs

    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    auto rand = [&](std::vector<int64_t> shape) {
      Tensor t(TensorType{DType::f32, shape});
      for (float& x : t.f)
        x = u(rng);
      return t;
    };
    Tensor w = rand({3, 4}), s = rand({2, 4}), b = rand({4}), x = rand({3, 4});
    for (float& xi : x.f)
      xi *= 3; // a gradient norm well above 1, so clipping engages
    Interpreter in(g);
    REQUIRE(in.bind("w", w).empty());
    REQUIRE(in.bind("s", s).empty());
    REQUIRE(in.bind("b", b).empty());
    REQUIRE(in.bind("x", x).empty());

    auto toD = [](const Tensor& t) { return std::vector<double>(t.f.begin(), t.f.end()); };
    std::map<std::string, Ref> ref;
    ref["w"] = {toD(w), std::vector<double>(12), std::vector<double>(12), true};
    ref["s"] = {toD(s), std::vector<double>(8), std::vector<double>(8), false};
    ref["b"] = {toD(b), std::vector<double>(4), std::vector<double>(4), false};
    const double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    bool clipped = false;
    for (int step = 1; step <= 6; ++step) {
      REQUIRE(in.bind("lr", Tensor::scalarF32(float(lr))).empty());
      REQUIRE(in.bind("step", Tensor::scalarI32(step)).empty());
      std::string err = in.run();
      REQUIRE_MESSAGE(err.empty(), err);
      // Closed-form gradients at the reference's current params.
      std::map<std::string, std::vector<double>> grad;
      grad["w"].resize(12);
      for (int i = 0; i < 12; ++i)
        grad["w"][i] = 2 * ref["w"].p[i] * x.f[i];
      grad["s"].assign(8, 0);
      for (int i = 0; i < 4; ++i)
        grad["s"][i] = ref["b"].p[i];
      grad["b"].assign(ref["s"].p.begin(), ref["s"].p.begin() + 4);
      double sq = 0;
      for (auto& [n, gv] : grad)
        for (double e : gv)
          sq += e * e;
      double norm = std::sqrt(sq);
      CHECK(in.get("grad_norm").f[0] == doctest::Approx(norm).epsilon(1e-5));
      double scale = clip > 0 ? std::min(1.0, clip / (norm + 1e-6)) : 1.0;
      clipped |= scale < 1;
      double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
      for (auto& [n, st] : ref) {
        for (size_t i = 0; i < st.p.size(); ++i) {
          double gi = grad[n][i] * scale;
          if (st.decay) st.p[i] *= 1 - lr * wd;
          st.m[i] = b1 * st.m[i] + (1 - b1) * gi;
          st.v[i] = b2 * st.v[i] + (1 - b2) * gi * gi;
          st.p[i] -= lr / bc1 * st.m[i] / (std::sqrt(st.v[i]) / std::sqrt(bc2) + eps);
        }
      }
      for (auto& [n, st] : ref)
        for (size_t i = 0; i < st.p.size(); ++i)
          CHECK_MESSAGE(std::fabs(in.get(n).f[i] - st.p[i]) <= 2e-6,
                        n << "[" << i << "] after step " << step << ": " << in.get(n).f[i] << " vs "
                          << st.p[i]);
    }
    CHECK(clipped == (clip > 0));
  }
}

TEST_CASE("the optimizer needs gradients, and lr/step must be free or scalar inputs") {
  Expected<Graph> g = parseGraph(kGraph, "opt.graph");
  REQUIRE(g);
  Expected<OptimizerResult> none = appendAdamW(*g);
  REQUIRE_FALSE(none);
  CHECK(none.error().message.find("run autodiff first") != std::string::npos);

  Expected<Graph> clash = parseGraph("param w : f32[2]\ninput lr : f32[2]\n"
                                     "output loss = reduce_sum(mul(w, lr)) {axes = [0]}\n",
                                     "opt.graph");
  REQUIRE(clash);
  REQUIRE(differentiate(*clash));
  Expected<OptimizerResult> bad = appendAdamW(*clash);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("'lr' must be `input lr : f32[]`") != std::string::npos);
}

TEST_CASE("the training step's outputs are the loss and the gradient norm") {
  // A forward output other than the loss (GPT-2's logits) would live to the end of the step, at
  // the memory peak beside every gradient; the pass drops it unless asked to keep it.
  for (bool keep : {false, true}) {
    CAPTURE(keep);
    Expected<Graph> parsed =
        parseGraph(std::string(kGraph) + "output doubled = scale(x) {s = 2.0}\n", "opt.graph");
    REQUIRE(parsed);
    Graph g = std::move(*parsed);
    REQUIRE(differentiate(g));
    OptimizerOptions o;
    o.keepForwardOutputs = keep;
    Expected<OptimizerResult> r = appendAdamW(g, o);
    REQUIRE(r);
    std::vector<int> want{g.find("loss"), r->gradNorm};
    if (keep) want.insert(want.begin() + 1, g.find("doubled"));
    std::vector<int> got = g.outputs;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    CHECK(got == want);
    CHECK(g.find("doubled") >= 0); // dropped as an output, still a value of the graph until dce
  }
}
