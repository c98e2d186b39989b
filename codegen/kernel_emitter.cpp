// codegen/kernel_emitter.cpp — the kernel toolkit (see kernel_emitter.h): the function with gptc's
// calling convention, loops in rotated form (guard, body, latch) that LoopVectorize accepts, the
// chunks of a range and their claim loop, and index arithmetic. Leaves every op's semantics to
// lower_*.cpp.
#include "codegen/kernel_emitter.h"

#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <fmt/format.h>

namespace gptc::codegen {

using llvm::Value;

std::string KernelSpec::key() const {
  std::string k(opName(kind));
  for (size_t i = 0; i < operands.size(); ++i)
    k += fmt::format("|{}{}", typeToString(operands[i]),
                     i < operandIsResult.size() && operandIsResult[i] ? "="
                     : operandAliasesResult[i]                        ? "&"
                                                                      : "");
  k += "->" + typeToString(result);
  for (const auto& [name, v] : attrs)
    k += fmt::format("|{}={}", name, attrValueToString(v));
  return k;
}

KernelEmitter::KernelEmitter(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             bool withScratch)
    : mb_(mb), spec_(spec), b_(mb.ctx()) {
  llvm::LLVMContext& c = mb.ctx();
  llvm::Type* ptr = llvm::PointerType::getUnqual(c);
  std::vector<llvm::Type*> params(spec.operands.size() + 1, ptr);
  params.push_back(llvm::Type::getInt32Ty(c));
  params.push_back(llvm::Type::getInt32Ty(c));
  params.push_back(ptr); // work
  if (withScratch) params.push_back(ptr);
  auto* ft = llvm::FunctionType::get(llvm::Type::getVoidTy(c), params, false);
  fn_ = mb.createFunction(ft, name);
  // Kernels stay out of line: step() is a list of calls, and each kernel is optimised once.
  fn_->addFnAttr(llvm::Attribute::NoInline);
  auto isResult = [&](size_t i) {
    return i < spec.operandIsResult.size() && spec.operandIsResult[i];
  };
  bool resultAliased = false; // through a pointer other than the result's
  for (size_t i = 0; i < spec.operands.size(); ++i)
    resultAliased |= spec.operandAliasesResult[i] && !isResult(i);
  for (size_t i = 0; i <= spec.operands.size(); ++i) {
    bool aliased =
        i < spec.operands.size() ? spec.operandAliasesResult[i] && !isResult(i) : resultAliased;
    // noalias is what lets the vectorizer skip runtime overlap checks; an in-place kernel (the
    // result shares an operand's bytes) must not claim it.
    if (!aliased) fn_->addParamAttr(unsigned(i), llvm::Attribute::NoAlias);
    fn_->addParamAttr(unsigned(i), llvm::Attribute::NoCapture);
    if (i < spec.operands.size()) fn_->addParamAttr(unsigned(i), llvm::Attribute::NoUndef);
  }
  auto* entry = llvm::BasicBlock::Create(c, "entry", fn_);
  b_.SetInsertPoint(entry);
  applyFastMathPolicy(b_);
  for (size_t i = 0; i <= spec.operands.size(); ++i)
    args_.push_back(fn_->getArg(unsigned(isResult(i) ? spec.operands.size() : i)));
  tid_ = b_.CreateSExt(fn_->getArg(unsigned(spec.operands.size() + 1)), i64(), "tid");
  nthreads_ = b_.CreateSExt(fn_->getArg(unsigned(spec.operands.size() + 2)), i64(), "nthreads");
  work_ = fn_->getArg(unsigned(spec.operands.size() + 3));
  work_->setName("work");
  if (withScratch) {
    scratch_ = fn_->getArg(unsigned(spec.operands.size() + 4));
    scratch_->setName("scratch");
  }
}

Value* KernelEmitter::addr(Value* base, Value* index, bool isInt) {
  return b_.CreateInBoundsGEP(isInt ? i32() : f32(), base, index);
}
Value* KernelEmitter::loadF(Value* base, Value* index) {
  return b_.CreateLoad(f32(), addr(base, index));
}
Value* KernelEmitter::loadI(Value* base, Value* index) {
  return b_.CreateLoad(i32(), addr(base, index, true));
}
void KernelEmitter::storeF(Value* base, Value* index, Value* v) {
  b_.CreateStore(v, addr(base, index));
}

void KernelEmitter::loop(Value* lo, Value* hi, const std::function<void(Value*)>& body,
                         bool keepScalar) {
  reduce(
      lo, hi, {},
      [&](Value* i, const std::vector<Value*>&) {
        body(i);
        return std::vector<Value*>{};
      },
      keepScalar);
}

std::vector<Value*> KernelEmitter::reduce(
    Value* lo, Value* hi, std::vector<Value*> init,
    const std::function<std::vector<Value*>(Value*, const std::vector<Value*>&)>& body,
    bool keepScalar) {
  llvm::LLVMContext& c = ctx();
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  auto* bodyBB = llvm::BasicBlock::Create(c, "loop", fn_);
  auto* exitBB = llvm::BasicBlock::Create(c, "loop.exit", fn_);
  b_.CreateCondBr(b_.CreateICmpSLT(lo, hi), bodyBB, exitBB);

  b_.SetInsertPoint(bodyBB);
  llvm::PHINode* i = b_.CreatePHI(i64(), 2, "i");
  i->addIncoming(lo, pre);
  std::vector<llvm::PHINode*> accs;
  std::vector<Value*> accVals;
  for (Value* v : init) {
    llvm::PHINode* p = b_.CreatePHI(v->getType(), 2, "acc");
    p->addIncoming(v, pre);
    accs.push_back(p);
    accVals.push_back(p);
  }
  std::vector<Value*> next = body(i, accVals);
  Value* inext = b_.CreateAdd(i, ci(1), "i.next", /*NUW=*/true, /*NSW=*/true);
  llvm::BasicBlock* latch = b_.GetInsertBlock();
  i->addIncoming(inext, latch);
  for (size_t k = 0; k < accs.size(); ++k)
    accs[k]->addIncoming(next[k], latch);
  llvm::BranchInst* backedge = b_.CreateCondBr(b_.CreateICmpSLT(inext, hi), bodyBB, exitBB);
  if (keepScalar) {
    llvm::LLVMContext& c = ctx();
    auto flag = [&](const char* name, llvm::Metadata* v) -> llvm::Metadata* {
      return v ? llvm::MDNode::get(c, {llvm::MDString::get(c, name), v})
               : llvm::MDNode::get(c, {llvm::MDString::get(c, name)});
    };
    llvm::Metadata* no = llvm::ConstantAsMetadata::get(b_.getFalse());
    llvm::Metadata* one = llvm::ConstantAsMetadata::get(b_.getInt32(1));
    llvm::SmallVector<llvm::Metadata*, 4> ops = {nullptr, flag("llvm.loop.vectorize.enable", no),
                                                 flag("llvm.loop.interleave.count", one),
                                                 flag("llvm.loop.unroll.disable", nullptr)};
    llvm::MDNode* id = llvm::MDNode::getDistinct(c, ops);
    id->replaceOperandWith(0, id); // a loop ID refers to itself
    backedge->setMetadata(llvm::LLVMContext::MD_loop, id);
  }

  b_.SetInsertPoint(exitBB);
  std::vector<Value*> out;
  for (size_t k = 0; k < accs.size(); ++k) {
    llvm::PHINode* p = b_.CreatePHI(init[k]->getType(), 2, "acc.out");
    p->addIncoming(init[k], pre);
    p->addIncoming(next[k], latch);
    out.push_back(p);
  }
  return out;
}

void emitClaimLoop(llvm::IRBuilder<>& b, llvm::Function* fn, Value* work, int slot, Value* tid,
                   Value* nthreads, Value* chunks, const std::function<void(Value*)>& body) {
  llvm::LLVMContext& c = b.getContext();
  llvm::Type* i64 = b.getInt64Ty();
  // Not inbounds: work may be null (then it is never dereferenced).
  Value* counter = b.CreateGEP(b.getInt8Ty(), work, b.getInt64(uint64_t(slot * kWorkSlotBytes)));
  Value* orderWord = b.CreateGEP(b.getInt8Ty(), counter, b.getInt64(8));
  Value* direct = b.CreateIsNull(work, "direct");
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* head = llvm::BasicBlock::Create(c, "claim", fn);
  auto* fromCounter = llvm::BasicBlock::Create(c, "claim.atomic", fn);
  auto* strided = llvm::BasicBlock::Create(c, "claim.strided", fn);
  auto* got = llvm::BasicBlock::Create(c, "claim.got", fn);
  auto* bodyBB = llvm::BasicBlock::Create(c, "chunk", fn);
  auto* exit = llvm::BasicBlock::Create(c, "claim.done", fn);
  b.CreateBr(head);

  b.SetInsertPoint(head);
  llvm::PHINode* k = b.CreatePHI(i64, 2, "k"); // chunks this thread took so far
  k->addIncoming(b.getInt64(0), pre);
  b.CreateCondBr(direct, strided, fromCounter);

  b.SetInsertPoint(fromCounter);
  Value* raw = b.CreateAtomicRMW(llvm::AtomicRMWInst::Add, counter, b.getInt64(1), llvm::Align(8),
                                 llvm::AtomicOrdering::Monotonic);
  Value* reversed = b.CreateICmpNE(b.CreateLoad(i64, orderWord), b.getInt64(0));
  Value* mapped =
      b.CreateSelect(reversed, b.CreateSub(b.CreateSub(chunks, raw), b.getInt64(1)), raw);
  b.CreateBr(got);

  b.SetInsertPoint(strided);
  Value* mine = b.CreateAdd(tid, b.CreateMul(k, nthreads));
  b.CreateBr(got);

  b.SetInsertPoint(got);
  llvm::PHINode* rawPhi = b.CreatePHI(i64, 2, "claimed");
  rawPhi->addIncoming(raw, fromCounter);
  rawPhi->addIncoming(mine, strided);
  llvm::PHINode* chunk = b.CreatePHI(i64, 2, "chunk.index");
  chunk->addIncoming(mapped, fromCounter);
  chunk->addIncoming(mine, strided);
  b.CreateCondBr(b.CreateICmpSLT(rawPhi, chunks), bodyBB, exit);

  b.SetInsertPoint(bodyBB);
  body(chunk);
  k->addIncoming(b.CreateAdd(k, b.getInt64(1)), b.GetInsertBlock());
  b.CreateBr(head);
  b.SetInsertPoint(exit);
}

void KernelEmitter::claimLoop(Value* chunks, const std::function<void(Value*)>& body) {
  emitClaimLoop(b_, fn_, work_, slots_++, tid_, nthreads_, chunks, body);
}

void KernelEmitter::parallelRanges(int64_t n, const std::function<void(Value*, Value*)>& body,
                                   int perThread) {
  if (n <= 0) return;
  // K = min(n, perThread·nthreads): chunk c is [n·c/K, n·(c+1)/K)
  Value* want = b_.CreateMul(nthreads_, ci(perThread));
  Value* K = n == 1 ? ci(1) : b_.CreateSelect(b_.CreateICmpSLT(want, ci(n)), want, ci(n), "chunks");
  claimLoop(K, [&](Value* c) {
    Value* lo = b_.CreateSDiv(b_.CreateMul(ci(n), c), K, "lo");
    Value* hi = b_.CreateSDiv(b_.CreateMul(ci(n), b_.CreateAdd(c, ci(1))), K, "hi");
    body(lo, hi);
  });
}

void KernelEmitter::parallelFor(int64_t n, const std::function<void(Value*)>& body) {
  parallelRanges(n, [&](Value* lo, Value* hi) { loop(lo, hi, body, /*keepScalar=*/true); });
}

void KernelEmitter::ifThen(Value* cond, const std::function<void()>& then) {
  auto* thenBB = llvm::BasicBlock::Create(ctx(), "then", fn_);
  auto* contBB = llvm::BasicBlock::Create(ctx(), "endif", fn_);
  b_.CreateCondBr(cond, thenBB, contBB);
  b_.SetInsertPoint(thenBB);
  then();
  b_.CreateBr(contBB);
  b_.SetInsertPoint(contBB);
}

void KernelEmitter::onOneThread(const std::function<void()>& body) {
  claimLoop(ci(1), [&](Value*) { body(); });
}

Value* KernelEmitter::remap(Value* flat, const Shape& shape, const std::vector<int64_t>& strides) {
  Value* off = ci(0);
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    Value* c = d == 0 ? flat : b_.CreateURem(flat, ci(shape[d]));
    if (strides[d] != 0) off = b_.CreateAdd(off, b_.CreateMul(c, ci(strides[d])));
    if (d > 0) flat = b_.CreateUDiv(flat, ci(shape[d]));
  }
  return off;
}

std::string KernelEmitter::finish() {
  b_.CreateRetVoid();
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyFunction(*fn_, &os)) return "invalid kernel " + fn_->getName().str() + ": " + msg;
  return "";
}

std::vector<int64_t> stridesOf(const Shape& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

std::vector<int64_t> broadcastStrides(const Shape& from, const Shape& to) {
  std::vector<int64_t> src = stridesOf(from), out(to.size(), 0);
  size_t off = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    out[off + d] = from[d] == 1 && to[off + d] != 1 ? 0 : src[d];
  return out;
}

} // namespace gptc::codegen
