// codegen/lower_matmul.cpp — lowerings of matmul and linear onto the generated matmul kernel
// (codegen/matmul.h, matmul_emit.h: packing + register-blocked micro-kernel, written by the matmul
// generator). This file only maps an op's shapes onto a MatmulShape:
//   matmul a[...,M,K] @ b[...,K,N] (ta/tb transpose the last two axes of a/b); a 2-D b is shared by
//     every batch, and then (without ta) the batch folds into M: one big GEMM instead of many
//     small;
//   linear x[...,K] · w[N,K]ᵀ + b[N] is transB with the Bias epilogue and M = rows of x.
// The kernel uses the Matmul call form (A, B, C, bias, scratch, tid, nthreads); with at most
// kGemvMaxRows rows it is a streaming matrix-vector kernel in the Standard form (lower_gemv.cpp).
#include "codegen/lower.h"
#include "codegen/matmul_emit.h"

namespace gptc::codegen {

namespace {

std::string emitMatmul(ModuleBuilder& mb, const MatmulShape& shape, const std::string& name,
                       LoweredKernel* out) {
  if (std::string bad = validateMatmulShape(shape); !bad.empty()) return bad;
  MatmulPlan plan = planMatmul(shape);
  out->fn = emitMatmulKernel(mb, shape, plan, name);
  out->fn->addFnAttr(llvm::Attribute::NoInline);
  out->workSlots = 1;
  out->form = CallForm::Matmul;
  out->scratchBytes = matmulScratchBytes(shape);
  return "";
}

} // namespace

/// Rows up to which matmul/linear stream their weights once (codegen/lower_gemv.cpp) instead of
/// packing them: decode steps have one row per sequence.
constexpr int64_t kGemvMaxRows = 4;
std::string emitGemv(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                     LoweredKernel* out, const MatmulShape& s);

std::string lower_MatMul(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out) {
  const Shape &a = spec.operands[0].shape, &bs = spec.operands[1].shape;
  bool ta = attrInt(spec.attrs, "ta"), tb = attrInt(spec.attrs, "tb");
  int ra = int(a.size()), rb = int(bs.size());
  MatmulShape s;
  s.transA = ta;
  s.transB = tb;
  s.M = ta ? a[ra - 1] : a[ra - 2];
  s.K = ta ? a[ra - 2] : a[ra - 1];
  s.N = tb ? bs[rb - 2] : bs[rb - 1];
  s.batch = 1;
  for (int d = 0; d < ra - 2; ++d)
    s.batch *= a[d];
  s.batchedB = rb > 2;
  if (!s.batchedB && !ta) { // rows of every batch are rows of one [batch·M, K] matrix
    s.M *= s.batch;
    s.batch = 1;
  }
  if (s.M <= kGemvMaxRows && !ta) return emitGemv(mb, spec, name, out, s);
  return emitMatmul(mb, s, name, out);
}

std::string lower_Linear(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out) {
  const TensorType& x = spec.operands[0];
  MatmulShape s;
  s.K = x.shape.back();
  s.M = x.numel() / s.K;
  s.N = spec.operands[1].shape[0];
  s.transB = true;
  s.batchedB = false;
  s.epilogue = MatmulEpilogue::Bias;
  if (s.M <= kGemvMaxRows) return emitGemv(mb, spec, name, out, s);
  return emitMatmul(mb, s, name, out);
}

} // namespace gptc::codegen
