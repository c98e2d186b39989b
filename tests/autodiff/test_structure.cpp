// What the backward looks like, not just what it computes: names, locations, one stack per stacked
// param, errors for what cannot be differentiated, and training-step graphs of the three models
// that verify and survive a print -> parse round trip.
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "passes/pipeline.h"

#include <doctest/doctest.h>

using namespace gptc;

namespace {

Graph parse(const std::string& text) {
  Expected<Graph> g = parseGraph(text, "case.graph");
  REQUIRE_MESSAGE(g, (g ? "" : g.error().render()));
  return std::move(*g);
}

Graph model(const std::string& file, const ConstOverrides& sets) {
  Expected<std::string> text = readTextFile(std::string(GPTC_SOURCE_DIR) + "/models/" + file);
  REQUIRE(text);
  Expected<Graph> g = parseGraph(*text, "models/" + file, sets);
  REQUIRE_MESSAGE(g, (g ? "" : g.error().render()));
  return std::move(*g);
}

int countOps(const Graph& g, OpKind kind) {
  int n = 0;
  for (const Node& node : g.nodes)
    n += node.kind == kind;
  return n;
}

} // namespace

TEST_CASE("a backward-only op on the path to the loss is refused, located at that op") {
  Graph g = parse("param x : f32[3]\ninput dy : f32[3]\nr = gelu_grad(x, dy)\noutput loss = "
                  "reduce_sum(r) {axes = [0]}\n");
  Expected<AutodiffResult> r = differentiate(g);
  REQUIRE_FALSE(r);
  std::string text = r.error().render();
  CHECK(text.find("case.graph:3:") != std::string::npos);
  CHECK(text.find("not differentiable") != std::string::npos);
}

TEST_CASE("loss errors: missing, not a scalar") {
  Graph g = parse("param x : f32[3]\noutput y = scale(x) {s = 2.0}\n");
  Expected<AutodiffResult> missing = differentiate(g);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("no value 'loss'") != std::string::npos);
  AutodiffOptions o;
  o.loss = "y";
  Expected<AutodiffResult> vector = differentiate(g, o);
  REQUIRE_FALSE(vector);
  CHECK(vector.error().message.find("must be f32[]") != std::string::npos);
}

TEST_CASE("params that do not reach the loss get no gradient; ids and masks never do") {
  Graph g = parse("input ids : i32[4]\nparam table : f32[5,3]\nparam unused : f32[3]\n"
                  "param other : f32[2]\nside = scale(other) {s = 2.0}\n"
                  "output loss = reduce_sum(embedding(ids, table)) {axes = [0, 1]}\n");
  Expected<AutodiffResult> r = differentiate(g);
  REQUIRE(r);
  REQUIRE(r->grads.size() == 1);
  CHECK(g.value(r->grads[0].grad).name == "grad.table");
  CHECK(g.find("grad.unused") < 0);
  CHECK(g.find("grad.other") < 0);
  CHECK(r->unused.size() == 2);
  CHECK(g.find("d.side") < 0); // no backward for ops off the path to the loss
  CHECK(verifyGraph(g).empty());
}

TEST_CASE("a param read per layer gets one stack of per-layer gradients, zeros for unread layers") {
  Graph g = parse("param w : f32[3,4]\nparam x : f32[4]\n"
                  "a = mul(x, select(w) {index = 1})\nb = mul(a, select(w) {index = 2})\n"
                  "output loss = reduce_sum(b) {axes = [0]}\n");
  Expected<AutodiffResult> r = differentiate(g);
  REQUIRE(r);
  int grad = g.find("grad.w");
  REQUIRE(grad >= 0);
  const Node& stack = g.defOf(grad);
  CHECK(stack.kind == OpKind::Stack);
  REQUIRE(stack.operands.size() == 3);
  CHECK(g.defOf(stack.operands[0]).kind == OpKind::Fill); // layer 0: zeros
  CHECK(countOps(g, OpKind::Pad) == 0);                   // no full-size scatter per layer
  CHECK(countOps(g, OpKind::Stack) == 1);
}

