// ir/fused_ops.h — the fused op kinds (ir/ops.def's last section, made by passes/fuse.cpp) as the
// compositions of other ops they are defined to be: one definition of each fused op's math. The
// shape rule (ir/shape_rules.cpp) infers the steps' types in turn and the interpreter kernel
// (runtime/interp/interpreter_ops_fused.cpp) evaluates the steps in turn, so a fused graph's
// interpreter result is bit for bit the unfused graph's. The JIT's fused kernels
// (codegen/lower_fused.cpp) compute the same in one pass; tests/jit/test_ops.cpp checks them
// against the interpreter.
//
// What it leaves to others: recognising the compositions in a graph (passes/fuse.cpp).
#pragma once
#include "ir/ops.h"
#include "ir/types.h"

#include <string>
#include <vector>

namespace gptc {

/// A step's operand: operand `index` of the fused op, or the result of step `index`.
struct StepOperand {
  bool fromStep = false;
  int index = 0;
};

/// A step's attribute `name`: the fused op's attribute `fusedName`, a constant, or dimension
/// `axis` of the fused op's operand `operand`.
struct StepAttr {
  enum class From { FusedAttr, Constant, OperandDim };
  std::string name;
  From from = From::FusedAttr;
  std::string fusedName;
  AttrValue value = int64_t(0);
  int operand = 0, axis = 0;
};

struct FusedStep {
  OpKind kind;
  std::vector<StepOperand> operands;
  std::vector<StepAttr> attrs;
};

struct Decomposition {
  std::vector<FusedStep> steps; ///< in order; the last one's result is the fused op's
  /// The last step's operands all have operand 0's type (no broadcasting): the op writes its
  /// result over operand 0.
  bool resultIsOperand0 = false;
};

/// The composition `kind` stands for, or nullptr for an op kind that is not one.
const Decomposition* decompositionOf(OpKind kind);

/// The attributes of `step` in a fused op with attributes `attrs` and operand types `types`;
/// "" or why they cannot be formed (an operand without the dimension an attribute reads).
std::string stepAttrs(const FusedStep& step, const Attrs& attrs,
                      const std::vector<TensorType>& types, Attrs* out);

} // namespace gptc
