// runtime/trace/check_finite.h — `--check-finite`: after every kernel call of a compiled step, scan
// the value it wrote for NaN and Inf; at the first one, stop looking and keep a report that names
// the op, its line in the .graph file (with the line's text) and the statistics of each input as
// the kernel read them. The training loop checks tripped() after each step and stops. The -inf that
// masks write on purpose (causal_mask, pad_mask, mask_fill) is not a fault.
//
// It rides on the step's kernel hooks (codegen/compile.h, CompileOptions::kernelHooks): when the
// hook for call i runs, call i is complete on every thread and nothing after it has started. For
// the inputs to still hold what the kernel read, plan with PlanOptions::inPlace = false (an
// in-place kernel overwrites its first operand; the report says so when that happened).
//
// findFirstNonFinite names the op behind a diverged training run that ran without the checker:
// the run's state is replayed, from its last good checkpoint (or from the seeded init), on a
// second build of the training step compiled with kernel hooks and planned without in-place
// reuse, and the checker stops at the first kernel whose result is not finite. Every step is a
// pure function of (params, AdamW moments, step index, seed), the property `--resume` rests on,
// so the replay computes bit for bit what the run computed, and names the op that went wrong in
// the run. It costs a second compile of the step and its memory, once, after the run failed.
//
// What it leaves to others: compiling with hooks and planning for the flag (the caller), the
// flag (tools/), noticing a divergence (Trainer::step, firstNonFinite) and the state to replay
// from (the CLI).
#pragma once

#include "runtime/exec/executable.h"
#include "runtime/train/trainer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

class FiniteChecker {
public:
  /// Installs the hook on `exe` (which must outlive the checker). ok() is false when `exe` was
  /// compiled without kernelHooks.
  explicit FiniteChecker(Executable& exe);
  ~FiniteChecker();
  FiniteChecker(const FiniteChecker&) = delete;
  FiniteChecker& operator=(const FiniteChecker&) = delete;

  bool ok() const { return ok_; }
  /// A non-finite value was found (in any step since construction).
  bool tripped() const { return tripped_; }
  /// Multi-line: "non-finite value after kernel call N of step S: %x = op(...)", the source
  /// location and line, the count of NaN/Inf in the result, and each operand's statistics.
  const std::string& report() const { return report_; }
  /// The report's gist in one line: "%x = op(%a, %b) at file.graph:12:5 (3 NaN, 0 Inf of 64
  /// values)".
  const std::string& summary() const { return summary_; }
  /// Steps run so far (the hook sees each step start).
  int64_t steps() const { return steps_; }

private:
  static void hook(void* ctx, int32_t callIndex);
  void check(int32_t callIndex);
  Executable* exe_;
  bool ok_ = false, tripped_ = false;
  int64_t steps_ = 0;
  std::string report_, summary_;
};

/// Line `line` (1-based) of the text file `path`, without its newline; "" when unreadable.
std::string sourceLine(const std::string& path, int line);

/// Replays steps [from, to) of `trainer`'s run (see Trainer::replay: `state` null = the seeded
/// init, for from = 0) with the checker on, `threads` threads. Returns the checker's one-line
/// summary and the 0-based step, "%x = op(%a) at m.graph:12:5 (3 NaN, 0 Inf of 64 values) in
/// step 7", or "" with *err set when the replay could not run or found nothing non-finite.
std::string findFirstNonFinite(const Trainer& trainer, const Graph& trainGraph, int threads,
                               const std::vector<NamedTensor>* state, int64_t from, int64_t to,
                               std::string* err);

} // namespace gptc
