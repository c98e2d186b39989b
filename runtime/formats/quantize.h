// runtime/formats/quantize.h — the numbers behind bf16 and i8 weights (passes/quantize.cpp makes
// the graph read them): rounding f32 to bf16, q8 block quantization, and the conversions between
// host tensors (which hold bf16 and i8 as the floats they represent exactly) and the narrow bytes a
// compiled step reads.
//
// Quantized params are produced at load from the f32 ones (quantizeParams): a param `w.q` (bf16 or
// i8) comes from the f32 tensor `w`, and an i8 `w.q` has its scales in `w.scale` (f32, one per
// block of the last axis). A checkpoint may also store `w.q` (and `w.scale`) themselves (gptc
// checkpoint version 2, docs/file-formats.md): quantizeParams then takes them as they are when
// their types are the graph's, and a graph that wants the f32 `w` gets it dequantized.
//
// What it leaves to others: which weights are quantized (passes/quantize.cpp), the kernels that
// read them (codegen/lower_gemv.cpp, runtime/interp/interpreter_ops_quantize.cpp).
#pragma once
#include "runtime/formats/safetensors.h"
#include "runtime/interp/interpreter.h"

#include <cstdint>
#include <map>
#include <string>

namespace gptc {

/// The bf16 bits of x: its top 16 bits, rounded to nearest, ties to even (NaN stays NaN, quiet).
uint16_t bf16Bits(float x);
// bf16ToFloat (exact) is runtime/formats/safetensors.h's, which reads BF16 checkpoints.
/// x rounded to the nearest bf16, as an f32.
inline float roundToBf16(float x) {
  return bf16ToFloat(bf16Bits(x));
}

/// q8 block quantization of `rows` rows of `k` floats, blocks of `block` along each row (block
/// divides k): scale = max|x| / 127 per block, q = round(x / scale) in [-127, 127] (ggml's q8_0
/// rule, with an f32 scale where ggml keeps f16). q gets the integers as floats, scales
/// rows·(k/block) values. A block of zeros has scale 0.
void quantizeQ8(const float* x, int64_t rows, int64_t k, int64_t block, float* q, float* scales);

/// The inverse of quantizeQ8 up to its rounding: out = q · scale of its block.
void dequantizeQ8(const float* q, int64_t rows, int64_t k, int64_t block, const float* scales,
                  float* out);

/// Host floats to the bytes of `dtype` (f32: copy; bf16: round to nearest even; i8: the values,
/// which must be integers in [-128, 127]) and back.
void packFloats(DType dtype, const float* src, int64_t n, void* dst);
void unpackFloats(DType dtype, const void* src, int64_t n, float* dst);

/// The params of `g` from f32 tensors by name: a bf16 `w.q` from `w` rounded; an i8 `w.q` and its
/// `w.scale` from `w` by quantizeQ8 (the block is w's last dim / w.scale's last dim); every other
/// param of `g` found in `f32` as it is. A `w.q` (and its `w.scale`) already in `f32` with exactly
/// the types `g` declares — stored in a quantized checkpoint — is taken as it is. Tensors `g` does
/// not use are left out. "" or why not.
std::string quantizeParams(const Graph& g, const std::map<std::string, Tensor>& f32,
                           std::map<std::string, Tensor>* out);

/// Whether `g` has params quantizeParams derives (names ending in .q or .scale from a .q).
bool hasQuantizedParams(const Graph& g);

} // namespace gptc
