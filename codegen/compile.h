// codegen/compile.h — the public, LLVM-free entry point of the code generator: a scheduled,
// memory-planned Graph in, a compiled step() out.
//
//   void step(char* persistent, char* inputs, char* arena, char* scratch, int32_t tid, int32_t
//   nthreads)
//
// step() runs on every thread of one job of the thread team (codegen/thread_team.h; the caller,
// runtime/exec/executable.h, runs the job): each kernel cuts its work into chunks that the threads
// claim from a counter (codegen/kernel_emitter.h; resetWork() zeroes the counters before each
// step), and gptc_barrier() (the team's) separates kernels that depend on each other. `scratch` is
// this thread's private workspace of scratchBytesPerThread() bytes, 64-byte aligned. How the module
// is built: codegen/step_builder.h; the whole story: docs/codegen.md.
//
// Kernel hooks (CompileOptions::kernelHooks; runtime/exec/kernel_profiler.h and --check-finite use them):
// with the flag, step() calls back into the runtime around every kernel call:
//
//   entry:               thread 0: hook(ctx, -1);  barrier            (the step starts)
//   after kernel call i: barrier;  thread 0: hook(ctx, i);  barrier   (i = 0, 1, ... calls())
//
// so when hook(ctx, i) runs, kernel call i and every call before it are complete on all threads
// and nothing after it has started: its result (calls()[i].value) can be timed, read or scanned.
// The hook is set at run time (setKernelHook; null: none) in a slot of the compiled module, so one
// compiled step serves every client. Without the flag nothing of this is emitted: the step is the
// same code as before. calls() is filled either way.
//
// What it leaves to others: allocating the regions, binding data and the parallel region
// (runtime/exec/executable.h); the schedule and the placement of every value (passes/, MemoryPlan).
#pragma once

#include "passes/memory_plan.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gptc {

namespace codegen {
class Jit;
}

struct CompileOptions {
  int optLevel = 3;          ///< LLVM's pipeline level, 0..3
  bool useCache = true;      ///< the JIT's on-disk object cache (codegen/jit.h)
  std::string cacheDir;      ///< empty: the JIT's default
  bool captureIR = false;    ///< keep the LLVM IR before/after optimisation (--emit=llvm)
  bool captureAsm = false;   ///< keep the assembly (--emit=asm)
  bool elideBarriers = true; ///< skip the barrier between kernels that share no bytes
  bool kernelHooks = false;  ///< barrier + hook(ctx, callIndex) after every kernel call (above)
};

/// Called on thread 0 between kernel calls when compiled with CompileOptions::kernelHooks.
/// callIndex: -1 at the start of the step, then the index into CompiledStep::calls() of the call
/// that just finished.
using KernelHook = void (*)(void* ctx, int32_t callIndex);

/// One kernel call of step(), in call order.
struct KernelCall {
  int node = -1;                 ///< the graph node it computes; -1 for an `update` copy
  int value = -1;                ///< the value it writes (node's result, or the update's state)
  int kernel = -1;               ///< index into CompiledStep::kernels()
  OpKind kind = OpKind::Reshape; ///< the op kind (update copies: Reshape, see updateCopy)
  bool updateCopy = false;       ///< copies an `update` value the plan did not alias onto its state
};

/// What the compiler did, for --stats, tests and the docs.
struct CompileStats {
  int kernels = 0;        ///< distinct kernels emitted (each once, reused by every layer)
  int calls = 0;          ///< kernel calls in step()
  int skippedViews = 0;   ///< ops the plan marked noCode
  int barriers = 0;       ///< barriers emitted
  int barriersElided = 0; ///< kernel boundaries where no barrier was needed
  int updateCopies = 0;   ///< `update` values not aliased onto their state, copied at the end
  double emitSeconds = 0; ///< building LLVM IR
  double jitSeconds = 0;  ///< LLVM optimisation + machine code (or the cache load)
  bool cacheHit = false;
};

/// One distinct kernel: its symbol, its dedup key and how many calls use it.
struct KernelInfo {
  std::string symbol;
  std::string key;
  int uses = 0;
};

/// The signature of the compiled step.
using StepFn = void (*)(char* persistent, char* inputs, char* arena, char* scratch, int32_t tid,
                        int32_t nthreads);

class CompiledStep {
public:
  ~CompiledStep();
  StepFn step() const { return step_; }
  /// Per-thread scratch the kernels need (the matmul packing buffers), 64-byte multiple.
  int64_t scratchBytesPerThread() const { return scratchBytes_; }
  const CompileStats& stats() const { return stats_; }
  const std::vector<KernelInfo>& kernels() const { return kernels_; }
  /// Every kernel call of step(), in order; hooks receive indices into it.
  const std::vector<KernelCall>& calls() const { return calls_; }
  /// Whether the step was compiled with CompileOptions::kernelHooks.
  bool hasKernelHooks() const { return hookSlot_ != nullptr; }
  /// Sets (or clears, with nullptr) the hook; false when compiled without kernelHooks. Not while
  /// step() runs.
  bool setKernelHook(KernelHook hook, void* ctx);
  /// Zeroes the chunk counters; call before every step (not while one runs). reversedClaims:
  /// every parallel loop hands out its chunks last first — a test hook (results must not change).
  void resetWork(bool reversedClaims = false);
  /// With CompileOptions::captureIR / captureAsm.
  std::string irBeforeOptimization() const;
  std::string irAfterOptimization() const;
  std::string assembly() const;

private:
  friend std::unique_ptr<CompiledStep> compileStep(const Graph&, const MemoryPlan&,
                                                   const CompileOptions&, std::string*);
  CompiledStep();
  std::unique_ptr<codegen::Jit> jit_; // keeps the code alive
  StepFn step_ = nullptr;
  int64_t scratchBytes_ = 0;
  CompileStats stats_;
  std::vector<KernelInfo> kernels_;
  std::vector<KernelCall> calls_;
  void** hookSlot_ = nullptr; // {hook, ctx} in the module's data, with kernelHooks
  char* work_ = nullptr;      // the module's work slots (kWorkSymbol)
  int64_t workBytes_ = 0;
};

/// Lowers every scheduled op of `g` (in plan.schedule order, skipping noCode views) and compiles
/// the module. nullptr and *err on failure: an op kind with no lowering yet, a shape a lowering
/// does not support, or an LLVM error.
std::unique_ptr<CompiledStep> compileStep(const Graph& g, const MemoryPlan& plan,
                                          const CompileOptions& options, std::string* err);

} // namespace gptc
