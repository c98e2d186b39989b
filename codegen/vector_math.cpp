// codegen/vector_math.cpp — exp/tanh/log as branch-free IR on floats or float vectors (see
// vector_math.h). Coefficients are Cephes' single-precision minimax polynomials (expf, tanhf,
// logf). Only `contract` is set while emitting: Horner steps become FMAs, but nothing is
// reassociated — in exp, 2^n is applied as two factors 2^(n/2)·2^(n-n/2) so that results near
// FLT_MAX and in the denormal range stay exact, and reassociating them would overflow/underflow.
#include "codegen/vector_math.h"

#include <cmath>
#include <limits>

namespace gptc::codegen {

using llvm::Value;

namespace {

/// Saves the builder's fast-math flags, sets contract only, restores on exit.
struct ContractOnly {
  llvm::IRBuilderBase& b;
  llvm::FastMathFlags saved;
  explicit ContractOnly(llvm::IRBuilderBase& b) : b(b), saved(b.getFastMathFlags()) {
    llvm::FastMathFlags f;
    f.setAllowContract(true);
    b.setFastMathFlags(f);
  }
  ~ContractOnly() { b.setFastMathFlags(saved); }
};

Value* cf(Value* like, double v) {
  return llvm::ConstantFP::get(like->getType(), v);
}
llvm::Type* intTypeLike(Value* like) {
  llvm::Type* i32 = llvm::Type::getInt32Ty(like->getContext());
  if (auto* vt = llvm::dyn_cast<llvm::VectorType>(like->getType()))
    return llvm::VectorType::get(i32, vt->getElementCount());
  return i32;
}
Value* ci(llvm::Type* t, int64_t v) {
  return llvm::ConstantInt::get(t, uint64_t(v), true);
}

/// c0*x^n + ... + cn in Horner form; fmuladd so the backend emits FMA.
Value* horner(llvm::IRBuilderBase& b, Value* x, std::initializer_list<double> coeffs) {
  Value* acc = nullptr;
  for (double c : coeffs) {
    if (!acc) {
      acc = cf(x, c);
      continue;
    }
    acc = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {acc, x, cf(x, c)});
  }
  return acc;
}

/// 2^n for an integer vector n in [-126, 127], as a float: the exponent field set directly.
Value* pow2i(llvm::IRBuilderBase& b, Value* n, llvm::Type* floatTy) {
  Value* bits = b.CreateShl(b.CreateAdd(n, ci(n->getType(), 127)), ci(n->getType(), 23));
  return b.CreateBitCast(bits, floatTy);
}

Value* isNaN(llvm::IRBuilderBase& b, Value* x) {
  return b.CreateFCmpUNO(x, x);
}

} // namespace

Value* emitExp(llvm::IRBuilderBase& b, Value* x) {
  ContractOnly guard(b);
  constexpr double kHi = 88.72283905206835; // log(FLT_MAX): above, the result is inf
  constexpr double kLo = -104.0;            // below, e^x < half the smallest denormal: 0
  Value* xc = b.CreateSelect(b.CreateFCmpOGT(x, cf(x, 88.8)), cf(x, 88.8), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, cf(x, kLo)), cf(x, kLo), xc);
  // x = n·ln2 + r, |r| <= ln2/2; ln2 split in two (C1 exact in few bits) keeps r exact.
  Value* n = b.CreateUnaryIntrinsic(
      llvm::Intrinsic::floor,
      b.CreateFAdd(b.CreateFMul(xc, cf(x, 1.44269504088896341)), cf(x, 0.5)));
  Value* r = b.CreateFSub(xc, b.CreateFMul(n, cf(x, 0.693359375)));
  r = b.CreateFSub(r, b.CreateFMul(n, cf(x, -2.12194440e-4)));
  Value* p = horner(b, r,
                    {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                     1.6666665459E-1, 5.0000001201E-1});
  Value* r2 = b.CreateFMul(r, r);
  Value* y = b.CreateFAdd(b.CreateFAdd(b.CreateFMul(p, r2), r), cf(x, 1.0)); // e^r
  // 2^n in two halves: n spans [-150, 128], beyond one float exponent field.
  llvm::Type* it = intTypeLike(x);
  Value* ni = b.CreateFPToSI(n, it);
  Value* n1 = b.CreateAShr(ni, ci(it, 1));
  Value* n2 = b.CreateSub(ni, n1);
  y = b.CreateFMul(b.CreateFMul(y, pow2i(b, n1, x->getType())), pow2i(b, n2, x->getType()));
  y = b.CreateSelect(b.CreateFCmpOGT(x, cf(x, kHi)), cf(x, std::numeric_limits<double>::infinity()),
                     y);
  y = b.CreateSelect(b.CreateFCmpOLT(x, cf(x, kLo)), cf(x, 0.0), y);
  return b.CreateSelect(isNaN(b, x), x, y);
}

