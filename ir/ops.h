// The op-kind table, expanded from ops.def: the enum, the names, operand and attribute schemas,
// fusion categories. Everything else that is per-op (shape rules, interpreter, gradients, lowering)
// is a table indexed by OpKind.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gptc {

enum class OpKind : uint16_t {
#define OP(E, NAME, OPERANDS, ATTRS, CAT, INPLACE) E,
#include "ir/ops.def"
#undef OP
};

constexpr int kNumOpKinds = 0
#define OP(E, NAME, OPERANDS, ATTRS, CAT, INPLACE) +1
#include "ir/ops.def"
#undef OP
    ;

/// TVM's OpPatternKind: what a fusion pass may do with an op.
enum class FusionCategory : uint8_t { ElemWise, Broadcast, Injective, Reduce, OutEWiseFusable, Opaque };
const char* fusionCategoryName(FusionCategory);

/// An attribute value: an int, a float, a list of ints or a string (einsum's spec).
using AttrValue = std::variant<int64_t, double, std::vector<int64_t>, std::string>;
using Attrs = std::map<std::string, AttrValue>; // ordered: printing is deterministic

enum class AttrKind : uint8_t { Int, Float, IntList, String };

struct AttrSpec {
  std::string name;
  AttrKind kind;
  std::optional<AttrValue> defaultValue; // none: required
};

struct OperandSpec {
  std::string name;
  bool differentiable = true;
};

struct OpInfo {
  OpKind kind;
  std::string_view name;
  std::vector<OperandSpec> operands;
  bool variadic = false; // the last operand repeats (one or more)
  bool optional = false; // the last operand may be left out (zero or one)
  int optionalCount = 0; // how many trailing operands are optional (each may be left out)
  std::vector<AttrSpec> attrs;
  FusionCategory category;
  bool inPlace;

  /// "x, w, b" — for messages.
  std::string operandList() const;
  /// Whether a node of this kind may have n operands (variadic and optional tails included).
  bool acceptsOperandCount(size_t n) const;
  /// "2", "at least 1", "2 or 3": the counts acceptsOperandCount allows, for messages.
  std::string operandCountText() const;
};

const OpInfo& opInfo(OpKind);
std::optional<OpKind> opKindByName(std::string_view name);
inline std::string_view opName(OpKind k) { return opInfo(k).name; }

/// Attribute helpers; the verifier guarantees kinds, so these do not fail on a verified graph.
int64_t attrInt(const Attrs&, const std::string& name);
double attrFloat(const Attrs&, const std::string& name);
const std::vector<int64_t>& attrInts(const Attrs&, const std::string& name);
const std::string& attrString(const Attrs&, const std::string& name);
std::string attrValueToString(const AttrValue&);

} // namespace gptc
