// Round trips: the printer's output is the parser's input. For every model (default and small --set
// constants) and every file in tests/ir/good/: parse, print, parse the print, and require the same
// graph (graphsEqual: names, types, attributes bit for bit, source locations, order) and the same
// text when printed again. The good files together must use every op kind in ops.def.
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "ir_test_util.h"

#include <cmath>
#include <doctest/doctest.h>
#include <set>

using namespace gptc;
using namespace gptc::irtest;

namespace {

/// parse(print(g)) == g, print is a fixed point, and the graph verifies. Returns the re-parsed
/// graph.
Graph checkRoundTrip(const Graph& g, const std::string& dumpName) {
  CHECK(verifyGraph(g) == "");
  std::string printed = printGraph(g);
  Graph again = mustParse(printed, dumpName);
  std::string why;
  CHECK_MESSAGE(graphsEqual(g, again, &why), why);
  CHECK(printGraph(again) == printed);
  CHECK(verifyGraph(again) == "");
  return again;
}

std::vector<std::string> models() {
  std::vector<std::string> files = graphFiles(sourcePath("models"));
  REQUIRE(files.size() >= 3);
  return files;
}

} // namespace

TEST_CASE("every model round-trips with its default constants") {
  for (const std::string& path : models()) {
    CAPTURE(path);
    Graph g = mustParse(readFile(path), path);
    CHECK(g.outputs.size() >= 1);
    checkRoundTrip(g, path + ".dump");
  }
}

TEST_CASE("every model round-trips with small --set constants") {
  for (const std::string& path : models()) {
    CAPTURE(path);
    ConstOverrides set = smallConstants(path);
    REQUIRE_MESSAGE(!set.empty(), "add small constants for " << path << " to ir_test_util.h");
    Graph g = mustParse(readFile(path), path, set);
    Graph big = mustParse(readFile(path), path);
    CHECK(g.nodes.size() < big.nodes.size()); // the overrides did take effect
    checkRoundTrip(g, path + ".small.dump");
  }
}

TEST_CASE("a dump without location comments round-trips to the same ops") {
  Graph g = mustParse(readFile(sourcePath("models/gpt2.graph")), "gpt2.graph",
                      smallConstants("gpt2.graph"));
  PrintOptions bare;
  bare.locations = false;
  std::string printed = printGraph(g, bare);
  Graph again = mustParse(printed, "bare.dump");
  CHECK(printGraph(again, bare) == printed);
  CHECK(again.nodes.size() == g.nodes.size());
}

TEST_CASE("every file in tests/ir/good round-trips, and together they use every op kind") {
  std::set<OpKind> used;
  std::vector<std::string> files = graphFiles(sourcePath("tests/ir/good"));
  CHECK(files.size() >= 5);
  for (const std::string& path : files) {
    CAPTURE(path);
    Graph g = mustParse(readFile(path), path);
    CHECK(g.outputs.size() >= 1);
    checkRoundTrip(g, path + ".dump");
    for (const Node& n : g.nodes)
      used.insert(n.kind);
  }
  for (int k = 0; k < kNumOpKinds; ++k) {
    CAPTURE(opName(OpKind(k)));
    CHECK(used.count(OpKind(k)) == 1);
  }
}

TEST_CASE("float attributes survive printing bit for bit") {
  Graph g = mustParse(readFile(sourcePath("tests/ir/good/arithmetic.graph")), "arithmetic.graph");
  Graph again = mustParse(printGraph(g), "arithmetic.dump");
  auto attrOf = [](const Graph& gr, const char* value, const char* attr) {
    return attrFloat(gr.defOf(gr.find(value)).attrs, attr);
  };
  CHECK(attrOf(again, "s1", "s") == 0.1);
  CHECK(attrOf(again, "s2", "s") == 1.0 / 3.0);
  CHECK(attrOf(again, "s3", "s") == -2.5e-3);
  CHECK(attrOf(again, "d2", "p") == 0.25);

  Graph norm = mustParse(readFile(sourcePath("tests/ir/good/normalisation.graph")), "n.graph");
  Graph normAgain = mustParse(printGraph(norm), "n.dump");
  double minusInf = attrOf(normAgain, "f2", "value");
  CHECK(std::isinf(minusInf));
  CHECK(minusInf < 0);
  CHECK(attrOf(normAgain, "f", "value") == minusInf); // the default, filled in
  CHECK(attrOf(normAgain, "f3", "value") == -1e9);
  CHECK(attrOf(normAgain, "h2", "eps") == 1e-6);
}

TEST_CASE("blocks expand to the documented names, with state and updates") {
  Graph g = mustParse(readFile(sourcePath("tests/ir/good/blocks_state.graph")), "b.graph");
  // repeat 2..L runs layers 2, 3 and 4 of `outer`; each calls `inner` with the same index.
  // A value named by an assignment whose right side is a block call (`u`, `first`, `y`) keeps the
  // name of the op that produced it (a number); see the report on ir/expand.cpp.
  for (std::string name : {"v.2", "v.3", "v.4", "ws.0", "ws.2", "bs.4", "m.new", "c.new"})
    CHECK_MESSAGE(g.find(name) >= 0, name);
  for (std::string name : {"v.1", "v.5", "ws.5"})
    CHECK_MESSAGE(g.find(name) < 0, name);
  CHECK(g.value(g.find("ws.1")).type.shape == Shape{4, 4}); // inner(FIRST) with FIRST = 1
  CHECK(g.value(g.find("cache")).kind == ValueKind::State);
  CHECK(g.value(g.find("cache")).init.kind == ParamInit::Normal);
  CHECK(g.value(g.find("ws")).init.stddev == doctest::Approx(0.02 / std::sqrt(10.0)));
  REQUIRE(g.updates.size() == 2);
  CHECK(g.value(g.updates[0].state).name == "m");
  CHECK(g.value(g.updates[0].value).name == "m.new");
  CHECK(g.value(g.updates[1].state).name == "cache");
  REQUIRE(g.outputs.size() == 2);
  CHECK(g.value(g.outputs[0]).name == "z");
  CHECK(g.defOf(g.outputs[0]).operands[0] == g.outputs[1]); // z = relu(y): y is the repeat's result
}
