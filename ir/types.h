// Tensor types: a dtype and a static shape. The IR has no dynamic shapes; every dim is known when a
// graph is built (named dims are constants bound before expansion).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

/// Element types. bf16 and i8 hold quantized weights (passes/quantize.cpp): bf16 is the top 16
/// bits of an f32 (round-to-nearest-even), i8 is a signed integer whose scales are an ordinary f32
/// tensor beside it. Host tensors (runtime/interp/interpreter.h) keep bf16 and i8 as the floats
/// they represent exactly; only compiled memory holds the narrow bytes.
enum class DType : uint8_t { f32, i32, bf16, i8 };

/// Bytes per element: 4, 4, 2, 1.
constexpr int64_t dtypeBytes(DType d) {
  return d == DType::bf16 ? 2 : d == DType::i8 ? 1 : 4;
}
/// Whether host tensors hold this dtype as floats (everything but i32).
constexpr bool isFloatStored(DType d) {
  return d != DType::i32;
}

using Shape = std::vector<int64_t>;

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int rank() const { return static_cast<int>(shape.size()); }
  int64_t numel() const;
  int64_t bytes() const { return numel() * dtypeBytes(dtype); }
  bool operator==(const TensorType&) const = default;
};

const char* dtypeName(DType);
std::string shapeToString(const Shape&);     // "[4,64,768]"
std::string typeToString(const TensorType&); // "f32[4,64,768]"
/// The product of the dims; INT64_MAX when it would overflow.
int64_t numelOf(const Shape&);

/// The largest tensor the IR accepts (2^34 elements, 64 GiB of f32): far above any model here, low
/// enough that byte counts and offsets never overflow int64.
constexpr int64_t kMaxTensorElements = int64_t(1) << 34;

} // namespace gptc
