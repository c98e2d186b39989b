// The model language before expansion: constants, declarations, blocks and statements exactly as
// written, each with its source location. `expand` (ir/expand.cpp) evaluates the constants, unrolls
// `repeat` and inlines blocks into a flat Graph; nothing after expansion sees this AST.
#pragma once
#include "ir/diag.h"
#include "ir/types.h"

#include <memory>
#include <string>
#include <vector>

namespace gptc::ast {

/// A compile-time number expression: literals, constants, + - * /, parentheses, sqrt().
struct CExpr {
  enum Kind : uint8_t { Number, Name, Binary, Negate, Call } kind;
  double number = 0;
  bool isInt = false; // a literal written without '.' or exponent
  std::string name;   // Name: the constant; Call: the function
  char op = 0;        // Binary: + - * /
  std::vector<std::unique_ptr<CExpr>> args;
  SourceLoc loc;
};
using CExprPtr = std::unique_ptr<CExpr>;

struct TypeExpr {
  DType dtype = DType::f32;
  std::vector<CExprPtr> dims;
  SourceLoc loc;
};

struct AttrExpr {
  std::string name;
  bool isList = false;
  bool isString = false;
  std::string text;             // the string, when isString
  std::vector<CExprPtr> values; // one unless isList
  SourceLoc loc;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum Kind : uint8_t {
    Call,      // op(args) {attrs}
    Ref,       // name, or name[index] (a layer of a stacked parameter)
    BlockCall, // block(index)(args)
    Repeat     // repeat var in from..to: block(var)(args) — threads args[0] through the layers
  } kind;
  std::string name; // op, value or block name
  std::vector<ExprPtr> args;
  std::vector<AttrExpr> attrs;
  CExprPtr index;       // Ref with [index], BlockCall index
  std::string var;      // Repeat
  CExprPtr from, to;    // Repeat range [from, to)
  SourceLoc loc;
};

struct Assign {
  std::string name;
  bool isOutput = false;
  std::unique_ptr<TypeExpr> type; // optional annotation, checked against the inferred type
  ExprPtr value;
  SourceLoc loc;    // where the statement is
  SourceLoc origin; // from a trailing "# file:line:col" comment (dumps), else == loc
};

struct Block {
  std::string name;
  std::string indexVar;
  std::vector<std::pair<std::string, TypeExpr>> params;
  TypeExpr result;
  std::vector<Assign> body;
  ExprPtr ret;
  SourceLoc loc;
};

struct ConstDecl {
  std::string name;
  CExprPtr value;
  SourceLoc loc;
};

struct Decl { // input, param or state
  bool isParam = false;
  bool isState = false; // persistent, not trained (optimizer moments, KV caches)
  std::string name;
  TypeExpr type;
  std::string init = "normal"; // normal | zeros | ones
  CExprPtr initArg;            // normal's stddev
  SourceLoc loc, origin;
};

struct Marker { // `output %x` or `update %state = %value` in a flat dump
  bool isUpdate = false;
  std::string name, value;
  SourceLoc loc;
};

/// One `card KEY = VALUE` entry: what a tool needs to know about the model (driver/model_card.h
/// reads them; expand ignores them). VALUE is a name or a number literal.
struct CardEntry {
  std::string key;
  std::string word;  ///< a name (task = seq2seq), or empty for a number
  double number = 0; ///< a number (eos = 2)
  SourceLoc loc;
};

struct Stmt {
  enum Kind : uint8_t { Const, Decl, Block, Assign, Marker } kind;
  size_t index; // into the matching vector of Program
};

struct Program {
  std::string file;
  std::vector<std::string> lines; // source lines, for carets
  std::vector<Stmt> order;
  std::vector<ConstDecl> consts;
  std::vector<ast::Decl> decls;
  std::vector<ast::Block> blocks;
  std::vector<ast::Assign> assigns;
  std::vector<ast::Marker> markers;
  std::vector<CardEntry> card; ///< `card` statements, in order (not in `order`: no graph meaning)

  std::string lineText(int line) const {
    return line >= 1 && size_t(line) <= lines.size() ? lines[line - 1] : std::string();
  }
};

} // namespace gptc::ast
