// runtime/trace/trace.cpp — finding the values of one traced step in a flat graph and writing the
// log (see trace.h). The heatmap SVG is at the end.
#include "runtime/trace/trace.h"

#include "ir/html_escape.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <numeric>

namespace gptc {
namespace {

Diag missing(const std::string& what) {
  return Diag{{}, "--trace: " + what, ""};
}

/// The nodes that read value `v`, in program order.
std::vector<const Node*> usersOf(const Graph& g, int v) {
  std::vector<const Node*> out;
  for (const Node& n : g.nodes)
    if (std::find(n.operands.begin(), n.operands.end(), v) != n.operands.end()) out.push_back(&n);
  return out;
}

/// The first node of kind `k` that reads `v`, or nullptr.
const Node* userOfKind(const Graph& g, int v, OpKind k) {
  for (const Node* n : usersOf(g, v))
    if (n->kind == k) return n;
  return nullptr;
}

std::string num(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return fmt::format("{:.4g}", x);
}

std::string statsLine(const TensorStats& s) {
  std::string out = fmt::format("mean {:>10}  std {:>10}  min {:>10}  max {:>10}", num(s.mean),
                                num(s.std), num(s.min), num(s.max));
  if (s.nonFinite) out += fmt::format("  ({} NaN/Inf)", s.nonFinite);
  return out;
}

std::string shapeText(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

/// Printable token text: control characters escaped, quoted.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\'')
      out += "\\'";
    else if (c < 0x20)
      out += fmt::format("\\x{:02x}", int(c));
    else
      out += char(c);
  }
  return out + "'";
}

/// A [rows, cols] matrix, row-major at `data` with row stride `stride`, at most `maxRows` x
/// `maxCols` shown; `rowSums` adds each shown row's sum over all its columns.
std::string matrix(const float* data, int64_t rows, int64_t cols, int64_t stride, int maxRows,
                   int maxCols, bool rowSums, const std::vector<std::string>& rowLabels = {}) {
  std::string out;
  int64_t r = std::min<int64_t>(rows, maxRows), c = std::min<int64_t>(cols, maxCols);
  for (int64_t i = 0; i < r; ++i) {
    out += "    ";
    if (!rowLabels.empty())
      out += fmt::format("{:>6} ", i < int64_t(rowLabels.size()) ? rowLabels[i] : "");
    for (int64_t j = 0; j < c; ++j) {
      float x = data[i * stride + j]; // fixed point: columns line up, -inf stands out
      out += std::isfinite(x) ? fmt::format(" {:>8.4f}", x) : fmt::format(" {:>8}", num(x));
    }
    if (c < cols) out += "  ...";
    if (rowSums) {
      double sum = 0;
      for (int64_t j = 0; j < cols; ++j)
        sum += data[i * stride + j];
      out += fmt::format("  | sum {:.6f}", sum);
    }
    out += "\n";
  }
  if (r < rows) out += fmt::format("    ... {} more rows\n", rows - r);
  return out;
}

} // namespace

Tensor maskedScores(const Tensor& scores, int64_t offset) {
  Tensor out = scores;
  const int64_t Tq = scores.type.shape[scores.type.shape.size() - 2], Tk = scores.type.shape.back();
  const float negInf = -std::numeric_limits<float>::infinity();
  for (int64_t idx = 0; idx < out.numel(); ++idx) {
    int64_t j = idx % Tk, i = (idx / Tk) % Tq;
    if (j > i + offset) out.f[idx] = negInf;
  }
  return out;
}

