// Helpers for the interpreter tests: build small host tensors from literals, evaluate one op with
// evalOp (failing the test on an error), and compare float vectors with a tolerance.
#pragma once
#include "runtime/interp/interpreter.h"

#include <cmath>
#include <doctest/doctest.h>
#include <string>
#include <vector>

namespace gptc::test {

inline Tensor f32(Shape shape, std::vector<float> data) {
  Tensor t(TensorType{DType::f32, std::move(shape)});
  REQUIRE(int64_t(data.size()) == t.numel());
  t.f = std::move(data);
  return t;
}

inline Tensor i32(Shape shape, std::vector<int32_t> data) {
  Tensor t(TensorType{DType::i32, std::move(shape)});
  REQUIRE(int64_t(data.size()) == t.numel());
  t.i = std::move(data);
  return t;
}

/// Runs one op; the test fails (with the kernel's message) if it reports an error.
inline Tensor eval(OpKind kind, std::vector<const Tensor*> operands, Attrs attrs = {}) {
  Tensor out;
  std::string err = evalOp(kind, operands, attrs, out);
  INFO(err);
  REQUIRE(err.empty());
  return out;
}

/// The error evalOp reports ("" when it succeeds).
inline std::string evalError(OpKind kind, std::vector<const Tensor*> operands, Attrs attrs = {}) {
  Tensor out;
  return evalOp(kind, operands, attrs, out);
}

inline void checkClose(const std::vector<float>& got, const std::vector<float>& want,
                       double tol = 1e-6) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    INFO("element " << k << ": got " << got[k] << ", want " << want[k]);
    CHECK(std::abs(double(got[k]) - double(want[k])) <= tol);
  }
}

inline AttrValue I(int64_t v) {
  return AttrValue(v);
}
inline AttrValue F(double v) {
  return AttrValue(v);
}
inline AttrValue L(std::vector<int64_t> v) {
  return AttrValue(std::move(v));
}

} // namespace gptc::test
