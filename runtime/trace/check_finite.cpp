// runtime/trace/check_finite.cpp — see check_finite.h.
#include "runtime/trace/check_finite.h"

#include "passes/plan_memory.h"
#include "runtime/exec/step_engine.h"
#include "runtime/trace/trace.h"

#include <cmath>
#include <fmt/format.h>
#include <fstream>

namespace gptc {

std::string sourceLine(const std::string& path, int line) {
  std::ifstream f(path);
  std::string s;
  for (int i = 1; i <= line && std::getline(f, s); ++i)
    if (i == line) return s;
  return "";
}

FiniteChecker::FiniteChecker(Executable& exe) : exe_(&exe) {
  ok_ = exe.setKernelHook(&FiniteChecker::hook, this);
}

FiniteChecker::~FiniteChecker() {
  if (ok_) exe_->setKernelHook(nullptr, nullptr);
}

void FiniteChecker::hook(void* ctx, int32_t callIndex) {
  auto* self = static_cast<FiniteChecker*>(ctx);
  if (callIndex < 0) {
    ++self->steps_;
    return;
  }
  if (!self->tripped_) self->check(callIndex);
}

void FiniteChecker::check(int32_t callIndex) {
  const KernelCall& call = exe_->compiled().calls()[size_t(callIndex)];
  const Graph& g = exe_->graph();
  const TensorType& type = g.type(call.value);
  if (type.dtype != DType::f32) return;
  const auto* data = reinterpret_cast<const float*>(exe_->valueBytes(call.value));
  // Masks write -inf on purpose (softmax turns it into an exact 0); only NaN and +inf count there.
  bool mask = call.node >= 0 && (call.kind == OpKind::CausalMask || call.kind == OpKind::PadMask ||
                                 call.kind == OpKind::MaskFill);
  int64_t nan = 0, inf = 0, first = -1;
  for (int64_t i = 0; i < type.numel(); ++i) {
    if (std::isnan(data[i]))
      ++nan;
    else if (std::isinf(data[i]) && !(mask && data[i] < 0))
      ++inf;
    else
      continue;
    if (first < 0) first = i;
  }
  if (nan + inf == 0) return;
  tripped_ = true;
  const Value& result = g.values[call.value];
  std::string& r = report_;
  if (call.node < 0) {
    r = fmt::format(
        "non-finite value in step {}: the copy of %{} onto its state (kernel call {})\n",
        steps_ - 1, result.name, callIndex);
    summary_ = fmt::format("the copy of %{} onto its state", result.name);
    return;
  }
  const Node& n = g.nodes[size_t(call.node)];
  std::string operands;
  for (int v : n.operands)
    operands += (operands.empty() ? "%" : ", %") + g.values[v].name;
  r = fmt::format("non-finite value in step {} (0-based), kernel call {}: %{} = {}({}) : {}\n",
                  steps_ - 1, callIndex, result.name, opName(n.kind), operands, typeToString(type));
  const SourceLoc& loc = n.loc.known() ? n.loc : result.loc;
  summary_ = fmt::format("%{} = {}({})", result.name, opName(n.kind), operands);
  if (loc.known()) summary_ += fmt::format(" at {}:{}:{}", loc.file, loc.line, loc.col);
  summary_ += fmt::format(" ({} NaN, {} Inf of {} values)", nan, inf, type.numel());
  if (loc.known()) {
    r += fmt::format("  at {}:{}:{}\n", loc.file, loc.line, loc.col);
    if (std::string line = sourceLine(loc.file, loc.line); !line.empty())
      r += "    " + line + "\n    " + std::string(size_t(std::max(0, loc.col - 1)), ' ') + "^\n";
  }
  r += fmt::format("  result: {} NaN, {} Inf of {} values; the first at flat index {}\n", nan, inf,
                   type.numel(), first);
  r += "  inputs, as the kernel read them:\n";
  const char* resultBytes = exe_->valueBytes(call.value);
  for (int v : n.operands) {
    const TensorType& t = g.type(v);
    std::string line = fmt::format("    %{:<18} {:<16}", g.values[v].name, typeToString(t));
    if (t.dtype != DType::f32) {
      const auto* ids = reinterpret_cast<const int32_t*>(exe_->valueBytes(v));
      int32_t lo = ids[0], hi = ids[0];
      for (int64_t i = 1; i < t.numel(); ++i) {
        lo = std::min(lo, ids[i]);
        hi = std::max(hi, ids[i]);
      }
      line += fmt::format(" i32 in [{}, {}]", lo, hi);
    } else if (exe_->valueBytes(v) == resultBytes) {
      line += " (overwritten in place by the result; plan without in-place reuse to see it)";
    } else {
      TensorStats s = statsOf(reinterpret_cast<const float*>(exe_->valueBytes(v)), t.numel());
      line +=
          fmt::format(" mean {:.4g} std {:.4g} min {:.4g} max {:.4g}", s.mean, s.std, s.min, s.max);
      if (s.nonFinite) line += fmt::format("  ({} NaN/Inf already)", s.nonFinite);
    }
    r += line + "\n";
  }
}

std::string findFirstNonFinite(const Trainer& trainer, const Graph& trainGraph, int threads,
                               const std::vector<NamedTensor>* state, int64_t from, int64_t to,
                               std::string* err) {
  // The checker reports the inputs of the op that went wrong: no in-place op may overwrite them.
  PlanOptions po;
  po.inPlace = false;
  const MemoryPlan plan = planMemory(trainGraph, po);
  CompileOptions options;
  options.kernelHooks = true;
  std::unique_ptr<StepEngine> engine =
      makeEngine(Engine::Jit, Graph(trainGraph), threads, options, err, &plan);
  if (!engine) return "";
  if (!engine->executable()) return *err = "the replay needs the JIT", "";
  FiniteChecker checker(*engine->executable());
  if (!checker.ok()) return *err = "the replay's step was compiled without kernel hooks", "";
  if (std::string e = trainer.replay(*engine, state, from, to, [&] { return checker.tripped(); });
      !e.empty())
    return *err = e, "";
  if (!checker.tripped())
    return *err = fmt::format("steps {} to {} replayed without a NaN or Inf", from, to - 1), "";
  return fmt::format("{} in step {}", checker.summary(), from + checker.steps() - 1);
}

} // namespace gptc
