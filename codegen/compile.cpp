// codegen/compile.cpp — compileStep (see compile.h): build the step module, hand it to the JIT
// with gptc_barrier defined, look up the step. Also home of gptc_barrier itself: the barrier of
// the process's thread team (codegen/thread_team.h), whose job the runtime runs step() in.
#include "codegen/compile.h"

#include "codegen/collectives.h"
#include "codegen/jit.h"
#include "codegen/lower.h"
#include "codegen/step_builder.h"
#include "codegen/thread_team.h"

#include <chrono>
#include <cstring>

extern "C" void gptc_barrier() {
  gptc::ThreadTeam::shared().barrier();
}

namespace gptc {

CompiledStep::CompiledStep() = default;
CompiledStep::~CompiledStep() = default;
std::string CompiledStep::irBeforeOptimization() const {
  return jit_->irBeforeOptimization();
}
std::string CompiledStep::irAfterOptimization() const {
  return jit_->irAfterOptimization();
}
std::string CompiledStep::assembly() const {
  return jit_->assembly();
}
void CompiledStep::resetWork(bool reversedClaims) {
  std::memset(work_, 0, size_t(workBytes_));
  if (reversedClaims)
    for (int64_t off = 0; off < workBytes_; off += codegen::kWorkSlotBytes)
      reinterpret_cast<int64_t*>(work_ + off)[1] = 1; // the slot's order word
}
bool CompiledStep::setKernelHook(KernelHook hook, void* ctx) {
  if (!hookSlot_) return false;
  hookSlot_[0] = reinterpret_cast<void*>(hook);
  hookSlot_[1] = ctx;
  return true;
}

std::unique_ptr<CompiledStep> compileStep(const Graph& g, const MemoryPlan& plan,
                                          const CompileOptions& options, std::string* err) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  codegen::JitOptions jo;
  jo.useCache = options.useCache;
  jo.cacheDir = options.cacheDir;
  jo.captureIR = options.captureIR;
  jo.captureAsm = options.captureAsm;
  jo.optLevel = options.optLevel;
  std::unique_ptr<codegen::Jit> jit = codegen::Jit::create(jo, err);
  if (!jit) return nullptr;

  auto t0 = Clock::now();
  codegen::ModuleBuilder mb("gptc_step");
  codegen::StepModule sm;
  if (std::string e = codegen::buildStepModule(mb, g, plan, options, &sm); !e.empty()) {
    if (err) *err = e;
    return nullptr;
  }
  sm.stats.emitSeconds = seconds(t0);

  t0 = Clock::now();
  if (!jit->defineAbsolute(codegen::kBarrierSymbol, reinterpret_cast<void*>(&gptc_barrier), err))
    return nullptr;
  // The collectives' entry points (codegen/collectives.h): defined even when the step has none.
  if (!jit->defineAbsolute(codegen::kAllreduceSymbol, reinterpret_cast<void*>(&gptc_allreduce_f32),
                           err) ||
      !jit->defineAbsolute(codegen::kReduceScatterSymbol,
                           reinterpret_cast<void*>(&gptc_reduce_scatter_f32), err) ||
      !jit->defineAbsolute(codegen::kAllGatherSymbol, reinterpret_cast<void*>(&gptc_all_gather_f32),
                           err))
    return nullptr;
  if (!jit->addModule(std::move(mb), err)) return nullptr;
  void* step = jit->lookup(codegen::kStepSymbol, err); // machine code is generated here
  if (!step) return nullptr;
  char* work = static_cast<char*>(jit->lookup(codegen::kWorkSymbol, err));
  if (!work) return nullptr;
  void** hookSlot = nullptr;
  if (options.kernelHooks) {
    hookSlot = static_cast<void**>(jit->lookup(codegen::kHookSlotSymbol, err));
    if (!hookSlot) return nullptr;
  }
  sm.stats.jitSeconds = seconds(t0);
  sm.stats.cacheHit = jit->stats().cacheHits > 0;

  std::unique_ptr<CompiledStep> out(new CompiledStep());
  out->jit_ = std::move(jit);
  out->step_ = reinterpret_cast<StepFn>(step);
  out->scratchBytes_ = sm.scratchBytes;
  out->stats_ = sm.stats;
  out->kernels_ = std::move(sm.kernels);
  out->calls_ = std::move(sm.calls);
  out->hookSlot_ = hookSlot;
  out->work_ = work;
  out->workBytes_ = sm.workBytes;
  return out;
}

} // namespace gptc
