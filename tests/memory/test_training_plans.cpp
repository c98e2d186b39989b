// tests/memory/test_training_plans.cpp — the memory plans of whole pipelines (the `train` pipeline:
// forward, backward, AdamW; and `inference`) at the models' default sizes: within 5% of the lower
// bound and accepted by the checker; `stack` operands computed straight into their slice (no copy,
// no per-layer buffers live beside the stacked gradient); and the compiled step's results
// bit-identical under the real plan and under the naive one (--no-memory-plan), over several
// AdamW steps, so reuse, in-place writes and stack slices change no bit (an in-place kernel reads
// its operand through the result pointer and vectorizes like the out-of-place one:
// codegen/kernel_emitter.h, KernelSpec::operandIsResult).
#include "ir/parser.h"
#include "passes/plan_memory.h"
#include "runtime/exec/executable.h"
#include "runtime/exec/step_engine.h"

#include <doctest/doctest.h>

#include <cstring>
#include <fmt/format.h>
#include <random>

using namespace gptc;

namespace {

Graph pipelineGraph(const std::string& file, const std::string& pipeline, ConstOverrides set = {}) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/" + file;
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  Expected<Graph> g = buildGraph(*program, set, pipeline);
  REQUIRE_MESSAGE(bool(g), (bool(g) ? std::string() : g.error().render()));
  return std::move(*g);
}

const ConstOverrides kTinyGpt2{{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", "3"},
                               {"NH", "2"}, {"C", "32"},   {"B", "2"},     {"T", "8"}};
const ConstOverrides kTinyChar{{"L", "2"}, {"NH", "2"}, {"C", "32"},    {"maxT", "16"},
                               {"B", "2"}, {"T", "8"},  {"drop", "0.1"}};
const ConstOverrides kTinySeq{{"D", "16"}, {"H", "2"}, {"F", "32"}, {"LE", "2"},
                              {"LD", "2"}, {"B", "4"}, {"S", "6"},  {"T", "7"}};

} // namespace

TEST_CASE("every model's training and inference plan is within 5% of the lower bound") {
  for (std::string m : {"gpt2.graph", "chargpt.graph", "seq2seq.graph"})
    for (std::string p : {"train", "inference"}) {
      CAPTURE(m);
      CAPTURE(p);
      Graph g = pipelineGraph(m, p);
      MemoryPlan plan = planMemory(g);
      CHECK(checkPlan(g, plan) == "");
      double ratio = double(plan.arenaBytes) / double(plan.lowerBound);
      CHECK(ratio <= 1.05);
      MESSAGE(fmt::format("{} {}: arena {} bytes, bound {}, ratio {:.3f}", m, p, plan.arenaBytes,
                          plan.lowerBound, ratio));
    }
}

TEST_CASE("stack operands are computed into their slice; the stack emits no code") {
  Graph g = pipelineGraph("gpt2.graph", "train", kTinyGpt2);
  MemoryPlan plan = planMemory(g);
  REQUIRE(checkPlan(g, plan) == "");
  int stacks = 0;
  for (const Node& n : g.nodes) {
    if (n.kind != OpKind::Stack) continue;
    ++stacks;
    const ValuePlacement& r = plan.placement[n.result];
    CAPTURE(g.values[n.result].name);
    CHECK(r.noCode);
    int64_t slice = r.bytes / int64_t(n.operands.size());
    for (size_t i = 0; i < n.operands.size(); ++i) {
      const ValuePlacement& o = plan.placement[n.operands[i]];
      CHECK(o.region == r.region);
      CHECK(o.offset == r.offset + int64_t(i) * slice);
    }
  }
  CHECK(stacks >= 10); // one per stacked parameter's gradient
  // Without the option, every stack copies.
  PlanOptions off;
  off.stackInPlace = false;
  MemoryPlan copying = planMemory(g, off);
  REQUIRE(checkPlan(g, copying) == "");
  for (const Node& n : g.nodes)
    if (n.kind == OpKind::Stack) CHECK_FALSE(copying.placement[n.result].noCode);
}

