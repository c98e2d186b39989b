// tests/fusion/test_fusion.cpp — the fuse pass (passes/fuse.cpp) and fuse-attention
// (passes/fuse_attention.cpp), whole models:
//  - kernel counts: a GPT-2 block (the difference between L=2 and L=1) runs a stated number of
//    kernels with and without fusion, forward and training step, and every named fusion fires
//    once per layer, so a change that breaks a fusion fails here;
//  - the interpreter on the fused graph equals the interpreter on the unfused graph bit for bit
//    (fused kernels evaluate the ops they replace), for the three models, both pipelines;
//  - the JIT on the fused graph matches the interpreter on the unfused graph (logits, loss, grad
//    norm and every updated parameter and moment), the norm-wise measure of tests/jit;
//  - --explain-fusion's reasons for what was left unfused;
//  - fused attention: one attention op per attention (and one attention_grad) in each model, no
//    [...,T,T] value left in the graph, the interpreter's forward bit-identical to the unfused
//    graph's, and the JIT (blocked online softmax) within 1e-5 of the unfused interpreter;
//  - the fused LM head (passes/fuse_lm_head.cpp): one linear_cross_entropy and one gradient, no
//    [rows, Vp] value left, the interpreter equal to the unfused one, and three JIT training steps
//    whose losses and parameters match the unfused JIT's within 1e-5 (norm-wise).
#include "../jit/jit_test_util.h"

#include "ir/parser.h"
#include "passes/pass_manager.h"
#include "passes/pipeline.h"
#include "passes/plan_memory.h"
#include "passes/stats.h"

#include <fmt/format.h>

