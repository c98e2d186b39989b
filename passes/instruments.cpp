// The instruments behind the pass-manager flags (see instruments.h for the list). Each keeps the
// little state it needs between its before and after hooks; none changes the graph.
// What it leaves to others: flag parsing (tools/options.cpp) and running passes (pass_manager.cpp).
#include "passes/instruments.h"

#include "ir/printer.h"
#include "ir/verifier.h"

#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

namespace gptc {
namespace fs = std::filesystem;

TextSink fileSink(std::FILE* f) {
  return [f](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fflush(f);
  };
}

std::string programSource(const PassContext& ctx) {
  std::string out;
  if (!ctx.program) return out;
  for (const std::string& line : ctx.program->lines)
    out += line + "\n";
  return out;
}

namespace {

// ---- --print-ir-before / --print-ir-after / -all / -change ----

class PrintIr : public Instrument {
public:
  PrintIr(PrintIrConfig c, TextSink sink) : c_(std::move(c)), sink_(std::move(sink)) {}

  void runBeforePass(const PassInfo& pass, int index, const PassContext& ctx) override {
    std::string name(pass.name);
    if (c_.before.count(name)) {
      bool empty = ctx.graph.values.empty();
      sink_(fmt::format("# *** IR Dump Before {} (pass {}{}) ***\n", name, index,
                        empty ? ", the model source" : ""));
      sink_(empty ? programSource(ctx) : printContext(ctx));
    }
    // Only --print-ir-after-change needs the text before the pass; printing is not free.
    if (c_.afterChange) beforeText_ = printContext(ctx);
  }

  std::optional<Diag> runAfterPass(const PassRecord& r, const PassContext& ctx) override {
    std::string name(r.pass->name);
    bool show = c_.afterAll || c_.after.count(name);
    std::string text;
    if (c_.afterChange && !show) {
      text = printContext(ctx);
      show = text != beforeText_;
    }
    if (!show) return std::nullopt;
    if (text.empty()) text = printContext(ctx);
    sink_(fmt::format("# *** IR Dump After {} (pass {}, {}) ***\n", name, r.index,
                      r.changed ? "changed" : "no change"));
    sink_(text);
    return std::nullopt;
  }

private:
  PrintIrConfig c_;
  TextSink sink_;
  std::string beforeText_;
};

// ---- --ir-dump-dir ----

class DumpDir : public Instrument {
public:
  explicit DumpDir(std::string dir) : dir_(std::move(dir)) {}

  std::optional<Diag> runBeforePipeline(const PassContext& ctx) override {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec || !fs::is_directory(dir_))
      return Diag{{},
                  fmt::format("--ir-dump-dir: cannot create directory '{}'{}", dir_,
                              ec ? ": " + ec.message() : "")};
    // Stale dumps from a longer earlier run would sort among ours and mislead.
    static const std::regex ours(R"(\d{3}_(input|after_.*)\.graph|index\.json)");
    for (const auto& entry : fs::directory_iterator(dir_, ec))
      if (entry.is_regular_file() && std::regex_match(entry.path().filename().string(), ours))
        fs::remove(entry.path(), ec);
    return write("000_input.graph", programSource(ctx));
  }

  std::optional<Diag> runAfterPass(const PassRecord& r, const PassContext& ctx) override {
    std::string file = fmt::format("{:03}_after_{}.graph", r.index, r.pass->name);
    if (auto err = write(file, printContext(ctx))) return err;
    index_.push_back({{"index", r.index},
                      {"pass", std::string(r.pass->name)},
                      {"file", file},
                      {"changed", r.changed},
                      {"milliseconds", r.milliseconds},
                      {"ops", r.opsAfter}});
    nlohmann::json doc = {{"model", ctx.program ? ctx.program->file : ""},
                          {"input", "000_input.graph"},
                          {"passes", index_}};
    return write("index.json", doc.dump(2) + "\n");
  }

private:
  std::optional<Diag> write(const std::string& name, const std::string& text) {
    fs::path path = fs::path(dir_) / name;
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) return Diag{{}, fmt::format("--ir-dump-dir: cannot write '{}'", path.string())};
    return std::nullopt;
  }

  std::string dir_;
  nlohmann::json index_ = nlohmann::json::array();
};

// ---- --verify-each ----

class VerifyEach : public Instrument {
public:
  std::optional<Diag> runAfterPass(const PassRecord& r, const PassContext& ctx) override {
    std::string problem = verifyGraph(ctx.graph);
    if (problem.empty()) return std::nullopt;
    return Diag{{}, fmt::format("verifier failed after {}: {}", r.pass->name, problem)};
  }
};

// ---- the "changed" claim ----

class ChangeCheck : public Instrument {
public:
  void runBeforePass(const PassInfo&, int, const PassContext& ctx) override {
    before_ = printGraph(ctx.graph);
  }
  std::optional<Diag> runAfterPass(const PassRecord& r, const PassContext& ctx) override {
    // Only the dangerous direction is an error: a pass that reports a change it then undid costs a
    // redundant dump, one that hides a change makes every change-driven instrument lie.
    if (r.changed || printGraph(ctx.graph) == before_) return std::nullopt;
    return Diag{{},
                fmt::format("pass '{}' reported no change but the printed IR differs "
                            "(a bug in the pass)",
                            r.pass->name)};
  }

private:
  std::string before_;
};

// ---- --time-passes ----

class TimePasses : public Instrument {
public:
  explicit TimePasses(TextSink sink) : sink_(std::move(sink)) {}

  std::optional<Diag> runAfterPass(const PassRecord& r, const PassContext&) override {
    records_.push_back(r);
    return std::nullopt;
  }

  std::optional<Diag> runAfterPipeline(const PassContext&) override {
    double total = 0;
    for (const PassRecord& r : records_)
      total += r.milliseconds;
    std::string out = "# ===== pass execution timing =====\n";
    out += fmt::format("# {:>3}  {:<16} {:>10} {:>7} {:>8} {:>8}  {}\n", "#", "pass", "ms", "share",
                       "ops in", "ops out", "changed");
    for (const PassRecord& r : records_)
      out += fmt::format("# {:>3}  {:<16} {:>10.3f} {:>6.1f}% {:>8} {:>8}  {}\n", r.index,
                         r.pass->name, r.milliseconds,
                         total > 0 ? 100.0 * r.milliseconds / total : 0.0, r.opsBefore, r.opsAfter,
                         r.changed ? "yes" : "no");
    out += fmt::format("#       {:<16} {:>10.3f} {:>6.1f}%\n", "total", total, 100.0);
    sink_(out);
    return std::nullopt;
  }

private:
  TextSink sink_;
  std::vector<PassRecord> records_;
};

} // namespace

std::unique_ptr<Instrument> makePrintIr(PrintIrConfig config, TextSink sink) {
  return std::make_unique<PrintIr>(std::move(config), std::move(sink));
}
std::unique_ptr<Instrument> makeDumpDir(std::string dir) {
  return std::make_unique<DumpDir>(std::move(dir));
}
std::unique_ptr<Instrument> makeVerifyEach() {
  return std::make_unique<VerifyEach>();
}
std::unique_ptr<Instrument> makeChangeCheck() {
  return std::make_unique<ChangeCheck>();
}
std::unique_ptr<Instrument> makeTimePasses(TextSink sink) {
  return std::make_unique<TimePasses>(std::move(sink));
}

} // namespace gptc
