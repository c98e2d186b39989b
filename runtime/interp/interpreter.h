// The reference interpreter: executes any Graph IR (any stage of the pipeline) with plain loops,
// one C++ function per op kind (runtime/interp/interpreter_ops*.cpp), shapes from the IR. It is the
// numerical oracle every pass and every JIT kernel is checked against, so it favours obviousness
// over speed (reductions accumulate in double).
#pragma once
#include "ir/graph.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gptc {

/// A host tensor: f32 data in `f`, or i32 data in `i`, never both. bf16 and i8 tensors (quantized
/// weights) are held in `f` as the floats they represent exactly (runtime/formats/quantize.h).
struct Tensor {
  TensorType type;
  std::vector<float> f;
  std::vector<int32_t> i;

  Tensor() = default;
  explicit Tensor(TensorType t); // zero-filled
  static Tensor scalarF32(float v);
  static Tensor scalarI32(int32_t v);
  int64_t numel() const { return type.numel(); }
};

/// Everything a kernel sees: operand tensors, attributes, and the result to fill (already sized).
struct EvalArgs {
  std::vector<const Tensor*> in;
  const Attrs& attrs;
  Tensor& out;
};

/// Evaluates one op on host tensors: checks the operand count, fills attribute defaults, infers the
/// result type with the op's shape rule and (re)allocates `out` with it, then runs the kernel.
/// "" on success, else "<op>: why" (e.g. "embedding: token id 70 outside the table of 65 rows").
std::string evalOp(OpKind kind, const std::vector<const Tensor*>& operands, const Attrs& attrs,
                   Tensor& out);

class Interpreter {
public:
  explicit Interpreter(const Graph& g);

  /// Binds an input or parameter by name (type must match exactly). Bindings persist across runs.
  std::string bind(const std::string& name, Tensor t);

  /// Runs every node in program order, then applies `updates` (state <- new value). "" or an error
  /// naming the op and its source location (also for an input that was never bound).
  std::string run();

  /// Any value by name or id after run() (inputs, params, intermediates, outputs). An unknown
  /// name gives an empty tensor (type f32[], no data).
  const Tensor& get(const std::string& name) const;
  const Tensor& get(int valueId) const { return values_[valueId]; }
  /// A bound value to edit in place (e.g. a parameter between runs); an unknown name gives a
  /// scratch tensor that nothing reads.
  Tensor& mut(const std::string& name);

private:
  const Graph& g_;
  std::vector<Tensor> values_;
  std::vector<bool> bound_;
  bool verified_ = false; // the graph passed verifyGraph (checked once, on the first run)
};

/// Initialises every parameter from its `init` (normal(std) / zeros / ones) with a seeded
/// generator; the same seed gives the same values on any machine and thread count. Each parameter's
/// stream depends only on (seed, parameter name), so adding a parameter does not change the others.
std::map<std::string, Tensor> initParams(const Graph& g, uint64_t seed);

/// One param's or state's initial value as initParams makes it: normal(std) draws come from
/// std::mt19937_64 seeded with splitmix64(seed) ^ fnv1a64(name), turned into normals by Box-Muller
/// in double and rounded to f32. State values start from seed 0 when the Interpreter is built.
Tensor initValue(const Value& v, uint64_t seed);
/// The same values written straight into `out` (v.type.bytes() bytes), e.g. a compiled step's
/// persistent region, without a temporary.
void initValueInto(const Value& v, uint64_t seed, void* out);

} // namespace gptc
