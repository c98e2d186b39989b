#include "ir/types.h"

#include <fmt/format.h>

namespace gptc {

int64_t numelOf(const Shape& s) {
  // Saturates instead of overflowing: shapes come from user input, and a saturated count still
  // fails every "too large" check downstream.
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) return INT64_MAX;
  return n;
}

int64_t TensorType::numel() const { return numelOf(shape); }

const char* dtypeName(DType d) {
  switch (d) {
  case DType::f32: return "f32";
  case DType::i32: return "i32";
  case DType::bf16: return "bf16";
  case DType::i8: return "i8";
  }
  return "?";
}

std::string shapeToString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

std::string typeToString(const TensorType& t) { return dtypeName(t.dtype) + shapeToString(t.shape); }

} // namespace gptc
