// The Interpreter driver: running a parsed graph end to end, located errors (the op's file:line:col
// and a caret), unbound inputs, type-checked bindings, and updates applied at the end of run().
#include "interp_test_util.h"

#include "ir/parser.h"

#include <cmath>
#include <fstream>

using namespace gptc;
using namespace gptc::test;

namespace {

const char* kTinyModel = R"(const B = 2, T = 3, V = 5, C = 4
input tokens  : i32[B, T]
input targets : i32[B, T]
param wte     : f32[V, C] init normal(0.02)
h = embedding(tokens, wte)
output logits = matmul(h, wte) {tb = 1}
output loss   = cross_entropy(logits, targets)
)";

/// Writes the text to a file in the build tree (so error carets can quote its lines) and parses it.
Graph parseFile(const std::string& text, const std::string& name) {
  std::string path = std::string(GPTC_BINARY_DIR) + "/" + name;
  std::ofstream(path) << text;
  Expected<Graph> g = parseGraph(text, path);
  INFO((g ? std::string() : g.error().render()));
  REQUIRE(g);
  return std::move(*g);
}

} // namespace

TEST_CASE("the interpreter runs a parsed graph: all-zero weights give loss ln V") {
  Graph g = parseFile(kTinyModel, "interp_tiny.graph");
  Interpreter interp(g);
  CHECK(interp.bind("wte", Tensor(TensorType{DType::f32, {5, 4}})) == "");
  CHECK(interp.bind("tokens", i32({2, 3}, {0, 1, 2, 3, 4, 0})) == "");
  CHECK(interp.bind("targets", i32({2, 3}, {1, 2, 3, 4, 0, 1})) == "");
  REQUIRE(interp.run() == "");
  // Zero weights: every logit is 0, softmax uniform over 5 classes, loss = ln 5 = 1.6094379.
  CHECK(interp.get("loss").f[0] == doctest::Approx(std::log(5.0)).epsilon(1e-6));
  CHECK(interp.get("logits").type.shape == Shape{2, 3, 5});
  CHECK(interp.get("h").type.shape == Shape{2, 3, 4}); // intermediates stay readable
  CHECK(interp.get("no such value").f.empty());
}

TEST_CASE("a kernel error names the op and its source location, with a caret") {
  Graph g = parseFile(kTinyModel, "interp_tiny_bad.graph");
  Interpreter interp(g);
  for (auto& [name, t] : initParams(g, 1))
    CHECK(interp.bind(name, t) == "");
  CHECK(interp.bind("tokens", i32({2, 3}, {0, 1, 2, 3, 4, 9})) == "");
  CHECK(interp.bind("targets", i32({2, 3}, {0, 0, 0, 0, 0, 0})) == "");
  std::string err = interp.run();
  INFO(err);
  std::string file = std::string(GPTC_BINARY_DIR) + "/interp_tiny_bad.graph:5:";
  CHECK(err.rfind(file, 0) == 0);
  CHECK(err.find("error: embedding: token id 9 outside the table of 5 rows") != std::string::npos);
  CHECK(err.find("\n  h = embedding(tokens, wte)\n") != std::string::npos);
  CHECK(err.find('^') != std::string::npos);
}

TEST_CASE("unbound inputs and mistyped bindings are errors") {
  Graph g = parseFile(kTinyModel, "interp_tiny_unbound.graph");
  Interpreter interp(g);
  CHECK(interp.bind("wte", Tensor(TensorType{DType::f32, {5, 4}})) == "");
  std::string err = interp.run();
  CHECK(err.find("input 'tokens' was never bound") != std::string::npos);
  CHECK(err.find("interp_tiny_unbound.graph:2:") != std::string::npos);
  CHECK(interp.bind("tokens", Tensor(TensorType{DType::i32, {3, 2}})) ==
        "input 'tokens' is i32[2,3] but the tensor bound to it is i32[3,2]");
  CHECK(interp.bind("nope", Tensor()) == "the graph has no input or parameter named 'nope'");
  CHECK(interp.bind("h", Tensor(TensorType{DType::f32, {2, 3, 4}})).find("computed by an op") !=
        std::string::npos);
  Tensor shortData(TensorType{DType::f32, {5, 4}});
  shortData.f.resize(3);
  CHECK(interp.bind("wte", shortData).find("holds 3 elements, not 20") != std::string::npos);
}

TEST_CASE("updates replace state at the end of run()") {
  Graph g;
  int w = g.addParam("w", TensorType{DType::f32, {2}}, ParamInit{ParamInit::Ones});
  int twice = g.add(OpKind::Scale, {w}, {{"s", AttrValue(2.0)}}, {}, "w.new");
  g.updates.push_back({w, twice});
  Interpreter interp(g);
  REQUIRE(interp.bind("w", initParams(g, 0).at("w")) == "");
  REQUIRE(interp.run() == "");
  CHECK(interp.get("w").f == std::vector<float>{2, 2}); // 1 -> 2
  REQUIRE(interp.run() == "");
  CHECK(interp.get("w").f == std::vector<float>{4, 4}); // the second step reads the updated value
}
