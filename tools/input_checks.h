// tools/input_checks.h — value checks shared by the run commands, so --generate refuses what the
// trainer refuses (a NaN temperature, a negative top-k) and an explicit 0 is never silently
// replaced by a default. Each returns "" or the one-line message (without the command prefix).
#pragma once

#include "ir/ast.h"
#include "ir/diag.h"

#include <cstdint>
#include <optional>
#include <string>

namespace gptc::tools {

/// The largest --beam: each beam is a row of the decode batch (a KV cache of its own).
constexpr int kMaxBeams = 64;
/// The largest --threads: far above any core count; more only costs memory and startup.
constexpr int kMaxThreads = 1024;

/// A model with no input, param or output (an empty file, only comments or constants) is refused
/// by the commands (the parser accepts it: an empty graph is well formed, tests/ir).
std::optional<Diag> checkModelNotEmpty(const ast::Program& program);

/// --temperature (finite, > 0 unless greedy), --top-k (>= 0), --top-p (in (0, 1]).
std::string checkSamplingFlags(double temperature, bool greedy, int topK, double topP);
/// --beam, when given: 1..kMaxBeams.
std::string checkBeamFlag(bool given, int beams);
/// --batch / --seq, when given: at least 1 (their default is the model's, not a value 0).
std::string checkShapeFlags(bool batchGiven, int64_t batch, bool seqGiven, int64_t seq);
/// --threads: 0 (all cores) .. kMaxThreads.
std::string checkThreadsFlag(int threads);

} // namespace gptc::tools
