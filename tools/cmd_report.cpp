// gptc report OUTDIR: one self-contained HTML file, OUTDIR/report.html (inline SVG and CSS, a few
// lines of script that check the page, nothing fetched from the network), with
//   - the pipeline: each pass, its time, the op count before and after, and a diff of the IR it
//     changed (capped per pass, so GPT-2 124M stays a few MB);
//   - the memory plan: the timeline picture (passes/svg_memory.h), the report and the largest
//     buffers;
//   - the kernels with their share of the step's time (runtime/exec/kernel_profiler.h, measured on
//     --profile-steps steps with seeded params and synthetic tokens);
//   - the loss curve from OUTDIR/main.log and the attention heatmaps and trace log from
//     OUTDIR/trace/ (what `gptc run --train --trace -o OUTDIR` wrote), when they are there.
// The model, its constants and the optimizer's settings are the run's own (OUTDIR/run.card, written
// by `gptc run --train`, runtime/formats/run_card.h); --model, --set, -b or -t choose another.
//
// What it leaves to others: the passes, the plan, the profiler, the pictures (passes/, runtime/).
#include "tools/commands.h"
#include "tools/options.h"

#include "driver/driver.h"
#include "ir/html_escape.h"
#include "ir/printer.h"
#include "passes/pipeline.h"
#include "passes/plan_memory.h"
#include "passes/svg_memory.h"
#include "runtime/exec/kernel_profiler.h"
#include "runtime/exec/step_engine.h"
#include "runtime/formats/file_io.h"
#include "runtime/formats/run_card.h"
#include "runtime/train/progress.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sstream>

namespace gptc::tools {
namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

/// A line diff of a -> b ("  " kept, "- " removed, "+ " added), at most `maxLines` lines shown;
/// common lines far from a change are skipped. LCS on the differing middle when it is small
/// enough, else the middle as one replaced block.
std::string lineDiff(const std::string& a, const std::string& b, int maxLines, int* changed) {
  std::vector<std::string> x = lines(a), y = lines(b);
  size_t pre = 0;
  while (pre < x.size() && pre < y.size() && x[pre] == y[pre])
    ++pre;
  size_t suf = 0;
  while (suf < x.size() - pre && suf < y.size() - pre &&
         x[x.size() - 1 - suf] == y[y.size() - 1 - suf])
    ++suf;
  std::vector<std::string> xm(x.begin() + pre, x.end() - suf), ym(y.begin() + pre, y.end() - suf);
  std::vector<std::pair<char, std::string>> ops; // ' ', '-', '+'
  if (xm.size() * ym.size() <= 4'000'000) {
    size_t n = xm.size(), m = ym.size();
    std::vector<uint16_t> L((n + 1) * (m + 1), 0);
    for (size_t i = n; i-- > 0;)
      for (size_t j = m; j-- > 0;)
        L[i * (m + 1) + j] = xm[i] == ym[j]
                                 ? uint16_t(L[(i + 1) * (m + 1) + j + 1] + 1)
                                 : std::max(L[(i + 1) * (m + 1) + j], L[i * (m + 1) + j + 1]);
    size_t i = 0, j = 0;
    while (i < n && j < m) {
      if (xm[i] == ym[j]) {
        ops.push_back({' ', xm[i++]});
        ++j;
      } else if (L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1]) {
        ops.push_back({'-', xm[i++]});
      } else {
        ops.push_back({'+', ym[j++]});
      }
    }
    for (; i < n; ++i)
      ops.push_back({'-', xm[i]});
    for (; j < m; ++j)
      ops.push_back({'+', ym[j]});
  } else {
    for (auto& l : xm)
      ops.push_back({'-', l});
    for (auto& l : ym)
      ops.push_back({'+', l});
  }
  *changed = 0;
  for (auto& [k, l] : ops)
    *changed += k != ' ';
  // Show changes with 1 line of context; elide long unchanged runs.
  std::string out;
  int shown = 0;
  if (pre) out += fmt::format("@@ {} unchanged lines @@\n", pre);
  for (size_t k = 0; k < ops.size(); ++k) {
    bool near = ops[k].first != ' ' || (k > 0 && ops[k - 1].first != ' ') ||
                (k + 1 < ops.size() && ops[k + 1].first != ' ');
    if (!near) {
      if (out.size() < 4 || out.compare(out.size() - 4, 4, "...\n") != 0) out += "...\n";
      continue;
    }
    if (shown >= maxLines) {
      int rest = 0;
      for (size_t r = k; r < ops.size(); ++r)
        rest += ops[r].first != ' ';
      out += fmt::format("@@ {} more changed lines not shown @@\n", rest);
      break;
    }
    out += ops[k].first;
    out += ' ';
    out += ops[k].second;
    out += '\n';
    ++shown;
  }
  return out;
}

