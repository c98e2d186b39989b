// The pass manager, its registry and pipelines, and the instruments: each flag's behaviour is
// checked through the instrument it maps to, including the failures they exist to catch (a pass
// that breaks the IR, a pass that lies about changing it).
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/instruments.h"
#include "passes/pipeline.h"
#include "passes/stats.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

using namespace gptc;
namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

PassContext contextFor(const std::string& text, const std::string& file = "t.graph",
                       ConstOverrides overrides = {}) {
  auto program = parseProgram(text, file);
  REQUIRE_MESSAGE(bool(program), program.error().render());
  PassContext ctx;
  ctx.program = *program;
  ctx.overrides = std::move(overrides);
  return ctx;
}

PassContext contextForModel(const std::string& model, ConstOverrides overrides = {}) {
  std::string path = std::string("models/") + model;
  auto text = readTextFile(path);
  REQUIRE_MESSAGE(bool(text), text.error().render());
  return contextFor(*text, path, std::move(overrides));
}

std::vector<const PassInfo*> passes(std::initializer_list<const char*> names) {
  std::vector<const PassInfo*> out;
  for (const char* n : names) {
    const PassInfo* p = findPass(n);
    REQUIRE_MESSAGE(p, n);
    out.push_back(p);
  }
  return out;
}

/// The full inference pipeline (later passes -- memory planning, fusion -- included).
std::vector<const PassInfo*> inferencePipeline() {
  auto p = resolvePipeline(*findPipeline("inference"));
  REQUIRE(bool(p));
  return *p;
}

/// The five foundation passes, which every pipeline starts with; most tests pin their behaviour
/// alone so that passes added later do not change the expected records.
std::vector<const PassInfo*> inference() {
  return passes({"expand", "infer-shapes", "simplify", "cse", "dce"});
}

/// Keeps a copy of the graph after every pass, to compare with what the dump files say.
class Recorder : public Instrument {
public:
  std::vector<Graph>* graphs;
  explicit Recorder(std::vector<Graph>* g) : graphs(g) {}
  std::optional<Diag> runAfterPass(const PassRecord&, const PassContext& ctx) override {
    graphs->push_back(ctx.graph);
    return std::nullopt;
  }
};

const char* kSmall = "input x : f32[2, 4]\n"
                     "a = scale(x) {s = 1}\n"
                     "b = sinusoidal() {rows = 2, dim = 4}\n"
                     "c = sinusoidal() {rows = 2, dim = 4}\n"
                     "dead = relu(x)\n"
                     "output y = add(add(a, b), c)\n";

// Test-only passes: one breaks the IR, one changes it and says it did not.
Expected<bool> breakTypes(PassContext& ctx) {
  ctx.graph.values[ctx.graph.nodes[0].result].type.shape = {7};
  return true;
}
Expected<bool> lieAboutChange(PassContext& ctx) {
  ctx.graph.nodes[0].attrs["s"] = 3.0;
  return false;
}
Expected<bool> failUnlocated(PassContext&) {
  return Diag{{}, "nothing to do"};
}

} // namespace

TEST_CASE("registry: every pass has a name, a function and a description; names are unique") {
  std::set<std::string> names;
  for (const PassInfo& p : allPasses()) {
    CHECK(!p.name.empty());
    CHECK(bool(p.run));
    CHECK(!p.description.empty());
    CHECK(names.insert(std::string(p.name)).second);
    for (const std::string& need : p.needs)
      CHECK_MESSAGE(findPass(need), need);
  }
  CHECK(findPass("simplify") != nullptr);
  CHECK(findPass("no-such-pass") == nullptr);
  CHECK(passNameList().find("infer-shapes") != std::string::npos);
}

TEST_CASE("pipelines: every entry resolves and says why it sits there") {
  for (const Pipeline& p : allPipelines()) {
    auto resolved = resolvePipeline(p);
    CHECK_MESSAGE(bool(resolved), p.name);
    for (const PipelineEntry& e : p.entries)
      CHECK(!e.why.empty());
  }
  for (const char* pipeline : {"inference", "train"}) {
    CAPTURE(std::string(pipeline));
    auto resolved = resolvePipeline(*findPipeline(pipeline));
    REQUIRE(resolved->size() >= 6);
    std::vector<std::string> names;
    for (size_t i = 0; i < 6; ++i)
      names.emplace_back((*resolved)[i]->name);
    CHECK(names == std::vector<std::string>{"expand", "infer-shapes", "lower-einsum", "simplify",
                                            "cse", "dce"});
  }
  REQUIRE(findPipeline("train"));
  CHECK(findPipeline("train")->training);
  CHECK(findPipeline("bogus") == nullptr);
  Pipeline broken{"broken", "", false, {{"expand", "x"}, {"nope", "y"}}};
  CHECK(!resolvePipeline(broken));
}

