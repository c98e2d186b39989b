// codegen/lower_collective.cpp — allreduce, reduce_scatter, all_gather (ir/ops.def): each kernel is
// one call, on thread 0 of the team, into the runtime's MPI layer through the extern "C" entry
// points of codegen/collectives.h (defined in the JIT by compileStep). MPI moves the bytes; the
// other threads go on to the next kernel that does not touch them (the step builder's barriers see
// the result's bytes like any kernel's), so the rest of the backward can overlap the communication.
#include "codegen/collectives.h"
#include "codegen/lower.h"

namespace gptc::codegen {

namespace {

using llvm::Value;

/// emits `symbol(operand 0, result, n[, ranks])` on one thread.
std::string callOnOneThread(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out, const char* symbol, int64_t n, int ranks) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    llvm::Type* ptr = llvm::PointerType::get(E.ctx(), 0);
    std::vector<llvm::Type*> params{ptr, ptr, E.i64()};
    if (ranks > 0) params.push_back(E.i32());
    auto* fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(E.ctx()), params, false);
    llvm::FunctionCallee fn = mb.module().getOrInsertFunction(symbol, fnTy);
    // Thread 0, not whichever thread claims first: collectives must reach MPI in the same order
    // on every rank and one at a time (MPI_THREAD_SERIALIZED). Thread 0 runs step()'s calls in
    // schedule order, while the other threads, with no barrier before a kernel that does not
    // touch these bytes, may already be in a later kernel (or a later bucket's collective).
    E.ifThen(b.CreateICmpEQ(E.tid(), E.ci(0)), [&] {
      std::vector<Value*> args{E.operand(0), E.result(), E.ci(n)};
      if (ranks > 0) args.push_back(E.ci32(ranks));
      b.CreateCall(fn, args);
    });
    return std::string();
  });
}

} // namespace

std::string lower_AllReduce(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  return callOnOneThread(mb, spec, name, out, kAllreduceSymbol, spec.result.numel(), 0);
}

std::string lower_ReduceScatter(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                LoweredKernel* out) {
  // n: the whole (flattened) operand; the result is this rank's slice of it
  return callOnOneThread(mb, spec, name, out, kReduceScatterSymbol, spec.operands[0].numel(),
                         int(attrInt(spec.attrs, "ranks")));
}

std::string lower_AllGather(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  // n: the whole result; the operand is this rank's slice of it
  return callOnOneThread(mb, spec, name, out, kAllGatherSymbol, spec.result.numel(),
                         int(attrInt(spec.attrs, "ranks")));
}

} // namespace gptc::codegen
