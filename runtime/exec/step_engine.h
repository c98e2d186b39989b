// runtime/exec/step_engine.h — one compiled or interpreted step behind one small interface, so the
// trainer and the sampler run the same loop on the JIT (runtime/exec/executable.h) and on the
// reference interpreter (runtime/interp/interpreter.h, `--interpret`): bind inputs and params by
// name, run, read.
//
// buildGraph is the compile driver (driver/driver.h) for callers that have no command line and
// want the graph alone (tests).
//
// What it leaves to others: the flags (tools/options.h), the pipelines (passes/), the kernels.
#pragma once

#include "codegen/compile.h"
#include "ir/ast.h"
#include "ir/parser.h"
#include "runtime/interp/interpreter.h"

#include <memory>
#include <string>
#include <vector>

namespace gptc {

class Executable;

/// Which engine executes a step.
enum class Engine { Jit, Interpreter };

class StepEngine {
public:
  virtual ~StepEngine() = default;
  /// Copies `t` into the input, param or state `name` (type must match exactly); "" or why not.
  virtual std::string bind(const std::string& name, const Tensor& t) = 0;
  /// Every param and state from its declared `init`, seeded (runtime/formats/param_init.cpp): the
  /// JIT and the interpreter get bit-identical values from the same seed.
  virtual std::string initParams(uint64_t seed) = 0;
  /// One step; "" or the first problem (an unbound input, an out-of-range token id).
  virtual std::string run() = 0;
  /// A copy of an output, input or persistent value; "" or why not.
  virtual std::string read(const std::string& name, Tensor* out) const = 0;
  virtual const Graph& graph() const = 0;
  /// A one-line description for logs ("JIT, 2 threads, arena 12.3 MiB").
  virtual std::string describe() const = 0;
  /// The compiled step behind a JIT engine (kernel hooks, --profile); nullptr for the interpreter.
  virtual Executable* executable() { return nullptr; }

  /// The f32 scalar output `name` (loss, grad_norm); NaN when it is missing or not a scalar.
  float scalar(const std::string& name) const;
  /// Copies every param of `to`'s graph from this engine, by name: the trainer's way of sharing
  /// trained weights with its inference graphs. "" or the first param that is missing or
  /// differently shaped here.
  std::string copyParamsTo(StepEngine& to) const;
};

/// Builds an engine for `graph`. The JIT uses `plan` when given (the pipeline's plan-memory already
/// made one), else plans memory (passes/plan_memory.h); checks the plan and compiles; the
/// interpreter needs nothing. nullptr and *err on failure.
std::unique_ptr<StepEngine> makeEngine(Engine engine, Graph graph, int threads,
                                       const CompileOptions& options, std::string* err,
                                       const MemoryPlan* plan = nullptr);

/// Runs pipeline `pipelineName` ("train", "inference") over `program` with `overrides`, as
/// `gptc compile` does with no instruments, skipping `disabledPasses` (as --disable-pass): the
/// driver's compileGraph. A Diag on failure.
Expected<Graph> buildGraph(std::shared_ptr<ast::Program> program, const ConstOverrides& overrides,
                           const std::string& pipelineName,
                           const std::vector<std::string>& disabledPasses = {});

} // namespace gptc