TEST_CASE("pass manager: runs in order, records changes and op counts") {
  PassContext ctx = contextFor(kSmall);
  auto records = PassManager(inference()).run(ctx);
  REQUIRE_MESSAGE(bool(records), records.error().render());
  REQUIRE(records->size() == 5);
  CHECK((*records)[0].changed);  // expand builds the graph
  CHECK(!(*records)[1].changed); // infer-shapes only checks
  CHECK((*records)[2].changed);  // scale by 1
  CHECK((*records)[3].changed);  // the second sinusoidal
  CHECK((*records)[4].changed);  // dead relu, the scale, the second sinusoidal
  CHECK((*records)[4].opsBefore == 6);
  CHECK((*records)[4].opsAfter == 3);
  CHECK(ctx.counters["cse.sinusoidal"] == 1);
  CHECK(ctx.counters["dce.removed"] == 3);
}

TEST_CASE("pass manager: --stop-after and --disable-pass") {
  PassContext ctx = contextFor(kSmall);
  auto records = PassManager(inference(), {{}, "simplify"}).run(ctx);
  REQUIRE(bool(records));
  CHECK(records->size() == 3);
  CHECK(ctx.graph.numOps() == 6); // dce did not run

  PassContext ctx2 = contextFor(kSmall);
  auto r2 = PassManager(inference(), {{"cse"}, ""}).run(ctx2);
  REQUIRE(bool(r2));
  CHECK(r2->size() == 4);
  CHECK(ctx2.warnings.empty()); // nothing needs cse
  CHECK(ctx2.graph.numOps() == 4);

  PassContext ctx3 = contextFor(kSmall);
  auto r3 = PassManager(inference(), {{"expand"}, ""}).run(ctx3);
  REQUIRE(bool(r3));
  REQUIRE(!ctx3.warnings.empty());
  CHECK(ctx3.warnings[0].find("--disable-pass=expand: pass 'infer-shapes' needs it") !=
        std::string::npos);
}

TEST_CASE("pass manager: an unlocated pass error names the pass") {
  PassInfo fail{"fail", &failUnlocated, {}, "fails"};
  PassContext ctx = contextFor(kSmall);
  auto r = PassManager({findPass("expand"), &fail}).run(ctx);
  REQUIRE(!r);
  CHECK(r.error().message == "nothing to do (in pass 'fail')");
}

TEST_CASE("instruments: --verify-each reports the pass that broke the IR") {
  PassInfo breaker{"break-types", &breakTypes, {}, "test"};
  PassContext ctx = contextFor(kSmall);
  PassManager pm({findPass("expand"), &breaker, findPass("dce")});
  pm.addInstrument(makeVerifyEach());
  auto r = pm.run(ctx);
  REQUIRE(!r);
  CHECK(r.error().render().find("verifier failed after break-types") != std::string::npos);

  // Without the instrument the same pipeline "succeeds": the check is the instrument's doing.
  PassContext ctx2 = contextFor(kSmall);
  CHECK(bool(PassManager({findPass("expand"), &breaker}).run(ctx2)));
}

TEST_CASE("instruments: the change check catches a pass that hides a change") {
  PassInfo liar{"liar", &lieAboutChange, {}, "test"};
  PassContext ctx = contextFor(kSmall);
  PassManager pm({findPass("expand"), &liar});
  pm.addInstrument(makeChangeCheck());
  auto r = pm.run(ctx);
  REQUIRE(!r);
  CHECK(r.error().message.find("pass 'liar' reported no change") != std::string::npos);
  // Honest passes (the whole inference pipeline) pass the check.
  PassContext ctx2 = contextForModel("seq2seq.graph");
  PassManager pm2(inferencePipeline());
  pm2.addInstrument(makeChangeCheck());
  pm2.addInstrument(makeVerifyEach());
  auto r2 = pm2.run(ctx2);
  CHECK_MESSAGE(bool(r2), r2.error().render());
}

