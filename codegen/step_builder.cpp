// codegen/step_builder.cpp — the step function and kernel dedup (see step_builder.h).
//
// Walk of the schedule, per op:
//   noCode view?            → nothing (its bytes already hold the value)
//   KernelSpec + key        → an existing kernel, or lower it now (lower.h's table)
//   phased (no hooks): record the call; at the end, phase = 1 + the latest phase of an earlier
//     call it has a hazard with; emit phase by phase, gptc_barrier() between phases
//   else: hazard with the bytes touched since the last barrier? → call gptc_barrier()
//   call kernel(ptrs..., tid, nthreads, work) with ptr = region base + constant offset and work
//   = this call's own slots of gptc_work
//   a two-phase reduction (lower.h): barrier; call its combine(same ptrs...)
//   with kernelHooks: barrier; if (tid == 0) hook(ctx, i); barrier   (compile.h)
// then, for `update`s the plan did not alias onto their state, a copy kernel at the end.
#include "codegen/step_builder.h"

#include "codegen/lower.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <map>

namespace gptc::codegen {

using llvm::Value;

namespace {

/// Bytes [lo, hi) of one region, or of the partials global of kernel `partialsOf` (lower.h).
struct Interval {
  Region region;
  int64_t lo, hi;
  int partialsOf = -1;
  bool overlaps(const Interval& o) const {
    return region == o.region && partialsOf == o.partialsOf && lo < o.hi && o.lo < hi;
  }
};

Interval intervalOf(const Graph& g, const MemoryPlan& plan, int value) {
  const ValuePlacement& p = plan.placement[value];
  int64_t bytes = p.bytes ? p.bytes : g.type(value).bytes();
  return {p.region, p.offset, p.offset + bytes};
}

/// Reads and writes since the last barrier; a new kernel needs a barrier first when it reads
/// bytes written, or writes bytes read or written, by a kernel in this set (another thread may
/// still be working on them: every kernel splits its work over all threads).
struct HazardTracker {
  std::vector<Interval> reads, writes;
  bool conflicts(const std::vector<Interval>& r, const std::vector<Interval>& ws) const {
    for (const Interval& x : r)
      for (const Interval& y : writes)
        if (x.overlaps(y)) return true;
    for (const Interval& w : ws) {
      for (const Interval& y : writes)
        if (w.overlaps(y)) return true;
      for (const Interval& y : reads)
        if (w.overlaps(y)) return true;
    }
    return false;
  }
  void clear() {
    reads.clear();
    writes.clear();
  }
};

std::string where(const Node& n) {
  return n.loc.known() ? fmt::format("{}:{}:{}: ", n.loc.file, n.loc.line, n.loc.col) : "";
}

class StepEmitter {
public:
  StepEmitter(ModuleBuilder& mb, const Graph& g, const MemoryPlan& plan, const CompileOptions& o,
              StepModule* out)
      : mb_(mb), g_(g), plan_(plan), opts_(o), out_(out), b_(mb.ctx()) {}

