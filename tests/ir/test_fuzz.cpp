// Fuzz-ish robustness: each model's text (and a printed dump, which adds location comments to the
// input) goes through a few hundred deterministic mutations: characters and tokens deleted,
// duplicated, swapped, replaced by random bytes. Every mutant must either parse into a graph that
// verifies and round-trips, or fail with a diagnostic located inside the file. ASan and UBSan in CI
// turn any crash, overflow or out-of-bounds read on the way into a failure.
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "ir_test_util.h"

#include <cctype>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <random>

using namespace gptc;
using namespace gptc::irtest;

namespace {

/// Token boundaries, roughly as the lexer sees them: runs of name characters, runs of digits,
/// single punctuation marks. Whitespace is not a token.
std::vector<std::pair<size_t, size_t>> tokenSpans(const std::string& s) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t i = 0;
  auto word = [](char c) {
    return std::isalnum((unsigned char)c) || c == '_' || c == '.' || c == '%';
  };
  while (i < s.size()) {
    if (std::isspace((unsigned char)s[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    if (word(s[i]))
      while (i < s.size() && word(s[i]))
        ++i;
    else
      ++i;
    spans.emplace_back(start, i - start);
  }
  return spans;
}

class Mutator {
public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string mutate(std::string s) {
    int edits = 1 + int(pick(3));
    for (int e = 0; e < edits && !s.empty(); ++e)
      s = once(std::move(s));
    return s;
  }

private:
  std::mt19937 rng_; // its sequence is fixed by the standard; we avoid <random>'s distributions,
                     // which are not
  size_t pick(size_t n) { return n ? rng_() % n : 0; }

  std::string once(std::string s) {
    size_t at = pick(s.size());
    auto spans = tokenSpans(s);
    auto [ts, tl] = spans.empty() ? std::pair<size_t, size_t>{0, 1} : spans[pick(spans.size())];
    auto [us, ul] = spans.empty() ? std::pair<size_t, size_t>{0, 1} : spans[pick(spans.size())];
    switch (pick(8)) {
    case 0:
      return s.erase(at, 1); // delete a character
    case 1:
      return s.insert(at, 1, s[at]); // duplicate a character
    case 2:                          // swap neighbours
      if (at + 1 < s.size()) std::swap(s[at], s[at + 1]);
      return s;
    case 3:
      return s.insert(at, 1, char(rng_() & 0xff)); // a random byte
    case 4:
      return s.erase(ts, tl); // delete a token
    case 5:
      return s.insert(ts, s.substr(ts, tl) + " "); // duplicate a token
    case 6: {                                      // swap two tokens
      if (ts > us) std::swap(ts, us), std::swap(tl, ul);
      if (ts + tl > us) return s;
      std::string a = s.substr(ts, tl), b = s.substr(us, ul);
      s.replace(us, ul, a);
      s.replace(ts, tl, b);
      return s;
    }
    default: { // move a token elsewhere
      std::string tok = s.substr(ts, tl);
      s.erase(ts, tl);
      return s.insert(pick(s.size() + 1), tok);
    }
    }
  }
};

void fuzz(const std::string& text, const std::string& name, int rounds, uint32_t seed,
          const ConstOverrides& set) {
  Mutator m(seed);
  int parsed = 0, failed = 0;
  for (int round = 0; round < rounds; ++round) {
    std::string mutant = m.mutate(text);
    Expected<Graph> g = parseGraph(mutant, name, set);
    if (g) {
      ++parsed;
      CHECK(verifyGraph(*g) == "");
      std::string printed = printGraph(*g);
      Expected<Graph> again = parseGraph(printed, name + ".dump");
      REQUIRE_MESSAGE(bool(again), "round " << round << ": the dump of a mutant does not parse:\n"
                                            << (again ? "" : again.error().render()));
      CHECK(graphsEqual(*g, *again));
      continue;
    }
    ++failed;
    const Diag& d = g.error();
    std::vector<std::string> lines = splitLines(mutant);
    INFO("round " << round << ": " << d.render());
    if (d.loc.line == 0 && !set.empty()) { // a mutant lost a constant that a --set names
      CHECK(d.message.rfind("--set ", 0) == 0);
      continue;
    }
    CHECK(d.loc.file == name);
    REQUIRE(d.loc.line >= 1);
    REQUIRE(size_t(d.loc.line) <= std::max<size_t>(lines.size(), 1));
    CHECK(d.loc.col >= 1);
    CHECK(size_t(d.loc.col) <= (lines.empty() ? 0 : lines[d.loc.line - 1].size()) + 1);
    CHECK(d.render().rfind(fmt::format("{}:{}:{}: error: ", name, d.loc.line, d.loc.col), 0) == 0);
  }
  MESSAGE(name << ": " << parsed << " mutants parsed, " << failed
               << " failed with a located error");
  CHECK(failed >
        rounds / 2); // the mutations do break things; a fuzzer that never fails tests nothing
}

} // namespace

TEST_CASE("mutated models never crash the parser and always fail at a location in the file") {
  uint32_t seed = 1;
  for (const std::string& path : graphFiles(sourcePath("models"))) {
    CAPTURE(path);
    std::string name = path.substr(path.rfind('/') + 1);
    ConstOverrides set = smallConstants(path); // small shapes: expansion is the slow part
    fuzz(readFile(path), name, 300, seed++, set);
  }
}

TEST_CASE("mutated dumps (location comments, %names, typed results) behave the same") {
  std::string path = sourcePath("models/chargpt.graph");
  Graph g = mustParse(readFile(path), "chargpt.graph", smallConstants(path));
  fuzz(printGraph(g), "chargpt.dump", 300, 99, {});
}
