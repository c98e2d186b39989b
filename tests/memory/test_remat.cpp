// tests/memory/test_remat.cpp — the remat pass (passes/remat.h) under a memory budget: without a
// budget nothing changes; with one the rewritten step plans within it (proved by the plan checker,
// not by the pass), the clones are named %remat.<name> and sit in the backward, and three AdamW
// steps of each model are bit-identical to the unbudgeted step (every output, every parameter and
// moment); a budget below anything reachable is an error that states the smallest plan.
#include "ir/parser.h"
#include "passes/plan_memory.h"
#include "passes/remat.h"
#include "runtime/exec/executable.h"
#include "runtime/exec/step_engine.h"

#include <doctest/doctest.h>

#include <cstring>
#include <fmt/format.h>
#include <random>

using namespace gptc;

namespace {

Graph trainGraph(const std::string& file, ConstOverrides set) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/" + file;
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  Expected<Graph> g = buildGraph(*program, set, "train");
  REQUIRE_MESSAGE(bool(g), (bool(g) ? std::string() : g.error().render()));
  return std::move(*g);
}

// Tiny, for a fast test; recomputation still buys something at these sizes.
const ConstOverrides kGpt2{{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", "2"},
                           {"NH", "2"}, {"C", "32"},   {"B", "2"},     {"T", "16"}};
const ConstOverrides kChar{{"L", "2"}, {"NH", "2"}, {"C", "32"},    {"maxT", "16"},
                           {"B", "2"}, {"T", "16"}, {"drop", "0.1"}};
const ConstOverrides kSeq{{"D", "16"}, {"H", "2"}, {"F", "32"}, {"LE", "2"},
                          {"LD", "2"}, {"B", "4"}, {"S", "6"},  {"T", "7"}};

int64_t total(const MemoryPlan& p) {
  return p.persistentBytes + p.inputBytes + p.arenaBytes;
}

int countClones(const Graph& g) {
  int n = 0;
  for (const Value& v : g.values)
    n += v.kind == ValueKind::Op && v.name.rfind("remat.", 0) == 0;
  return n;
}

} // namespace

TEST_CASE("remat: no budget, no change; a budget that already fits, no change") {
  Graph g = trainGraph("gpt2.graph", kGpt2);
  Graph h = g;
  Expected<bool> changed = rematerialize(h, 0);
  REQUIRE(bool(changed));
  CHECK_FALSE(*changed);
  std::string why;
  CHECK_MESSAGE(graphsEqual(g, h, &why), why);
  RematReport rep;
  changed = rematerialize(h, int64_t(1) << 40, &rep);
  REQUIRE(bool(changed));
  CHECK_FALSE(*changed);
  CHECK(graphsEqual(g, h, &why));
  CHECK(rep.peakAfter == rep.peakBefore);
}

TEST_CASE("remat: a budget below every reachable plan states the smallest one") {
  Graph g = trainGraph("gpt2.graph", kGpt2);
  Expected<bool> r = rematerialize(g, 1024);
  REQUIRE_FALSE(bool(r));
  CAPTURE(r.error().message);
  CHECK(r.error().message.find("smallest plan recomputation reaches is") != std::string::npos);
  CHECK(r.error().message.find('\n') == std::string::npos);
}

TEST_CASE("remat: the checker, not the pass, rejects a plan over its budget") {
  Graph g = trainGraph("seq2seq.graph", kSeq);
  MemoryPlan plan = planMemory(g);
  plan.budget = total(plan);
  CHECK(checkPlan(g, plan) == "");
  plan.budget = total(plan) - 1;
  CHECK(checkPlan(g, plan).find("more than the memory budget") != std::string::npos);
}

TEST_CASE("remat: three models, two budgets, three AdamW steps bit-identical to no remat") {
  struct Case {
    const char* file;
    ConstOverrides set;
  };
  for (const Case& c :
       {Case{"gpt2.graph", kGpt2}, Case{"chargpt.graph", kChar}, Case{"seq2seq.graph", kSeq}}) {
    CAPTURE(c.file);
    Graph base = trainGraph(c.file, c.set);
    RematReport sweep;
    Graph probe = base;
    REQUIRE(bool(rematerialize(probe, 0, &sweep, /*sweep=*/true)));
    REQUIRE(sweep.candidates > 0);
    REQUIRE(sweep.smallest < sweep.peakBefore); // recomputation buys something here
    MESSAGE(fmt::format("{}: {} candidates, planned {} -> smallest {}", c.file, sweep.candidates,
                        sweep.peakBefore, sweep.smallest));
    std::vector<Graph> graphs{base};
    std::vector<int64_t> budgets = {(sweep.peakBefore + sweep.smallest) / 2, sweep.smallest};
    for (int64_t budget : budgets) {
      Graph g = base;
      RematReport rep;
      Expected<bool> changed = rematerialize(g, budget, &rep);
      REQUIRE_MESSAGE(bool(changed), (changed ? std::string() : changed.error().message));
      CHECK(*changed);
      CHECK(rep.peakAfter <= budget);
      CHECK(rep.extraFlops > 0);
      CHECK(countClones(g) == int(rep.cloned.size()));
      // Every clone is in the backward, after the loss, and every reader of a clone comes after it
      // (the dump stays in program order).
      int loss = g.values[g.find("loss")].def;
      for (size_t n = 0; n < g.nodes.size(); ++n)
        if (g.values[g.nodes[n].result].name.rfind("remat.", 0) == 0) CHECK(int(n) > loss);
      graphs.push_back(std::move(g));
    }
    CHECK(countClones(graphs[2]) >= countClones(graphs[1]));

    std::vector<std::unique_ptr<Executable>> exes;
    for (size_t i = 0; i < graphs.size(); ++i) {
      const Graph& g = graphs[i];
      MemoryPlan plan = planMemory(g);
      if (i > 0) plan.budget = budgets[i - 1];
      REQUIRE(checkPlan(g, plan) == ""); // the plan fits its budget: the checker says so
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
      for (int o : base.outputs)
        for (size_t i = 1; i < exes.size(); ++i) {
          Tensor a, b;
          REQUIRE(exes[0]->read(base.values[o].name, &a).empty());
          REQUIRE(exes[i]->read(base.values[o].name, &b).empty());
          CAPTURE(base.values[o].name);
          CHECK(std::memcmp(a.f.data(), b.f.data(), a.type.bytes()) == 0);
        }
    }
    for (const std::string& name : exes[0]->persistentNames())
      for (size_t i = 1; i < exes.size(); ++i) {
        Tensor a, b;
        REQUIRE(exes[0]->read(name, &a).empty());
        REQUIRE(exes[i]->read(name, &b).empty());
        CAPTURE(name);
        const void* pa = a.type.dtype == DType::f32 ? (const void*)a.f.data() : a.i.data();
        const void* pb = b.type.dtype == DType::f32 ? (const void*)b.f.data() : b.i.data();
        CHECK(std::memcmp(pa, pb, a.type.bytes()) == 0);
      }
  }
}
