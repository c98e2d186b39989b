// codegen/vector_math_kernels.cpp — compileVectorMath (see vector_math_kernels.h): one module with
// `void f(ptr x, ptr y, i64 n)` loops around emitExp/emitTanh/emitLog, through the same JIT, O3
// pipeline and fast-math policy as the kernels.
#include "codegen/vector_math_kernels.h"

#include "codegen/jit.h"
#include "codegen/llvm_context.h"
#include "codegen/vector_math.h"

namespace gptc::codegen {

namespace {

using Emit = llvm::Value* (*)(llvm::IRBuilderBase&, llvm::Value*);

void emitArrayFunction(ModuleBuilder& mb, const char* name, Emit emit) {
  llvm::LLVMContext& c = mb.ctx();
  llvm::Type* ptr = llvm::PointerType::getUnqual(c);
  llvm::Type* i64 = llvm::Type::getInt64Ty(c);
  auto* f = mb.createFunction(
      llvm::FunctionType::get(llvm::Type::getVoidTy(c), {ptr, ptr, i64}, false), name);
  f->addParamAttr(0, llvm::Attribute::NoAlias);
  f->addParamAttr(1, llvm::Attribute::NoAlias);
  llvm::IRBuilder<> b(c);
  applyFastMathPolicy(b);
  auto* entry = llvm::BasicBlock::Create(c, "entry", f);
  auto* loop = llvm::BasicBlock::Create(c, "loop", f);
  auto* exit = llvm::BasicBlock::Create(c, "exit", f);
  b.SetInsertPoint(entry);
  b.CreateCondBr(b.CreateICmpSGT(f->getArg(2), b.getInt64(0)), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2);
  i->addIncoming(b.getInt64(0), entry);
  llvm::Value* x =
      b.CreateLoad(b.getFloatTy(), b.CreateInBoundsGEP(b.getFloatTy(), f->getArg(0), i));
  b.CreateStore(emit(b, x), b.CreateInBoundsGEP(b.getFloatTy(), f->getArg(1), i));
  llvm::Value* next = b.CreateAdd(i, b.getInt64(1), "", true, true);
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpSLT(next, f->getArg(2)), loop, exit);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

} // namespace

VectorMathKernels::VectorMathKernels() = default;
VectorMathKernels::~VectorMathKernels() = default;

std::unique_ptr<VectorMathKernels> compileVectorMath(std::string* err, bool captureIR) {
  JitOptions jo;
  jo.captureIR = captureIR;
  std::unique_ptr<Jit> jit = Jit::create(jo, err);
  if (!jit) return nullptr;
  ModuleBuilder mb("gptc_vector_math");
  emitArrayFunction(mb, "gptc_vexp", &emitExp);
  emitArrayFunction(mb, "gptc_vtanh", &emitTanh);
  emitArrayFunction(mb, "gptc_vlog", &emitLog);
  if (!jit->addModule(std::move(mb), err)) return nullptr;
  auto out = std::make_unique<VectorMathKernels>();
  out->exp = reinterpret_cast<ArrayFn>(jit->lookup("gptc_vexp", err));
  out->tanh = reinterpret_cast<ArrayFn>(jit->lookup("gptc_vtanh", err));
  out->log = reinterpret_cast<ArrayFn>(jit->lookup("gptc_vlog", err));
  if (!out->exp || !out->tanh || !out->log) return nullptr;
  out->optimizedIR = jit->irAfterOptimization();
  out->jit = std::move(jit);
  return out;
}

} // namespace gptc::codegen
