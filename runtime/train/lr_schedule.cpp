// runtime/train/lr_schedule.cpp — warmup, then cosine, linear or no decay (see lr_schedule.h).
#include "runtime/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numbers>

namespace gptc {

double LrSchedule::lrAt(int64_t step) const {
  if (step < 0) step = 0;
  if (step < warmupSteps) return maxLr * double(step + 1) / double(warmupSteps);
  // The decay spans the steps after warmup; with no such steps (warmup covers the whole run) the
  // rate simply stays at the peak until the end.
  if (kind == Kind::Constant) return maxLr;
  int64_t decaySteps = totalSteps - 1 - warmupSteps;
  if (decaySteps <= 0) return step < totalSteps ? maxLr : minLr;
  double progress = std::min(1.0, double(step - warmupSteps) / double(decaySteps)); // 0 -> 1
  double coeff = kind == Kind::Linear ? 1.0 - progress                              // 1 -> 0
                                      : 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return minLr + coeff * (maxLr - minLr);
}

const char* LrSchedule::kindName(Kind kind) {
  switch (kind) {
  case Kind::Cosine:
    return "cosine";
  case Kind::Linear:
    return "linear";
  case Kind::Constant:
    return "constant";
  }
  return "?";
}

bool LrSchedule::kindFromName(const std::string& name, Kind* kind) {
  for (Kind k : {Kind::Cosine, Kind::Linear, Kind::Constant})
    if (name == kindName(k)) return *kind = k, true;
  return false;
}

std::string LrSchedule::check() const {
  if (!(maxLr > 0) || !std::isfinite(maxLr))
    return fmt::format("the learning rate must be a positive number, got {}", maxLr);
  if (!(minLr >= 0) || minLr > maxLr)
    return fmt::format("the minimum learning rate must be in [0, {}], got {}", maxLr, minLr);
  if (warmupSteps < 0) return fmt::format("warmup must be >= 0 steps, got {}", warmupSteps);
  if (totalSteps < 1) return fmt::format("the run must have at least 1 step, got {}", totalSteps);
  return "";
}

} // namespace gptc