TEST_CASE("instruments: print before/after, after-all, after-change") {
  std::string text;
  TextSink sink = [&](std::string_view s) { text += s; };
  PrintIrConfig c;
  c.before = {"expand"};
  c.after = {"cse"};
  PassContext ctx = contextFor(kSmall);
  PassManager pm(inference());
  pm.addInstrument(makePrintIr(c, sink));
  REQUIRE(bool(pm.run(ctx)));
  CHECK(text.find(
            "# *** IR Dump Before expand (pass 1, the model source) ***\ninput x : f32[2, 4]") !=
        std::string::npos);
  CHECK(text.find("# *** IR Dump After cse (pass 4, changed) ***") != std::string::npos);
  CHECK(text.find("After simplify") == std::string::npos);

  text.clear();
  PrintIrConfig changed;
  changed.afterChange = true;
  PassContext ctx2 = contextFor(kSmall);
  PassManager pm2(inference());
  pm2.addInstrument(makePrintIr(changed, sink));
  REQUIRE(bool(pm2.run(ctx2)));
  CHECK(text.find("After expand") != std::string::npos);
  CHECK(text.find("After infer-shapes") == std::string::npos); // printed text did not change
  CHECK(text.find("After dce") != std::string::npos);

  text.clear();
  PrintIrConfig all;
  all.afterAll = true;
  PassContext ctx3 = contextFor(kSmall);
  PassManager pm3(inference());
  pm3.addInstrument(makePrintIr(all, sink));
  REQUIRE(bool(pm3.run(ctx3)));
  CHECK(text.find("After infer-shapes (pass 2, no change)") != std::string::npos);
}

TEST_CASE("instruments: --time-passes prints one row per pass and a total") {
  std::string text;
  PassContext ctx = contextFor(kSmall);
  PassManager pm(inference());
  pm.addInstrument(makeTimePasses([&](std::string_view s) { text += s; }));
  REQUIRE(bool(pm.run(ctx)));
  for (const char* p : {"expand", "infer-shapes", "simplify", "cse", "dce", "total"})
    CHECK_MESSAGE(text.find(p) != std::string::npos, p);
}

TEST_CASE("infer-shapes: a stored type that disagrees with the shape rule is located at the op") {
  PassContext ctx = contextFor("input x : f32[2, 4]\noutput y = relu(x)\n", "m.graph");
  REQUIRE(bool(PassManager(passes({"expand"})).run(ctx)));
  ctx.graph.values[ctx.graph.nodes[0].result].type.shape = {8};
  auto r = PassManager(passes({"infer-shapes"})).run(ctx);
  REQUIRE(!r);
  std::string rendered = r.error().render();
  CHECK(rendered.find("m.graph:2:") != std::string::npos);
  CHECK(rendered.find("'%y' is stored as f32[8] but 'relu' gives f32[2,4]") != std::string::npos);
  CHECK(rendered.find("output y = relu(x)\n") != std::string::npos);
  CHECK(rendered.find('^') != std::string::npos);
}

TEST_CASE("expand: --set overrides reach the expander; an unknown constant is an error") {
  PassContext ctx = contextForModel("gpt2.graph", {{"L", "2"}});
  REQUIRE(bool(PassManager(passes({"expand"})).run(ctx)));
  CHECK(ctx.graph.find("h.1") >= 0);
  CHECK(ctx.graph.find("h.2") < 0);
  PassContext bad = contextForModel("gpt2.graph", {{"layers", "2"}});
  auto r = PassManager(passes({"expand"})).run(bad);
  REQUIRE(!r);
  CHECK(r.error().message.find("no constant 'layers'") != std::string::npos);
}

TEST_CASE("dumps of every model parse back and equal what the pass manager held") {
  for (const char* model : {"gpt2.graph", "chargpt.graph", "seq2seq.graph"}) {
    CAPTURE(model);
    fs::path dir = fs::temp_directory_path() / (std::string("gptc_dump_") + model);
    fs::remove_all(dir);
    std::vector<Graph> held;
    PassContext ctx = contextForModel(model);
    PassManager pm(inferencePipeline());
    pm.addInstrument(makeDumpDir(dir.string()));
    pm.addInstrument(std::make_unique<Recorder>(&held));
    auto records = pm.run(ctx);
    REQUIRE_MESSAGE(bool(records), records.error().render());
    REQUIRE(held.size() == records->size());
    REQUIRE(held.size() >= 5);

    CHECK(readFile(dir / "000_input.graph") == readFile(fs::path("models") / model));
    auto index = nlohmann::json::parse(readFile(dir / "index.json"));
    REQUIRE(index["passes"].size() == held.size());
    for (size_t i = 0; i < held.size(); ++i) {
      std::string name((*records)[i].pass->name);
      std::string file = fmt::format("{:03}_after_{}.graph", i + 1, name);
      CAPTURE(file);
      const auto& entry = index["passes"][i];
      CHECK(entry["pass"] == name);
      CHECK(entry["file"] == file);
      CHECK(entry["ops"] == held[i].numOps());
      CHECK(entry["changed"] == (*records)[i].changed);
      CHECK(entry["milliseconds"].get<double>() >= 0);
      auto parsed = parseGraph(readFile(dir / file), file);
      REQUIRE_MESSAGE(bool(parsed), parsed.error().render());
      std::string why;
      CHECK_MESSAGE(graphsEqual(*parsed, held[i], &why), why);
    }
    fs::remove_all(dir);
  }
}