/// Records what each pass did: time, op counts, and the printed IR before and after.
struct PassRow {
  std::string name;
  double ms = 0;
  int opsBefore = 0, opsAfter = 0;
  bool changed = false;
  std::string diff;
  int changedLines = 0;
};

class Recorder final : public Instrument {
public:
  Recorder(std::vector<PassRow>* rows, int maxDiffLines) : rows_(rows), maxDiff_(maxDiffLines) {}
  void runBeforePass(const PassInfo&, int, const PassContext& ctx) override {
    before_ = ctx.graph.values.empty() ? std::string() : printContext(ctx);
  }
  std::optional<Diag> runAfterPass(const PassRecord& r, const PassContext& ctx) override {
    PassRow row;
    row.name = std::string(r.pass->name);
    row.ms = r.milliseconds;
    row.opsBefore = r.opsBefore;
    row.opsAfter = r.opsAfter;
    std::string after = printContext(ctx);
    row.changed = after != before_;
    if (row.changed) row.diff = lineDiff(before_, after, maxDiff_, &row.changedLines);
    rows_->push_back(std::move(row));
    return std::nullopt;
  }

private:
  std::vector<PassRow>* rows_;
  int maxDiff_;
  std::string before_;
};

std::string readIfThere(const std::string& path) {
  IoResult<std::string> t = readFileText(path, uint64_t(64) << 20);
  return t ? *t : std::string();
}

/// llm.c's main.log: "s:%d trl:%f" / "s:%d tel:%f".
void readMainLog(const std::string& text, std::vector<LossPoint>* train,
                 std::vector<LossPoint>* val) {
  for (const std::string& l : lines(text)) {
    long long s = 0;
    float loss = 0;
    if (std::sscanf(l.c_str(), "s:%lld trl:%f", &s, &loss) == 2)
      train->push_back({s, loss});
    else if (std::sscanf(l.c_str(), "s:%lld tel:%f", &s, &loss) == 2)
      val->push_back({s, loss});
  }
}

/// Seeded params and synthetic inputs for the profiled steps: token ids within every table and
/// class count they index, lr 1e-4, step 1, seed 1.
std::string bindSynthetic(StepEngine& e) {
  const Graph& g = e.graph();
  if (std::string err = e.initParams(1337); !err.empty()) return err;
  std::mt19937 gen(1);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.kind != ValueKind::Input) continue;
    Tensor t(val.type);
    if (val.type.dtype == DType::f32) {
      std::fill(t.f.begin(), t.f.end(), 1e-4f);
    } else if (val.name == "step" || val.name == "seed") {
      std::fill(t.i.begin(), t.i.end(), 1);
    } else {
      int64_t limit = 1 << 30;
      for (const Node& n : g.nodes) {
        if (n.kind == OpKind::Embedding && n.operands[0] == int(v))
          limit = std::min(limit, g.type(n.operands[1]).shape[0]);
        if (n.kind == OpKind::CrossEntropy && n.operands[1] == int(v)) {
          int64_t classes = attrInt(n.attrs, "classes");
          limit = std::min(limit, classes ? classes : g.type(n.operands[0]).shape.back());
        }
      }
      if (limit == (1 << 30)) limit = 2;
      for (auto& x : t.i)
        x = int32_t(gen() % uint32_t(limit));
    }
    if (std::string err = e.bind(val.name, t); !err.empty()) return err;
  }
  return "";
}

/// An SVG document as an inline element: without its XML declaration.
std::string inlineSvg(std::string svg) {
  if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find("?>") + 2);
  return svg;
}

