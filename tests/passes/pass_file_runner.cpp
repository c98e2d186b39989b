// The pass-test driver (see pass_file_runner.h): parse directives, run expand + the listed passes
// under the verify/change-check instruments, compare counts, then hand the text to the matcher.
#include "tests/passes/pass_file_runner.h"

#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/instruments.h"
#include "passes/stats.h"
#include "tests/passes/check_matcher.h"

#include <fmt/format.h>
#include <sstream>

namespace gptc::test {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/// "name=7" -> {"name", 7}; false when malformed.
bool splitAssign(const std::string& s, std::string& name, int64_t& value) {
  size_t eq = s.find('=');
  if (eq == std::string::npos) return false;
  name = trim(s.substr(0, eq));
  try {
    value = std::stoll(trim(s.substr(eq + 1)));
  } catch (...) {
    return false;
  }
  return !name.empty();
}

} // namespace

std::string runPassFile(const std::string& path) {
  Expected<std::string> text = readTextFile(path);
  if (!text) return text.error().render();

  std::vector<std::string> passNames = {"expand"};
  ConstOverrides overrides;
  std::vector<std::pair<std::string, int64_t>> expectOps, expectCounters;
  int64_t expectTotalOps = -1;
  bool expectError = false, explainFusion = false;
  std::map<std::string, std::string> passOptions;
  std::istringstream in(*text);
  int lineNo = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineNo;
    line = trim(line);
    auto directive = [&](const char* name, std::string& rest) {
      std::string prefix = std::string("# ") + name;
      if (line.rfind(prefix, 0) != 0) return false;
      rest = trim(line.substr(prefix.size()));
      if (!rest.empty() && rest[0] == ':') rest = trim(rest.substr(1));
      return true;
    };
    std::string rest, name;
    int64_t value = 0;
    auto bad = [&] { return fmt::format("{}:{}: malformed directive '{}'", path, lineNo, line); };
    if (directive("PASSES", rest)) {
      std::string cur;
      for (char c : rest + ",") {
        if (c == ',') {
          if (!trim(cur).empty()) passNames.push_back(trim(cur));
          cur.clear();
        } else {
          cur += c;
        }
      }
    } else if (directive("SET", rest)) {
      size_t eq = rest.find('=');
      if (eq == std::string::npos) return bad();
      overrides[trim(rest.substr(0, eq))] = trim(rest.substr(eq + 1));
    } else if (directive("EXPECT-OPS", rest)) {
      if (rest.find('=') == std::string::npos) {
        try {
          expectTotalOps = std::stoll(rest);
        } catch (...) {
          return bad();
        }
      } else {
        if (!splitAssign(rest, name, value)) return bad();
        expectOps.emplace_back(name, value);
      }
    } else if (directive("EXPECT-COUNTER", rest)) {
      if (!splitAssign(rest, name, value)) return bad();
      expectCounters.emplace_back(name, value);
    } else if (directive("EXPECT-ERROR", rest)) {
      expectError = true;
    } else if (directive("EXPLAIN-FUSION", rest)) {
      explainFusion = true;
    } else if (directive("OPTION", rest)) {
      size_t eq = rest.find('=');
      if (eq == std::string::npos) return bad();
      passOptions[trim(rest.substr(0, eq))] = trim(rest.substr(eq + 1));
    }
  }

  std::vector<const PassInfo*> pipeline;
  for (const std::string& n : passNames) {
    const PassInfo* p = findPass(n);
    if (!p) return fmt::format("{}: unknown pass '{}' in PASSES", path, n);
    pipeline.push_back(p);
  }
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  if (!program) return "parse: " + program.error().render();
  PassContext ctx;
  ctx.program = *program;
  ctx.overrides = overrides;
  ctx.explainFusion = explainFusion;
  ctx.options = passOptions;
  PassManager pm(pipeline);
  pm.addInstrument(makeVerifyEach());
  pm.addInstrument(makeChangeCheck());
  Expected<std::vector<PassRecord>> run = pm.run(ctx);

  if (expectError) {
    if (run) return path + ": EXPECT-ERROR, but the passes succeeded";
    return runChecks(*text, path, run.error().render());
  }
  if (!run) return "unexpected error: " + run.error().render();

  GraphStats stats = computeStats(ctx.graph);
  if (expectTotalOps >= 0 && stats.ops != expectTotalOps)
    return fmt::format("{}: EXPECT-OPS {} but the graph has {} ops", path, expectTotalOps,
                       stats.ops);
  for (const auto& [kind, n] : expectOps) {
    if (!opKindByName(kind)) return fmt::format("{}: EXPECT-OPS names no op kind '{}'", path, kind);
    auto it = stats.byKind.find(kind);
    int64_t have = it == stats.byKind.end() ? 0 : it->second.count;
    if (have != n) return fmt::format("{}: EXPECT-OPS {}={} but there are {}", path, kind, n, have);
  }
  for (const auto& [counter, n] : expectCounters) {
    auto it = ctx.counters.find(counter);
    int64_t have = it == ctx.counters.end() ? 0 : it->second;
    if (have != n)
      return fmt::format("{}: EXPECT-COUNTER {}={} but it is {}", path, counter, n, have);
  }
  PrintOptions po;
  po.locations = false;
  std::string out = printGraph(ctx.graph, po);
  for (const std::string& note : ctx.fusionNotes)
    out += note + "\n";
  return runChecks(*text, path, out);
}

} // namespace gptc::test
