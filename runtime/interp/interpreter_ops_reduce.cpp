// Interpreter kernels for the reductions reduce_sum, reduce_mean and reduce_max over a set of axes
// (keepdims only changes the result's shape, not its elements). Sums accumulate in double and are
// rounded once; the max of a slice holding a NaN is NaN, as torch.amax.
#include "runtime/interp/interpreter_kernels.h"

#include <cmath>
#include <limits>

namespace gptc {

namespace {

/// For each element of x, the flat index of the result element it reduces into (the reduced axes
/// dropped); also how many elements reduce into each result element.
struct ReduceMap {
  std::vector<int64_t> target;
  int64_t perOutput = 1;
};

ReduceMap reduceMap(const TensorType& x, const std::vector<int64_t>& axes) {
  int r = x.rank();
  std::vector<bool> reduced(size_t(r), false);
  ReduceMap m;
  for (int64_t a : axes) {
    int d = int(a < 0 ? a + r : a);
    reduced[d] = true;
    m.perOutput *= x.shape[d];
  }
  // Stride of each kept axis in the (keepdims-free) result; reduced axes contribute nothing.
  std::vector<int64_t> outStride(size_t(r), 0);
  int64_t s = 1;
  for (int d = r - 1; d >= 0; --d)
    if (!reduced[d]) {
      outStride[d] = s;
      s *= x.shape[d];
    }
  m.target.resize(size_t(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t flat = i, t = 0;
    for (int d = r - 1; d >= 0; --d) {
      t += (flat % x.shape[d]) * outStride[d];
      flat /= x.shape[d];
    }
    m.target[i] = t;
  }
  return m;
}

std::string sumOrMean(EvalArgs& e, bool mean) {
  const Tensor& x = *e.in[0];
  ReduceMap m = reduceMap(x.type, attrInts(e.attrs, "axes"));
  std::vector<double> acc(size_t(e.out.numel()), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i)
    acc[m.target[i]] += x.f[i];
  for (int64_t o = 0; o < e.out.numel(); ++o)
    e.out.f[o] = float(mean ? acc[o] / double(m.perOutput) : acc[o]);
  return "";
}

} // namespace

std::string eval_ReduceSum(EvalArgs& e) {
  return sumOrMean(e, false);
}
std::string eval_ReduceMean(EvalArgs& e) {
  return sumOrMean(e, true);
}

std::string eval_ReduceMax(EvalArgs& e) {
  const Tensor& x = *e.in[0];
  ReduceMap m = reduceMap(x.type, attrInts(e.attrs, "axes"));
  for (float& v : e.out.f)
    v = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& best = e.out.f[m.target[i]];
    if (x.f[i] > best || std::isnan(x.f[i])) best = std::isnan(best) ? best : x.f[i];
  }
  return "";
}

} // namespace gptc
