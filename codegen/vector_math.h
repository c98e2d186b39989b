// codegen/vector_math.h — exp, tanh and log as straight-line IR (no calls, no branches) that works
// on a float or on a <N x float>: Cephes-style range reduction and minimax polynomials. Written
// inside a scalar loop, the loop vectorizer widens them like any other arithmetic; called on a
// vector, they are already vector code. libm is not called because its scalar calls would stop
// the vectorizer.
//
// Accuracy against std:: in double, measured by tests/jit/test_vector_math.cpp over a dense sweep
// (see docs/codegen.md for the table):
//   exp  on [-104, 89]: max relative error 1.4e-7 (2 ulp); exp(-inf) = 0, exp(+inf) = inf, NaN ->
//   NaN tanh on [-10, 10]:  max relative error 2.4e-7 (3 ulp); tanh(±inf) = ±1 log  on (0, inf):
//   max relative error 1.2e-7 (2 ulp); log(0) = -inf, log(x<0) = NaN
// What it leaves to others: where they are used (the lowerings of gelu, softmax, cross_entropy...).
#pragma once

#include <llvm/IR/IRBuilder.h>

namespace gptc::codegen {

/// e^x. Underflows to 0 below -104 (so -inf gives 0, as masked softmax needs), inf above 88.72.
llvm::Value* emitExp(llvm::IRBuilderBase& b, llvm::Value* x);
/// tanh(x): an odd polynomial for |x| < 0.625, 1 - 2/(e^{2|x|}+1) with x's sign beyond.
llvm::Value* emitTanh(llvm::IRBuilderBase& b, llvm::Value* x);
/// Natural log for x > 0 (denormals included); 0 -> -inf, negative -> NaN, inf -> inf.
llvm::Value* emitLog(llvm::IRBuilderBase& b, llvm::Value* x);

} // namespace gptc::codegen
