// einsum specs with einops-style named axes: "b t h d, b s h d -> b h t s". One parser shared by
// the shape rule (ir/shape_rules.cpp), the interpreter kernel, the JIT's fallback kernel and the
// canonicalization pass that rewrites einsum into transpose/reshape/matmul/reduce_sum
// (passes/lower_einsum.cpp).
//
// Rules: operands are separated by ',' and the output follows '->'; an axis name is a letter or
// '_' then letters, digits or '_', names are separated by spaces; every axis of an operand is
// named once (no diagonals), sizes of one name agree across operands (no broadcasting), every
// output axis is named by some operand and at most once. An axis missing from the output is
// summed over.
#pragma once
#include "ir/diag.h"
#include "ir/types.h"

#include <map>
#include <string>
#include <vector>

namespace gptc {

struct EinsumSpec {
  std::vector<std::vector<std::string>> inputs; ///< axis names of each operand, in order
  std::vector<std::string> output;              ///< axis names of the result, in order
  std::map<std::string, int64_t> sizes;         ///< every axis' size
  std::vector<std::string> summed;              ///< axes not in the output, first-seen order

  Shape outputShape() const;
  /// Element strides of operand k for `axes` (0 for an axis operand k does not have).
  std::vector<int64_t> stridesFor(int k, const std::vector<std::string>& axes) const;
};

/// Parses `spec` against the operand types; an error message (no location: the caller's op call
/// is the location) when the spec is malformed or does not fit the operands.
Expected<EinsumSpec> parseEinsum(const std::string& spec, const std::vector<TensorType>& operands);

} // namespace gptc