std::string human(int64_t b) {
  if (b >= (int64_t(1) << 20)) return fmt::format("{:.1f} MiB", double(b) / (1 << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", double(b) / 1024);
  return fmt::format("{} B", b);
}

const char* kStyle = R"(
body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
td:first-child,th:first-child{text-align:left} pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.8em}
.add{color:#116329;background:#dafbe1;display:block} .del{color:#82071e;background:#ffebe9;display:block}
.bar{background:#5b8fd6;height:.8em;display:inline-block} .note{color:#666;font-size:.9em}
svg{max-width:100%;height:auto} .heat{display:inline-block;margin:4px;vertical-align:top}
)";

const char* kCheckScript = R"(
<script>
// The page checks itself: every section is present and non-empty. A headless browser reads the
// result from <body data-report-sections=...> (tests/study/test_report.cpp).
(function () {
  var ids = ["pipeline", "memory", "kernels", "loss", "attention"];
  var ok = 0;
  ids.forEach(function (id) {
    var s = document.getElementById(id);
    if (s && s.textContent.length > 20) ok++;
  });
  document.body.setAttribute("data-report-sections", ok + "/" + ids.length);
})();
</script>
)";

int fail(const std::string& m, int code) {
  std::fprintf(stderr, "gptc report: %s\n", m.c_str());
  return code;
}

/// The run's own model and constants (OUTDIR/run.card) unless the flags name others; the
/// optimizer's pass options from the card. 0, else the exit code.
int useRunCard(const std::string& outDir, std::string* model, ModelFlags* modelFlags,
               std::map<std::string, std::string>* passOptions, std::string* storedSource) {
  const std::string cardPath = outDir + "/run.card";
  const bool flagsChoose =
      !model->empty() || !modelFlags->sets.empty() || modelFlags->batch || modelFlags->seq;
  if (!flagsChoose && std::filesystem::exists(cardPath)) {
    IoResult<RunCard> card = readRunCard(cardPath);
    if (!card) return fail(card.error(), 2);
    *model = card->model;
    modelFlags->sets = card->assignments();
    *passOptions = optimizerPassOptions(optimizerFlagsFromInfo(card->optimizer));
    Expected<std::string> text = readTextFile(*model);
    // A run made in another folder: its model file is not here, its source is in the card.
    if (!text) *storedSource = card->modelSource;
    if (text && !card->modelHash.empty() && modelSourceHash(*text) != card->modelHash)
      std::fprintf(stderr,
                   "gptc report: note: %s was edited since the run (source hash %s then, "
                   "%s now); the report shows it as it is now\n",
                   model->c_str(), card->modelHash.c_str(), modelSourceHash(*text).c_str());
  }
  if (model->empty()) *model = sourceTreePath(kDefaultModel); // from any folder
  return 0;
}

/// 1. Each pass in order: its time, op counts, and its IR diff.
std::string pipelineSection(const std::vector<PassRow>& rows, const Graph& g) {
  double totalMs = 0;
  for (const PassRow& r : rows)
    totalMs += r.ms;
  std::string html =
      "<section id=\"pipeline\"><h2>1. The pipeline</h2>\n<p>Each pass in order, its time, "
      "the op count before and after, and what it changed in the printed IR (lines starting "
      "<code>-</code> removed, <code>+</code> added).</p>\n<table><tr><th>#</th><th>pass</th>"
      "<th>ms</th><th>share</th><th>ops before</th><th>ops after</th><th>IR lines "
      "changed</th></tr>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const PassRow& r = rows[i];
    html +=
        fmt::format("<tr><td>{}</td><td><a href=\"#pass-{}\">{}</a></td><td>{:.1f}</td><td>"
                    "{:.1f}%</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    i + 1, i + 1, htmlEscape(r.name), r.ms, totalMs ? 100 * r.ms / totalMs : 0,
                    r.opsBefore, r.opsAfter, r.changed ? std::to_string(r.changedLines) : "none");
  }
  html += fmt::format("<tr><td></td><td>total</td><td>{:.1f}</td><td></td><td></td><td>{}</td>"
                      "<td></td></tr></table>\n",
                      totalMs, g.numOps());
  for (size_t i = 0; i < rows.size(); ++i) {
    const PassRow& r = rows[i];
    html += fmt::format("<details id=\"pass-{}\"><summary>{}. {} — {}</summary>\n", i + 1, i + 1,
                        htmlEscape(r.name),
                        r.changed ? fmt::format("{} lines changed", r.changedLines)
                                  : std::string("no change"));
    if (r.changed) {
      html += "<pre>";
      for (const std::string& l : lines(r.diff)) {
        const char* cls = l.rfind("+ ", 0) == 0 ? "add" : l.rfind("- ", 0) == 0 ? "del" : nullptr;
        html += cls ? fmt::format("<span class=\"{}\">{}</span>", cls, htmlEscape(l))
                    : htmlEscape(l) + "\n";
      }
      html += "</pre>";
    }
    html += "</details>\n";
  }
  html += "</section>\n";
  return html;
}

