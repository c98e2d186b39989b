// runtime/exec/kernel_profiler.h — `--profile`: time every kernel call of a compiled step and sum
// the times by kernel kind (matmul, layernorm, ...), with each kind's share, GFLOP/s and call
// count. It uses the step's kernel hooks (codegen/compile.h, CompileOptions::kernelHooks): thread 0
// reads the clock after each call's barrier, so a call's time is wall time from the end of the
// previous call to the end of this one on all threads, load imbalance and barrier included.
//
// Typical use:
//   CompileOptions o; o.kernelHooks = true;
//   auto exe = Executable::create(g, plan, o, &err);
//   KernelProfiler prof(*exe);                 // installs the hook
//   for (...) exe->run(threads);               // every step is recorded
//   fputs(prof.table().c_str(), stdout);
//
// What it leaves to others: the hooks themselves (codegen/), FLOP counts (passes/stats.h), the
// flag (tools/).
#pragma once

#include "runtime/exec/executable.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

class KernelProfiler {
public:
  /// Installs the hook on `exe` (which must outlive the profiler, or detach() first). ok() is false
  /// when `exe` was compiled without kernelHooks.
  explicit KernelProfiler(Executable& exe);
  ~KernelProfiler();
  KernelProfiler(const KernelProfiler&) = delete;
  KernelProfiler& operator=(const KernelProfiler&) = delete;

  bool ok() const { return ok_; }
  void detach();
  /// Forgets what was recorded (e.g. after a warm-up step).
  void reset();

  struct Row {
    std::string kind;   ///< op name; "update copy" for the copies at the end of the step
    double seconds = 0; ///< summed over every recorded step
    double best = 0;    ///< per step: each call's fastest time over the recorded steps, summed
    int64_t flops = 0;  ///< per step (passes/stats.h's convention)
    int64_t calls = 0;  ///< per step
  };
  /// Kernel kinds, most time first.
  std::vector<Row> byKind() const;
  /// Seconds of each call, summed over the recorded steps (index = CompiledStep::calls()).
  const std::vector<double>& perCall() const { return perCall_; }
  /// Each call's fastest time over the recorded steps (0 before the first step).
  std::vector<double> bestPerCall() const;
  int steps() const { return steps_; }
  /// The --profile table: kind, ms per step, the best ms (each call's fastest step; on a shared
  /// machine a call the scheduler interrupted shows in ms/step but not here), share, GFLOP/s,
  /// calls per step, and a total line.
  std::string table() const;

private:
  static void hook(void* ctx, int32_t callIndex);
  using Clock = std::chrono::steady_clock;
  Executable* exe_;
  bool ok_ = false;
  std::vector<double> perCall_;
  std::vector<double> bestCall_; // min over steps; +inf until the call has run once
  Clock::time_point last_;
  int steps_ = 0;
};

} // namespace gptc
