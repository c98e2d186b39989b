// codegen/vector_math_kernels.h — the vector math of codegen/vector_math.h compiled into three
// standalone array functions, LLVM-free, so tests (tests/jit/test_vector_math.cpp) and the docs'
// accuracy table can measure exactly the code the kernels inline.
//
// What it leaves to others: the emitters themselves (vector_math.h) and their use in lowerings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace gptc::codegen {

class Jit;

/// y[i] = f(x[i]) for i < n, vectorized like any kernel loop.
using ArrayFn = void (*)(const float* x, float* y, int64_t n);

struct VectorMathKernels {
  ArrayFn exp = nullptr, tanh = nullptr, log = nullptr;
  std::string optimizedIR;  ///< with captureIR: to check that the loops were vectorized
  std::unique_ptr<Jit> jit; // keeps the code alive
  VectorMathKernels();
  ~VectorMathKernels(); // in the .cpp, where Jit is complete (and no shared_ptr control block
                        // crosses the -fno-rtti boundary of codegen/)
};

/// Compiles the three functions. nullptr + *err on failure.
std::unique_ptr<VectorMathKernels> compileVectorMath(std::string* err, bool captureIR = false);

} // namespace gptc::codegen
