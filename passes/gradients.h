// The interface between the autodiff driver (passes/autodiff.cpp) and the gradient rules
// (passes/gradients.cpp): one rule per op kind, each given the forward node and the gradient of its
// result, emitting ordinary ops for the gradients of its operands.
//
// The driver decides which operands want a gradient (differentiable, on a path from a param) and
// what the final value is called (`d.x`, `d.x.via.y` when x has several users, `grad.p` for a
// param); the rules decide only the math. What it leaves to others: accumulation of several
// contributions and the stacking of per-layer gradients are the driver's.
#pragma once
#include "ir/graph.h"

#include <string>
#include <vector>

namespace gptc {

/// What a rule sees and produces for one forward node.
class GradBuilder {
public:
  GradBuilder(Graph& g, Node node, int dy, std::vector<bool> wants, std::vector<std::string> names);

  Graph& g;
  const Node node; ///< a copy: emitting ops may reallocate g.nodes
  const int dy;    ///< gradient of node.result, same type

  /// Operand k's value id, its type, and whether the driver wants its gradient.
  int x(int k) const { return node.operands[k]; }
  // Copies, not references: emitting an op may reallocate g.values.
  TensorType type(int id) const { return g.type(id); }
  Shape shape(int id) const { return g.type(id).shape; }
  int y() const { return node.result; }
  bool wants(int k) const { return wants_[k]; }
  int numOperands() const { return int(node.operands.size()); }

  /// A temporary of the backward, named d.<result>.<suffix>, at the forward op's source location.
  int emit(OpKind kind, std::vector<int> operands, Attrs attrs, const std::string& suffix);
  /// Emits operand k's gradient as one op, under the name the driver chose.
  void give(int k, OpKind kind, std::vector<int> operands, Attrs attrs = {});
  /// Operand k's gradient is an existing value (no op emitted: y = x + b passes dy straight on).
  void pass(int k, int value) { dx_[k] = value; }
  /// Operand k's gradient is `value` (shaped like the broadcast result) summed over the axes along
  /// which operand k was broadcast, then reshaped to operand k's shape.
  void giveReduced(int k, int value);
  /// select only: the gradient of layer `index` of operand k is dy; the driver stacks the layers.
  void deferToStack(int k, int64_t index);

  // Read by the driver after the rule ran.
  const std::vector<int>& results() const { return dx_; }
  int64_t stackIndex() const { return stackIndex_; }

private:
  std::vector<bool> wants_;
  std::vector<std::string> names_;
  std::vector<int> dx_;
  int64_t stackIndex_ = -1;
};

/// A rule returns "" or why the op cannot be differentiated ("not differentiable: ...").
using GradRule = std::string (*)(GradBuilder&);

/// The rule of an op kind (a table built from ir/ops.def: an op without a rule does not compile).
GradRule gradRule(OpKind kind);

} // namespace gptc
