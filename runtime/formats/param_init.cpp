// Parameter initialisation from a seed: every param gets normal(std), zeros or ones as its `init`
// says. The random stream of a parameter depends only on (seed, its name), so adding or reordering
// parameters leaves the others' values unchanged, and the result is the same on every machine:
// std::mt19937_64 is specified bit for bit by the standard, and the uniform-to-normal step is our
// own Box-Muller (std::normal_distribution differs between standard libraries).
//
// It leaves loading trained values to runtime/formats/param_store.h.
#include "runtime/formats/quantize.h"
#include "runtime/interp/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace gptc {
namespace {

/// FNV-1a, 64-bit: a stable hash of the parameter's name.
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// SplitMix64's finaliser: spreads consecutive seeds (0, 1, 2, ...) over all 64 bits before they
/// are combined with the name hash.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Fills `out` with normal(0, stddev) values: Box-Muller on pairs of 53-bit uniforms, in double.
void fillNormal(float* out, size_t n, double stddev, std::mt19937_64& gen) {
  constexpr double kTwoPi = 6.283185307179586;
  constexpr double kUnit = 1.0 / 9007199254740992.0; // 2^-53
  for (size_t k = 0; k < n; k += 2) {
    double u1 = double((gen() >> 11) + 1) * kUnit; // (0, 1]: log(u1) is finite
    double u2 = double(gen() >> 11) * kUnit;       // [0, 1)
    double r = std::sqrt(-2.0 * std::log(u1));
    out[k] = float(stddev * r * std::cos(kTwoPi * u2));
    if (k + 1 < n) out[k + 1] = float(stddev * r * std::sin(kTwoPi * u2));
  }
}

} // namespace

void initValueInto(const Value& v, uint64_t seed, void* out) {
  size_t n = size_t(v.type.numel());
  if (v.type.dtype == DType::i32 || v.type.dtype == DType::i8) {
    // i32 state (a step counter) starts at zero; so do i8 weights, which come from quantizing f32
    // ones at load (runtime/formats/quantize.h), not from a seed of their own.
    std::memset(out, 0, size_t(v.type.bytes()));
    return;
  }
  if (v.type.dtype == DType::bf16) { // the f32 draws, rounded: what quantizing them at load gives
    Value f32 = v;
    f32.type.dtype = DType::f32;
    std::vector<float> tmp(n);
    initValueInto(f32, seed, tmp.data());
    packFloats(DType::bf16, tmp.data(), int64_t(n), out);
    return;
  }
  float* f = static_cast<float*>(out);
  switch (v.init.kind) {
  case ParamInit::Zeros:
    std::fill_n(f, n, 0.0f);
    break;
  case ParamInit::Ones:
    std::fill_n(f, n, 1.0f);
    break;
  case ParamInit::Normal: {
    std::mt19937_64 gen(splitmix64(seed) ^ fnv1a64(v.name));
    fillNormal(f, n, v.init.stddev, gen);
    break;
  }
  }
}

Tensor initValue(const Value& v, uint64_t seed) {
  Tensor t(v.type);
  if (v.type.dtype == DType::bf16 || v.type.dtype == DType::i8) {
    std::vector<char> bytes(size_t(v.type.bytes()));
    initValueInto(v, seed, bytes.data());
    unpackFloats(v.type.dtype, bytes.data(), t.numel(), t.f.data());
    return t;
  }
  initValueInto(v, seed, v.type.dtype == DType::f32 ? static_cast<void*>(t.f.data()) : t.i.data());
  return t;
}

std::map<std::string, Tensor> initParams(const Graph& g, uint64_t seed) {
  std::map<std::string, Tensor> params;
  for (const Value& v : g.values)
    if (v.kind == ValueKind::Param) params.emplace(v.name, initValue(v, seed));
  return params;
}

} // namespace gptc
