// Interpreter kernels that index by token: embedding (and its scatter-add gradient), sinusoidal
// positions, cross-entropy (and its gradient). These are the kernels whose data, not only whose
// shapes, can be wrong — a token id outside the table, a target outside the classes — so they
// check every id and say which one is bad instead of reading out of bounds.
//
// Semantics pinned here: cross_entropy is the mean over rows whose target != ignore_index of
// logsumexp(logits[:classes]) - logits[target] (classes 0 = every column), computed in double; no
// counted rows gives a loss of 0. Sinusoidal positions follow "Attention Is All You Need".
#include "runtime/interp/interpreter_kernels.h"

#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace gptc {
namespace {

/// The number of columns cross_entropy looks at: `classes`, or the whole last axis when 0.
int64_t classesOf(const Attrs& attrs, const TensorType& logits) {
  int64_t classes = attrInt(attrs, "classes");
  return classes == 0 ? logits.shape.back() : classes;
}

/// log(sum(exp(x[0..n)))) in double, stable (the max is subtracted first).
double logSumExp(const float* x, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < n; ++c)
    mx = std::fmax(mx, double(x[c]));
  if (mx == -std::numeric_limits<double>::infinity()) return mx;
  double sum = 0.0;
  for (int64_t c = 0; c < n; ++c)
    sum += std::exp(double(x[c]) - mx);
  return mx + std::log(sum);
}

/// "" when every counted row's target is a class, else the first bad one; also counts the rows.
std::string checkTargets(const Tensor& targets, int64_t ignore, int64_t classes, int64_t& counted) {
  counted = 0;
  for (int64_t r = 0; r < targets.numel(); ++r) {
    int64_t t = targets.i[r];
    if (t == ignore) continue;
    if (t < 0 || t >= classes)
      return fmt::format("target {} at row {} is outside the {} classes [0, {})", t, r, classes,
                         classes);
    ++counted;
  }
  return "";
}

} // namespace

std::string eval_Embedding(EvalArgs& e) {
  // ids (...), table (V,C) -> (...,C): row ids[i] of the table
  const Tensor &ids = *e.in[0], &table = *e.in[1];
  int64_t V = table.type.shape[0], C = table.type.shape[1];
  for (int64_t i = 0; i < ids.numel(); ++i) {
    int64_t id = ids.i[i];
    if (id < 0 || id >= V) return fmt::format("token id {} outside the table of {} rows", id, V);
    for (int64_t c = 0; c < C; ++c)
      e.out.f[i * C + c] = table.f[id * C + c];
  }
  return "";
}

std::string eval_EmbeddingGrad(EvalArgs& e) {
  // ids (...), dy (...,C) -> (rows,C): out[ids[i]] += dy[i], summed in double
  const Tensor &ids = *e.in[0], &dy = *e.in[1];
  int64_t rows = attrInt(e.attrs, "rows"), C = dy.type.shape.back();
  std::vector<double> acc(size_t(rows * C), 0.0);
  for (int64_t i = 0; i < ids.numel(); ++i) {
    int64_t id = ids.i[i];
    if (id < 0 || id >= rows)
      return fmt::format("token id {} outside the table of {} rows", id, rows);
    for (int64_t c = 0; c < C; ++c)
      acc[id * C + c] += dy.f[i * C + c];
  }
  for (int64_t k = 0; k < rows * C; ++k)
    e.out.f[k] = float(acc[k]);
  return "";
}

std::string eval_Sinusoidal(EvalArgs& e) {
  // (rows,dim): pe[p,2i] = sin(p / 10000^(2i/dim)), pe[p,2i+1] = cos(p / 10000^(2i/dim))
  int64_t rows = attrInt(e.attrs, "rows"), dim = attrInt(e.attrs, "dim");
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t i = 0; 2 * i < dim; ++i) {
      double angle = double(p) / std::pow(10000.0, double(2 * i) / double(dim));
      e.out.f[p * dim + 2 * i] = float(std::sin(angle));
      e.out.f[p * dim + 2 * i + 1] = float(std::cos(angle));
    }
  return "";
}

std::string eval_CrossEntropy(EvalArgs& e) {
  // logits (R,W), targets (R) -> f32[]: mean over counted rows of lse(logits[r,:classes]) -
  // logits[r,t]
  const Tensor &logits = *e.in[0], &targets = *e.in[1];
  int64_t W = logits.type.shape.back(), classes = classesOf(e.attrs, logits.type);
  int64_t ignore = attrInt(e.attrs, "ignore_index"), counted = 0;
  if (std::string bad = checkTargets(targets, ignore, classes, counted); !bad.empty()) return bad;
  double total = 0.0;
  for (int64_t r = 0; r < targets.numel(); ++r) {
    int64_t t = targets.i[r];
    if (t == ignore) continue;
    const float* row = logits.f.data() + r * W;
    total += logSumExp(row, classes) - double(row[t]);
  }
  e.out.f[0] = counted == 0 ? 0.0f : float(total / double(counted));
  return "";
}

std::string eval_CrossEntropyGrad(EvalArgs& e) {
  // logits (R,W), targets (R), dloss f32[] -> (R,W):
  //   (softmax(logits[r,:classes]) - onehot(t)) * dloss / count on counted rows; 0 elsewhere
  //   (ignored rows and the padding columns >= classes). The out tensor starts zeroed.
  const Tensor &logits = *e.in[0], &targets = *e.in[1], &dloss = *e.in[2];
  int64_t W = logits.type.shape.back(), classes = classesOf(e.attrs, logits.type);
  int64_t ignore = attrInt(e.attrs, "ignore_index"), counted = 0;
  if (std::string bad = checkTargets(targets, ignore, classes, counted); !bad.empty()) return bad;
  if (counted == 0) return "";
  double scale = double(dloss.f[0]) / double(counted);
  for (int64_t r = 0; r < targets.numel(); ++r) {
    int64_t t = targets.i[r];
    if (t == ignore) continue;
    const float* row = logits.f.data() + r * W;
    double lse = logSumExp(row, classes);
    for (int64_t c = 0; c < classes; ++c) {
      double p = std::exp(double(row[c]) - lse);
      e.out.f[r * W + c] = float((p - (c == t ? 1.0 : 0.0)) * scale);
    }
  }
  return "";
}

} // namespace gptc
