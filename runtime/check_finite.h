// runtime/check_finite.h — `--check-finite`: after every kernel call of a compiled step, scan the
// value it wrote for NaN and Inf; at the first one, stop looking and keep a report that names the
// op, its line in the .graph file (with the line's text) and the statistics of each input as the
// kernel read them. The training loop checks tripped() after each step and stops. The -inf that
// masks write on purpose (causal_mask, pad_mask, mask_fill) is not a fault.
//
// It rides on the step's kernel hooks (codegen/compile.h, CompileOptions::kernelHooks): when the
// hook for call i runs, call i is complete on every thread and nothing after it has started. For
// the inputs to still hold what the kernel read, plan with PlanOptions::inPlace = false (an
// in-place kernel overwrites its first operand; the report says so when that happened).
//
// What it leaves to others: compiling with hooks and planning (the caller), the flag (tools/).
#pragma once

#include "runtime/executable.h"

#include <cstdint>
#include <string>

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
  /// Steps run so far (the hook sees each step start).
  int64_t steps() const { return steps_; }

private:
  static void hook(void* ctx, int32_t callIndex);
  void check(int32_t callIndex);
  Executable* exe_;
  bool ok_ = false, tripped_ = false;
  int64_t steps_ = 0;
  std::string report_;
};

/// Line `line` (1-based) of the text file `path`, without its newline; "" when unreadable.
std::string sourceLine(const std::string& path, int line);

} // namespace gptc