/// 2. The arena's timeline, its report and its largest buffers.
std::string memorySection(const CompiledProgram& compiled, const std::string& model) {
  const Graph& g = compiled.graph;
  std::string html = "<section id=\"memory\"><h2>2. The memory plan</h2>\n";
  if (compiled.plan) {
    const MemoryPlan& plan = *compiled.plan;
    html += "<p>Every arena buffer as a bar from the op that writes it to the last op that reads "
            "it, at its offset; bars that do not overlap in time share bytes. The red line is "
            "the peak: the most bytes live at once, the lower bound of any plan.</p>\n";
    html += memoryTimelineSvg(g, plan, fmt::format("{} — memory plan", model));
    html += "<pre>" + htmlEscape(memoryReport(g, plan, 0)) + "</pre>\n";
    std::vector<std::pair<int64_t, int>> big;
    for (size_t v = 0; v < g.values.size(); ++v) {
      const ValuePlacement& p = plan.placement[v];
      if (g.values[v].kind == ValueKind::Op && p.region == Region::Arena && p.viewOf < 0)
        big.push_back({p.bytes, int(v)});
    }
    std::sort(big.rbegin(), big.rend());
    html += "<table><tr><th>value (largest 25 arena buffers)</th><th>type</th><th>bytes</th>"
            "<th>offset</th><th>live</th></tr>\n";
    for (size_t k = 0; k < big.size() && k < 25; ++k) {
      const ValuePlacement& p = plan.placement[big[k].second];
      html +=
          fmt::format("<tr><td>%{}</td><td>{}</td><td>{}</td><td>{:#x}</td><td>[{}, {}]</td>"
                      "</tr>\n",
                      htmlEscape(g.values[big[k].second].name), typeToString(g.type(big[k].second)),
                      human(p.bytes), p.offset, p.liveStart, p.liveEnd);
    }
    html += "</table>\n";
  } else {
    html += "<p>The pipeline did not plan memory.</p>\n";
  }
  html += "</section>\n";
  return html;
}

