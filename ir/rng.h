// The counter-based random numbers behind `dropout`: a pure function of (seed, salt, element index),
// so the interpreter, the JIT and the gradient (the same mask applied to dy) agree bit for bit with
// no state, on any number of threads. The mixer is the murmur3 32-bit finaliser over a combination
// of the three inputs; its 24 high bits give a uniform number in [0, 1).
#pragma once
#include <cstdint>

namespace gptc {

inline uint32_t dropoutHash(uint32_t seed, uint32_t salt, uint32_t index) {
  uint32_t x = index * 0x9E3779B1u ^ salt * 0x85EBCA77u ^ seed * 0xC2B2AE3Du;
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}

/// Uniform in [0, 1): the hash's 24 high bits times 2^-24 (exact in f32).
inline float dropoutUniform(uint32_t seed, uint32_t salt, uint32_t index) {
  return float(dropoutHash(seed, salt, index) >> 8) * (1.0f / 16777216.0f);
}

/// dropout keeps element `index` when its uniform number is >= p, and scales kept values by 1/(1-p).
inline bool dropoutKeep(uint32_t seed, uint32_t salt, uint32_t index, float p) {
  return dropoutUniform(seed, salt, index) >= p;
}

} // namespace gptc