TensorStats statsOf(const float* data, int64_t n) {
  TensorStats s;
  double sum = 0, sq = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  for (int64_t i = 0; i < n; ++i) {
    double x = data[i];
    if (!std::isfinite(x)) {
      ++s.nonFinite;
      continue;
    }
    ++s.count;
    sum += x;
    sq += x * x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  if (s.count) {
    s.mean = sum / double(s.count);
    s.std = std::sqrt(std::max(0.0, sq / double(s.count) - s.mean * s.mean));
  } else {
    s.min = s.max = std::numeric_limits<double>::quiet_NaN();
  }
  return s;
}

Expected<TracePoints> findTracePoints(const Graph& g, const TraceOptions& options) {
  TracePoints p;
  p.options = options;
  int tokens = g.find("tokens");
  if (tokens < 0 || g.values[tokens].kind != ValueKind::Input)
    return missing("the graph has no `tokens` input");
  p.tokens = "tokens";
  if (int t = g.find("targets"); t >= 0) p.targets = "targets";
  const Node* emb = userOfKind(g, tokens, OpKind::Embedding);
  if (!emb) return missing("no embedding(tokens, ...) in the graph");
  p.embedding = g.values[emb->result].name;
  if (g.values[emb->operands[1]].kind == ValueKind::Param)
    p.embeddingTable = g.values[emb->operands[1]].name;
  int embOut = emb->result; // what the positions are added to
  if (const Node* sc = userOfKind(g, emb->result, OpKind::Scale)) {
    p.embeddingScaled = g.values[sc->result].name;
    p.embeddingScale = attrFloat(sc->attrs, "s");
    embOut = sc->result;
  }
  if (const Node* add = userOfKind(g, embOut, OpKind::Add)) {
    p.embeddingSum = g.values[add->result].name;
    int pos = add->operands[0] == embOut ? add->operands[1] : add->operands[0];
    const Value& pv = g.values[pos];
    if (pv.kind == ValueKind::Op && g.defOf(pos).kind == OpKind::Slice &&
        g.values[g.defOf(pos).operands[0]].kind == ValueKind::Param &&
        attrInt(g.defOf(pos).attrs, "axis") == 0 && attrInt(g.defOf(pos).attrs, "start") == 0)
      p.positionParam = g.values[g.defOf(pos).operands[0]].name; // rows [0, T) of a param
    else if (pv.kind == ValueKind::Op)
      p.positions = pv.name;
    else
      p.positionParam = pv.name;
  }

  std::string l = std::to_string(options.layer);
  int q = g.find("q." + l), k = g.find("k." + l), v = g.find("v." + l), att = g.find("att." + l);
  if (q < 0 || k < 0 || v < 0 || att < 0) {
    int layers = 0;
    while (g.find("q." + std::to_string(layers)) >= 0)
      ++layers;
    return missing(fmt::format("no layer {} (values q.{}, k.{}, v.{}, att.{}); the model has {} "
                               "layers (--trace-layer 0..{})",
                               options.layer, l, l, l, l, layers, std::max(0, layers - 1)));
  }
  const Shape& qs = g.type(q).shape; // (B,NH,T,hd)
  if (qs.size() != 4) return missing("q." + l + " is not (B,NH,T,hd)");
  if (options.head < 0 || options.head >= qs[1])
    return missing(fmt::format("no head {} (the model has {} heads: --trace-head 0..{})",
                               options.head, qs[1], qs[1] - 1));
  if (options.batchRow < 0 || options.batchRow >= qs[0])
    return missing(fmt::format("no batch row {}", options.batchRow));
  p.q = "q." + l;
  p.k = "k." + l;
  p.v = "v." + l;
  p.scores = "att." + l;
  const Node* mask = userOfKind(g, att, OpKind::CausalMask);
  if (!mask) return missing("att." + l + " is not read by a causal_mask (fused?)");
  p.masked = g.values[mask->result].name;
  p.maskOffset = attrInt(mask->attrs, "offset");
  const Node* soft = userOfKind(g, mask->result, OpKind::Softmax);
  if (!soft) return missing("the masked scores of layer " + l + " are not read by a softmax");
  p.probs = g.values[soft->result].name;

  if (g.find("logits") >= 0) p.logits = "logits";
  if (int loss = g.find("loss"); loss >= 0) {
    p.loss = "loss";
    if (g.values[loss].kind == ValueKind::Op && g.defOf(loss).kind == OpKind::CrossEntropy)
      p.classes = attrInt(g.defOf(loss).attrs, "classes");
  }
  if (p.classes <= 0 && !p.logits.empty()) p.classes = g.type(g.find("logits")).shape.back();
  for (const Value& val : g.values)
    if (val.kind == ValueKind::Param && g.find("grad." + val.name) >= 0)
      p.grads.push_back({val.name, "grad." + val.name});
  return p;
}

std::vector<std::string> observedValues(const TracePoints& p) {
  std::vector<std::string> out;
  for (const std::string* s :
       {&p.embedding, &p.embeddingScaled, &p.embeddingSum, &p.positions, &p.q, &p.k, &p.v,
        &p.scores, &p.probs,
        &p.logits}) // logits: not an output of a training step (passes/optimizer.h)
    if (!s->empty()) out.push_back(*s);
  for (const auto& [param, grad] : p.grads)
    out.push_back(grad);
  return out;
}

std::string Tracer::before(const StepEngine& engine) {
  paramsBefore_.clear();
  for (const Value& v : engine.graph().values) {
    if (v.kind != ValueKind::Param) continue;
    Tensor t;
    if (std::string e = engine.read(v.name, &t); !e.empty()) return e;
    paramsBefore_[v.name] = std::move(t);
  }
  return "";
}

std::string Tracer::attention(const StepEngine& engine, Tensor* out) const {
  return engine.read(p_.probs, out);
}

namespace {

/// One report being written (Tracer::report): where the step's values are read from, the text
/// so far, and what the later sections reuse from the tokens section.
struct ReportWriter {
  const TracePoints& p;
  const std::map<std::string, Tensor>& paramsBefore;
  const StepEngine& engine;
  const TokenText& text;
  std::string out;
  // From the tokens section.
  Tensor targets; // (B,T)
  bool haveTargets = false;
  int64_t T = 0;
  int shown = 0; // positions shown
  std::vector<std::string> labels;

  void section(const std::string& title) {
    out +=
        "\n== " + title + " " + std::string(title.size() < 73 ? 76 - title.size() : 3, '=') + "\n";
  }
  /// Reads %name; says so in the report when it cannot.
  bool read(const std::string& name, Tensor* t) {
    if (name.empty()) return false;
    if (std::string e = engine.read(name, t); !e.empty()) {
      out += "  (cannot read %" + name + ": " + e + ")\n";
      return false;
    }
    return true;
  }

  bool tokens();
  void embeddings();
  void attention();
  void loss();
  void gradients();
  void embeddingUpdate();
};

/// 1. The batch row's tokens and targets; false when the tokens cannot be read (the report
/// stops there).
bool ReportWriter::tokens() {
  const TraceOptions& o = p.options;
  Tensor tokens;
  if (!read(p.tokens, &tokens)) return false;
  T = tokens.type.shape.back();
  shown = int(std::min<int64_t>(T, o.maxTokens));
  const int32_t* row = tokens.i.data() + int64_t(o.batchRow) * T;
  haveTargets = !p.targets.empty() && read(p.targets, &targets);
  section(fmt::format("1. tokens (%{} {}, row {}: {} of {} positions)", p.tokens,
                      shapeText(tokens.type.shape), o.batchRow, shown, T));
  out += "  pos     id  text    -> target (the next token, what the model must predict)\n";
  for (int t = 0; t < shown; ++t) {
    labels.push_back(quoted(text(row[t])));
    out += fmt::format("  {:>3} {:>6}  {:<7}", t, row[t], labels.back());
    if (haveTargets) {
      int32_t y = targets.i[int64_t(o.batchRow) * T + t];
      out += fmt::format(" -> {:>5} {}", y, quoted(text(y)));
    }
    out += "\n";
  }
  std::string sentence;
  for (int t = 0; t < shown; ++t)
    sentence += (t ? o.tokenSeparator : "") + text(row[t]);
  out += "  as text: " + quoted(sentence) + "\n";
  return true;
}

/// 2. The token embedding, the positions and their sum.
void ReportWriter::embeddings() {
  const TraceOptions& o = p.options;
  section("2. embedding and positions");
  Tensor emb, sum;
  if (read(p.embedding, &emb)) {
    const int64_t C = emb.type.shape.back();
    out += fmt::format("  %{} = embedding(tokens, wte)  {}: row t is wte[token t]\n", p.embedding,
                       shapeText(emb.type.shape));
    out += "    " + statsLine(statsOf(emb.f.data(), emb.numel())) + "\n";
    out += "    first values of position 0: ";
    for (int64_t c = 0; c < std::min<int64_t>(C, 8); ++c)
      out += num(emb.f[int64_t(o.batchRow) * T * C + c]) + " ";
    out += "\n";
    if (!p.positionParam.empty() && paramsBefore.count(p.positionParam)) {
      const Tensor& w = paramsBefore.at(p.positionParam);
      out += fmt::format("  positions: rows 0..{} of param %{} {} (learned)\n", T - 1,
                         p.positionParam, shapeText(w.type.shape));
      out += "    " + statsLine(statsOf(w.f.data(), std::min<int64_t>(w.numel(), T * C))) + "\n";
    } else if (!p.positions.empty()) {
      Tensor pos;
      if (read(p.positions, &pos)) {
        out += fmt::format("  positions: %{} {}\n", p.positions, shapeText(pos.type.shape));
        out += "    " + statsLine(statsOf(pos.f.data(), pos.numel())) + "\n";
      }
    }
  }
  Tensor scaled;
  if (read(p.embeddingScaled, &scaled)) {
    const int64_t C = scaled.type.shape.back();
    out += fmt::format("  %{} = scale(%{}) {{s = {:.6g}}}  {}: the embedding times sqrt(C) = "
                       "sqrt({}) = {:.6g}\n",
                       p.embeddingScaled, p.embedding, p.embeddingScale,
                       shapeText(scaled.type.shape), C, std::sqrt(double(C)));
    out += "    " + statsLine(statsOf(scaled.f.data(), scaled.numel())) + "\n";
  }
  if (read(p.embeddingSum, &sum)) {
    out += fmt::format("  %{} = {} + positions {} (the input of layer 0, before dropout)\n",
                       p.embeddingSum, p.embeddingScaled.empty() ? "embedding" : "scaled embedding",
                       shapeText(sum.type.shape));
    out += "    " + statsLine(statsOf(sum.f.data(), sum.numel())) + "\n";
  }
}

/// 3-6. One head's Q, K, V, its scores before and after the mask, and the softmax weights.
void ReportWriter::attention() {
  const TraceOptions& o = p.options;
  Tensor q, k, v, scores, masked, probs;
  bool ok = read(p.q, &q) & read(p.k, &k) & read(p.v, &v);
  if (!ok) return;
  const Shape& s = q.type.shape; // (B,NH,T,hd)
  const int64_t NH = s[1], hd = s[3];
  section(fmt::format("3. layer {} head {}: Q, K, V (%{}, %{}, %{} are {}; head {} is [T={}, "
                      "hd={}])",
                      o.layer, o.head, p.q, p.k, p.v, shapeText(s), o.head, T, hd));
  int64_t base = (int64_t(o.batchRow) * NH + o.head) * T * hd;
  for (auto [name, t] : {std::pair{"Q", &q}, {"K", &k}, {"V", &v}}) {
    out += fmt::format("  {}  {}\n", name, statsLine(statsOf(t->f.data() + base, T * hd)));
    out += matrix(t->f.data() + base, T, hd, hd, std::min(shown, 4), 8, false, labels);
  }
  const double scale = 1.0 / std::sqrt(double(hd));
  if (!read(p.scores, &scores)) return;
  section(fmt::format("4. scores = Q K^T * {:.4g} (1/sqrt(hd)): %{}, before the mask", scale,
                      p.scores));
  int64_t b2 = (int64_t(o.batchRow) * NH + o.head) * T * T;
  out += "  row = query position, column = key position\n";
  out += matrix(scores.f.data() + b2, T, T, T, shown, shown, false, labels);
  masked = maskedScores(scores, p.maskOffset);
  section(fmt::format("5. after the causal mask: %{} (a query may not look ahead: -inf "
                      "above the diagonal)",
                      p.masked));
  out += matrix(masked.f.data() + b2, T, T, T, shown, shown, false, labels);
  out += "  (causal_mask's rule applied to %" + p.scores + ": the softmax overwrites %" + p.masked +
         " in place)\n";
  if (!read(p.probs, &probs)) return;
  section(fmt::format("6. softmax weights: %{} (each row sums to 1; exp(-inf) = 0 above "
                      "the diagonal)",
                      p.probs));
  out += matrix(probs.f.data() + b2, T, T, T, shown, shown, true, labels);
  int64_t zeros = 0, above = 0;
  double worst = 0;
  for (int64_t i = 0; i < T; ++i) {
    double rs = 0;
    for (int64_t j = 0; j < T; ++j) {
      float w = probs.f[b2 + i * T + j];
      rs += w;
      if (j > i) {
        ++above;
        zeros += w == 0.0f;
      }
    }
    worst = std::max(worst, std::abs(rs - 1.0));
  }
  out += fmt::format("  above the diagonal: {} of {} weights are exactly 0; the largest "
                     "|row sum - 1| over all {} rows is {:.2e}\n",
                     zeros, above, T, worst);
}

/// 7. The loss and the top-5 predictions at each shown position.
void ReportWriter::loss() {
  const TraceOptions& o = p.options;
  Tensor logits, loss;
  section("7. loss and the next-token predictions");
  if (read(p.loss, &loss))
    out += fmt::format("  %{} = {:.6f} (mean cross-entropy in nats; uniform guessing over {} "
                       "tokens would give ln {} = {:.4f})\n",
                       p.loss, loss.f[0], p.classes, p.classes, std::log(double(p.classes)));
  if (!read(p.logits, &logits)) return;
  const int64_t V = logits.type.shape.back(), classes = p.classes;
  out += fmt::format("  top-5 of softmax(%{}) at each position (probability), and the "
                     "target's probability:\n",
                     p.logits);
  for (int t = 0; t < shown; ++t) {
    const float* z = logits.f.data() + (int64_t(o.batchRow) * T + t) * V;
    double mx = *std::max_element(z, z + classes), denom = 0;
    for (int64_t c = 0; c < classes; ++c)
      denom += std::exp(double(z[c]) - mx);
    std::vector<int32_t> idx(static_cast<size_t>(classes));
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + std::min<int64_t>(5, classes), idx.end(),
                      [&](int32_t a, int32_t b) { return z[a] > z[b]; });
    out += fmt::format("  {:>3} {:<7}", t, labels[t]);
    for (int r = 0; r < std::min<int64_t>(5, classes); ++r)
      out += fmt::format(" {:>6} {:.3f}", quoted(text(idx[r])),
                         std::exp(double(z[idx[r]]) - mx) / denom);
    if (haveTargets) {
      int32_t y = targets.i[int64_t(o.batchRow) * T + t];
      if (y >= 0 && y < classes)
        out += fmt::format("   target {} {:.3f}", quoted(text(y)),
                           std::exp(double(z[y]) - mx) / denom);
    }
    out += "\n";
  }
}

/// 8. Each parameter's gradient and the relative size of the update it received.
void ReportWriter::gradients() {
  if (p.grads.empty()) return;
  section("8. gradients (before clipping) and the update each parameter received");
  out += fmt::format("  {:<8} {:<14} {:>10} {:>10} {:>10} {:>10}  {:>11}\n", "param", "shape",
                     "mean", "std", "min", "max", "|dW|/|W|");
  for (const auto& [param, grad] : p.grads) {
    Tensor gt, after;
    if (!read(grad, &gt)) continue;
    TensorStats s = statsOf(gt.f.data(), gt.numel());
    std::string rel = "-";
    auto it = paramsBefore.find(param);
    if (it != paramsBefore.end() && engine.read(param, &after).empty()) {
      double d2 = 0, w2 = 0;
      for (int64_t i = 0; i < after.numel(); ++i) {
        double d = double(after.f[i]) - it->second.f[i];
        d2 += d * d;
        w2 += double(it->second.f[i]) * it->second.f[i];
      }
      rel = w2 > 0 ? fmt::format("{:.3e}", std::sqrt(d2 / w2))
                   : fmt::format("{:.3e} abs", std::sqrt(d2));
    }
    out += fmt::format("  {:<8} {:<14} {:>10} {:>10} {:>10} {:>10}  {:>11}{}\n", param,
                       shapeText(gt.type.shape), num(s.mean), num(s.std), num(s.min), num(s.max),
                       rel, s.nonFinite ? fmt::format("  ({} NaN/Inf)", s.nonFinite) : "");
  }
  out += "  |dW|/|W| = the update's L2 norm over the weights' L2 norm (AdamW with weight decay);\n"
         "  'abs' when the weights were all zero (biases at the first step).\n";
}

/// 9. The embedding table after the update.
void ReportWriter::embeddingUpdate() {
  auto table = paramsBefore.find(p.embeddingTable);
  Tensor updated;
  if (table == paramsBefore.end() || !read(p.embeddingTable, &updated)) return;
  const Tensor& old = table->second;
  section(fmt::format("9. the embedding table %{} {} after the update", p.embeddingTable,
                      shapeText(old.type.shape)));
  std::vector<float> delta(static_cast<size_t>(old.numel()));
  int64_t rows = old.type.shape[0], C = old.numel() / std::max<int64_t>(1, rows), moved = 0;
  for (int64_t i = 0; i < old.numel(); ++i)
    delta[size_t(i)] = updated.f[i] - old.f[i];
  for (int64_t r = 0; r < rows; ++r)
    moved += std::any_of(delta.begin() + r * C, delta.begin() + (r + 1) * C,
                         [](float d) { return d != 0.0f; });
  out += "  before  " + statsLine(statsOf(old.f.data(), old.numel())) + "\n";
  out += "  after   " + statsLine(statsOf(updated.f.data(), updated.numel())) + "\n";
  out += "  change  " + statsLine(statsOf(delta.data(), int64_t(delta.size()))) + "\n";
  out += fmt::format("  {} of {} rows changed\n", moved, rows);
}

} // namespace

