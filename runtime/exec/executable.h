// runtime/exec/executable.h — a compiled step plus the memory it runs in: the three regions of the
// memory plan (Persistent, Input, Arena) allocated once, per-thread scratch, binding of inputs and
// parameters by name, and run(), which runs step() as one job of the process's thread team
// (codegen/thread_team.h), the team whose barrier step() calls.
//
// Typical use (see tests/jit/ and tools/cmd_run.cpp):
//   auto exe = Executable::create(graph, plan, {}, &err);
//   exe->initParams(1337);                      // or bind("wte", ...) from a checkpoint
//   exe->bind("tokens", tokens);                // every input, before the first run
//   exe->run(threads);                          // threads <= 0: codegen/thread_count.h
//   float loss = exe->output("loss")[0];
//
// What it leaves to others: compiling (codegen/compile.h), planning (passes/), the training loop,
// checkpoints and data (runtime/train/trainer, llmc_checkpoint, token_data).
#pragma once

#include "codegen/compile.h"
#include "runtime/interp/interpreter.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gptc {

class Executable {
public:
  /// Compiles `graph` under `plan` and allocates its regions (zero-filled). The graph and plan are
  /// copied. nullptr and *err on failure.
  static std::unique_ptr<Executable> create(const Graph& graph, const MemoryPlan& plan,
                                            const CompileOptions& options, std::string* err);
  ~Executable();

  /// Copies data into an input or a persistent value (param, state). The element count and dtype
  /// must match the value's type. "" or why not.
  std::string bind(const std::string& name, std::span<const float> data);
  std::string bind(const std::string& name, std::span<const int32_t> data);
  std::string bind(const std::string& name, const Tensor& t);
  /// Every param and state from its `init`, with the interpreter's generator (runtime/
  /// param_init.cpp): the same seed gives the interpreter's values exactly.
  std::string initParams(uint64_t seed);

  /// One step on `threads` threads (<= 0: defaultThreadCount(), codegen/thread_count.h). Checks
  /// first that every input is bound and that token ids / targets that feed embedding and
  /// cross_entropy are in range (the kernels cannot report it). "" or the first problem.
  std::string run(int threads = 0);

  /// f32 data of an output, input or persistent value (after run() for outputs); nullptr if the
  /// name is unknown, not f32, or an intermediate (its arena bytes may be reused by later values).
  const float* output(const std::string& name) const;
  /// A copy of any readable value (as output(), any dtype); "" or why not.
  std::string read(const std::string& name, Tensor* out) const;
  /// Mutable bytes of a persistent value (params, optimizer state), for checkpoints; nullptr if
  /// not persistent or not f32.
  float* param(const std::string& name);
  /// Names of the params and state values, in declaration order.
  std::vector<std::string> persistentNames() const;

  int64_t persistentBytes() const { return plan_.persistentBytes; }
  int64_t inputBytes() const { return plan_.inputBytes; }
  int64_t arenaBytes() const { return plan_.arenaBytes; }
  int64_t scratchBytesPerThread() const;
  const CompiledStep& compiled() const { return *step_; }
  /// Kernel hooks (compile.h; needs CompileOptions::kernelHooks): false when compiled without.
  bool setKernelHook(KernelHook hook, void* ctx) { return step_->setKernelHook(hook, ctx); }
  /// The bytes of any value, for hooks that read a kernel's result while step() runs (an arena
  /// value is only meaningful between the call that writes it and the next reuse of its bytes).
  const char* valueBytes(int value) const { return addressOf(value); }
  const Graph& graph() const { return g_; }
  /// Test hook: every parallel loop of the step hands its chunks out in reverse order
  /// (CompiledStep::resetWork); results must be bit-identical either way.
  void setReversedClaimsForTesting(bool on) { reversedClaims_ = on; }

private:
  Executable() = default;
  char* addressOf(int value) const;
  std::string checkIndexInputs() const;
  std::string bindBytes(const std::string& name, const void* data, int64_t count, DType dtype);

  struct Block {
    char* data = nullptr; // 64-byte aligned, followed by kGuardBytes of a known pattern
    int64_t bytes = 0;
    size_t mapped = 0; // mmap'd length (large regions), else 0: aligned_alloc
  };
  static Block allocate(int64_t bytes);
  static void release(Block& r);
  static bool guardIntact(const Block& r);

  Graph g_;
  MemoryPlan plan_;
  std::unique_ptr<CompiledStep> step_;
  Block persistent_, inputs_, arena_, scratch_;
  int scratchThreads_ = 0;
  std::vector<bool> bound_; // per value id (inputs)
  bool reversedClaims_ = false;
};

} // namespace gptc
