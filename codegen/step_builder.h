// codegen/step_builder.h — builds the LLVM module of one compiled step: every distinct kernel once
// (KernelSpec::key() dedups them: the 12 layers of GPT-2 share each of their kernels), and
// `gptc_step`, which calls them in schedule order with base + constant-offset pointers and puts a
// call to gptc_barrier() only where a kernel touches bytes that another kernel since the last
// barrier wrote (or writes bytes one read) — read-after-write, write-after-read and
// write-after-write hazards on the plan's byte intervals, so arena reuse is covered too. Without
// kernel hooks, calls are first grouped into phases: each goes into the earliest phase after every
// earlier call it has a hazard with (independent kernels share a phase even when the schedule
// put others between them), and step() calls the phases in order with one barrier between. A
// two-phase reduction (lower.h: cross_entropy, global_norm) is called as fn, barrier, combine.
// Every call gets its own work slots (chunk counters, kernel_emitter.h) in the module's global
// `gptc_work`, which the runtime zeroes before each step.
//
// What it leaves to others: the kernels' bodies (lower_*.cpp via codegen/lower.h), the JIT and
// the public API (codegen/compile.h).
#pragma once

#include "codegen/compile.h"
#include "codegen/llvm_context.h"

namespace gptc::codegen {

struct StepModule {
  int64_t scratchBytes = 0;
  int64_t workBytes = 0; ///< the work slots of every call (kWorkSymbol)
  CompileStats stats;
  std::vector<KernelInfo> kernels;
  std::vector<KernelCall> calls;
};

/// The step function's symbol and the barrier's.
inline constexpr const char* kStepSymbol = "gptc_step";
inline constexpr const char* kBarrierSymbol = "gptc_barrier";
/// The calls' work slots (kernel_emitter.h), zeroed by the runtime before each step.
inline constexpr const char* kWorkSymbol = "gptc_work";
/// With CompileOptions::kernelHooks: the module's {hook, ctx} slot (two pointers, null at load).
inline constexpr const char* kHookSlotSymbol = "gptc_hook_slot";

/// Emits the kernels and the step into `mb`. "" or why not (with the op's source location).
std::string buildStepModule(ModuleBuilder& mb, const Graph& g, const MemoryPlan& plan,
                            const CompileOptions& options, StepModule* out);

} // namespace gptc::codegen
