// Finite-difference checks of every differentiable op kind's gradient rule (passes/gradients.cpp),
// including broadcasting, masks, ignored rows, accumulation over several uses and the per-layer
// stacking of a select-ed param. The harness and the tolerance argument are in gradcheck.h.
#include "gradcheck.h"

#include <functional>
#include <set>

using namespace gptc;
using namespace gptc::test;

namespace {

/// What a section does with each of its cases: check it (its TEST_CASE), or only note which op
/// kinds its graph holds (the coverage test, which so depends on no other test case running).
using Check = std::function<void(const std::string& label, const GradCase& c)>;

void check(const std::string& label, const GradCase& c) {
  double worst = checkGradients(c);
  MESSAGE(label << ": largest |fd - ad| / max(1, max|ad|) = " << worst);
}

void arithmeticCases(const Check& check) {
  check("add [B,T,C]+[C]", {"param a : f32[2,3,4]\nparam b : f32[4]\nr = add(a, b)"});
  check("add [B,T,C]+[T,C]", {"param a : f32[2,3,4]\nparam b : f32[3,4]\nr = add(a, b)"});
  check("sub both broadcast", {"param a : f32[2,1,4]\nparam b : f32[3,4]\nr = sub(a, b)"});
  check("mul [B,T,C]*[C]", {"param a : f32[2,3,4]\nparam b : f32[4]\nr = mul(a, b)"});
  check("mul [B,T,C]*[T,1]", {"param a : f32[2,3,4]\nparam b : f32[3,1]\nr = mul(b, a)"});
  GradCase div{"param a : f32[2,3,4]\nparam b : f32[3,1]\nr = div(a, b)"};
  div.domains["b"] = Domain::AwayFromZero;
  check("div [B,T,C]/[T,1]", div);
  check("scale", {"param a : f32[2,5]\nr = scale(a) {s = -1.5}"});
}

void activationsCases(const Check& check) {
  check("gelu", {"param a : f32[3,7]\nr = gelu(scale(a) {s = 3.0})"});
  GradCase relu{"param a : f32[3,7]\nr = relu(a)"};
  relu.domains["a"] = Domain::AwayFromZero;
  check("relu", relu);
  GradCase drop{"input seed : i32[]\nparam a : f32[4,8]\nr = dropout(a, seed) {p = 0.3, salt = 5}"};
  drop.ints["seed"] = {1234};
  check("dropout", drop);
}

void matmulsCases(const Check& check) {
  check("matmul", {"param a : f32[3,4]\nparam b : f32[4,5]\nr = matmul(a, b)"});
  check("matmul ta", {"param a : f32[4,3]\nparam b : f32[4,5]\nr = matmul(a, b) {ta = 1}"});
  check("matmul tb", {"param a : f32[3,4]\nparam b : f32[5,4]\nr = matmul(a, b) {tb = 1}"});
  check("matmul ta tb",
        {"param a : f32[4,3]\nparam b : f32[5,4]\nr = matmul(a, b) {ta = 1, tb = 1}"});
  check("matmul batched", {"param a : f32[2,3,4]\nparam b : f32[2,4,5]\nr = matmul(a, b)"});
  check("matmul batched tb (q kT)",
        {"param a : f32[2,2,3,4]\nparam b : f32[2,2,5,4]\nr = matmul(a, b) {tb = 1}"});
  check("matmul shared b", {"param a : f32[2,3,4]\nparam b : f32[4,5]\nr = matmul(a, b)"});
  check("matmul shared b, tied-embedding form",
        {"param a : f32[2,3,4]\nparam b : f32[5,4]\nr = matmul(a, b) {tb = 1}"});
  check("matmul shared b ta",
        {"param a : f32[2,4,3]\nparam b : f32[4,5]\nr = matmul(a, b) {ta = 1}"});
  check("matmul shared b ta tb",
        {"param a : f32[2,4,3]\nparam b : f32[5,4]\nr = matmul(a, b) {ta = 1, tb = 1}"});
  check("linear rank 3",
        {"param x : f32[2,3,4]\nparam w : f32[5,4]\nparam b : f32[5]\nr = linear(x, w, b)"});
  check("linear rank 2",
        {"param x : f32[3,4]\nparam w : f32[5,4]\nparam b : f32[5]\nr = linear(x, w, b)"});
  check("linear rank 1",
        {"param x : f32[4]\nparam w : f32[5,4]\nparam b : f32[5]\nr = linear(x, w, b)"});
}

void normsAndMasksCases(const Check& check) {
  check("layernorm",
        {"param x : f32[2,3,8]\nparam w : f32[8]\nparam b : f32[8]\nr = layernorm(x, w, b)"});
  check("softmax", {"param x : f32[2,3,5]\nr = softmax(scale(x) {s = 2.0})"});
  check("causal_mask + softmax", {"param x : f32[2,4,4]\nr = softmax(causal_mask(x))"});
  check("causal_mask offset 1, rectangular",
        {"param x : f32[3,5]\nr = softmax(causal_mask(x) {offset = 1})"});
  // A padding mask over keys [B,1,1,S]; batch 1 masks every key, so its softmax rows are fully
  // masked (all -inf -> zeros) and must get a zero gradient, not NaN.
  GradCase pad{
      "input keep : f32[2,1,1,4]\nparam s : f32[2,2,3,4]\nr = softmax(mask_fill(s, keep))"};
  pad.floats["keep"] = {1, 1, 0, 1, 0, 0, 0, 0};
  check("mask_fill padding + softmax with fully masked rows", pad);
  GradCase fillValue{
      "input keep : f32[3,1]\nparam x : f32[3,4]\nr = mask_fill(x, keep) {value = 0.5}"};
  fillValue.floats["keep"] = {1, 0, 1};
  check("mask_fill with a finite value", fillValue);
  // pad_mask computes the keep mask from token ids, as seq2seq does: a PAD row masks its keys.
  GradCase ids{"input src : i32[2,3]\nparam s : f32[2,3,3]\n"
               "r = softmax(mask_fill(s, reshape(pad_mask(src) {pad = 0}) {shape = [2,1,3]}))"};
  ids.ints["src"] = {4, 5, 0, 7, 0, 0};
  check("pad_mask from ids", ids);
}

void layoutCases(const Check& check) {
  check("reshape", {"param x : f32[2,3,4]\nr = reshape(x) {shape = [6,-1]}"});
  check("transpose", {"param x : f32[2,3,4]\nr = transpose(x) {perm = [2,0,1]}"});
  check("split_heads", {"param x : f32[2,3,4]\nr = split_heads(x) {heads = 2}"});
  check("merge_heads", {"param x : f32[2,2,3,2]\nr = merge_heads(x)"});
  check("slice", {"param x : f32[2,5,3]\nr = slice(x) {axis = 1, start = 1, end = 4}"});
  check("slice negative axis",
        {"param x : f32[2,5]\nr = slice(x) {axis = -1, start = 0, end = 2}"});
  check("pad", {"param x : f32[2,3]\nr = pad(x) {axis = -1, before = 2, after = 1}"});
  check("concat", {"param a : f32[2,3]\nparam b : f32[2,2]\nr = concat(a, b, a) {axis = 1}"});
  check("broadcast [C]", {"param x : f32[4]\nr = broadcast(x) {shape = [2,3,4]}"});
  check("broadcast [T,1]", {"param x : f32[3,1]\nr = broadcast(x) {shape = [2,3,5]}"});
}

void reductionsCases(const Check& check) {
  check("reduce_sum", {"param x : f32[2,3,4]\nr = reduce_sum(x) {axes = [1]}"});
  check("reduce_sum keepdims",
        {"param x : f32[2,3,4]\nr = reduce_sum(x) {axes = [0,2], keepdims = 1}"});
  check("reduce_mean", {"param x : f32[2,3,4]\nr = reduce_mean(x) {axes = [-1]}"});
  check("reduce_mean keepdims",
        {"param x : f32[2,3,4]\nr = reduce_mean(x) {axes = [0,1], keepdims = 1}"});
  GradCase mx{"param x : f32[2,3,4]\nr = reduce_max(x) {axes = [2]}"};
  mx.domains["x"] = Domain::Distinct;
  check("reduce_max", mx);
  GradCase mxk{"param x : f32[2,3,4]\nr = reduce_max(x) {axes = [0,1], keepdims = 1}"};
  mxk.domains["x"] = Domain::Distinct;
  check("reduce_max keepdims", mxk);
}

void embeddingAndLossCases(const Check& check) {
  GradCase emb{"input ids : i32[2,3]\nparam table : f32[5,4]\nr = embedding(ids, table)"};
  emb.ints["ids"] = {1, 3, 1, 0, 4, 1}; // repeated ids accumulate
  check("embedding", emb);
  GradCase xent{"input t : i32[2,3]\nparam z : f32[2,3,6]\nr = cross_entropy(z, t) {ignore_index = "
                "0, classes = 5}"};
  xent.ints["t"] = {1, 0, 4, 2, 0, 3}; // two ignored rows; the 6th column is vocabulary padding
  check("cross_entropy with ignore_index and classes", xent);
  GradCase all{"input t : i32[4]\nparam z : f32[4,3]\nr = cross_entropy(z, t)"};
  all.ints["t"] = {0, 2, 1, 2};
  check("cross_entropy", all);
}

void accumulationCases(const Check& check) {
  check("a value used twice",
        {"param a : f32[3,4]\nparam b : f32[4]\nr = add(mul(a, a), mul(a, b))"});
  check("an intermediate used three times",
        {"param a : f32[3,4]\nh = gelu(a)\nr = add(add(mul(h, h), scale(h) {s = 2.0}), a)"});
  // A param stacked over 3 layers: layer 0 unused (its gradient is zeros), layer 2 read twice.
  check("select of a stacked param", {"param w : f32[3,4]\nparam x : f32[2,4]\n"
                                      "r = add(mul(x, select(w) {index = 1}), mul(mul(x, select(w) "
                                      "{index = 2}), select(w) {index = 2}))"});
  check("stack", {"param a : f32[2,3]\nparam b : f32[2,3]\nr = stack(a, b, a)"});
}

void llamaOpsCases(const Check& check) {
  check("rmsnorm", {"param x : f32[2,3,8]\nparam w : f32[8]\nr = rmsnorm(x, w)"});
  check("rmsnorm eps", {"param x : f32[4,5]\nparam w : f32[5]\nr = rmsnorm(x, w) {eps = 0.1}"});
  check("silu", {"param a : f32[3,7]\nr = silu(scale(a) {s = 3.0})"});
  check("swiglu",
        {"param g : f32[2,3,5]\nparam u : f32[2,3,5]\nr = swiglu(scale(g) {s = 3.0}, u)"});
  check("rope half-split", {"param x : f32[2,2,5,8]\nr = rope(x)"});
  check("rope interleaved, theta",
        {"param x : f32[2,5,6]\nr = rope(x) {interleaved = 1, theta = 100.0}"});
  GradCase at{"input pos : i32[]\nparam x : f32[2,3,4]\nr = rope(x, pos) {inverse = 1}"};
  at.ints["pos"] = {5};
  check("rope inverse at a position", at);
  check("alibi + causal softmax", {"param x : f32[2,4,3,3]\nr = softmax(causal_mask(alibi(x)))"});
}

void einsumsCases(const Check& check) {
  check("einsum attention scores", {"param q : f32[2,2,3,4]\nparam k : f32[2,2,5,4]\n"
                                    "r = einsum(q, k) {spec = \"b h t d, b h s d -> b h t s\"}"});
  check("einsum to heads-last", {"param w : f32[2,2,3,5]\nparam v : f32[2,2,5,4]\n"
                                 "r = einsum(w, v) {spec = \"b h t s, b h s d -> b t h d\"}"});
  check("einsum projection", {"param x : f32[2,3,4]\nparam w : f32[5,4]\n"
                              "r = einsum(x, w) {spec = \"b t c, d c -> b t d\"}"});
  check("einsum two summed axes and a private one",
        {"param a : f32[2,3,4,2]\nparam b : f32[5,3,4]\n"
         "r = einsum(a, b) {spec = \"b t h p, e t h -> e b\"}"});
  check("einsum one operand", {"param a : f32[3,4,5]\nr = einsum(a) {spec = \"a b c -> c a\"}"});
}

void attentionCases(const Check& check) {
  check("attention causal, scaled",
        {"param q : f32[2,2,5,4]\nparam k : f32[2,2,5,4]\nparam v : f32[2,2,5,3]\n"
         "r = attention(q, k, v) {s = 0.5, causal = 1}"});
  check("attention Tq != Tk, offset",
        {"param q : f32[1,2,3,4]\nparam k : f32[1,2,6,4]\nparam v : f32[1,2,6,4]\n"
         "r = attention(q, k, v) {causal = 1, offset = 3}"});
  GradCase pad{"input keep : f32[2,1,1,5]\nparam q : f32[2,2,4,4]\nparam k : f32[2,2,5,4]\n"
               "param v : f32[2,2,5,4]\nr = attention(q, k, v, keep) {s = 0.5, padded = 1}"};
  pad.floats["keep"] = {1, 1, 0, 1, 0, 1, 0, 1, 1, 1};
  check("attention with a padding mask", pad);
  GradCase drop{"input keep : f32[2,1,1,5]\ninput seed : i32[]\nparam q : f32[2,2,5,4]\n"
                "param k : f32[2,2,5,4]\nparam v : f32[2,2,5,4]\n"
                "r = attention(q, k, v, keep, seed) {causal = 1, padded = 1, p = 0.25, salt = 9}"};
  drop.floats["keep"] = {1, 1, 1, 0, 1, 1, 0, 1, 1, 1};
  drop.ints["seed"] = {1234};
  check("attention causal + padding + dropout", drop);
}

} // namespace