namespace gptc {
namespace {

struct Built {
  Graph graph;
  std::map<std::string, int64_t> counters;
  std::vector<std::string> notes;
};

/// `source` (a model's text, named `file` in messages) through `pipeline`. fuse: the fuse pass
/// runs; fuseAttention: fuse-attention runs (off for the tests of `fuse`, which count the unfused
/// attention chain's fusions).
Built buildText(const std::string& source, const std::string& file, const ConstOverrides& sets,
                const std::string& pipeline, bool fuse, bool fuseAttention = false,
                bool fuseLmHead = false) {
  const Pipeline* p = findPipeline(pipeline);
  REQUIRE(p);
  auto passes = resolvePipeline(*p);
  REQUIRE(passes);
  auto program = parseProgram(source, file);
  REQUIRE(program);
  PassContext ctx;
  ctx.program = *program;
  ctx.overrides = sets;
  ctx.training = p->training;
  ctx.explainFusion = true;
  PassManagerOptions opts;
  if (!fuse) opts.disabled.push_back("fuse");
  if (!fuseAttention)
    opts.disabled.push_back("fuse-attention");
  else
    ctx.options["attention.fused"] = "1";             // --fused-attention
  if (fuseLmHead) ctx.options["lm-head.fused"] = "1"; // --fused-lm-head
  PassManager pm(*passes, opts);
  auto records = pm.run(ctx);
  REQUIRE_MESSAGE(records, (records ? "" : records.error().render()));
  return {std::move(ctx.graph), ctx.counters, ctx.fusionNotes};
}

Built build(const std::string& model, const ConstOverrides& sets, const std::string& pipeline,
            bool fuse, bool fuseAttention = false, bool fuseLmHead = false) {
  Expected<std::string> text = readTextFile(std::string(GPTC_SOURCE_DIR) + "/models/" + model);
  REQUIRE(text);
  return buildText(*text, "models/" + model, sets, pipeline, fuse, fuseAttention, fuseLmHead);
}

int count(const Graph& g, OpKind kind) {
  int n = 0;
  for (const Node& node : g.nodes)
    n += node.kind == kind;
  return n;
}

ConstOverrides gpt2Tiny(int layers) {
  return {{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", std::to_string(layers)},
          {"NH", "2"}, {"C", "32"},   {"B", "2"},     {"T", "8"}};
}

struct ModelCase {
  std::string file;
  ConstOverrides sets;
};

std::vector<ModelCase> tinyModels() {
  return {
      {"gpt2.graph", gpt2Tiny(1)},
      {"chargpt.graph",
       {{"L", "1"},
        {"NH", "2"},
        {"C", "32"},
        {"maxT", "16"},
        {"B", "2"},
        {"T", "8"},
        {"drop", "0.1"}}},
      {"seq2seq.graph",
       {{"D", "16"},
        {"H", "2"},
        {"F", "32"},
        {"LE", "1"},
        {"LD", "1"},
        {"B", "4"},
        {"S", "6"},
        {"T", "7"}}},
  };
}

/// Params and state from the interpreter's generator; token ids in range (seq2seq: PAD tails),
/// scalars: lr 1e-3, step 1, dropout seed.
std::map<std::string, Tensor> feeds(const Graph& g, const std::string& file) {
  std::mt19937 gen(5);
  std::map<std::string, Tensor> f = initParams(g, 7);
  for (const Value& v : g.values) {
    if (v.kind != ValueKind::Input) continue;
    if (v.type.rank() == 0) {
      f[v.name] = v.type.dtype == DType::f32 ? Tensor::scalarF32(1e-3f)
                  : v.name == "step"         ? Tensor::scalarI32(1)
                                             : Tensor::scalarI32(20240611);
      continue;
    }
    int vocab = file == "seq2seq.graph" ? 13 : file == "chargpt.graph" ? 65 : 64;
    Tensor t = jittest::randomI32(v.type.shape, gen, file == "seq2seq.graph" ? 1 : 0, vocab);
    if (file == "seq2seq.graph") {
      int64_t T = v.type.shape.back();
      for (int64_t r = 0; r < v.type.shape[0]; r += 2)
        t.i[r * T + T - 1] = 0;
    }
    f[v.name] = std::move(t);
  }
  return f;
}

/// Every output and every update value, by name, from the interpreter.
std::map<std::string, Tensor> interpretAll(const Graph& g,
                                           const std::map<std::string, Tensor>& in) {
  Interpreter it(g);
  for (const auto& [name, t] : in)
    REQUIRE(it.bind(name, t).empty());
  std::string e = it.run();
  REQUIRE_MESSAGE(e.empty(), e);
  std::map<std::string, Tensor> out;
  for (int o : g.outputs)
    out[g.value(o).name] = it.get(o);
  for (const Update& u : g.updates)
    out[g.value(u.state).name] = it.get(u.value);
  return out;
}

} // namespace

TEST_CASE("a GPT-2 block's kernel count, unfused and fused") {
  // Per block = kernels(L=2) - kernels(L=1): the layers share nothing else.
  auto kernels = [](const std::string& pipeline, bool fuse, int layers) {
    Built b = build("gpt2.graph", gpt2Tiny(layers), pipeline, fuse);
    return computeStats(b.graph).kernels;
  };
  auto perBlock = [&](const std::string& pipeline, bool fuse) {
    return kernels(pipeline, fuse, 2) - kernels(pipeline, fuse, 1);
  };
  // forward: layernorm, linear, 3 x (slice + split_heads), matmul, scale, causal_mask, softmax,
  // matmul, merge_heads, linear, add, layernorm, linear, gelu, linear, add
  CHECK(perBlock("inference", false) == 21);
  // scale+causal_mask+softmax -> scale_mask_softmax, linear+gelu -> linear_gelu
  CHECK(perBlock("inference", true) == 18);
  int trainUnfused = perBlock("train", false), trainFused = perBlock("train", true);
  MESSAGE("GPT-2 block, training step: " << trainUnfused << " kernels unfused, " << trainFused
                                         << " fused");
  // forward: scale+causal_mask+softmax; backward: softmax_grad+mask_fill+scale,
  // matmul+gelu_grad (linear+gelu stays apart: gelu_grad reads the pre-activation)
  CHECK(trainUnfused - trainFused == 5);

  Built inf = build("gpt2.graph", gpt2Tiny(2), "inference", true);
  CHECK(count(inf.graph, OpKind::ScaleMaskSoftmax) == 2);
  CHECK(count(inf.graph, OpKind::LinearGelu) == 2);
  CHECK(count(inf.graph, OpKind::Softmax) == 0);
  CHECK(count(inf.graph, OpKind::Gelu) == 0);
  Built train = build("gpt2.graph", gpt2Tiny(2), "train", true);
  CHECK(count(train.graph, OpKind::ScaleMaskSoftmax) == 2);
  CHECK(count(train.graph, OpKind::MaskedSoftmaxGrad) == 2);
  CHECK(count(train.graph, OpKind::MatMulGeluGrad) == 2);
  CHECK(count(train.graph, OpKind::LinearGelu) == 0);
  CHECK(count(train.graph, OpKind::SoftmaxGrad) == 0);
  CHECK(count(train.graph, OpKind::GeluGrad) == 0);
  CHECK(train.counters["fuse.matmul_gelu_grad"] == 2);
}

TEST_CASE("a tied embedding's gradient is scattered into the output layer's, in place") {
  // GPT-2 and chargpt tie wte: its gradient is add(via the logits matmul, embedding_grad), which
  // becomes one embedding_grad_add; the memory plan writes its result over the matmul's.
  // seq2seq's embeddings are not tied: each gradient is a lone embedding_grad, left as it is.
  for (const ModelCase& m : tinyModels()) {
    CAPTURE(m.file);
    Built plain = build(m.file, m.sets, "train", false);
    Built fused = build(m.file, m.sets, "train", true);
    int64_t kernelsPlain = computeStats(plain.graph).kernels;
    int64_t kernelsFused = computeStats(fused.graph).kernels;
    if (m.file == "seq2seq.graph") {
      CHECK(count(fused.graph, OpKind::EmbeddingGradAdd) == 0);
      CHECK(count(fused.graph, OpKind::EmbeddingGrad) == 2);
      continue;
    }
    CHECK(count(fused.graph, OpKind::EmbeddingGradAdd) == 1);
    CHECK(count(fused.graph, OpKind::EmbeddingGrad) == 0);
    CHECK(count(plain.graph, OpKind::EmbeddingGrad) == 1);
    CHECK(fused.counters["fuse.embedding_grad_add"] == 1);
    // One block (L=1): gpt2 saves 5 kernels in it (the test above), chargpt 4 (its ReLU MLP has
    // no GELU fusions); the tied embedding's scatter and add are one more.
    CHECK(kernelsPlain - kernelsFused == (m.file == "gpt2.graph" ? 5 : 4) + 1);
    MemoryPlan plan = planMemory(fused.graph);
    for (const Node& n : fused.graph.nodes)
      if (n.kind == OpKind::EmbeddingGradAdd)
        CHECK_MESSAGE(plan.placement[n.result].viewOf == n.operands[0],
                      "embedding_grad_add does not run in place on its accumulator");
  }
}

TEST_CASE("fusion lowers the bytes a step moves") {
  for (const char* pipeline : {"inference", "train"}) {
    CAPTURE(pipeline);
    int64_t before =
        computeStats(build("gpt2.graph", gpt2Tiny(2), pipeline, false).graph).bytesMoved;
    int64_t after = computeStats(build("gpt2.graph", gpt2Tiny(2), pipeline, true).graph).bytesMoved;
    CHECK(after < before);
  }
}

TEST_CASE("--explain-fusion says why linear+gelu stays apart in training") {
  Built train = build("gpt2.graph", gpt2Tiny(1), "train", true);
  bool found = false, noKernel = false;
  for (const std::string& n : train.notes) {
    if (n.find("(linear) -> %m.0 (gelu) [epilogue]") != std::string::npos &&
        n.find("2 readers") != std::string::npos)
      found = true;
    if (n.find("no fused kernel implements add -> layernorm") != std::string::npos) noKernel = true;
  }
  std::string all;
  for (const std::string& n : train.notes)
    all += n + "\n";
  CHECK_MESSAGE(found, all);
  CHECK_MESSAGE(noKernel, all);
  Built inf = build("gpt2.graph", gpt2Tiny(1), "inference", true);
  for (const std::string& n : inf.notes)
    CHECK_MESSAGE(n.find("(gelu)") == std::string::npos, n); // fused: no note
}

TEST_CASE("fused graphs: interpreter bit-identical to unfused, JIT within tolerance") {
  for (const ModelCase& m : tinyModels())
    for (const char* pipeline : {"inference", "train"}) {
      std::string label = m.file + " " + pipeline;
      CAPTURE(label);
      Built plain = build(m.file, m.sets, pipeline, false);
      Built fused = build(m.file, m.sets, pipeline, true);
      std::map<std::string, Tensor> in = feeds(plain.graph, m.file);
      auto ref = interpretAll(plain.graph, in);
      auto same = interpretAll(fused.graph, in);
      REQUIRE(ref.size() == same.size());
      for (const auto& [name, t] : ref) {
        CAPTURE(name);
        CHECK(jittest::sameBits(same.at(name), t));
      }
      // The JIT runs both graphs under their real memory plans (the fused softmax in place).
      auto jit = [&](const Graph& g) {
        MemoryPlan plan = planMemory(g);
        std::string bad = checkPlan(g, plan);
        REQUIRE_MESSAGE(bad.empty(), bad);
        auto exe = jittest::build(g, plan, in);
        std::string e = exe->run(2);
        REQUIRE_MESSAGE(e.empty(), e);
        std::map<std::string, jittest::Diff> diffs;
        for (const auto& [name, t] : ref) {
          Tensor got;
          std::string re = exe->read(name, &got); // an update is read through its state's name
          REQUIRE_MESSAGE(re.empty(), re);
          diffs[name] = jittest::compare(got, t, jittest::Measure::NormWise);
        }
        return diffs;
      };
      auto withFusion = jit(fused.graph), without = jit(plain.graph);
      double worst = 0, worstPlain = 0;
      std::string worstName;
      for (const auto& [name, d] : withFusion) {
        CAPTURE(name);
        CHECK_MESSAGE(d.nanMismatch.empty(), d.nanMismatch);
        // Outputs (logits, loss, grad norm) as tests/jit's whole-model check. Updated params and
        // moments: AdamW's first step is lr·g/(|g|+eps), which turns f32 noise in a near-zero
        // gradient into a full-size step for that element in any JIT, fused or not; fusion must
        // not make that worse than the unfused JIT does.
        int id = fused.graph.find(name);
        bool isOutput =
            id >= 0 && std::count(fused.graph.outputs.begin(), fused.graph.outputs.end(), id) > 0;
        if (isOutput)
          CHECK(d.maxRel < 1e-5);
        else
          CHECK(d.maxRel <= std::max(1e-5, 2 * without.at(name).maxRel));
        if (d.maxRel > worst) worst = d.maxRel, worstName = name;
        worstPlain = std::max(worstPlain, without.at(name).maxRel);
      }
      MESSAGE(label << ": largest norm-wise error, fused JIT " << worst << " (" << worstName
                    << "), unfused JIT " << worstPlain);
    }
}

TEST_CASE("SwiGLU written as mul(silu(x W1), x W3) fuses into swiglu") {
  // llama.graph with its feed-forward spelled out: the fuse pass forms swiglu, so the spelled-out
  // model runs exactly the kernels of llama.graph itself, which writes swiglu.
  Expected<std::string> text = readTextFile(std::string(GPTC_SOURCE_DIR) + "/models/llama.graph");
  REQUIRE(text);
  const std::string fusedForm = "swiglu(matmul(h2, w1[l]) {tb = 1}, matmul(h2, w3[l]) {tb = 1})";
  const size_t at = text->find(fusedForm);
  REQUIRE(at != std::string::npos);
  std::string spelled = *text;
  spelled.replace(at, fusedForm.size(),
                  "mul(silu(matmul(h2, w1[l]) {tb = 1}), matmul(h2, w3[l]) {tb = 1})");
  const ConstOverrides tiny = {{"V", "65"}, {"L", "2"}, {"NH", "2"}, {"C", "32"},
                               {"F", "64"}, {"B", "2"}, {"T", "8"}};
  Built llama = buildText(*text, "models/llama.graph", tiny, "inference", true);
  Built plain = buildText(spelled, "llama_spelled.graph", tiny, "inference", false);
  Built fused = buildText(spelled, "llama_spelled.graph", tiny, "inference", true);
  CHECK(count(plain.graph, OpKind::Silu) == 2);
  CHECK(count(plain.graph, OpKind::SwiGLU) == 0);
  CHECK(count(fused.graph, OpKind::Silu) == 0);
  CHECK(count(fused.graph, OpKind::Mul) == 0);
  CHECK(count(fused.graph, OpKind::SwiGLU) == 2);
  CHECK(fused.counters["fuse.swiglu"] == 2);
  const int64_t kPlain = computeStats(plain.graph).kernels,
                kFused = computeStats(fused.graph).kernels;
  // per layer: silu + mul -> swiglu (1) and scale + causal_mask + softmax -> scale_mask_softmax (2)
  CHECK(kPlain - kFused == 6);
  CHECK(kFused == computeStats(llama.graph).kernels);

  // The interpreter on the fused graph equals it on the spelled-out one bit for bit (swiglu rounds
  // silu to f32, then multiplies in f32, as the two ops do); the JIT's fused kernel is within the
  // whole-model tolerance of the interpreter.
  std::map<std::string, Tensor> in = feeds(plain.graph, "chargpt.graph"); // ids below 65
  auto ref = interpretAll(plain.graph, in);
  auto same = interpretAll(fused.graph, in);
  for (const auto& [name, t] : ref) {
    CAPTURE(name);
    CHECK(jittest::sameBits(same.at(name), t));
  }
  MemoryPlan plan = planMemory(fused.graph);
  auto exe = jittest::build(fused.graph, plan, in);
  std::string e = exe->run(2);
  REQUIRE_MESSAGE(e.empty(), e);
  for (const auto& [name, t] : ref) {
    CAPTURE(name);
    Tensor got;
    REQUIRE(exe->read(name, &got).empty());
    CHECK(jittest::compare(got, t, jittest::Measure::NormWise).maxRel < 1e-5);
  }

  // In a training step silu(g) is also read by the mul's gradient: left apart, and said why.
  Built train = buildText(spelled, "llama_spelled.graph", tiny, "train", true);
  CHECK(count(train.graph, OpKind::Silu) == 2);
  bool said = false;
  for (const std::string& n : train.notes)
    said |= n.find("(silu) -> ") != std::string::npos && n.find("2 readers") != std::string::npos &&
            n.find("(swiglu)") != std::string::npos;
  CHECK(said);
}

TEST_CASE("fused attention: counts, no T×T value, interpreter and JIT against unfused") {
  // attentions per model (tiny configs): gpt2 1 layer, chargpt 1 (dropout on the weights),
  // seq2seq 1 encoder (padding) + 1 decoder (causal + padding, cross-attention with padding).
  std::map<std::string, int> expected{
      {"gpt2.graph", 1}, {"chargpt.graph", 1}, {"seq2seq.graph", 3}};
  for (const ModelCase& m : tinyModels())
    for (const char* pipeline : {"inference", "train"}) {
      std::string label = m.file + " " + pipeline;
      CAPTURE(label);
      bool train = std::string(pipeline) == "train";
      Built plain = build(m.file, m.sets, pipeline, true, false);
      Built fused = build(m.file, m.sets, pipeline, true, true);
      CHECK(count(fused.graph, OpKind::Attention) == expected.at(m.file));
      CHECK(count(fused.graph, OpKind::AttentionGrad) == (train ? expected.at(m.file) : 0));
      CHECK(fused.counters["fuse-attention.attention"] == expected.at(m.file));
      for (OpKind k : {OpKind::Softmax, OpKind::ScaleMaskSoftmax, OpKind::SoftmaxGrad,
                       OpKind::MaskedSoftmaxGrad})
        CHECK(count(fused.graph, k) == 0);
      // no value shaped [...,Tq,Tk] with Tq, Tk > 1 the sequence lengths: the biggest per-head
      // value is now [...,T,D]
      int64_t T = 0;
      for (const Node& n : fused.graph.nodes)
        if (n.kind == OpKind::Attention) T = fused.graph.type(n.operands[0]).shape.end()[-2];
      for (const Value& v : fused.graph.values)
        if (v.type.rank() == 4 && v.type.shape[1] == 2 && v.type.shape.end()[-2] == T)
          CHECK_MESSAGE(v.type.shape.back() != v.type.shape.end()[-2], v.name);

      std::map<std::string, Tensor> in = feeds(plain.graph, m.file);
      auto ref = interpretAll(plain.graph, in);
      auto same = interpretAll(fused.graph, in);
      MemoryPlan plan = planMemory(fused.graph);
      REQUIRE(checkPlan(fused.graph, plan).empty());
      auto exe = jittest::build(fused.graph, plan, in);
      std::string e = exe->run(2);
      REQUIRE_MESSAGE(e.empty(), e);
      double worstInterp = 0, worstJit = 0;
      for (const auto& [name, t] : ref) {
        CAPTURE(name);
        // the forward is the same ops on the interpreter; the gradient is the same ops in the
        // same order too (up to the sign of a masked zero)
        jittest::Diff di = jittest::compare(same.at(name), t, jittest::Measure::NormWise);
        if (!train) CHECK(jittest::sameBits(same.at(name), t));
        CHECK(di.maxRel <= 1e-6);
        Tensor got;
        REQUIRE(exe->read(name, &got).empty());
        jittest::Diff dj = jittest::compare(got, t, jittest::Measure::NormWise);
        CHECK_MESSAGE(dj.nanMismatch.empty(), dj.nanMismatch);
        int id = fused.graph.find(name);
        bool isOutput =
            id >= 0 && std::count(fused.graph.outputs.begin(), fused.graph.outputs.end(), id) > 0;
        // Outputs (logits, loss, grad norm) and the AdamW moments (m = (1-β1)·g and v = (1-β2)·g²
        // on this first step: the gradients themselves) within 1e-5 norm-wise.
        // Updated params: AdamW's first step moves an element by lr·g/(|g|+eps), which turns f32
        // noise in a gradient that is exactly 0 into a step of up to lr, in any JIT. k's bias
        // (a third of qkvb) is such a gradient: softmax ignores a shift of a row's scores, so
        // Σⱼ dSᵢⱼ = 0 and q·(Σⱼ dSᵢⱼ) is 0 plus rounding (~1e-3 of the step, fused or not).
        // Elements whose reference gradient is at that noise level (|g| ≤ 1e-5·max|g|, ten times
        // the gradient's tolerance) are checked through m; the others within 1e-4 (the step's
        // lr·g/(|g|+eps) still magnifies a gradient's error where |g| is near eps).
        double err = dj.maxRel;
        if (!isOutput && ref.count("m." + name)) {
          const Tensor& m = ref.at("m." + name);
          double G = 0, big = 0;
          for (size_t j = 0; j < t.f.size(); ++j) {
            G = std::max(G, double(std::fabs(m.f[j])));
            big = std::max(big, double(std::fabs(t.f[j])));
          }
          err = 0;
          for (size_t j = 0; j < t.f.size(); ++j)
            if (std::fabs(m.f[j]) > 1e-5 * G)
              err = std::max(err, std::fabs(double(got.f[j]) - t.f[j]) / std::max(big, 1e-30));
        }
        bool isMoment = name.rfind("m.", 0) == 0 || name.rfind("v.", 0) == 0;
        CHECK(err <= (isOutput || isMoment ? 1e-5 : 1e-4));
        worstInterp = std::max(worstInterp, di.maxRel);
        worstJit = std::max(worstJit, err);
      }
      MESSAGE(label << ": fused attention vs unfused interpreter, norm-wise: interpreter "
                    << worstInterp << ", JIT " << worstJit);
    }
}

TEST_CASE("fused LM head: counts, no [rows, V] logits, 3 training steps against unfused") {
  // gpt2 (tied wte, classes < Vp) with 600 rows: chunks of 128 (a short last one) and two dw
  // blocks of rows (512 and 88); C = 40 so that no other value has rows·Vp elements; chargpt
  // (tied, dropout). seq2seq's head is a linear with a bias: not fused. Up to 512 rows the fused
  // kernels sum in the unfused matmuls' order (bit-identical); past it dw is summed by blocks.
  ConstOverrides gpt2 = gpt2Tiny(1);
  gpt2["B"] = "6";
  gpt2["C"] = "40";
  gpt2["T"] = "100";
  gpt2["maxT"] = "128";
  std::vector<ModelCase> models{{"gpt2.graph", gpt2}, tinyModels()[1], tinyModels()[2]};
  for (const ModelCase& m : models) {
    CAPTURE(m.file);
    bool fusable = m.file != "seq2seq.graph";
    Built plain = build(m.file, m.sets, "train", true);
    Built fused = build(m.file, m.sets, "train", true, false, true);
    CHECK(count(fused.graph, OpKind::LinearCrossEntropy) == int(fusable));
    CHECK(count(fused.graph, OpKind::LinearCrossEntropyGrad) == int(fusable));
    if (!fusable) continue;
    CHECK(count(fused.graph, OpKind::CrossEntropy) == 0);
    CHECK(count(fused.graph, OpKind::CrossEntropyGrad) == 0);
    // no value holds the logits or their gradient: rows·V elements
    int64_t rows = 0, V = 0;
    for (const Node& n : fused.graph.nodes)
      if (n.kind == OpKind::LinearCrossEntropy) {
        rows = fused.graph.type(n.operands[2]).numel();
        V = fused.graph.type(n.operands[1]).shape[0];
      }
    for (const Value& v : fused.graph.values)
      CHECK_MESSAGE(v.type.numel() != rows * V, v.name);

    std::map<std::string, Tensor> in = feeds(plain.graph, m.file);
    auto ref = interpretAll(plain.graph, in);
    auto same = interpretAll(fused.graph, in);
    REQUIRE(ref.size() == same.size());
    for (const auto& [name, t] : ref) {
      CAPTURE(name);
      // the same ops on the interpreter (the loss bit for bit); the tied gradient's sum may
      // associate differently
      if (name == "loss") CHECK(jittest::sameBits(same.at(name), t));
      CHECK(jittest::compare(same.at(name), t, jittest::Measure::NormWise).maxRel <= 1e-6);
    }
    // Three steps on the JIT, fused and unfused, under their real memory plans: each step's loss,
    // then every parameter and moment, within 1e-5 of each other (norm-wise).
    auto steps = [&](const Graph& g) {
      MemoryPlan plan = planMemory(g);
      std::string bad = checkPlan(g, plan);
      REQUIRE_MESSAGE(bad.empty(), bad);
      auto exe = jittest::build(g, plan, in);
      std::map<std::string, Tensor> got;
      for (int s = 0; s < 3; ++s) {
        std::string e = exe->run(2);
        REQUIRE_MESSAGE(e.empty(), e);
        REQUIRE(exe->read("loss", &got["loss." + std::to_string(s)]).empty());
      }
      for (const auto& [name, t] : ref)
        if (name != "loss" && name != "grad_norm") REQUIRE(exe->read(name, &got[name]).empty());
      return got;
    };
    auto a = steps(fused.graph), b = steps(plain.graph);
    double worst = 0;
    std::string worstName;
    for (const auto& [name, t] : b) {
      CAPTURE(name);
      jittest::Diff d = jittest::compare(a.at(name), t, jittest::Measure::NormWise);
      CHECK_MESSAGE(d.nanMismatch.empty(), d.nanMismatch);
      double err = d.maxRel;
      // A parameter whose gradient is rounding noise around 0 (k's bias: softmax ignores a shift
      // of a row's scores) moves by AdamW's lr·g/(|g|+eps) for any rounding of g, fused or not:
      // those elements (|m| <= 1e-5·max|m| after the steps) are checked through their moments.
      if (b.count("m." + name)) {
        const Tensor& m = b.at("m." + name);
        double G = 0, big = 0;
        for (size_t j = 0; j < t.f.size(); ++j) {
          G = std::max(G, double(std::fabs(m.f[j])));
          big = std::max(big, double(std::fabs(t.f[j])));
        }
        err = 0;
        for (size_t j = 0; j < t.f.size(); ++j)
          if (std::fabs(m.f[j]) > 1e-5 * G)
            err = std::max(err, std::fabs(double(a.at(name).f[j]) - t.f[j]) / std::max(big, 1e-30));
      }
      CHECK(err <= 1e-5);
      if (err > worst) worst = err, worstName = name;
    }
    MESSAGE(m.file << ": 3 steps, fused head vs unfused (JIT), largest norm-wise difference "
                   << worst << " (" << worstName << ")");
  }
}

} // namespace gptc
