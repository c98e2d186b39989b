// A tiny FileCheck: matches `# CHECK:` lines written in a test file against a tool's output, the
// way LLVM and XLA tests read. Supported directives (one per line, after optional spaces):
//   # CHECK: pattern          the next line at or after the current position that contains pattern
//   # CHECK-NEXT: pattern     the line right after the previous match
//   # CHECK-NOT: pattern      no line between the previous match and the next match (or the end)
//   # CHECK-COUNT-n: pattern  n successive matches, as n CHECK lines
// A pattern is a literal substring; {{regex}} embeds an ECMAScript regex (e.g. %{{[0-9]+}}).
// What it leaves to others: which output to check (the test driver runs passes and prints).
#pragma once
#include <string>

namespace gptc::test {

/// Checks `output` against the CHECK directives in `checks` (the test file's text, named `file` in
/// messages). "" when every directive holds, else the first failure:
/// "file:12: CHECK-NEXT: 'pattern' is not on the line after line 7 of the output ('...')".
/// A file with no directive fails too, so a test cannot pass by checking nothing.
std::string runChecks(const std::string& checks, const std::string& file,
                      const std::string& output);

} // namespace gptc::test