// The fused LM head (passes/fuse_lm_head.cpp): the packed linear_cross_entropy_grad's two slices,
// and a tied w whose gradient adds the head's dw to the embedding's scatter.
void lmHeadCases(const Check& check) {
  GradCase head{"input t : i32[2,3]\nparam x : f32[2,3,4]\nparam w : f32[6,4]\n"
                "r = linear_cross_entropy(x, w, t) {ignore_index = 0, classes = 5}"};
  head.ints["t"] = {1, 0, 4, 2, 0, 3}; // two ignored rows; w's 6th row is vocabulary padding
  check("linear_cross_entropy with ignore_index and classes", head);
  GradCase tied{"input ids : i32[2,3]\ninput t : i32[2,3]\nparam w : f32[5,4]\nparam h : f32[4]\n"
                "r = linear_cross_entropy(mul(embedding(ids, w), h), w, t)"};
  tied.ints["ids"] = {1, 3, 1, 0, 4, 1};
  tied.ints["t"] = {3, 1, 0, 4, 1, 2};
  check("linear_cross_entropy, tied embedding", tied);
}

TEST_CASE("gradcheck: elementwise arithmetic with broadcasting") {
  arithmeticCases(check);
}

TEST_CASE("gradcheck: activations and dropout") {
  activationsCases(check);
}