TEST_CASE("dump dir: stale numbered dumps are removed, other files kept") {
  fs::path dir = fs::temp_directory_path() / "gptc_dump_stale";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "009_after_old.graph") << "old";
  std::ofstream(dir / "notes.txt") << "mine";
  PassContext ctx = contextFor(kSmall);
  PassManager pm(inference());
  pm.addInstrument(makeDumpDir(dir.string()));
  REQUIRE(bool(pm.run(ctx)));
  CHECK(!fs::exists(dir / "009_after_old.graph"));
  CHECK(fs::exists(dir / "notes.txt"));
  CHECK(fs::exists(dir / "005_after_dce.graph"));
  fs::remove_all(dir);

  // A dump dir that cannot be created is an error, not a crash.
  PassContext ctx2 = contextFor(kSmall);
  PassManager pm2(inference());
  pm2.addInstrument(makeDumpDir("/proc/gptc-cannot-create/x"));
  auto r = pm2.run(ctx2);
  REQUIRE(!r);
  CHECK(r.error().message.find("--ir-dump-dir: cannot create") != std::string::npos);
}

TEST_CASE("the models after the inference pipeline: what simplify and cse find") {
  PassContext s2s = contextForModel("seq2seq.graph");
  REQUIRE(bool(PassManager(inference()).run(s2s)));
  CHECK(s2s.counters["cse.sinusoidal"] == 1); // rows = S and rows = T, S == T == 12
  GraphStats st = computeStats(s2s.graph);
  CHECK(st.byKind["sinusoidal"].count == 1);

  // chargpt with --set drop=0: every dropout is the identity and disappears.
  PassContext cg = contextForModel("chargpt.graph", {{"drop", "0"}, {"L", "2"}});
  REQUIRE(bool(PassManager(inference()).run(cg)));
  CHECK(cg.counters["simplify.dropout-p0"] == 1 + 2 * 3);
  CHECK(computeStats(cg.graph).byKind.count("dropout") == 0);
}

TEST_CASE("stats: GPT-2 124M has 124,475,904 parameters; FLOPs follow the stated convention") {
  PassContext ctx = contextForModel("gpt2.graph");
  REQUIRE(bool(PassManager(inference()).run(ctx)));
  GraphStats s = computeStats(ctx.graph);
  CHECK(s.paramCount == 124475904);
  CHECK(groupDigits(s.paramCount) == "124,475,904");
  CHECK(s.paramBytes == 4 * 124475904LL);
  // The lm head alone: (B*T) x Vp x C, 2 FLOPs per multiply-add.
  CHECK(s.byKind["matmul"].flops >= 2LL * 4 * 64 * 50304 * 768);

  PassContext tiny = contextFor("input a : f32[3, 5, 7]\ninput b : f32[7, 2]\n"
                                "input w : f32[4, 2]\ninput bias : f32[4]\n"
                                "m = matmul(a, b)\n"
                                "output y = gelu(linear(m, w, bias))\n"
                                "output s = reduce_sum(y) {axes = [2]}\n"
                                "output r = reshape(s) {shape = [15]}\n");
  REQUIRE(bool(PassManager(passes({"expand"})).run(tiny)));
  GraphStats t = computeStats(tiny.graph);
  CHECK(t.byKind["matmul"].flops == 2 * 3 * 5 * 2 * 7);
  CHECK(t.byKind["linear"].flops == 2 * 3 * 5 * 4 * 2);
  CHECK(t.byKind["gelu"].flops == 3 * 5 * 4);
  CHECK(t.byKind["reduce_sum"].flops == 3 * 5 * 4);
  CHECK(t.byKind["reshape"].flops == 0);
  CHECK(t.activationBytes == 4 * (30 + 60 + 60 + 15 + 15));
  CHECK(humanBytes(1536) == "1.5 KiB");
  CHECK(groupDigits(-1234) == "-1,234");
}