std::string Tracer::report(const StepEngine& engine, int64_t step, const TokenText& text) const {
  const TraceOptions& o = p_.options;
  ReportWriter w{p_, paramsBefore_, engine, text};
  w.out += fmt::format("gptc trace — step {} ({}), layer {}, head {}, batch row {}\n", step,
                       engine.describe(), o.layer, o.head, o.batchRow);
  w.out += "Every number below was read from the buffers of the step that just ran; the values\n"
           "named %x are the graph's (gptc compile MODEL --pipeline train --emit=graph).\n";
  if (!w.tokens()) return w.out;
  w.embeddings();
  w.attention();
  w.loss();
  w.gradients();
  w.embeddingUpdate();
  return w.out;
}

std::string attentionHeatmapSvg(const Tensor& probs, int batchRow, int head,
                                const std::vector<std::string>& labels, const std::string& title) {
  const Shape& s = probs.type.shape; // (B,NH,T,T)
  const int64_t NH = s[1], T = s[3];
  const int n = int(std::min<int64_t>(T, 64)); // more than 64 tokens: the top-left corner
  const int cell = n <= 16 ? 28 : n <= 32 ? 16 : 9, left = 70, top = 60;
  const int w = left + n * cell + 20, h = top + n * cell + 20;
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"monospace\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"16\" font-size=\"13\">{}</text>\n",
      w, h, w, h, left, htmlEscape(title));
  out +=
      fmt::format("<text x=\"{}\" y=\"34\">keys →</text><text x=\"6\" y=\"{}\">queries ↓</text>\n",
                  left, top - 6);
  const float* base = probs.f.data() + (int64_t(batchRow) * NH + head) * T * T;
  for (int i = 0; i < n; ++i) {
    if (cell >= 14 && i < int(labels.size())) {
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 4,
                         top + i * cell + cell * 2 / 3, htmlEscape(labels[i]));
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                         left + i * cell + cell / 2, top - 8, htmlEscape(labels[i]));
    }
    for (int j = 0; j < n; ++j) {
      float p = base[int64_t(i) * T + j];
      std::string fill;
      if (j > i && p == 0.0f) {
        fill = "#e6e6e6"; // masked: may not look ahead
      } else {
        double x = std::clamp(double(p), 0.0, 1.0);
        int r = int(255 - x * (255 - 8)), g = int(255 - x * (255 - 48)),
            b = int(255 - x * (255 - 107));
        fill = fmt::format("#{:02x}{:02x}{:02x}", r, g, b);
      }
      // Tooltips only on small maps: a 64x64 map stays ~300 KB inside the HTML report.
      if (n <= 16)
        out += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>q {} k "
            "{}: {:.4f}</title></rect>\n",
            left + j * cell, top + i * cell, cell, cell, fill, i, j, p);
      else
        out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n",
                           left + j * cell, top + i * cell, cell, cell, fill);
    }
  }
  out += "</svg>\n";
  return out;
}

} // namespace gptc
