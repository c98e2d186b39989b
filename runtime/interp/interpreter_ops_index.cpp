// The index helpers every interpreter kernel file shares: row-major strides and the numpy
// broadcasting map (runtime/interp/interpreter_kernels.h). Kept apart so each kernel file holds
// only kernels.
#include "runtime/interp/interpreter_kernels.h"

namespace gptc {

std::vector<int64_t> stridesOf(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int d = int(shape.size()) - 2; d >= 0; --d)
    s[d] = s[d + 1] * shape[d + 1];
  return s;
}

BroadcastIndex::BroadcastIndex(const Shape& out, const Shape& in) : outShape_(out) {
  identity_ = out == in;
  inStride_.assign(out.size(), 0);
  std::vector<int64_t> stride = stridesOf(in);
  size_t lead = out.size() - in.size(); // missing leading axes of `in` repeat
  for (size_t d = 0; d < in.size(); ++d)
    inStride_[lead + d] = in[d] == 1 ? 0 : stride[d];
}

} // namespace gptc
