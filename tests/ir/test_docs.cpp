// docs/ir.md cannot fall behind ir/ops.def: the op table in the doc (between the op-table markers)
// must be exactly the table generated here from the op registry (names, operands, attributes with
// defaults, fusion category, in-place) and the semantics comments in ops.def. After changing
// ops.def, regenerate it with:  GPTC_UPDATE_DOCS=1 build/tests/test_ir -tc='docs*'
#include "ir/ops.h"
#include "ir_test_util.h"

#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fstream>
#include <map>

using namespace gptc;
using namespace gptc::irtest;

namespace {

const char* kBegin =
    "<!-- op-table:begin (generated from ir/ops.def by tests/ir/test_docs.cpp) -->\n";
const char* kEnd = "<!-- op-table:end -->\n";

/// The comment text of each row of ops.def: the `//` on the row's last line plus any `//` lines
/// directly below it, keyed by the op's text name.
std::map<std::string, std::string> semanticsFromOpsDef(const std::string& def) {
  std::map<std::string, std::string> out;
  std::vector<std::string> lines = splitLines(def);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("OP(", 0) != 0) continue;
    size_t q1 = lines[i].find('"'), q2 = lines[i].find('"', q1 + 1);
    std::string name = lines[i].substr(q1 + 1, q2 - q1 - 1);
    // The row may wrap: it ends at the line whose parentheses balance.
    int depth = 0;
    size_t last = i;
    for (size_t j = i; j < lines.size(); ++j) {
      std::string code = lines[j].substr(0, lines[j].find("//"));
      for (char c : code)
        depth += c == '(' ? 1 : c == ')' ? -1 : 0;
      last = j;
      if (depth == 0) break;
    }
    std::string text;
    auto addComment = [&](const std::string& l) {
      size_t c = l.find("//");
      std::string t = l.substr(c + 2);
      t.erase(0, t.find_first_not_of(' '));
      text += (text.empty() ? "" : " ") + t;
    };
    if (lines[last].find("//") != std::string::npos) addComment(lines[last]);
    for (size_t j = last + 1; j < lines.size(); ++j) {
      size_t first = lines[j].find_first_not_of(' ');
      if (first == std::string::npos || lines[j].compare(first, 2, "//") != 0) break;
      addComment(lines[j]);
    }
    out[name] = text;
  }
  return out;
}

std::string escapeCell(std::string s) {
  std::string out;
  for (char c : s)
    out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string generateTable(const std::map<std::string, std::string>& semantics) {
  std::string t =
      "| op | operands | attributes (default) | fusion category | in place | semantics |\n"
      "|----|----------|----------------------|-----------------|----------|-----------|\n";
  for (int k = 0; k < kNumOpKinds; ++k) {
    const OpInfo& info = opInfo(OpKind(k));
    std::string operands;
    for (size_t i = 0; i < info.operands.size(); ++i) {
      const OperandSpec& o = info.operands[i];
      operands += (i ? ", " : "") + std::string(o.differentiable ? "" : "!") + o.name;
      if (info.variadic && i + 1 == info.operands.size()) operands += "...";
      if (info.optional && i + size_t(info.optionalCount) >= info.operands.size())
        operands += "?";
    }
    std::string attrs;
    for (const AttrSpec& a : info.attrs) {
      const char* kind = a.kind == AttrKind::Int     ? "int"
                         : a.kind == AttrKind::Float ? "float"
                         : a.kind == AttrKind::String ? "string"
                                                     : "int list";
      attrs += (attrs.empty() ? "" : ", ") + a.name + ": " + kind;
      attrs += a.defaultValue ? " = " + attrValueToString(*a.defaultValue) : " (required)";
    }
    auto it = semantics.find(std::string(info.name));
    std::string sem = it == semantics.end() ? "" : it->second;
    t += fmt::format("| `{}` | {} | {} | {} | {} | {} |\n", info.name,
                     operands.empty() ? "—" : operands, attrs.empty() ? "—" : attrs,
                     fusionCategoryName(info.category), info.inPlace ? "yes" : "no",
                     escapeCell(sem));
  }
  return t;
}

} // namespace

TEST_CASE("docs/ir.md's op table is the one generated from ir/ops.def") {
  std::string def = readFile(sourcePath("ir/ops.def"));
  std::map<std::string, std::string> semantics = semanticsFromOpsDef(def);
  CHECK(semantics.size() == size_t(kNumOpKinds));
  for (const auto& [name, text] : semantics) {
    CAPTURE(name);
    CHECK(!text.empty()); // every row of ops.def says what its op computes
  }
  std::string table = generateTable(semantics);

  std::string docPath = sourcePath("docs/ir.md");
  std::string doc = readFile(docPath);
  size_t b = doc.find(kBegin), e = doc.find(kEnd);
  REQUIRE_MESSAGE(b != std::string::npos, "docs/ir.md has no op-table:begin marker");
  REQUIRE_MESSAGE(e != std::string::npos, "docs/ir.md has no op-table:end marker");
  REQUIRE(b < e);
  std::string current = doc.substr(b + std::strlen(kBegin), e - b - std::strlen(kBegin));
  if (current != table && std::getenv("GPTC_UPDATE_DOCS")) {
    doc.replace(b + std::strlen(kBegin), current.size(), table);
    std::ofstream(docPath, std::ios::binary) << doc;
    MESSAGE("rewrote the op table in " << docPath);
    current = table;
  }
  CHECK_MESSAGE(current == table, "docs/ir.md's op table is stale; regenerate it with "
                                  "GPTC_UPDATE_DOCS=1 test_ir -tc='docs*'");
  for (int k = 0; k < kNumOpKinds; ++k)
    CHECK_MESSAGE(doc.find(fmt::format("| `{}` |", opName(OpKind(k)))) != std::string::npos,
                  opName(OpKind(k)));
}
