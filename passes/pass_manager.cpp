// The pass registry (expanded from passes.def) and the manager loop: for each pass, the
// instruments' before hooks, the pass, the after hooks. The manager measures time and op counts
// itself (cheap and needed by several instruments); everything that prints or checks is an
// instrument. What it leaves to others: the passes, the pipelines, and what instruments do with a
// record.
#include "passes/pass_manager.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <set>

namespace gptc {

// Each pass's entry point, declared from the same list so a row without a function fails to link.
#define PASS(NAME, FN, NEEDS, DESC) Expected<bool> FN(PassContext&);
#include "passes/passes.def"
#undef PASS

namespace {

std::vector<std::string> splitNames(std::string_view list) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : list) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

} // namespace

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> passes = {
#define PASS(NAME, FN, NEEDS, DESC) PassInfo{NAME, &FN, splitNames(NEEDS), DESC},
#include "passes/passes.def"
#undef PASS
  };
  return passes;
}

const PassInfo* findPass(std::string_view name) {
  for (const PassInfo& p : allPasses())
    if (p.name == name) return &p;
  return nullptr;
}

std::string passNameList() {
  std::string out;
  for (const PassInfo& p : allPasses())
    out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

Diag PassContext::diagAt(const SourceLoc& loc, std::string message) const {
  Diag d{loc, std::move(message), ""};
  // Values keep the location of the model line they came from; the caret needs that line's text.
  if (program && loc.known() && loc.file == program->file) d.lineText = program->lineText(loc.line);
  return d;
}

PassManager::PassManager(std::vector<const PassInfo*> pipeline, PassManagerOptions options)
    : pipeline_(std::move(pipeline)), options_(std::move(options)) {}

void PassManager::addInstrument(std::unique_ptr<Instrument> instrument) {
  instruments_.push_back(std::move(instrument));
}

Expected<std::vector<PassRecord>> PassManager::run(PassContext& ctx) {
  std::set<std::string> disabled(options_.disabled.begin(), options_.disabled.end());

  // A pass whose prerequisite will not have run still runs (the user asked for it), but says so:
  // an empty graph after a disabled expand is otherwise a puzzling result.
  std::set<std::string> willHaveRun;
  for (const PassInfo* p : pipeline_) {
    bool off = disabled.count(std::string(p->name)) > 0;
    if (!off)
      for (const std::string& need : p->needs)
        if (!willHaveRun.count(need)) {
          std::string w =
              disabled.count(need)
                  ? fmt::format("warning: --disable-pass={}: pass '{}' needs it", need, p->name)
                  : fmt::format("warning: pass '{}' needs '{}', which does not run "
                                "before it in this pipeline",
                                p->name, need);
          if (std::find(ctx.warnings.begin(), ctx.warnings.end(), w) == ctx.warnings.end())
            ctx.warnings.push_back(w);
        }
    if (!off) willHaveRun.insert(std::string(p->name));
    if (!options_.stopAfter.empty() && p->name == options_.stopAfter) break;
  }

  for (auto& inst : instruments_)
    if (auto err = inst->runBeforePipeline(ctx)) return *err;

  std::vector<PassRecord> records;
  int index = 0;
  for (const PassInfo* p : pipeline_) {
    bool stopHere = !options_.stopAfter.empty() && p->name == options_.stopAfter;
    if (!disabled.count(std::string(p->name))) {
      ++index;
      for (auto& inst : instruments_)
        inst->runBeforePass(*p, index, ctx);
      PassRecord rec;
      rec.pass = p;
      rec.index = index;
      rec.opsBefore = ctx.graph.numOps();
      auto start = std::chrono::steady_clock::now();
      Expected<bool> changed = p->run(ctx);
      rec.milliseconds =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (!changed) {
        Diag d = changed.error();
        if (d.loc.file.empty()) d.message += fmt::format(" (in pass '{}')", p->name);
        return d;
      }
      rec.changed = *changed;
      rec.opsAfter = ctx.graph.numOps();
      records.push_back(rec);
      for (auto& inst : instruments_)
        if (auto err = inst->runAfterPass(rec, ctx)) return *err;
    }
    if (stopHere) break;
  }

  for (auto& inst : instruments_)
    if (auto err = inst->runAfterPipeline(ctx)) return *err;
  return records;
}

} // namespace gptc