Value* emitTanh(llvm::IRBuilderBase& b, Value* x) {
  Value* ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  Value* big;
  {
    // 1 - 2/(e^{2|x|}+1): no cancellation once |x| >= 0.625 (the result is >= 0.55).
    Value* e = emitExp(b, b.CreateFMul(ax, cf(x, 2.0)));
    ContractOnly guard(b);
    big = b.CreateFSub(cf(x, 1.0), b.CreateFDiv(cf(x, 2.0), b.CreateFAdd(e, cf(x, 1.0))));
    big = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, big, x);
  }
  ContractOnly guard(b);
  Value* z = b.CreateFMul(x, x);
  Value* p = horner(b, z,
                    {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
                     -3.33332819422E-1});
  Value* small = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()},
                                   {b.CreateFMul(p, z), x, x}); // x + x·z·p(z)
  return b.CreateSelect(b.CreateFCmpOLT(ax, cf(x, 0.625)), small, big);
}

Value* emitLog(llvm::IRBuilderBase& b, Value* x) {
  ContractOnly guard(b);
  llvm::Type* it = intTypeLike(x);
  // Denormals: scale into the normal range first, and remember the 23 powers of two.
  Value* den = b.CreateFCmpOLT(x, cf(x, 1.17549435e-38));
  Value* xs = b.CreateSelect(den, b.CreateFMul(x, cf(x, 8388608.0)), x);
  Value* ebias = b.CreateSelect(den, ci(it, -23), ci(it, 0));
  // x = m·2^e with m in [0.5, 1): exponent field and mantissa bits.
  Value* bits = b.CreateBitCast(xs, it);
  Value* e = b.CreateSub(b.CreateAnd(b.CreateLShr(bits, ci(it, 23)), ci(it, 0xff)), ci(it, 126));
  Value* m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ci(it, 0x807fffff)), ci(it, 0x3f000000)),
                             x->getType());
  // m in [sqrt(1/2), sqrt(2)) after folding: log(1+t) with |t| < 0.414.
  Value* lowM = b.CreateFCmpOLT(m, cf(x, 0.707106781186547524));
  e = b.CreateAdd(b.CreateSub(e, b.CreateZExt(lowM, it)), ebias);
  Value* t = b.CreateSelect(lowM, b.CreateFSub(b.CreateFAdd(m, m), cf(x, 1.0)),
                            b.CreateFSub(m, cf(x, 1.0)));
  Value* z = b.CreateFMul(t, t);
  Value* y =
      horner(b, t,
             {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
              -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  y = b.CreateFMul(b.CreateFMul(y, t), z);
  Value* fe = b.CreateSIToFP(e, x->getType());
  y = b.CreateFAdd(y, b.CreateFMul(fe, cf(x, -2.12194440e-4)));
  y = b.CreateFSub(y, b.CreateFMul(z, cf(x, 0.5)));
  Value* r = b.CreateFAdd(t, y);
  r = b.CreateFAdd(r, b.CreateFMul(fe, cf(x, 0.693359375)));
  constexpr double inf = std::numeric_limits<double>::infinity();
  r = b.CreateSelect(b.CreateFCmpOEQ(x, cf(x, inf)), cf(x, inf), r);
  r = b.CreateSelect(b.CreateFCmpOEQ(x, cf(x, 0.0)), cf(x, -inf), r);
  r = b.CreateSelect(b.CreateFCmpOLT(x, cf(x, 0.0)), cf(x, std::nan("")), r);
  return b.CreateSelect(isNaN(b, x), x, r);
}

} // namespace gptc::codegen
