// The tiny FileCheck (see check_matcher.h): directives are collected from the test text, then
// matched in order against the output's lines, with CHECK-NOTs deferred until the next positive
// match fixes the range they guard.
#include "tests/passes/check_matcher.h"

#include <fmt/format.h>
#include <regex>
#include <sstream>
#include <vector>

namespace gptc::test {
namespace {

struct Directive {
  enum Kind { Check, Next, Not } kind;
  std::string pattern;
  int line; // in the test file
  std::regex re;
};

std::string escapeRegex(const std::string& s) {
  static const std::string special = R"(\^$.|?*+()[]{})";
  std::string out;
  for (char c : s) {
    if (special.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

/// Literal text with {{regex}} islands -> one regex.
std::regex compile(const std::string& pattern) {
  std::string re;
  size_t i = 0;
  while (i < pattern.size()) {
    size_t open = pattern.find("{{", i);
    if (open == std::string::npos) {
      re += escapeRegex(pattern.substr(i));
      break;
    }
    size_t close = pattern.find("}}", open + 2);
    if (close == std::string::npos) {
      re += escapeRegex(pattern.substr(i));
      break;
    }
    re += escapeRegex(pattern.substr(i, open - i));
    re += "(?:" + pattern.substr(open + 2, close - open - 2) + ")";
    i = close + 2;
  }
  return std::regex(re);
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

const char* kindName(Directive::Kind k) {
  return k == Directive::Check ? "CHECK" : k == Directive::Next ? "CHECK-NEXT" : "CHECK-NOT";
}

} // namespace

std::string runChecks(const std::string& checks, const std::string& file,
                      const std::string& output) {
  std::vector<Directive> directives;
  std::vector<std::string> testLines = splitLines(checks);
  for (size_t i = 0; i < testLines.size(); ++i) {
    std::string line = trim(testLines[i]);
    if (line.rfind("# CHECK", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) return fmt::format("{}:{}: directive without ':'", file, i + 1);
    std::string name = line.substr(2, colon - 2), pattern = trim(line.substr(colon + 1));
    int repeat = 1;
    Directive::Kind kind;
    if (name == "CHECK")
      kind = Directive::Check;
    else if (name == "CHECK-NEXT")
      kind = Directive::Next;
    else if (name == "CHECK-NOT")
      kind = Directive::Not;
    else if (name.rfind("CHECK-COUNT-", 0) == 0) {
      kind = Directive::Check;
      try {
        repeat = std::stoi(name.substr(12));
      } catch (...) {
        repeat = 0;
      }
      if (repeat <= 0) return fmt::format("{}:{}: bad count in '{}'", file, i + 1, name);
    } else {
      return fmt::format("{}:{}: unknown directive '{}'", file, i + 1, name);
    }
    if (pattern.empty()) return fmt::format("{}:{}: {} with an empty pattern", file, i + 1, name);
    std::regex re;
    try {
      re = compile(pattern);
    } catch (const std::regex_error&) {
      return fmt::format("{}:{}: bad {{{{regex}}}} in '{}'", file, i + 1, pattern);
    }
    for (int r = 0; r < repeat; ++r)
      directives.push_back({kind, pattern, int(i + 1), re});
  }
  if (directives.empty()) return file + ": no CHECK directives (a test that checks nothing)";

  std::vector<std::string> out = splitLines(output);
  auto matches = [&](const Directive& d, size_t line) {
    return std::regex_search(out[line], d.re);
  };
  size_t pos = 0;     // first output line not yet consumed
  int lastMatch = -1; // output line of the previous positive match
  std::vector<const Directive*> nots;
  // CHECK-NOTs guard [pos, end): the lines between the previous match and the next one.
  auto checkNots = [&](size_t end) -> std::string {
    for (const Directive* n : nots)
      for (size_t l = pos; l < end; ++l)
        if (matches(*n, l))
          return fmt::format("{}:{}: CHECK-NOT: '{}' found on line {} of the output: '{}'", file,
                             n->line, n->pattern, l + 1, out[l]);
    nots.clear();
    return "";
  };

  for (const Directive& d : directives) {
    if (d.kind == Directive::Not) {
      nots.push_back(&d);
      continue;
    }
    size_t found = out.size();
    if (d.kind == Directive::Next) {
      if (lastMatch < 0)
        return fmt::format("{}:{}: CHECK-NEXT with no earlier match", file, d.line);
      if (size_t(lastMatch + 1) < out.size() && matches(d, lastMatch + 1)) found = lastMatch + 1;
      if (found == out.size())
        return fmt::format("{}:{}: CHECK-NEXT: '{}' is not on the line after line {} of the "
                           "output ('{}')",
                           file, d.line, d.pattern, lastMatch + 1,
                           size_t(lastMatch + 1) < out.size() ? out[lastMatch + 1] : "<end>");
    } else {
      for (size_t l = pos; l < out.size() && found == out.size(); ++l)
        if (matches(d, l)) found = l;
      if (found == out.size())
        return fmt::format("{}:{}: {}: '{}' not found after line {} of the output", file, d.line,
                           kindName(d.kind), d.pattern, pos);
    }
    if (std::string e = checkNots(found); !e.empty()) return e;
    lastMatch = int(found);
    pos = found + 1;
  }
  return checkNots(out.size());
}

} // namespace gptc::test
