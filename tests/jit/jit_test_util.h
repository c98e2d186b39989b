// tests/jit/jit_test_util.h — what the differential tests share: seeded random tensors, the error
// measure, and "run this graph in the interpreter and in the JIT (1 and 2 threads) and compare".
//
// Error measure: for each element |jit - ref| / max(|ref|, floor), floor = 1e-2·max|ref| over the
// tensor (and at least 1e-30): relative for every element within 100x of the tensor's largest,
// absolute (scaled by that largest) below. Elements formed by cancellation of large terms
// (xhat·w + b in layernorm, a column sum of ±2 values, p - 1 in a softmax gradient) carry f32
// rounding of the large terms, which no f32 kernel can avoid and the double-precision interpreter
// does not have; a plain relative error would measure that, not a bug.
// Whole models use the norm-wise measure of the PyTorch parity tests instead:
// max|jit - ref| / max|ref| over the tensor (compare(..., Measure::NormWise)).
#pragma once

#include "codegen/compile.h"
#include "passes/memory_plan.h"
#include "runtime/exec/executable.h"
#include "runtime/interp/interpreter.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>

namespace gptc::jittest {

inline Tensor randomF32(const Shape& shape, std::mt19937& gen, float lo = -2.0f, float hi = 2.0f) {
  Tensor t(TensorType{DType::f32, shape});
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& v : t.f)
    v = d(gen);
  return t;
}

inline Tensor randomI32(const Shape& shape, std::mt19937& gen, int lo, int hi) {
  Tensor t(TensorType{DType::i32, shape});
  std::uniform_int_distribution<int> d(lo, hi - 1);
  for (int32_t& v : t.i)
    v = d(gen);
  return t;
}

struct Diff {
  double maxRel = 0;       ///< the error measure above, largest element
  int64_t worst = -1;      ///< its index
  bool exactZeros = true;  ///< jit == 0 exactly where ref == 0 (dropout masks)
  std::string nanMismatch; ///< non-empty when NaN/inf patterns differ
};

enum class Measure { PerElement, NormWise };

inline Diff compare(const Tensor& jit, const Tensor& ref, Measure measure = Measure::PerElement) {
  Diff d;
  if (ref.type.dtype == DType::i32) {
    for (size_t i = 0; i < ref.i.size(); ++i)
      if (jit.i[i] != ref.i[i]) {
        d.maxRel = 1;
        d.worst = int64_t(i);
      }
    return d;
  }
  double maxAbs = 0;
  for (float v : ref.f)
    if (std::isfinite(v)) maxAbs = std::max(maxAbs, double(std::fabs(v)));
  double floor = std::max((measure == Measure::NormWise ? 1.0 : 1e-2) * maxAbs, 1e-30);
  for (size_t i = 0; i < ref.f.size(); ++i) {
    double a = jit.f[i], b = ref.f[i];
    if (std::isnan(a) != std::isnan(b) || std::isinf(a) != std::isinf(b) ||
        (std::isinf(b) && a != b)) {
      d.nanMismatch = "element " + std::to_string(i) + ": jit " + std::to_string(a) + " vs ref " +
                      std::to_string(b);
      continue;
    }
    if (!std::isfinite(b)) continue;
    if ((a == 0) != (b == 0)) d.exactZeros = false;
    double rel = std::fabs(a - b) / std::max(std::fabs(b), floor);
    if (rel > d.maxRel) {
      d.maxRel = rel;
      d.worst = int64_t(i);
    }
  }
  return d;
}

/// Per element |jit - ref| over max(|ref|, the largest |ref| of its last-axis row): the error of a
/// row computed as one sum of terms (attention's Σⱼ wᵢⱼ·vⱼ) relative to that row's size.
inline Diff compareRows(const Tensor& jit, const Tensor& ref) {
  Diff d;
  int64_t n = ref.type.rank() ? ref.type.shape.back() : 1;
  for (size_t r0 = 0; r0 < ref.f.size(); r0 += size_t(n)) {
    double rowMax = 1e-30;
    for (size_t i = r0; i < r0 + size_t(n); ++i)
      if (std::isfinite(ref.f[i])) rowMax = std::max(rowMax, double(std::fabs(ref.f[i])));
    for (size_t i = r0; i < r0 + size_t(n); ++i) {
      double a = jit.f[i], b = ref.f[i];
      if (std::isnan(a) != std::isnan(b) || std::isinf(a) != std::isinf(b)) {
        d.nanMismatch = "element " + std::to_string(i);
        continue;
      }
      if (!std::isfinite(b)) continue;
      if ((a == 0) != (b == 0)) d.exactZeros = false;
      double rel = std::fabs(a - b) / std::max(std::fabs(b), rowMax);
      if (rel > d.maxRel) {
        d.maxRel = rel;
        d.worst = int64_t(i);
      }
    }
  }
  return d;
}

/// Compiles `g` with `plan` and binds `feeds` (inputs and params by name). Fails the test on error.
inline std::unique_ptr<Executable> build(const Graph& g, const MemoryPlan& plan,
                                         const std::map<std::string, Tensor>& feeds,
                                         const CompileOptions& opts = {}) {
  std::string err;
  std::unique_ptr<Executable> exe = Executable::create(g, plan, opts, &err);
  REQUIRE_MESSAGE(exe, err);
  for (const auto& [name, t] : feeds) {
    std::string e = exe->bind(name, t);
    REQUIRE_MESSAGE(e.empty(), e);
  }
  return exe;
}

/// Runs the interpreter on `g` with `feeds`; returns every output by name.
inline std::map<std::string, Tensor> interpret(const Graph& g,
                                               const std::map<std::string, Tensor>& feeds) {
  Interpreter in(g);
  for (const auto& [name, t] : feeds) {
    std::string e = in.bind(name, t);
    REQUIRE_MESSAGE(e.empty(), e);
  }
  std::string e = in.run();
  REQUIRE_MESSAGE(e.empty(), e);
  std::map<std::string, Tensor> out;
  for (int o : g.outputs)
    out[g.value(o).name] = in.get(o);
  return out;
}

/// Runs the executable with `threads` and reads every output.
inline std::map<std::string, Tensor> execute(Executable& exe, int threads) {
  std::string e = exe.run(threads);
  REQUIRE_MESSAGE(e.empty(), e);
  std::map<std::string, Tensor> out;
  for (int o : exe.graph().outputs) {
    Tensor t;
    std::string re = exe.read(exe.graph().value(o).name, &t);
    REQUIRE_MESSAGE(re.empty(), re);
    out[exe.graph().value(o).name] = std::move(t);
  }
  return out;
}

/// Bitwise equality of two runs (1 vs 2 threads).
inline bool sameBits(const Tensor& a, const Tensor& b) {
  if (a.type.dtype == DType::f32)
    return std::equal(a.f.begin(), a.f.end(), b.f.begin(),
                      [](float x, float y) { return std::memcmp(&x, &y, 4) == 0; });
  return a.i == b.i;
}

} // namespace gptc::jittest
