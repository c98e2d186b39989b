// The pass manager's instruments: everything a user sees about a pipeline run. Each is a small
// class behind a factory here; tools/options.cpp maps the LLVM/MLIR-style flags onto them.
//   --print-ir-before/after=P, --print-ir-after-all, --print-ir-after-change   makePrintIr
//   --ir-dump-dir=DIR                                                           makeDumpDir
//   --verify-each                                                               makeVerifyEach
//                                                                               + makeChangeCheck
//   --time-passes                                                               makeTimePasses
// What it leaves to others: passes never print; commands decide where text goes (a TextSink).
#pragma once
#include "passes/pass_manager.h"

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

namespace gptc {

/// Where an instrument's text goes (a FILE*, a string in tests).
using TextSink = std::function<void(std::string_view)>;
/// A sink writing to a C stream.
TextSink fileSink(std::FILE* f);

struct PrintIrConfig {
  std::set<std::string> before, after; ///< pass names
  bool afterAll = false;
  bool afterChange = false; ///< after a pass whose printed IR differs from before it
};

/// Prints the IR around the chosen passes, each dump under a header line such as
/// `# *** IR Dump After simplify (pass 3, changed) ***`. Before `expand` the graph is still empty,
/// so "before expand" prints the model source.
std::unique_ptr<Instrument> makePrintIr(PrintIrConfig config, TextSink sink);

/// Writes DIR/000_input.graph (the model source as given), DIR/NNN_after_<pass>.graph after every
/// pass (NNN = its position, so `ls` sorts in pipeline order) and DIR/index.json (per pass: name,
/// file, changed, milliseconds, ops), rewritten after every pass so a failed run still has one.
/// Old numbered dumps and index.json in DIR are removed first; other files are left alone.
std::unique_ptr<Instrument> makeDumpDir(std::string dir);

/// Runs ir/verifier.h after every pass; a problem fails the run with "verifier failed after
/// <pass>".
std::unique_ptr<Instrument> makeVerifyEach();

/// Checks each pass's "changed" claim against its printed IR: a pass that says it changed nothing
/// but did is a bug that would make --print-ir-after-change and the dump index lie; it fails the
/// run.
std::unique_ptr<Instrument> makeChangeCheck();

/// At the end, a table: per pass run, milliseconds, share of the total, ops before -> after.
std::unique_ptr<Instrument> makeTimePasses(TextSink sink);

/// The model source as the parser saw it (lines joined), for "before expand" and 000_input.graph.
std::string programSource(const PassContext& ctx);

} // namespace gptc
