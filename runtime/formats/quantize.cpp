// runtime/formats/quantize.cpp — bf16 rounding, q8 blocks, and quantized params from f32 ones (see
// quantize.h).
#include "runtime/formats/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

namespace gptc {

uint16_t bf16Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u); // NaN: keep it quiet
  // Round to nearest, ties to even: add 0x7fff plus the lowest kept bit, then truncate. An
  // overflow past the largest finite bf16 carries into the exponent and gives inf, as it should.
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

void quantizeQ8(const float* x, int64_t rows, int64_t k, int64_t block, float* q, float* scales) {
  const int64_t blocks = k / block;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < blocks; ++b) {
      const float* xb = x + r * k + b * block;
      float* qb = q + r * k + b * block;
      float amax = 0.0f;
      for (int64_t j = 0; j < block; ++j)
        amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int64_t j = 0; j < block; ++j)
        qb[j] = std::clamp(std::round(xb[j] * id), -127.0f, 127.0f);
      scales[r * blocks + b] = d;
    }
}

void dequantizeQ8(const float* q, int64_t rows, int64_t k, int64_t block, const float* scales,
                  float* out) {
  const int64_t blocks = k / block;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j)
      out[r * k + j] = q[r * k + j] * scales[r * blocks + j / block];
}

void packFloats(DType dtype, const float* src, int64_t n, void* dst) {
  switch (dtype) {
  case DType::f32:
  case DType::i32: // not float-stored; callers pass i32 data through memcpy themselves
    std::memcpy(dst, src, size_t(n) * 4);
    return;
  case DType::bf16: {
    auto* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i)
      d[i] = bf16Bits(src[i]);
    return;
  }
  case DType::i8: {
    auto* d = static_cast<int8_t*>(dst);
    for (int64_t i = 0; i < n; ++i)
      d[i] = int8_t(std::clamp(src[i], -128.0f, 127.0f));
    return;
  }
  }
}

void unpackFloats(DType dtype, const void* src, int64_t n, float* dst) {
  switch (dtype) {
  case DType::f32:
  case DType::i32:
    std::memcpy(dst, src, size_t(n) * 4);
    return;
  case DType::bf16: {
    const auto* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = bf16ToFloat(s[i]);
    return;
  }
  case DType::i8: {
    const auto* s = static_cast<const int8_t*>(src);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = float(s[i]);
    return;
  }
  }
}

namespace {

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string stem(const std::string& s, size_t tail) {
  return s.substr(0, s.size() - tail);
}

/// The f32 source of a quantized param `w.q` or `w.scale`: "w", or "" when `v` is not one.
std::string sourceOf(const Graph& g, const Value& v) {
  if (endsWith(v.name, ".q") && v.type.dtype != DType::f32) return stem(v.name, 2);
  if (endsWith(v.name, ".scale")) {
    int q = g.find(stem(v.name, 6) + ".q");
    if (q >= 0 && g.values[q].type.dtype == DType::i8) return stem(v.name, 6);
  }
  return "";
}

} // namespace

bool hasQuantizedParams(const Graph& g) {
  for (const Value& v : g.values)
    if (v.kind == ValueKind::Param && !sourceOf(g, v).empty()) return true;
  return false;
}

std::string quantizeParams(const Graph& g, const std::map<std::string, Tensor>& f32,
                           std::map<std::string, Tensor>* out) {
  for (const Value& v : g.values) {
    if (v.kind != ValueKind::Param) continue;
    std::string src = sourceOf(g, v);
    if (src.empty()) {
      if (auto it = f32.find(v.name); it != f32.end()) (*out)[v.name] = it->second;
      continue;
    }
    if (auto stored = f32.find(v.name); stored != f32.end() && stored->second.type == v.type) {
      // Stored in the checkpoint: an i8 `w.q` only with its `w.scale` of the declared type.
      const TensorType& qt = endsWith(v.name, ".q") ? v.type : g.type(g.find(src + ".q"));
      auto q = f32.find(src + ".q");
      auto sc = f32.find(src + ".scale");
      if (qt.dtype == DType::bf16 || (q != f32.end() && q->second.type == qt && sc != f32.end() &&
                                      sc->second.type == g.type(g.find(src + ".scale")))) {
        (*out)[v.name] = stored->second;
        continue;
      }
    }
    auto it = f32.find(src);
    if (it == f32.end())
      return fmt::format("quantized param '{}' needs the f32 tensor '{}'", v.name, src);
    const Tensor& w = it->second;
    const TensorType& qt = endsWith(v.name, ".q") ? v.type : g.type(g.find(src + ".q"));
    if (w.type.dtype != DType::f32 || w.type.shape != qt.shape)
      return fmt::format("quantized param '{}' is {} but '{}' is {}", v.name, typeToString(qt), src,
                         typeToString(w.type));
    if (qt.dtype == DType::bf16) {
      Tensor t(v.type);
      for (size_t i = 0; i < t.f.size(); ++i)
        t.f[i] = roundToBf16(w.f[i]);
      (*out)[v.name] = std::move(t);
      continue;
    }
    if (out->count(v.name)) continue; // made with its sibling
    const TensorType& st = g.type(g.find(src + ".scale"));
    const int64_t k = qt.shape.back(), blocks = st.shape.back();
    if (blocks <= 0 || k % blocks != 0)
      return fmt::format("'{}.scale' has {} blocks per row of {}", src, blocks, k);
    Tensor q(qt), s(st);
    quantizeQ8(w.f.data(), w.numel() / k, k, k / blocks, q.f.data(), s.f.data());
    (*out)[src + ".q"] = std::move(q);
    (*out)[src + ".scale"] = std::move(s);
  }
  return "";
}

} // namespace gptc