  std::string run() {
    llvm::LLVMContext& c = mb_.ctx();
    llvm::Type* ptr = llvm::PointerType::getUnqual(c);
    llvm::Type* i32 = llvm::Type::getInt32Ty(c);
    auto* stepTy =
        llvm::FunctionType::get(llvm::Type::getVoidTy(c), {ptr, ptr, ptr, ptr, i32, i32}, false);
    step_ = mb_.createFunction(stepTy, kStepSymbol);
    auto* barrierTy = llvm::FunctionType::get(llvm::Type::getVoidTy(c), {}, false);
    barrier_ = llvm::Function::Create(barrierTy, llvm::GlobalValue::ExternalLinkage, kBarrierSymbol,
                                      mb_.module());
    b_.SetInsertPoint(llvm::BasicBlock::Create(c, "entry", step_));
    // The work slots' size is known only at the end: calls address a placeholder, replaced then.
    llvm::Type* emptyTy = llvm::ArrayType::get(b_.getInt8Ty(), 0);
    workTmp_ =
        new llvm::GlobalVariable(mb_.module(), emptyTy, false, llvm::GlobalValue::InternalLinkage,
                                 llvm::ConstantAggregateZero::get(emptyTy), "gptc_work.tmp");
    const char* names[] = {"persistent", "inputs", "arena", "scratch", "tid", "nthreads"};
    for (unsigned i = 0; i < 6; ++i)
      step_->getArg(i)->setName(names[i]);
    if (opts_.kernelHooks) {
      // {hook, ctx}, null until the runtime sets it; internal data of this module, found by name.
      llvm::Type* slotTy = llvm::ArrayType::get(ptr, 2);
      hookSlot_ =
          new llvm::GlobalVariable(mb_.module(), slotTy, false, llvm::GlobalValue::ExternalLinkage,
                                   llvm::ConstantAggregateZero::get(slotTy), kHookSlotSymbol);
      hookSlot_->setAlignment(llvm::Align(16));
      emitHook(-1);
      b_.CreateCall(barrier_);
    }

    for (int nodeId : plan_.schedule) {
      const Node& n = g_.nodes[nodeId];
      if (plan_.placement[n.result].noCode) {
        out_->stats.skippedViews++;
        continue;
      }
      KernelSpec spec{n.kind, {}, g_.type(n.result), n.attrs, {}};
      Interval w = intervalOf(g_, plan_, n.result);
      std::vector<Interval> r;
      for (int v : n.operands) {
        spec.operands.push_back(g_.type(v));
        r.push_back(intervalOf(g_, plan_, v));
        spec.operandAliasesResult.push_back(r.back().overlaps(w));
        spec.operandIsResult.push_back(r.back().region == w.region && r.back().lo == w.lo &&
                                       r.back().hi == w.hi);
      }
      std::vector<int> values = n.operands;
      values.push_back(n.result);
      KernelCall kc{nodeId, n.result, -1, n.kind, false};
      if (std::string e = call(spec, values, r, w, kc); !e.empty()) return where(n) + "error: " + e;
    }
    // Updates the plan did not alias: copy the new value onto its state after everything else.
    for (const Update& u : g_.updates) {
      Interval from = intervalOf(g_, plan_, u.value), to = intervalOf(g_, plan_, u.state);
      if (from.region == to.region && from.lo == to.lo) continue;
      const TensorType& t = g_.type(u.state);
      KernelSpec spec{
          OpKind::Reshape, {t}, t, Attrs{{"shape", AttrValue(t.shape)}}, {from.overlaps(to)}};
      KernelCall kc{-1, u.state, -1, OpKind::Reshape, true};
      if (std::string e = call(spec, {u.value, u.state}, {from}, to, kc); !e.empty()) return e;
      out_->stats.updateCopies++;
    }
    if (phased()) emitPhases();
    b_.CreateRetVoid();
    out_->workBytes = std::max<int64_t>(workSlots_, 1) * kWorkSlotBytes;
    llvm::Type* workTy = llvm::ArrayType::get(b_.getInt8Ty(), uint64_t(out_->workBytes));
    auto* work =
        new llvm::GlobalVariable(mb_.module(), workTy, false, llvm::GlobalValue::ExternalLinkage,
                                 llvm::ConstantAggregateZero::get(workTy), kWorkSymbol);
    work->setAlignment(llvm::Align(kWorkSlotBytes));
    workTmp_->replaceAllUsesWith(work);
    workTmp_->eraseFromParent();
    out_->stats.kernels = int(out_->kernels.size());
    return "";
  }

private:
  struct Emitted {
    LoweredKernel k;
    int index;
  };

  Value* pointerTo(int value) {
    const ValuePlacement& p = plan_.placement[value];
    Value* base = step_->getArg(p.region == Region::Persistent ? 0
                                : p.region == Region::Input    ? 1
                                                               : 2);
    return b_.CreateInBoundsGEP(b_.getInt8Ty(), base, b_.getInt64(uint64_t(p.offset)));
  }

  /// `slots` fresh work slots for one call (null when it has no parallel loop).
  Value* workFor(int slots) {
    if (slots == 0) return llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(mb_.ctx()));
    Value* p = b_.CreateInBoundsGEP(b_.getInt8Ty(), workTmp_,
                                    b_.getInt64(uint64_t(workSlots_ * kWorkSlotBytes)));
    workSlots_ += slots;
    return p;
  }

