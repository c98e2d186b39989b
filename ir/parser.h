// The text form of gptc: the model language (constants, blocks, repeat) and the flat dump format are
// one syntax; every dump parses back. See docs/ir.md for the grammar.
#pragma once
#include "ir/ast.h"
#include "ir/graph.h"

#include <cstdint>
#include <map>
#include <string>

namespace gptc {

/// Parses text into the unexpanded AST. Errors are located ("file:line:col: error: ...").
Expected<std::shared_ptr<ast::Program>> parseProgram(const std::string& text, const std::string& file);

/// Constant overrides from the command line (`--set layers=2`): name -> value text.
using ConstOverrides = std::map<std::string, std::string>;

/// Evaluates constants (with overrides), unrolls repeats, inlines blocks: the flat SSA graph.
Expected<Graph> expandProgram(const ast::Program& program, const ConstOverrides& overrides = {});

/// parseProgram + expandProgram.
Expected<Graph> parseGraph(const std::string& text, const std::string& file,
                           const ConstOverrides& overrides = {});

/// The largest model file readTextFile accepts (gpt2.graph is ~3 KB; a dump of it ~100 KB).
constexpr uint64_t kMaxModelFileBytes = uint64_t(16) << 20;

/// Reads a model file; a missing, unreadable or too large file or a directory is a Diag naming it.
Expected<std::string> readTextFile(const std::string& path);

} // namespace gptc