TEST_CASE("gradient names and locations read like the forward") {
  Graph g = parse("param w : f32[4,4]\nparam b : f32[4]\ninput x : f32[2,4]\n"
                  "h = linear(x, w, b)\n"
                  "y = mul(gelu(h), h)\n"
                  "output loss = reduce_sum(y) {axes = [0, 1]}\n");
  Expected<AutodiffResult> r = differentiate(g);
  REQUIRE(r);
  // h has two users, so its gradient is the sum of two named contributions.
  int dh = g.find("d.h");
  REQUIRE(dh >= 0);
  CHECK(g.defOf(dh).kind == OpKind::Add);
  CHECK(g.find("d.h.via.y") >= 0);
  // Backward ops carry the forward op's location: grad.w is computed at linear's line (4).
  int gw = g.find("grad.w");
  REQUIRE(gw >= 0);
  CHECK(g.value(gw).loc.line == 4);
  CHECK(g.defOf(gw).kind == OpKind::MatMul);
  // x is an input: no gradient flows into it.
  CHECK(g.find("d.x") < 0);
}

TEST_CASE("training-step graphs of the three models verify and round-trip through the printer") {
  struct M {
    const char* file;
    ConstOverrides sets;
    int params;
  };
  std::vector<M> models = {
      {"gpt2.graph",
       {{"V", "64"},
        {"Vp", "128"},
        {"maxT", "16"},
        {"L", "2"},
        {"NH", "2"},
        {"C", "32"},
        {"B", "2"},
        {"T", "8"}},
       16},
      {"chargpt.graph",
       {{"maxT", "16"}, {"L", "2"}, {"NH", "2"}, {"C", "32"}, {"B", "2"}, {"T", "8"}},
       16},
      {"seq2seq.graph", {{"LE", "2"}, {"LD", "2"}, {"B", "4"}, {"S", "6"}, {"T", "7"}}, 36},
  };
  for (const M& m : models) {
    std::string file = m.file;
    CAPTURE(file);
    Graph g = model(m.file, m.sets);
    int forwardOps = g.numOps();
    Expected<AutodiffResult> r = differentiate(g);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().render()));
    CHECK(int(r->grads.size()) == m.params);
    CHECK(r->unused.empty());
    Expected<OptimizerResult> o = appendAdamW(g);
    REQUIRE_MESSAGE(o, (o ? "" : o.error().render()));
    CHECK(g.updates.size() == size_t(3 * m.params));
    CHECK(verifyGraph(g).empty());
    CHECK(g.numOps() > 2 * forwardOps);
    std::string text = printGraph(g);
    Expected<Graph> back = parseGraph(text, "dump.graph");
    REQUIRE_MESSAGE(back, (back ? "" : back.error().render()));
    std::string why;
    CHECK_MESSAGE(graphsEqual(g, *back, &why), why);
  }
}

TEST_CASE("the train pipeline builds forward, backward and update for gpt2") {
  const Pipeline* train = findPipeline("train");
  REQUIRE(train);
  Expected<std::vector<const PassInfo*>> passes = resolvePipeline(*train);
  REQUIRE_MESSAGE(passes, (passes ? "" : passes.error().render()));
  Expected<std::string> text = readTextFile(std::string(GPTC_SOURCE_DIR) + "/models/gpt2.graph");
  REQUIRE(text);
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, "models/gpt2.graph");
  REQUIRE(program);
  PassContext ctx;
  ctx.program = *program;
  ctx.overrides = {{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", "2"},
                   {"NH", "2"}, {"C", "32"},   {"B", "2"},     {"T", "8"}};
  ctx.training = train->training;
  PassManager pm(*passes);
  Expected<std::vector<PassRecord>> records = pm.run(ctx);
  REQUIRE_MESSAGE(records, (records ? "" : records.error().render()));
  const Graph& g = ctx.graph;
  CHECK(verifyGraph(g).empty());
  CHECK(g.updates.size() == 3 * 16);
  CHECK(countOps(g, OpKind::AdamWUpdate) == 16);
  CHECK(g.find("grad_norm") >= 0);
  CHECK(g.find("loss") >= 0);
  CHECK(ctx.counters["autodiff.params"] == 16);
  CHECK(ctx.counters["optimizer.decayed"] == 6); // wte, wpe, qkvw, attprojw, fcw, fcprojw
}
