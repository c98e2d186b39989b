// runtime/lr_schedule.cpp — warmup + cosine decay (see lr_schedule.h).
#include "runtime/lr_schedule.h"

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
  int64_t decaySteps = totalSteps - 1 - warmupSteps;
  if (decaySteps <= 0) return step < totalSteps ? maxLr : minLr;
  double progress = std::min(1.0, double(step - warmupSteps) / double(decaySteps)); // 0 -> 1
  double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));               // 1 -> 0
  return minLr + coeff * (maxLr - minLr);
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
