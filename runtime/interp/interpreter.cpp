// The reference interpreter's driver: the dispatch table from OpKind to kernel, evalOp for one op,
// and Interpreter, which binds inputs and parameters, runs a graph's nodes in program order and
// applies its updates. It turns a kernel's one-line complaint into a located diagnostic
// ("models/gpt2.graph:31:3: error: embedding: token id 70000 outside the table of 50304 rows").
//
// It leaves the kernels to runtime/interp/interpreter_ops_*.cpp, parameter values to initParams
// (runtime/formats/param_init.cpp) or a checkpoint (runtime/formats/param_store.h), and memory
// reuse to the planner: every value keeps its own buffer, so any intermediate can be inspected
// after run().
#include "runtime/interp/interpreter.h"
#include "ir/verifier.h"
#include "runtime/interp/interpreter_kernels.h"

#include <fmt/format.h>
#include <fstream>
#include <iterator>

namespace gptc {
namespace {

using Kernel = std::string (*)(EvalArgs&);

constexpr Kernel kKernels[] = {
#define OP(E, ...) &eval_##E,
#include "ir/ops.def"
#undef OP
};
static_assert(std::size(kKernels) == size_t(kNumOpKinds), "one interpreter kernel per op kind");

/// The text of line `loc.line` of `loc.file`, for the caret under an error; "" when unreadable.
std::string sourceLine(const SourceLoc& loc) {
  if (!loc.known()) return "";
  std::ifstream in(loc.file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (n == loc.line) return line;
  return "";
}

std::string located(const SourceLoc& loc, const std::string& message) {
  return Diag{loc, message, sourceLine(loc)}.render();
}

bool isBindable(ValueKind k) {
  return k != ValueKind::Op;
}

const char* kindName(ValueKind k) {
  switch (k) {
  case ValueKind::Input:
    return "input";
  case ValueKind::Param:
    return "param";
  case ValueKind::State:
    return "state";
  case ValueKind::Op:
    return "value";
  }
  return "value";
}

} // namespace

Tensor::Tensor(TensorType t) : type(std::move(t)) {
  if (isFloatStored(type.dtype))
    f.assign(size_t(type.numel()), 0.0f);
  else
    i.assign(size_t(type.numel()), 0);
}

Tensor Tensor::scalarF32(float v) {
  Tensor t(TensorType{DType::f32, {}});
  t.f[0] = v;
  return t;
}

Tensor Tensor::scalarI32(int32_t v) {
  Tensor t(TensorType{DType::i32, {}});
  t.i[0] = v;
  return t;
}

std::string evalOp(OpKind kind, const std::vector<const Tensor*>& operands, const Attrs& attrs,
                   Tensor& out) {
  std::string_view name = opName(kind);
  const OpInfo& info = opInfo(kind);
  if (!info.acceptsOperandCount(operands.size()))
    return fmt::format("{}: takes {} operand(s) ({}), got {}", name, info.operandCountText(),
                       info.operandList(), operands.size());
  std::vector<TensorType> types;
  for (const Tensor* t : operands) {
    size_t have = isFloatStored(t->type.dtype) ? t->f.size() : t->i.size();
    if (int64_t(have) != t->numel())
      return fmt::format("{}: an operand of type {} holds {} elements", name, typeToString(t->type),
                         have);
    types.push_back(t->type);
  }
  Attrs complete = attrs;
  if (std::string e = completeAttrs(kind, complete); !e.empty())
    return fmt::format("{}: {}", name, e);
  Expected<TensorType> type = inferType(kind, types, complete);
  if (!type) return fmt::format("{}: {}", name, type.error().message);
  out = Tensor(*type);
  EvalArgs args{operands, complete, out};
  if (std::string e = kKernels[size_t(kind)](args); !e.empty())
    return fmt::format("{}: {}", name, e);
  return "";
}

Interpreter::Interpreter(const Graph& g)
    : g_(g), values_(g.values.size()), bound_(g.values.size(), false) {
  // State (optimizer moments, KV caches) starts as its init says; bind() may replace it.
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].kind == ValueKind::State) {
      values_[v] = initValue(g.values[v], 0);
      bound_[v] = true;
    }
}

std::string Interpreter::bind(const std::string& name, Tensor t) {
  int id = g_.find(name);
  if (id < 0) return fmt::format("the graph has no input or parameter named '{}'", name);
  const Value& v = g_.values[id];
  if (!isBindable(v.kind))
    return fmt::format("'%{}' is computed by an op; only inputs, params and state can be bound",
                       name);
  if (t.type != v.type)
    return fmt::format("{} '{}' is {} but the tensor bound to it is {}", kindName(v.kind), name,
                       typeToString(v.type), typeToString(t.type));
  size_t have = isFloatStored(t.type.dtype) ? t.f.size() : t.i.size();
  if (int64_t(have) != t.numel())
    return fmt::format("the tensor bound to '{}' holds {} elements, not {}", name, have, t.numel());
  values_[id] = std::move(t);
  bound_[id] = true;
  return "";
}

std::string Interpreter::run() {
  if (!verified_) {
    // Kernels trust operand types; a graph that does not verify is refused before any of them runs.
    if (std::string e = verifyGraph(g_); !e.empty())
      return "error: the graph does not verify: " + e;
    verified_ = true;
  }
  for (size_t v = 0; v < g_.values.size(); ++v) {
    const Value& val = g_.values[v];
    if (isBindable(val.kind) && !bound_[v])
      return located(val.loc, fmt::format("{} '{}' was never bound", kindName(val.kind), val.name));
  }
  std::vector<const Tensor*> operands;
  for (const Node& node : g_.nodes) {
    operands.clear();
    for (int o : node.operands)
      operands.push_back(&values_[o]);
    Tensor& out = values_[node.result];
    out = Tensor(g_.values[node.result].type);
    EvalArgs args{operands, node.attrs, out};
    if (std::string e = kKernels[size_t(node.kind)](args); !e.empty())
      return located(node.loc, fmt::format("{}: {}", opName(node.kind), e));
  }
  // Updates read the step's values first and write afterwards, so `update %a = %b` and
  // `update %b = %a` in one step swap rather than alias.
  std::vector<Tensor> next;
  for (const Update& u : g_.updates)
    next.push_back(values_[u.value]);
  for (size_t k = 0; k < g_.updates.size(); ++k)
    values_[g_.updates[k].state] = std::move(next[k]);
  return "";
}

const Tensor& Interpreter::get(const std::string& name) const {
  static const Tensor kNone;
  int id = g_.find(name);
  return id < 0 ? kNone : values_[id];
}

Tensor& Interpreter::mut(const std::string& name) {
  static Tensor scratch;
  int id = g_.find(name);
  if (id >= 0) return values_[id];
  scratch = Tensor();
  return scratch;
}

} // namespace gptc