TEST_CASE("training steps are bit-identical with and without the memory plan") {
  struct Case {
    const char* file;
    ConstOverrides set;
  };
  for (const Case& c : {Case{"gpt2.graph", kTinyGpt2}, Case{"chargpt.graph", kTinyChar},
                        Case{"seq2seq.graph", kTinySeq}}) {
    CAPTURE(c.file);
    Graph g = pipelineGraph(c.file, "train", c.set);
    std::vector<std::unique_ptr<Executable>> exes;
    for (bool planned : {true, false}) {
      MemoryPlan plan = planned ? planMemory(g) : naivePlan(g);
      REQUIRE(checkPlan(g, plan) == "");
      std::string err;
      exes.push_back(Executable::create(g, plan, {}, &err));
      REQUIRE_MESSAGE(exes.back(), err);
      REQUIRE(exes.back()->initParams(11).empty());
      std::mt19937 gen(4);
      for (const Value& v : g.values) {
        if (v.kind != ValueKind::Input) continue;
        Tensor t(v.type);
        if (v.name == "lr")
          t.f[0] = 1e-2f;
        else if (v.type.dtype == DType::i32)
          for (int32_t& x : t.i)
            x = v.type.rank() == 0 ? 1234 : int32_t(1 + gen() % 12);
        REQUIRE(exes.back()->bind(v.name, t).empty());
      }
    }
    for (int step = 1; step <= 3; ++step) {
      for (auto& e : exes) {
        REQUIRE(e->bind("step", Tensor::scalarI32(step)).empty());
        REQUIRE(e->run(2).empty());
      }
      for (int o : g.outputs) {
        Tensor a, b;
        REQUIRE(exes[0]->read(g.values[o].name, &a).empty());
        REQUIRE(exes[1]->read(g.values[o].name, &b).empty());
        CAPTURE(g.values[o].name);
        CHECK(std::memcmp(a.f.data(), b.f.data(), a.type.bytes()) == 0);
      }
    }
    int params = 0;
    for (const std::string& name : exes[0]->persistentNames()) {
      Tensor a, b;
      REQUIRE(exes[0]->read(name, &a).empty());
      REQUIRE(exes[1]->read(name, &b).empty());
      CAPTURE(name);
      const void* pa = a.type.dtype == DType::f32 ? (const void*)a.f.data() : a.i.data();
      const void* pb = b.type.dtype == DType::f32 ? (const void*)b.f.data() : b.i.data();
      CHECK(std::memcmp(pa, pb, a.type.bytes()) == 0);
      ++params;
    }
    CHECK(params > 10);
  }
}

TEST_CASE("the report splits what is live at the peak into activations, gradients, optimizer") {
  // GPT-2's training peak is at the end of the backward: every parameter's gradient is live (the
  // global norm needs them all), the forward's activations are gone but for the logits (an output).
  Graph g = pipelineGraph("gpt2.graph", "train", kTinyGpt2);
  MemoryPlan plan = planMemory(g);
  std::string report = memoryReport(g, plan);
  CAPTURE(report);
  size_t at = report.find("live at the peak: forward activations ");
  REQUIRE(at != std::string::npos);
  CHECK(report.find("gradients", at) != std::string::npos);
  CHECK(report.find("gradients 0 B", at) == std::string::npos); // the backward's values are there
  CHECK(report.find("optimizer temporaries", at) != std::string::npos);
  // The inference plan has no backward: every byte at its peak is a forward activation.
  Graph inf = pipelineGraph("gpt2.graph", "inference", kTinyGpt2);
  std::string r2 = memoryReport(inf, planMemory(inf));
  CAPTURE(r2);
  CHECK(r2.find("gradients 0 B (0), optimizer temporaries 0 B (0)") != std::string::npos);
}