/// 3. Time per kernel kind over `profileSteps` JIT steps after a warm-up. 0, else the exit code.
int kernelsSection(const CompiledProgram& compiled, int profileSteps, int threads,
                   std::string* out) {
  const Graph& g = compiled.graph;
  std::string html = "<section id=\"kernels\"><h2>3. The kernels</h2>\n";
  if (profileSteps > 0 && compiled.plan) {
    CompileOptions o;
    o.kernelHooks = true;
    std::string err;
    int nthreads = threads > 0 ? threads : 0;
    std::unique_ptr<StepEngine> engine =
        makeEngine(Engine::Jit, g, nthreads, o, &err, &*compiled.plan);
    if (!engine) return fail("compiling the step: " + err, 1);
    KernelProfiler prof(*engine->executable());
    if (std::string e = bindSynthetic(*engine); !e.empty()) return fail(e, 1);
    for (int s = 0; s <= profileSteps; ++s) {
      if (s == 1) prof.reset(); // the first step warms caches and pages
      if (std::string e = engine->run(); !e.empty()) return fail(e, 1);
    }
    const CompileStats& cs = engine->executable()->compiled().stats();
    html += fmt::format("<p>{} distinct kernels, {} calls per step. Time per kind, measured with "
                        "the step's kernel hooks over {} step(s) after a warm-up (seeded "
                        "parameters, synthetic tokens): wall time from the end of one call to "
                        "the end of the next on all threads, barriers included.</p>\n",
                        cs.kernels, cs.calls, prof.steps());
    std::vector<KernelProfiler::Row> kinds = prof.byKind();
    double total = 0;
    for (const auto& r : kinds)
      total += r.seconds;
    html += "<table><tr><th>kernel kind</th><th>ms/step</th><th>share</th><th></th>"
            "<th>GFLOP/s</th><th>calls/step</th></tr>\n";
    for (const auto& r : kinds) {
      double ms = 1e3 * r.seconds / std::max(1, prof.steps()),
             share = total ? r.seconds / total : 0;
      html += fmt::format("<tr><td>{}</td><td>{:.3f}</td><td>{:.1f}%</td><td style=\"text-align:"
                          "left\"><span class=\"bar\" style=\"width:{}px\"></span></td><td>{:.2f}"
                          "</td><td>{}</td></tr>\n",
                          htmlEscape(r.kind), ms, 100 * share, int(300 * share),
                          r.seconds > 0 ? double(r.flops) * prof.steps() / r.seconds / 1e9 : 0.0,
                          r.calls);
    }
    html += "</table>\n";
  } else {
    html += "<p>Not measured (--profile-steps 0).</p>\n";
  }
  html += "</section>\n";
  *out += html;
  return 0;
}

/// 4. The run's main.log as a curve.
std::string lossSection(const std::string& outDir) {
  std::string html = "<section id=\"loss\"><h2>4. The loss curve</h2>\n";
  std::vector<LossPoint> train, val;
  readMainLog(readIfThere(outDir + "/main.log"), &train, &val);
  if (!train.empty() || !val.empty()) {
    html +=
        fmt::format("<p>From <code>{}/main.log</code>: {} training steps, {} validations.</p>\n",
                    htmlEscape(outDir), train.size(), val.size());
    html += inlineSvg(lossCurveSvg(train, val, "loss per step (nats/token)"));
  } else {
    html += "<p>No <code>main.log</code> in the run folder (gptc run --train -o OUTDIR writes "
            "one).</p>\n";
  }
  html += "</section>\n";
  return html;
}

/// 5. The trace's attention heatmaps (at most 1 MiB inline) and logs.
std::string attentionSection(const std::string& outDir) {
  std::string html = "<section id=\"attention\"><h2>5. Attention</h2>\n";
  std::error_code ec;
  std::vector<std::string> svgs, logs;
  for (const auto& e : std::filesystem::directory_iterator(outDir + "/trace", ec)) {
    std::string p = e.path().string();
    if (p.size() > 4 && p.compare(p.size() - 4, 4, ".svg") == 0) svgs.push_back(p);
    if (p.size() > 4 && p.compare(p.size() - 4, 4, ".txt") == 0) logs.push_back(p);
  }
  std::sort(svgs.begin(), svgs.end());
  std::sort(logs.begin(), logs.end());
  if (svgs.empty() && logs.empty())
    html += "<p>No trace in the run folder (gptc run --train --trace -o OUTDIR writes one).</p>\n";
  size_t inlined = 0;
  for (const std::string& p : svgs) {
    std::string svg = inlineSvg(readIfThere(p));
    if (inlined + svg.size() > (size_t(1) << 20)) { // at most 1 MiB of heatmaps inline
      html += fmt::format("<p class=\"note\">{} more heatmaps in <code>{}/trace/</code>.</p>\n",
                          svgs.size() - size_t(&p - svgs.data()), htmlEscape(outDir));
      break;
    }
    inlined += svg.size();
    html += "<div class=\"heat\">" + svg + "</div>\n";
  }
  for (const std::string& p : logs) {
    std::string log = readIfThere(p);
    if (log.size() > 256 * 1024) log = log.substr(0, 256 * 1024) + "\n... (cut)\n";
    html += fmt::format("<details><summary>the trace log {}</summary><pre>{}</pre></details>\n",
                        htmlEscape(std::filesystem::path(p).filename().string()), htmlEscape(log));
  }
  html += "</section>\n";
  return html;
}

} // namespace

