// runtime/train/lr_schedule.h — the learning rate as a function of the step: linear warmup from
// maxLr/warmup to maxLr, then a cosine decay to a floor (minLr) at the last step — nanoGPT's and
// llm.c's schedule — or a linear decay, or a constant rate (--lr-schedule). The trainer feeds
// lrAt(step) to the compiled step's `input lr : f32[]` each step, so changing the schedule never
// recompiles anything.
//
// What it leaves to others: feeding the value (runtime/train/trainer.h), the update itself (the
// optimizer pass, passes/optimizer.h).
#pragma once

#include <cstdint>
#include <string>

namespace gptc {

struct LrSchedule {
  /// What follows warmup: cosine (nanoGPT, llm.c), a straight line to minLr, or maxLr throughout.
  enum class Kind { Cosine, Linear, Constant };
  Kind kind = Kind::Cosine;
  double maxLr = 1e-3;     ///< the peak, reached at the end of warmup
  double minLr = 1e-4;     ///< the floor the cosine decays to (and stays at)
  int64_t warmupSteps = 0; ///< steps of linear warmup; 0 = start at maxLr
  int64_t totalSteps = 1;  ///< the step count of the run; the cosine ends at totalSteps - 1

  /// The learning rate of step `step` (0-based). Warmup: maxLr * (step + 1) / warmupSteps, so the
  /// first step already moves (llm.c's choice). Then cos decay over [warmupSteps, totalSteps - 1]
  /// from maxLr to minLr (Linear: a straight line; Constant: maxLr to the end, minLr unused);
  /// steps past the end stay at minLr.
  double lrAt(int64_t step) const;

  /// "cosine", "linear", "constant".
  static const char* kindName(Kind kind);
  /// The kind named `name`; false when there is none.
  static bool kindFromName(const std::string& name, Kind* kind);

  /// "" or why the schedule makes no sense (negative rates, minLr > maxLr, warmup < 0, total < 1).
  std::string check() const;
};

} // namespace gptc
