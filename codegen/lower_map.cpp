// codegen/lower_map.cpp — emitMap, the loop nest shared by every elementwise and broadcasting
// lowering (see lower.h), emitStandard and emitTwoPhase. Leaves per-element math to the callers.
#include "codegen/lower.h"

#include <algorithm>

namespace gptc::codegen {

using llvm::Value;

std::string emitStandard(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out,
                         const std::function<std::string(KernelEmitter&)>& body) {
  KernelEmitter E(mb, spec, name);
  if (std::string e = body(E); !e.empty()) {
    E.function()->eraseFromParent();
    return e;
  }
  if (std::string e = E.finish(); !e.empty()) return e;
  out->fn = E.function();
  out->form = CallForm::Standard;
  out->workSlots = E.slots();
  return "";
}

std::string emitTwoPhase(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out, int64_t partials,
                         const std::function<std::string(KernelEmitter&, llvm::Value*)>& spread,
                         const std::function<std::string(KernelEmitter&, llvm::Value*)>& combine) {
  llvm::Type* arrTy = llvm::ArrayType::get(llvm::Type::getFloatTy(mb.ctx()), uint64_t(partials));
  auto* global = new llvm::GlobalVariable(
      mb.module(), arrTy, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
      llvm::ConstantAggregateZero::get(arrTy), name + ".partials");
  global->setAlignment(llvm::Align(64));
  LoweredKernel first, second;
  std::string e =
      emitStandard(mb, spec, name, &first, [&](KernelEmitter& E) { return spread(E, global); });
  if (e.empty())
    e = emitStandard(mb, spec, name + "_combine", &second,
                     [&](KernelEmitter& E) { return combine(E, global); });
  if (!e.empty()) {
    if (first.fn) first.fn->eraseFromParent();
    global->eraseFromParent();
    return e;
  }
  *out = first;
  out->combine = second.fn;
  out->combineWorkSlots = second.workSlots;
  out->partialsBytes = partials * 4;
  return "";
}

MapOperand contiguousOperand(const KernelSpec& spec, int index) {
  return {index, stridesOf(spec.operands[index].shape), spec.operands[index].dtype == DType::i32};
}

MapOperand broadcastOperand(const KernelSpec& spec, int index) {
  return {index, broadcastStrides(spec.operands[index].shape, spec.result.shape),
          spec.operands[index].dtype == DType::i32};
}

void emitMap(KernelEmitter& E, const Shape& outShape, const std::vector<MapOperand>& operands,
             const std::function<Value*(const std::vector<Value*>&, Value*)>& f) {
  auto& b = E.b();
  // Collapse dims: d merges into the group after it when, for the result and every operand,
  // stride[d] == stride[d+1]·size[d+1] (contiguous across the seam, or repeating on both sides).
  Shape shape = outShape.empty() ? Shape{1} : outShape;
  std::vector<std::vector<int64_t>> st; // [0] = result, then operands
  st.push_back(stridesOf(shape));
  for (const MapOperand& o : operands)
    st.push_back(o.strides.empty() ? std::vector<int64_t>{0} : o.strides);
  Shape cs{shape[0]};
  std::vector<std::vector<int64_t>> cst(st.size());
  for (size_t k = 0; k < st.size(); ++k)
    cst[k].push_back(st[k][0]);
  for (size_t d = 1; d < shape.size(); ++d) {
    bool merge = true;
    for (size_t k = 0; k < st.size(); ++k)
      merge &= cst[k].back() == st[k][d] * shape[d];
    if (merge) {
      cs.back() *= shape[d];
      for (size_t k = 0; k < st.size(); ++k)
        cst[k].back() = st[k][d];
    } else {
      cs.push_back(shape[d]);
      for (size_t k = 0; k < st.size(); ++k)
        cst[k].push_back(st[k][d]);
    }
  }
  const int64_t inner = cs.back();
  const int64_t rows = numelOf(cs) / inner;
  Shape outer(cs.begin(), cs.end() - 1);
  // Work items: whole rows when there are enough of them, else chunks of a long row so that two
  // threads still share e.g. a [1, 1M] add.
  const int64_t chunk = (rows >= 64 || inner <= 4096) ? inner : 2048;
  const int64_t nChunks = (inner + chunk - 1) / chunk;

  E.parallelFor(rows * nChunks, [&](Value* item) {
    Value* row = nChunks == 1 ? item : b.CreateUDiv(item, E.ci(nChunks));
    Value* jlo =
        nChunks == 1 ? E.ci(0) : b.CreateMul(b.CreateURem(item, E.ci(nChunks)), E.ci(chunk));
    Value* jhi = nChunks == 1
                     ? E.ci(inner)
                     : b.CreateSelect(b.CreateICmpSLT(b.CreateAdd(jlo, E.ci(chunk)), E.ci(inner)),
                                      b.CreateAdd(jlo, E.ci(chunk)), E.ci(inner));
    std::vector<Value*> base(st.size());
    for (size_t k = 0; k < st.size(); ++k) {
      std::vector<int64_t> os(cst[k].begin(), cst[k].end() - 1);
      base[k] = outer.empty() ? E.ci(0) : E.remap(row, outer, os);
      if (k > 0 && operands[k - 1].offset)
        base[k] = b.CreateAdd(base[k], E.ci(operands[k - 1].offset));
    }
    // Operands that repeat along the inner run: one load per row, outside the vector loop.
    std::vector<Value*> hoisted(operands.size(), nullptr);
    for (size_t k = 0; k < operands.size(); ++k) {
      if (cst[k + 1].back() != 0) continue;
      Value* p = E.operand(operands[k].index);
      hoisted[k] = operands[k].isInt ? E.loadI(p, base[k + 1]) : E.loadF(p, base[k + 1]);
    }
    E.loop(jlo, jhi, [&](Value* j) {
      std::vector<Value*> vals(operands.size());
      for (size_t k = 0; k < operands.size(); ++k) {
        if (hoisted[k]) {
          vals[k] = hoisted[k];
          continue;
        }
        Value* idx = b.CreateAdd(
            base[k + 1], cst[k + 1].back() == 1 ? j : b.CreateMul(j, E.ci(cst[k + 1].back())));
        Value* p = E.operand(operands[k].index);
        vals[k] = operands[k].isInt ? E.loadI(p, idx) : E.loadF(p, idx);
      }
      Value* flat = b.CreateAdd(base[0], j);
      E.storeF(E.result(), flat, f(vals, flat));
    });
  });
}

void emitCopyRows(KernelEmitter& E, Value* src, int64_t srcOff, int64_t srcStride, Value* dst,
                  int64_t dstOff, int64_t dstStride, int64_t rows, int64_t len) {
  auto& b = E.b();
  if (rows <= 0 || len <= 0) return;
  const int64_t chunk = (rows >= 64 || len <= 4096) ? len : 2048;
  const int64_t nChunks = (len + chunk - 1) / chunk;
  E.parallelFor(rows * nChunks, [&](Value* item) {
    Value* r = nChunks == 1 ? item : b.CreateUDiv(item, E.ci(nChunks));
    Value* lo =
        nChunks == 1 ? E.ci(0) : b.CreateMul(b.CreateURem(item, E.ci(nChunks)), E.ci(chunk));
    Value* hiRaw = b.CreateAdd(lo, E.ci(chunk));
    Value* hi = nChunks == 1 ? E.ci(len)
                             : b.CreateSelect(b.CreateICmpSLT(hiRaw, E.ci(len)), hiRaw, E.ci(len));
    Value* s0 = b.CreateAdd(E.ci(srcOff), b.CreateMul(r, E.ci(srcStride)));
    Value* d0 = b.CreateAdd(E.ci(dstOff), b.CreateMul(r, E.ci(dstStride)));
    E.loop(lo, hi, [&](Value* j) {
      Value* v = src ? E.loadI(src, b.CreateAdd(s0, j)) : E.ci32(0);
      b.CreateStore(v, E.addr(dst, b.CreateAdd(d0, j), true));
    });
  });
}

} // namespace gptc::codegen
