// tools/input_checks.cpp — see input_checks.h.
#include "tools/input_checks.h"

#include <cmath>
#include <fmt/format.h>

namespace gptc::tools {

std::optional<Diag> checkModelNotEmpty(const ast::Program& program) {
  if (!program.decls.empty() || !program.assigns.empty()) return std::nullopt;
  Diag d;
  d.loc.file = program.file;
  d.message = "the model declares nothing: no input, param or output (an empty file, or only "
              "comments and constants)";
  return d;
}

std::string checkSamplingFlags(double temperature, bool greedy, int topK, double topP) {
  // Written so that NaN fails every test (NaN compares false).
  if (!std::isfinite(temperature) || (!greedy && !(temperature > 0)) || temperature < 0)
    return fmt::format("--temperature must be a finite number > 0 (or --greedy), got {}",
                       temperature);
  if (topK < 0) return fmt::format("--top-k must be >= 0 (0 = all), got {}", topK);
  if (!(topP > 0 && topP <= 1)) return fmt::format("--top-p must be in (0, 1], got {}", topP);
  return "";
}

std::string checkBeamFlag(bool given, int beams) {
  if (given && (beams < 1 || beams > kMaxBeams))
    return fmt::format("--beam must be in 1..{}, got {}", kMaxBeams, beams);
  return "";
}

std::string checkShapeFlags(bool batchGiven, int64_t batch, bool seqGiven, int64_t seq) {
  if (batchGiven && batch < 1)
    return fmt::format("--batch must be at least 1, got {} (leave it out for the default)", batch);
  if (seqGiven && seq < 1)
    return fmt::format("--seq must be at least 1, got {} (leave it out for the default)", seq);
  return "";
}

std::string checkThreadsFlag(int threads) {
  if (threads < 0 || threads > kMaxThreads)
    return fmt::format("--threads must be in 0..{} (0 = all cores), got {}", kMaxThreads, threads);
  return "";
}

} // namespace gptc::tools