  /// if (tid == 0) { fn = slot[0]; if (fn) fn(slot[1], index); }
  void emitHook(int index) {
    llvm::LLVMContext& c = mb_.ctx();
    llvm::Type* ptr = llvm::PointerType::getUnqual(c);
    llvm::Function* f = step_;
    auto* callBB = llvm::BasicBlock::Create(c, "hook", f);
    auto* doneBB = llvm::BasicBlock::Create(c, "hook.done", f);
    Value* fn = b_.CreateLoad(ptr, hookSlot_, /*isVolatile=*/true);
    Value* isZero = b_.CreateICmpEQ(step_->getArg(4), b_.getInt32(0));
    Value* go = b_.CreateAnd(isZero, b_.CreateIsNotNull(fn));
    b_.CreateCondBr(go, callBB, doneBB);
    b_.SetInsertPoint(callBB);
    Value* ctxPtr = b_.CreateConstInBoundsGEP1_64(ptr, hookSlot_, 1);
    Value* ctx = b_.CreateLoad(ptr, ctxPtr, /*isVolatile=*/true);
    auto* hookTy = llvm::FunctionType::get(llvm::Type::getVoidTy(c), {ptr, b_.getInt32Ty()}, false);
    b_.CreateCall(hookTy, fn, {ctx, b_.getInt32(uint32_t(index))});
    b_.CreateBr(doneBB);
    b_.SetInsertPoint(doneBB);
  }

  /// Emits (or reuses) the kernel of `spec` and calls it on `values` (operands..., result).
  std::string call(const KernelSpec& spec, const std::vector<int>& values,
                   const std::vector<Interval>& reads, const Interval& write, KernelCall kc) {
    std::string key = spec.key();
    auto it = kernels_.find(key);
    if (it == kernels_.end()) {
      LowerFn lower = loweringFor(spec.kind); // every op kind has one (lower_table.cpp)
      int index = int(out_->kernels.size());
      std::string symbol = fmt::format("gptc_k{}_{}", index, opName(spec.kind));
      Emitted e{{}, index};
      if (std::string err = lower(mb_, spec, symbol, &e.k); !err.empty())
        return fmt::format("cannot lower '{}': {}", opName(spec.kind), err);
      out_->scratchBytes = std::max(out_->scratchBytes, (e.k.scratchBytes + 63) / 64 * 64);
      out_->kernels.push_back({symbol, key, 0});
      it = kernels_.emplace(key, e).first;
    }
    out_->kernels[it->second.index].uses++;

    const LoweredKernel& k = it->second.k;
    // A two-phase reduction: fn writes the partials, combine reads them and writes the result.
    const Interval partials{Region::Arena, 0, k.partialsBytes, it->second.index};
    std::vector<Interval> combineReads = reads;
    if (k.combine) combineReads.push_back(partials);
    // fn writes the partials (and the result too when fnWritesResult: lower_lm_head.cpp's dx)
    std::vector<Interval> firstWrites{k.combine ? partials : write};
    if (k.combine && k.fnWritesResult) firstWrites.push_back(write);
    kc.kernel = it->second.index;

    if (phased()) { // placed and emitted by emitPhases, once every call is known
      units_.push_back({&k, values, reads, firstWrites, false, kc});
      if (k.combine) units_.push_back({&k, values, combineReads, {write}, true, kc});
      return "";
    }
    if (opts_.kernelHooks) {
      // the hook's barriers separate every call already
    } else if (hazards_.conflicts(reads, firstWrites) || !opts_.elideBarriers) {
      if (!first_) {
        b_.CreateCall(barrier_);
        out_->stats.barriers++;
      }
      hazards_.clear();
    } else if (!first_) {
      out_->stats.barriersElided++;
    }
    first_ = false;
    hazards_.reads.insert(hazards_.reads.end(), reads.begin(), reads.end());
    hazards_.writes.insert(hazards_.writes.end(), firstWrites.begin(), firstWrites.end());

    emitKernelCall(k, values, false);
    if (k.combine) { // every thread's partials are written before one thread adds them up
      b_.CreateCall(barrier_);
      out_->stats.barriers++;
      hazards_.clear();
      hazards_.reads = combineReads;
      hazards_.writes.push_back(write);
      emitKernelCall(k, values, true);
    }
    out_->calls.push_back(kc);
    out_->stats.calls++;
    if (opts_.kernelHooks) {
      b_.CreateCall(barrier_);
      emitHook(int(out_->calls.size()) - 1);
      b_.CreateCall(barrier_);
      out_->stats.barriers += 2;
    }
    return "";
  }