TEST_CASE("gradcheck: matmul in every transpose and batch form, linear") {
  matmulsCases(check);
}

TEST_CASE("gradcheck: layernorm, softmax and masks") {
  normsAndMasksCases(check);
}

TEST_CASE("gradcheck: layout ops") {
  layoutCases(check);
}

TEST_CASE("gradcheck: reductions") {
  reductionsCases(check);
}

TEST_CASE("gradcheck: embedding and cross-entropy") {
  embeddingAndLossCases(check);
}

TEST_CASE("gradcheck: accumulation over several uses, select and stack") {
  accumulationCases(check);
}

TEST_CASE("gradcheck: rmsnorm, silu, swiglu, rope, alibi (today's Transformer)") {
  llamaOpsCases(check);
}

TEST_CASE("gradcheck: einsum, through its lowering") {
  einsumsCases(check);
}

TEST_CASE("gradcheck: fused attention (its packed attention_grad)") {
  attentionCases(check);
}

TEST_CASE("gradcheck: fused LM head (its packed linear_cross_entropy_grad)") {
  lmHeadCases(check);
}

TEST_CASE("gradcheck covers every differentiable op kind") {
  // Ops with no differentiable operand (pad_mask, sinusoidal, fill) and backward/optimizer ops are
  // not subject to finite differences; everything else must appear in a case above.
  std::set<OpKind> exempt{OpKind::PadMask, OpKind::Sinusoidal, OpKind::Fill, OpKind::GeluGrad,
                          OpKind::ReluGrad, OpKind::LayerNormGradX, OpKind::LayerNormGradW,
                          OpKind::SoftmaxGrad, OpKind::EmbeddingGrad, OpKind::CrossEntropyGrad,
                          OpKind::AdamWMoment1, OpKind::AdamWMoment2, OpKind::AdamWUpdate,
                          OpKind::GlobalNorm, OpKind::ClipScale, OpKind::RMSNormGradX,
                          OpKind::RMSNormGradW, OpKind::SiluGrad,
                          // generation ops: decode steps are not differentiated
                          OpKind::DynamicSlice, OpKind::DynamicUpdateSlice, OpKind::CausalMaskAt,
                          OpKind::CacheMatMul,
                          // quantized weights: inference and decode only (passes/quantize.cpp)
                          OpKind::Dequantize, OpKind::QMatMul, OpKind::QLinear,
                          // fused kinds exist only after autodiff (passes/fuse.cpp)
                          OpKind::ScaleMaskSoftmax, OpKind::MaskedSoftmaxGrad, OpKind::LinearGelu,
                          OpKind::MatMulGeluGrad, OpKind::EmbeddingGradAdd,
                          // attention's gradient (checked through attention's cases above)
                          OpKind::AttentionGrad,
                          // the head's gradient (checked through linear_cross_entropy's cases)
                          OpKind::LinearCrossEntropyGrad,
                          // collectives: inserted after autodiff (passes/data_parallel.cpp)
                          OpKind::AllReduce, OpKind::ReduceScatter, OpKind::AllGather};
  // The op kinds of every case's graph, as written (einsum before its lowering).
  std::set<OpKind> covered;
  const Check record = [&](const std::string& label, const GradCase& c) {
    Expected<Graph> g = parseGraph(c.text, "case.graph");
    REQUIRE_MESSAGE(bool(g), label);
    for (const Node& n : g->nodes)
      covered.insert(n.kind);
  };
  for (void (*section)(const Check&) :
       {arithmeticCases, activationsCases, matmulsCases, normsAndMasksCases, layoutCases,
        reductionsCases, embeddingAndLossCases, accumulationCases, llamaOpsCases, einsumsCases,
        attentionCases, lmHeadCases})
    section(record);
  for (int k = 0; k < kNumOpKinds; ++k) {
    OpKind kind = OpKind(k);
    if (exempt.count(kind)) continue;
    CHECK_MESSAGE(covered.count(kind), "no finite-difference case for '" << opName(kind) << "'");
  }
}
