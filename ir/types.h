// Tensor types: a dtype and a static shape. The IR has no dynamic shapes; every dim is known when a
// graph is built (named dims are constants bound before expansion).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gptc {

enum class DType : uint8_t { f32, i32 };

using Shape = std::vector<int64_t>;

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int rank() const { return static_cast<int>(shape.size()); }
  int64_t numel() const;
  int64_t bytes() const { return numel() * 4; } // both dtypes are 4 bytes
  bool operator==(const TensorType&) const = default;
};

const char* dtypeName(DType);
std::string shapeToString(const Shape&); // "[4,64,768]"
std::string typeToString(const TensorType&); // "f32[4,64,768]"
/// The product of the dims; INT64_MAX when it would overflow.
int64_t numelOf(const Shape&);

/// The largest tensor the IR accepts (2^34 elements, 64 GiB of f32): far above any model here, low
/// enough that byte counts and offsets never overflow int64.
constexpr int64_t kMaxTensorElements = int64_t(1) << 34;

} // namespace gptc
