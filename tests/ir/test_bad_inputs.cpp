// The malformed-input catalogue: every file in tests/ir/bad/ must fail to parse at the place and
// with the message its header states, and render as "file:line:col: error: ..." with the source
// line and a caret under the column. Header lines (comments, so they do not disturb the rest of the
// file):
//   # ERROR: <line>:<col>: <substring of the message>     (0:0 = about the file, no line to blame)
//   # SET: <name>=<value>                                  (a --set override, zero or more)
// Also here: inputs too awkward to keep as catalogue files or that must parse (empty,
// comment-only), generated junk and nesting, tabs under the caret, and a cycle built through the
// Graph API.
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "ir_test_util.h"

#include <cstdint>
#include <cstdio>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <random>

using namespace gptc;
using namespace gptc::irtest;

namespace {

struct Expectation {
  int line = -1, col = -1;
  std::string message;
  ConstOverrides set;
};

Expectation readHeader(const std::string& path, const std::vector<std::string>& lines) {
  Expectation e;
  for (const std::string& l : lines) {
    if (l.rfind("# ERROR: ", 0) == 0) {
      int consumed = 0;
      REQUIRE_MESSAGE(std::sscanf(l.c_str(), "# ERROR: %d:%d: %n", &e.line, &e.col, &consumed) == 2,
                      path << ": bad ERROR header: " << l);
      e.message = l.substr(consumed);
    } else if (l.rfind("# SET: ", 0) == 0) {
      std::string kv = l.substr(7);
      size_t eq = kv.find('=');
      REQUIRE_MESSAGE(eq != std::string::npos, path << ": bad SET header: " << l);
      e.set[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      break; // headers come first
    }
  }
  REQUIRE_MESSAGE(e.line >= 0, path << ": no '# ERROR: line:col: message' header");
  REQUIRE_MESSAGE(!e.message.empty(), path << ": the ERROR header names no message");
  return e;
}

/// The rendered form: first line "file:line:col: error: msg", then "  <source line>", then a caret
/// under the column, with each tab of the source copied so the caret lines up however tabs render.
void checkRendered(const Diag& d, const std::vector<std::string>& lines) {
  std::string text = d.render();
  std::string head = d.loc.line > 0
                         ? fmt::format("{}:{}:{}: error: ", d.loc.file, d.loc.line, d.loc.col)
                         : fmt::format("{}: error: ", d.loc.file);
  REQUIRE_MESSAGE(text.rfind(head, 0) == 0, text);
  if (d.loc.line > 0) {
    REQUIRE(size_t(d.loc.line) <= lines.size());
    CHECK(d.lineText == lines[d.loc.line - 1]);
  }
  if (d.message.size() > 240 || d.lineText.size() > 160) {
    // Cut (ir/diag.cpp): the message to 240 bytes, the line to a window around the column, and
    // the caret still under the offending byte.
    CHECK(text.size() < 1024);
    size_t nl1 = text.find('\n'), nl2 = text.find('\n', nl1 + 1);
    if (nl2 == std::string::npos) return;
    std::string shown = text.substr(nl1 + 3, nl2 - nl1 - 3), caret = text.substr(nl2 + 3);
    REQUIRE(caret.size() >= 1);
    REQUIRE(caret.size() <= shown.size() + 1);
    if (size_t(d.loc.col) <= d.lineText.size())
      CHECK(shown[caret.size() - 1] == d.lineText[size_t(d.loc.col) - 1]);
    return;
  }
  CHECK(text.find(d.message) == head.size());
  if (d.loc.line == 0) return;
  const std::string& src = lines[d.loc.line - 1];
  if (src.empty()) return; // nothing to put a caret under
  std::string caret;
  for (int i = 1; i < d.loc.col; ++i)
    caret += size_t(i) <= src.size() && src[i - 1] == '\t' ? '\t' : ' ';
  caret += '^';
  std::string want = "\n  " + src + "\n  " + caret;
  CHECK_MESSAGE(text.size() >= want.size(), text);
  CHECK_MESSAGE(text.compare(text.size() - want.size(), want.size(), want) == 0, text);
  CHECK(d.loc.col >= 1);
  CHECK(size_t(d.loc.col) <= src.size() + 1);
}

Diag mustFail(const std::string& text, const std::string& file, const ConstOverrides& set = {}) {
  Expected<Graph> g = parseGraph(text, file, set);
  REQUIRE_MESSAGE(!g, file << " parsed but should not have");
  return g.error();
}

} // namespace

TEST_CASE("every file in tests/ir/bad fails where and how its header says") {
  std::vector<std::string> files = graphFiles(sourcePath("tests/ir/bad"));
  CHECK(files.size() >= 40);
  for (const std::string& path : files) {
    CAPTURE(path);
    std::string text = readFile(path);
    std::vector<std::string> lines = splitLines(text);
    Expectation want = readHeader(path, lines);
    Diag d = mustFail(text, path, want.set);
    CHECK(d.loc.file == path);
    CHECK(d.loc.line == want.line);
    CHECK(d.loc.col == want.col);
    CHECK_MESSAGE(d.message.find(want.message) != std::string::npos, d.render());
    checkRendered(d, lines);
  }
}

TEST_CASE("an empty file and a comment-only file are empty graphs, not parse errors") {
  // Deliberate: an empty graph is well formed (the verifier agrees); refusing a graph without an
  // output is the job of the tool that needs one (`gptc compile`), not of the parser.
  for (const char* text :
       {"", "\n\n", "# nothing but a comment", "# a comment\n   \t\n# and another\n"}) {
    CAPTURE(text);
    Graph g = mustParse(text, "empty.graph");
    CHECK(g.values.empty());
    CHECK(g.nodes.empty());
    CHECK(g.outputs.empty());
    CHECK(verifyGraph(g) == "");
  }
}

TEST_CASE("random binary junk gives a located error, never a crash") {
  std::mt19937 rng(
      12345); // the standard fixes mt19937's sequence, so the cases are the same everywhere
  for (int round = 0; round < 200; ++round) {
    std::string junk(1 + rng() % 400, '\0');
    for (char& c : junk)
      c = char(rng() & 0xff);
    Expected<Graph> g = parseGraph(junk, "junk.graph");
    if (g) continue; // e.g. junk that happens to be all spaces and a comment
    CAPTURE(round);
    CHECK(g.error().loc.file == "junk.graph");
    CHECK(g.error().loc.line >= 1);
    checkRendered(g.error(), splitLines(junk));
  }
}

TEST_CASE("deep nesting is refused with a located error instead of overflowing the stack") {
  const int depth = 10000;
  std::string calls = "input x : f32[2]\ny = ";
  for (int i = 0; i < depth; ++i)
    calls += "relu(";
  calls += "x";
  calls += std::string(depth, ')');
  Diag d = mustFail(calls, "deep.graph");
  CHECK(d.message.find("nesting too deep") != std::string::npos);
  CHECK(d.loc.line == 2);
  CHECK(d.loc.col == 5 + 5 * 256); // the 257th "relu(" starts here
  checkRendered(d, splitLines(calls));

  std::string parens =
      "const A = " + std::string(depth, '(') + "1" + std::string(depth, ')') + "\n";
  CHECK(mustFail(parens, "parens.graph").message.find("nesting too deep") != std::string::npos);
  std::string negations = "const A = " + std::string(depth, '-') + "1\n";
  CHECK(mustFail(negations, "neg.graph").message.find("nesting too deep") != std::string::npos);

  // The limit leaves room for any real model: 200 nested calls parse and expand.
  std::string ok = "input x : f32[2]\noutput y = ";
  for (int i = 0; i < 200; ++i)
    ok += "relu(";
  ok += "x" + std::string(200, ')') + "\n";
  CHECK(mustParse(ok, "ok.graph").nodes.size() == 200);
}

TEST_CASE("a very long line is parsed and errors on it are located") {
  std::string line = "output y = add(x, " + std::string(100000, ' ') + "z)";
  std::string text = "input x : f32[2]\n" + line + "\n";
  Diag d = mustFail(text, "long.graph");
  CHECK(d.message == "unknown value 'z'");
  CHECK(d.loc.line == 2);
  CHECK(d.loc.col == int(line.size()) - 1);
  checkRendered(d, splitLines(text));
  // A long operator chain builds a deep tree (evaluated recursively): it counts as nesting.
  std::string sum = "const A = 0";
  for (int i = 0; i < 200; ++i)
    sum += " + 1";
  Graph g = mustParse(sum + "\ninput x : f32[A]\n", "sum.graph");
  CHECK(g.values[0].type.shape == Shape{200});
  for (int i = 0; i < 20000; ++i)
    sum += " + 1";
  CHECK(mustFail(sum, "sum.graph").message.find("nesting too deep") != std::string::npos);
}

TEST_CASE("the caret lines up under tabs") {
  std::string text = "input x : f32[2]\n\ty =\t\tadd(x,\tz)\n";
  Diag d = mustFail(text, "tabs.graph");
  CHECK(d.loc.line == 2);
  CHECK(d.loc.col == 14); // columns count a tab as one character
  CHECK(d.render() == "tabs.graph:2:14: error: unknown value 'z'\n"
                      "  \ty =\t\tadd(x,\tz)\n"
                      "  \t   \t\t      \t^");
}

TEST_CASE("CRLF line endings parse like LF and locate errors the same way") {
  std::string lf = "const N = 2\ninput x : f32[N]\ny = relu(x)\noutput z = add(y, q)\n";
  std::string crlf;
  for (char c : lf)
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  Diag a = mustFail(lf, "f.graph"), b = mustFail(crlf, "f.graph");
  CHECK(a.loc == b.loc);
  CHECK(a.render() == b.render());
  CHECK(b.render().find('\r') == std::string::npos);
  std::string fixed = crlf.substr(0, crlf.find("q)")) + "x)\r\n";
  Graph g = mustParse(fixed, "f.graph");
  CHECK(g.nodes.size() == 2);
}

TEST_CASE("the text form cannot express a cycle: use before definition is an unknown value") {
  Diag d = mustFail("input x : f32[2]\na = add(x, b)\nb = relu(a)\n", "cycle.graph");
  CHECK(d.message == "unknown value 'b'");
  CHECK(d.loc == SourceLoc{"cycle.graph", 2, 12});
}

TEST_CASE("the verifier reports a cycle built through the Graph API") {
  Graph g;
  int x = g.addInput("x", TensorType{DType::f32, {2}});
  int a = g.add(OpKind::Relu, {x}, {}, SourceLoc{"api", 1, 1}, "a");
  int b = g.add(OpKind::Gelu, {a}, {}, SourceLoc{"api", 2, 1}, "b");
  CHECK(verifyGraph(g) == "");
  g.nodes[g.values[a].def].operands[0] = b; // a = relu(b), b = gelu(a): a cycle
  std::string err = verifyGraph(g);
  CHECK(err.find("operand '%b' is used before it is defined") != std::string::npos);
  CHECK(err.find("api:1:1") != std::string::npos);

  Graph self;
  int y = self.addInput("y", TensorType{DType::f32, {2}});
  int s = self.add(OpKind::Relu, {y}, {}, {}, "s");
  self.nodes[0].operands[0] = s; // s = relu(s)
  CHECK(verifyGraph(self).find("operand '%s' is used before it is defined") != std::string::npos);
}

TEST_CASE("--set errors are values: unknown constants and non-numbers") {
  std::string text = "const L = 2\ninput x : f32[L]\n";
  Diag unknown = mustFail(text, "m.graph", {{"M", "3"}});
  CHECK(unknown.render() == "m.graph: error: --set M: the model has no constant 'M'");
  Diag junk = mustFail(text, "m.graph", {{"L", "two"}});
  CHECK(junk.loc == SourceLoc{"m.graph", 1, 7}); // the constant the override replaces
  CHECK(junk.message == "--set L=two: unknown constant 'two'");
  CHECK(mustFail(text, "m.graph", {{"L", ""}}).message.find("--set L=: not a number") == 0);
  CHECK(mustFail(text, "m.graph", {{"L", "1 2"}}).message.find("not a number") !=
        std::string::npos);
  CHECK(mustFail(text, "m.graph", {{"L", "0"}}).message == "dimension must be positive, got 0");
  Graph g = mustParse(text, "m.graph", {{"L", "3 * 2"}});
  CHECK(g.values[0].type.shape == Shape{6});
}

TEST_CASE("Graph::addNode refuses bad operand ids and huge results instead of misbehaving") {
  Graph g;
  int x = g.addInput("x", TensorType{DType::f32, {2}});
  CHECK(!g.addNode(OpKind::Relu, {x + 5}, {}));
  CHECK(!g.addNode(OpKind::Relu, {-1}, {}));
  Attrs big{{"shape", std::vector<int64_t>{int64_t(1) << 40, int64_t(1) << 40}}, {"value", 0.0}};
  Expected<int> r = g.addNode(OpKind::Fill, {}, big);
  REQUIRE(!r);
  CHECK(r.error().message.find("more than 2^34 elements") != std::string::npos);
  CHECK(numelOf(Shape{int64_t(1) << 40, int64_t(1) << 40}) == INT64_MAX);
}
