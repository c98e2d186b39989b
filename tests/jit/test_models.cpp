// tests/jit/test_models.cpp — the four models, whole, JIT vs interpreter at their tiny configs:
// logits and loss within 1e-5 relative, and (with passes/autodiff.h) every parameter gradient
// within 1e-4; under the naive plan and under the real memory plan (in-place ops, views, arena
// reuse, so the barrier elision is exercised); 1 and 2 threads bit for bit; chargpt with dropout
// 0.1, whose masks must be the interpreter's exactly (a different mask would move the loss far
// beyond the tolerance).
#include "jit_test_util.h"

#include "ir/parser.h"
#include "passes/autodiff.h"
#include "passes/plan_memory.h"

#include <fmt/format.h>

namespace gptc {
namespace {

struct ModelCase {
  std::string file;
  ConstOverrides sets;
  std::string label;
};

Graph load(const ModelCase& m) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/" + m.file;
  Expected<std::string> text = readTextFile(path);
  REQUIRE_MESSAGE(bool(text), (bool(text) ? std::string() : text.error().render()));
  Expected<Graph> g = parseGraph(*text, path, m.sets);
  REQUIRE_MESSAGE(bool(g), (bool(g) ? std::string() : g.error().render()));
  return std::move(*g);
}

/// Params from the interpreter's generator, inputs random: tokens in range, seq2seq's PAD tails.
std::map<std::string, Tensor> feeds(const Graph& g, const ModelCase& m, std::mt19937& gen) {
  std::map<std::string, Tensor> f = initParams(g, 7);
  for (const Value& v : g.values) {
    if (v.kind != ValueKind::Input) continue;
    if (v.type.rank() == 0) {
      f[v.name] = Tensor::scalarI32(20240611);
      continue;
    }
    int vocab = m.file == "seq2seq.graph"                              ? 13
                : m.file == "chargpt.graph" || m.file == "llama.graph" ? 65
                                                                       : 64;
    Tensor t = jittest::randomI32(v.type.shape, gen, m.file == "seq2seq.graph" ? 1 : 0, vocab);
    if (m.file == "seq2seq.graph") { // the last two positions of every other row are PAD
      int64_t T = v.type.shape.back();
      for (int64_t r = 0; r < v.type.shape[0]; r += 2)
        for (int64_t c = T - 2; c < T; ++c)
          t.i[r * T + c] = 0;
    }
    f[v.name] = std::move(t);
  }
  return f;
}

void checkModel(const ModelCase& m, bool gradients) {
  CAPTURE(m.label);
  Graph g = load(m);
  std::map<std::string, std::pair<int, int>> gradOf;
  if (gradients) {
    Expected<AutodiffResult> ad = differentiate(g);
    REQUIRE_MESSAGE(bool(ad), (bool(ad) ? std::string() : ad.error().render()));
    for (const auto& pg : ad->grads)
      g.outputs.push_back(pg.grad);
  }
  std::mt19937 gen(3);
  std::map<std::string, Tensor> in = feeds(g, m, gen);
  std::map<std::string, Tensor> ref = jittest::interpret(g, in);

  for (bool planned : {false, true}) {
    CAPTURE(planned);
    MemoryPlan plan = planned ? planMemory(g) : naivePlan(g);
    std::string bad = checkPlan(g, plan);
    REQUIRE_MESSAGE(bad.empty(), bad);
    auto exe = jittest::build(g, plan, in);
    auto one = jittest::execute(*exe, 1);
    auto two = jittest::execute(*exe, 2);
    double worstFwd = 0, worstGrad = 0;
    std::string worstGradName;
    for (const auto& [name, t] : ref) {
      CAPTURE(name);
      CHECK_MESSAGE(jittest::sameBits(one[name], two[name]), "1 and 2 threads differ");
      jittest::Diff d = jittest::compare(one[name], t, jittest::Measure::NormWise);
      CHECK_MESSAGE(d.nanMismatch.empty(), d.nanMismatch);
      bool isGrad = name.rfind("grad.", 0) == 0;
      CHECK_MESSAGE(d.maxRel <= (isGrad ? 1e-4 : 1e-5), "max relative error ", d.maxRel, " at ",
                    d.worst);
      if (isGrad && d.maxRel > worstGrad) {
        worstGrad = d.maxRel;
        worstGradName = name;
      }
      if (!isGrad) worstFwd = std::max(worstFwd, d.maxRel);
    }
    const CompileStats& s = exe->compiled().stats();
    MESSAGE(fmt::format(
        "{} ({} plan{}): forward max rel {:.3g}, gradients {:.3g} ({}); {} kernels, {} calls, "
        "{} views skipped, {} barriers, {} elided; loss jit {} ref {}",
        m.label, planned ? "real" : "naive", gradients ? ", with backward" : "", worstFwd,
        worstGrad, worstGradName, s.kernels, s.calls, s.skippedViews, s.barriers, s.barriersElided,
        one["loss"].f[0], ref["loss"].f[0]));
  }
}

const ModelCase kGpt2{"gpt2.graph",
                      {{"V", "64"},
                       {"Vp", "128"},
                       {"maxT", "16"},
                       {"L", "2"},
                       {"NH", "2"},
                       {"C", "32"},
                       {"B", "2"},
                       {"T", "8"}},
                      "gpt2 tiny"};
const ModelCase kChar{
    "chargpt.graph",
    {{"L", "2"}, {"NH", "2"}, {"C", "32"}, {"maxT", "16"}, {"B", "2"}, {"T", "8"}, {"drop", "0"}},
    "chargpt tiny drop=0"};
const ModelCase kCharDrop{
    "chargpt.graph",
    {{"L", "2"}, {"NH", "2"}, {"C", "32"}, {"maxT", "16"}, {"B", "2"}, {"T", "8"}, {"drop", "0.1"}},
    "chargpt tiny drop=0.1"};
const ModelCase kSeq{"seq2seq.graph",
                     {{"D", "16"},
                      {"H", "2"},
                      {"F", "32"},
                      {"LE", "2"},
                      {"LD", "2"},
                      {"B", "4"},
                      {"S", "6"},
                      {"T", "7"}},
                     "seq2seq tiny"};

const ModelCase kLlama{"llama.graph",
                       {{"L", "2"}, {"NH", "2"}, {"C", "32"}, {"F", "64"}, {"B", "2"}, {"T", "8"}},
                       "llama tiny"};

TEST_CASE("gpt2: JIT vs interpreter") {
  checkModel(kGpt2, false);
}
TEST_CASE("chargpt: JIT vs interpreter, dropout 0 and 0.1") {
  checkModel(kChar, false);
  checkModel(kCharDrop, false);
}
TEST_CASE("seq2seq: JIT vs interpreter") {
  checkModel(kSeq, false);
}

TEST_CASE("llama: JIT vs interpreter") {
  checkModel(kLlama, false);
}

TEST_CASE("training gradients: JIT vs interpreter") {
  checkModel(kGpt2, true);
  checkModel(kLlama, true);
  checkModel(kCharDrop, true);
  checkModel(kSeq, true);
}

} // namespace
} // namespace gptc
