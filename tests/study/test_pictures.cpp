// tests/study/test_pictures.cpp — the pictures: the dot text of a training graph (every op a box,
// every operand an edge, the three parts of the step coloured apart) and the memory timeline (one
// bar per arena buffer, the peak marked at the plan's lower bound).
#include "passes/graph_dot.h"
#include "passes/plan_memory.h"
#include "passes/svg_memory.h"
#include "runtime/exec/step_engine.h"

#include <doctest/doctest.h>

#include <fmt/format.h>

namespace gptc {
namespace {

Graph trainGraph() {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph";
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  Expected<Graph> g = buildGraph(
      std::move(*program), {{"L", "1"}, {"C", "32"}, {"NH", "2"}, {"B", "2"}, {"T", "8"}}, "train");
  REQUIRE(bool(g));
  return std::move(*g);
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size()))
    ++n;
  return n;
}

TEST_CASE("dot: one box per op, one edge per operand, forward/backward/optimizer colours") {
  Graph g = trainGraph();
  std::string dot = graphToDot(g);
  CHECK(dot.rfind("digraph gptc {", 0) == 0);
  CHECK(count(dot, "shape=box") == g.nodes.size());
  size_t operands = 0;
  for (const Node& n : g.nodes)
    operands += n.operands.size();
  CHECK(count(dot, " -> v") == operands + g.updates.size());
  CHECK(count(dot, " -> out") == g.outputs.size());
  CHECK(dot.find("#dae8fc") != std::string::npos); // forward
  CHECK(dot.find("#fde5cc") != std::string::npos); // backward
  CHECK(dot.find("#d5e8d4") != std::string::npos); // optimizer
  CHECK(dot.find("label=\"%loss = cross_entropy") != std::string::npos);
}

TEST_CASE("memory timeline: a bar per arena buffer, the peak at the lower bound") {
  Graph g = trainGraph();
  MemoryPlan plan = planMemory(g);
  std::string svg = memoryTimelineSvg(g, plan, "plan");
  size_t owners = 0;
  for (size_t v = 0; v < g.values.size(); ++v)
    owners += g.values[v].kind == ValueKind::Op && plan.placement[v].region == Region::Arena &&
              plan.placement[v].viewOf < 0;
  CHECK(count(svg, "<rect x=") == owners);
  CHECK(svg.find(fmt::format("peak at op {}", plan.peakPosition)) != std::string::npos);
  CHECK(svg.find(fmt::format("{} arena buffers", owners)) != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
}

} // namespace
} // namespace gptc
