// The Graph IR: SSA tensor values and the ops that define them, in program order.
//
// Every value has a unique name (printed %name), a static type and a source location. Inputs are fed
// each step; params (and later optimizer moments, KV caches) persist across steps; every other value is
// the single result of one node. `updates` records state that a step replaces in place
// (`update %wte = %wte.new`): the plan aliases the new value onto the persistent buffer, so the IR stays
// SSA while the memory stays put.
#pragma once
#include "ir/diag.h"
#include "ir/ops.h"
#include "ir/types.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace gptc {

/// Input: fed each step. Param: trained, persistent. State: persistent but not trained (optimizer
/// moments, KV caches), starts as its init says. Op: the result of a node.
enum class ValueKind : uint8_t { Input, Param, State, Op };

/// How a parameter starts (GPT-2's scheme: normal(0.02), residual projections scaled, ones, zeros).
struct ParamInit {
  enum Kind : uint8_t { Normal, Zeros, Ones } kind = Normal;
  double stddev = 0.02;
  bool operator==(const ParamInit&) const = default;
};

struct Value {
  std::string name; // unique in the graph, printed as %name
  TensorType type;
  ValueKind kind = ValueKind::Op;
  int def = -1; // defining node for ValueKind::Op
  ParamInit init; // params only
  SourceLoc loc;
};

struct Node {
  OpKind kind;
  std::vector<int> operands; // value ids
  Attrs attrs;               // complete: defaults filled in
  int result = -1;           // value id
  SourceLoc loc;
};

struct Update {
  int state; // a param (or other persistent value)
  int value; // the value that replaces it at the end of the step
};

class Graph {
public:
  std::vector<Value> values;
  std::vector<Node> nodes; // program order: operands are defined before use
  std::vector<int> outputs; // value ids the caller reads after a step
  std::vector<Update> updates;

  int addInput(const std::string& name, TensorType type, SourceLoc loc = {});
  int addParam(const std::string& name, TensorType type, ParamInit init, SourceLoc loc = {});
  int addState(const std::string& name, TensorType type, ParamInit init, SourceLoc loc = {});

  /// Adds a node: checks operand count and attributes against the op table, fills attribute defaults
  /// and infers the result type with the op's shape rule. `name` empty: a fresh numbered name.
  /// Returns the result value id, or a diagnostic located at `loc`.
  Expected<int> addNode(OpKind kind, std::vector<int> operands, Attrs attrs, SourceLoc loc = {},
                        const std::string& name = "");

  /// As addNode, for passes that build known-good IR: a failure is a compiler bug and aborts with it.
  int add(OpKind kind, std::vector<int> operands, Attrs attrs = {}, SourceLoc loc = {},
          const std::string& name = "");

  /// -1 when absent.
  int find(const std::string& name) const;
  /// `base` if free, else base_1, base_2, ...
  std::string uniqueName(const std::string& base) const;

  const Value& value(int id) const { return values[id]; }
  const TensorType& type(int id) const { return values[id].type; }
  const Node& defOf(int id) const { return nodes[values[id].def]; }
  int numOps() const { return static_cast<int>(nodes.size()); }

  /// Rebuilds the name index and each value's `def` after a pass edited the vectors directly.
  void reindex();

  /// Keeps only the nodes for which keep[i] is true, renumbering values; inputs, params, outputs and
  /// updates are kept. Operands of kept nodes must be kept.
  void eraseNodes(const std::vector<bool>& keep);

  /// Replaces every use of `from` (operands, outputs, updates) with `to`.
  void replaceAllUses(int from, int to);

private:
  std::unordered_map<std::string, int> byName_;
  int nextTemp_ = 0;
};

/// Structural equality as the printer sees it (names, types, attributes, locations, order).
/// On a difference, `why` says where.
bool graphsEqual(const Graph& a, const Graph& b, std::string* why = nullptr);

/// Result type of an op on operands of the given types, from the op's shape rule (ir/shape_rules.cpp).
/// The diagnostic carries only a message; callers add the location.
Expected<TensorType> inferType(OpKind kind, const std::vector<TensorType>& operands, const Attrs& attrs);

/// Checks attributes against the op's schema and fills defaults; an error message or "".
std::string completeAttrs(OpKind kind, Attrs& attrs);

} // namespace gptc
