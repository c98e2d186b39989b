// Runs one pass test file (tests/passes/inputs/*.graph): a model in the IR's own syntax whose
// comments say which passes to run and what must come out. Directives (full-line comments):
//   # PASSES: simplify, dce          passes run after expand (expand always runs first)
//   # SET: NAME=VALUE                a constant override, as --set
//   # EXPECT-OPS: 7                  op count after the passes;  # EXPECT-OPS: reshape=1  per kind
//   # EXPECT-COUNTER: simplify.scale-by-one=2    a pass counter (absent counts as 0)
//   # EXPECT-ERROR                   the run must fail; CHECK lines then match the rendered error
//   # EXPLAIN-FUSION                 --explain-fusion: its notes follow the IR, for CHECK lines
//   # OPTION: KEY=VALUE              a pass option (data-parallel.ranks=2), as the driver sets it
//   # CHECK... lines                 matched (check_matcher.h) against the final IR, printed
//   without
//                                    locations, or against the error
// Every pass runs under the verifier and the "changed" claim check, as --verify-each does.
#pragma once
#include <string>

namespace gptc::test {

/// "" when the file's expectations hold, else the first failure.
std::string runPassFile(const std::string& path);

} // namespace gptc::test