int cmdReport(int argc, char** argv) {
  CLI::App app{"gptc report OUTDIR: one self-contained HTML page (OUTDIR/report.html) with the "
               "pipeline, the memory plan, the kernels' time, the loss curve and the attention "
               "heatmaps of a run",
               "gptc report"};
  std::string outDir, model, pipeline = "train";
  ModelFlags modelFlags;
  int profileSteps = 2, maxDiffLines = 300, threads = 0;
  app.add_option("outdir", outDir, "the run's folder (gptc run --train -o OUTDIR)")
      ->required()
      ->type_name("OUTDIR");
  app.add_option("--model", model,
                 "the model (default: the run's, from OUTDIR/run.card; without one "
                 "models/chargpt.graph)")
      ->type_name("MODEL.graph");
  app.add_option("--pipeline", pipeline, "the pipeline to show (default train)")->type_name("NAME");
  addModelFlags(app, modelFlags);
  app.add_option("--profile-steps", profileSteps,
                 "steps timed per kernel after one warm-up (default 2; 0: do not run)")
      ->type_name("N");
  app.add_option("--max-diff-lines", maxDiffLines, "IR diff lines shown per pass (default 300)")
      ->type_name("N");
  app.add_option("--threads", threads, "threads for the profiled steps (default: all)")
      ->type_name("N");
  if (int code = parseCommandLine(app, argc, argv, "report"); code >= 0) return code;
  if (profileSteps < 0) return fail("--profile-steps must be >= 0", 2);
  std::error_code ec;
  if (!std::filesystem::is_directory(outDir, ec))
    return fail(outDir + ": not a folder (run gptc run --train -o " + outDir + " first)", 2);

  // The run's own model and constants, unless the flags name others.
  std::map<std::string, std::string> passOptions;
  std::string storedSource;
  if (int rc = useRunCard(outDir, &model, &modelFlags, &passOptions, &storedSource); rc != 0)
    return rc;

  // The pipeline, recorded pass by pass.
  ModelSource source = ModelSource::file(model);
  source.text = storedSource;
  Expected<std::shared_ptr<ast::Program>> program = loadModel(source);
  if (!program) return fail(program.error().render(), 2);
  Expected<ConstOverrides> overrides = constOverrides(modelFlags, **program);
  if (!overrides) return fail(overrides.error().render(), 2);
  std::vector<PassRow> rows;
  CompileRequest request;
  request.model = ModelSource::parsed(*program);
  request.overrides = std::move(*overrides);
  request.pipeline = pipeline;
  request.passOptions = std::move(passOptions);
  request.instruments.push_back(std::make_unique<Recorder>(&rows, maxDiffLines));
  Expected<CompiledProgram> compiled = compile(std::move(request));
  if (!compiled) return fail(compiled.error().render(), 2);

  std::string sets;
  for (const std::string& s : modelFlags.sets)
    sets += s + " ";
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>gptc report: " +
                     htmlEscape(model) + "</title><style>" + kStyle + "</style></head><body>\n";
  html +=
      fmt::format("<h1>gptc report — {} {}({} pipeline)</h1>\n<p class=\"note\">Run folder "
                  "<code>{}</code>. Contents: <a href=\"#pipeline\">pipeline</a> · <a "
                  "href=\"#memory\">memory plan</a> · <a href=\"#kernels\">kernels</a> · <a "
                  "href=\"#loss\">loss curve</a> · <a href=\"#attention\">attention</a></p>\n",
                  htmlEscape(model), htmlEscape(sets), htmlEscape(pipeline), htmlEscape(outDir));
  html += pipelineSection(rows, compiled->graph);
  html += memorySection(*compiled, model);
  if (int rc = kernelsSection(*compiled, profileSteps, threads, &html); rc != 0) return rc;
  html += lossSection(outDir);
  html += attentionSection(outDir);
  html += kCheckScript;
  html += "</body></html>\n";

  std::string path = outDir + "/report.html";
  if (IoStatus st = writeFileAtomic(path, html); !st) return fail(st.error(), 1);
  std::printf("wrote   %s (%s)\n", path.c_str(), human(int64_t(html.size())).c_str());
  return 0;
}

} // namespace gptc::tools