  /// Independent kernels share one phase (the time between two barriers). Without hooks, every
  /// call (a two-phase reduction: its fn and its combine) goes into the earliest phase after
  /// every earlier call it conflicts with (the hazards of HazardTracker: RAW, WAR, WAW on the
  /// plan's bytes), not merely after the last barrier: a kernel that only reads params joins the
  /// first phase even when it comes late in the schedule. Pairs without a hazard may run in any
  /// order or at once, so this is as correct as the sequential walk, with fewer barriers — fewer
  /// places where every thread waits for the slowest one (a thread that lost its core).
  bool phased() const { return !opts_.kernelHooks && opts_.elideBarriers; }

  struct Unit {
    const LoweredKernel* k;
    std::vector<int> values;
    std::vector<Interval> reads;
    std::vector<Interval> writes;
    bool combine; // the second function of a two-phase reduction
    KernelCall kc;
  };

  static bool conflicts(const Unit& earlier, const Unit& later) {
    for (const Interval& ew : earlier.writes) {
      for (const Interval& r : later.reads)
        if (r.overlaps(ew)) return true;
      for (const Interval& lw : later.writes)
        if (lw.overlaps(ew)) return true;
    }
    for (const Interval& r : earlier.reads)
      for (const Interval& lw : later.writes)
        if (lw.overlaps(r)) return true;
    return false;
  }

  void emitPhases() {
    const size_t n = units_.size();
    std::vector<int> phase(n, 0);
    for (size_t k = 0; k < n; ++k)
      for (size_t j = k; j-- > 0;)
        if (phase[j] + 1 > phase[k] && conflicts(units_[j], units_[k])) phase[k] = phase[j] + 1;
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return phase[a] < phase[b]; });
    for (size_t i = 0; i < n; ++i) {
      const Unit& u = units_[order[i]];
      if (i > 0 && phase[order[i]] != phase[order[i - 1]]) {
        b_.CreateCall(barrier_);
        out_->stats.barriers++;
      } else if (i > 0) {
        out_->stats.barriersElided++;
      }
      emitKernelCall(*u.k, u.values, u.combine);
      if (!u.combine) {
        out_->calls.push_back(u.kc);
        out_->stats.calls++;
      }
    }
  }

  /// The call of k's fn (or combine) on `values`, with fresh work slots; returns the arguments.
  std::vector<Value*> emitKernelCall(const LoweredKernel& k, const std::vector<int>& values,
                                     bool combine) {
    std::vector<Value*> args;
    Value* tid = step_->getArg(4);
    Value* nthreads = step_->getArg(5);
    llvm::Function* fn = combine ? k.combine : k.fn;
    Value* work = workFor(combine ? k.combineWorkSlots : k.workSlots);
    if (k.form == CallForm::Matmul) {
      // (A, B, C, bias, scratch, tid, nthreads); linear's bias is its third operand
      args = {pointerTo(values[0]),
              pointerTo(values[1]),
              pointerTo(values.back()),
              values.size() == 4
                  ? pointerTo(values[2])
                  : llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(mb_.ctx())),
              step_->getArg(3),
              tid,
              nthreads,
              work};
    } else {
      for (int v : values)
        args.push_back(pointerTo(v));
      args.push_back(tid);
      args.push_back(nthreads);
      args.push_back(work);
      if (k.form == CallForm::Scratch) args.push_back(step_->getArg(3));
    }
    b_.CreateCall(fn->getFunctionType(), fn, args);
    return args;
  }

  ModuleBuilder& mb_;
  const Graph& g_;
  const MemoryPlan& plan_;
  const CompileOptions& opts_;
  StepModule* out_;
  llvm::IRBuilder<> b_;
  llvm::Function* step_ = nullptr;
  llvm::Function* barrier_ = nullptr;
  llvm::GlobalVariable* hookSlot_ = nullptr;
  llvm::GlobalVariable* workTmp_ = nullptr;
  int64_t workSlots_ = 0;
  std::map<std::string, Emitted> kernels_;
  HazardTracker hazards_;
  std::vector<Unit> units_; // phased(): every call, in schedule order, until emitPhases
  bool first_ = true;
};

} // namespace

std::string buildStepModule(ModuleBuilder& mb, const Graph& g, const MemoryPlan& plan,
                            const CompileOptions& options, StepModule* out) {
  if (plan.placement.size() != g.values.size())
    return fmt::format("the memory plan places {} values but the graph has {}",
                       plan.placement.size(), g.values.size());
  StepEmitter e(mb, g, plan, options, out);
  return e.run();
}

} // namespace gptc::codegen
