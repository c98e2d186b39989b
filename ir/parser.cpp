// Recursive-descent parser for the gptc text form. It builds the AST (ir/ast.h) and checks only
// syntax; names, shapes and constants are checked by the expander, which knows the environment.
// Statements are not newline-terminated; a trailing comment of the form "# file:line:col" on a
// statement's last line records where the statement came from (dumps carry their model's locations).
#include "ir/parser.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <sstream>

namespace gptc {
namespace {

enum class Tok : uint8_t { End, Ident, Number, Punct, String };

struct Token {
  Tok kind = Tok::End;
  std::string text; // identifier (without '%'), number text, or punctuation ("->", "..")
  bool percent = false;
  SourceLoc loc;
};

class Lexer {
public:
  Lexer(const std::string& text, ast::Program& prog) : text_(text), prog_(prog) {}

  std::vector<Token> run(std::map<int, SourceLoc>& origins) {
    std::vector<Token> out;
    SourceLoc afterLast{prog_.file, 1, 1};
    for (;;) {
      skipSpaceAndComments(origins);
      if (pos_ >= text_.size()) break;
      out.push_back(next());
      afterLast = here();
    }
    // "found end of file" points just past the last token, on a line the caret can show, rather
    // than at the empty line after the final newline.
    Token end;
    end.loc = afterLast;
    out.push_back(end);
    return out;
  }

private:
  const std::string& text_;
  ast::Program& prog_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;

  SourceLoc here() const { return SourceLoc{prog_.file, line_, col_}; }

  [[noreturn]] void fail(const std::string& msg, SourceLoc loc) {
    throw DiagError{Diag{loc, msg, prog_.lineText(loc.line)}};
  }

  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  void skipSpaceAndComments(std::map<int, SourceLoc>& origins) {
    // "# file:line:col", optionally followed (after two spaces) by a printer annotation such as
    // the memory plan's "  arena +0x1c00 12.0 KiB live [12, 40]", so planned dumps parse back.
    static const std::regex locComment(R"(^#\s*([^\s:]+):(\d+):(\d+)(\s{2}.*)?\s*$)");
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '#') {
        size_t end = text_.find('\n', pos_);
        if (end == std::string::npos) end = text_.size();
        std::string comment = text_.substr(pos_, end - pos_);
        std::smatch m;
        if (comment.size() < 300 && std::regex_match(comment, m, locComment))
          origins[line_] = SourceLoc{m[1], std::atoi(m[2].str().c_str()), std::atoi(m[3].str().c_str())};
        while (pos_ < end) advance();
      } else {
        break;
      }
    }
  }

  /// Reports the whole run of number-like characters ("12abc", "1.2.3"), not just the prefix read so far.
  [[noreturn]] void failMalformedNumber(Token& t) {
    while (pos_ < text_.size() && (identChar(text_[pos_]) || text_[pos_] == '+' || text_[pos_] == '-') &&
           t.text.size() < 40) {
      if ((text_[pos_] == '+' || text_[pos_] == '-') && !(t.text.back() == 'e' || t.text.back() == 'E'))
        break;
      t.text += text_[pos_];
      advance();
    }
    fail(fmt::format("malformed number '{}'", t.text), t.loc);
  }

  static bool identStart(char c) { return std::isalpha((unsigned char)c) || c == '_'; }
  static bool identChar(char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '.'; }

  Token next() {
    Token t;
    t.loc = here();
    char c = text_[pos_];
    if (c == '%') {
      advance();
      if (pos_ >= text_.size() || !(identChar(text_[pos_])) || text_[pos_] == '.')
        fail("expected a value name after '%'", t.loc);
      t.kind = Tok::Ident;
      t.percent = true;
      while (pos_ < text_.size() && identChar(text_[pos_])) {
        if (text_[pos_] == '.' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '.') break;
        t.text += text_[pos_];
        advance();
      }
      return t;
    }
    if (identStart(c)) {
      t.kind = Tok::Ident;
      while (pos_ < text_.size() && identChar(text_[pos_])) {
        if (text_[pos_] == '.' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '.') break;
        t.text += text_[pos_];
        advance();
      }
      return t;
    }
    if (std::isdigit((unsigned char)c) ||
        (c == '.' && pos_ + 1 < text_.size() && std::isdigit((unsigned char)text_[pos_ + 1]))) {
      t.kind = Tok::Number;
      bool seenDot = false, seenExp = false;
      while (pos_ < text_.size()) {
        char d = text_[pos_];
        if (std::isdigit((unsigned char)d)) {
        } else if (d == '.') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '.') break; // a range "0..L"
          // "1.2.3" or "1e5.2" would otherwise read as a shorter number and silently drop the rest.
          if (seenDot || seenExp) failMalformedNumber(t);
          seenDot = true;
        } else if ((d == 'e' || d == 'E') && pos_ + 1 < text_.size() &&
                   (std::isdigit((unsigned char)text_[pos_ + 1]) ||
                    ((text_[pos_ + 1] == '-' || text_[pos_ + 1] == '+') && pos_ + 2 < text_.size() &&
                     std::isdigit((unsigned char)text_[pos_ + 2])))) {
          if (seenExp) failMalformedNumber(t);
          seenExp = true;
          t.text += d;
          advance();
          d = text_[pos_];
        } else {
          break;
        }
        t.text += d;
        advance();
      }
      if (pos_ < text_.size() && identStart(text_[pos_])) failMalformedNumber(t);
      return t;
    }
    if (c == '"') { // a string attribute (einsum's spec): no escapes, no newline, no quote inside
      t.kind = Tok::String;
      advance();
      while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n') {
        t.text += text_[pos_];
        advance();
      }
      if (pos_ >= text_.size() || text_[pos_] != '"') fail("unterminated string (a string ends on its line with '\"')", t.loc);
      advance();
      return t;
    }
    static const char* twoChar[] = {"->", ".."};
    for (const char* p : twoChar)
      if (text_.compare(pos_, 2, p) == 0) {
        t.kind = Tok::Punct;
        t.text = p;
        advance();
        advance();
        return t;
      }
    if (c != '\0' && std::strchr("()[]{},:=+-*/", c)) { // strchr finds the terminator for NUL
      t.kind = Tok::Punct;
      t.text = std::string(1, c);
      advance();
      return t;
    }
    if (pos_ == 0 && text_.compare(0, 3, "\xEF\xBB\xBF") == 0)
      fail("the file starts with a UTF-8 byte-order mark (bytes EF BB BF); save it without one",
           t.loc);
    if ((unsigned char)c < 32 || (unsigned char)c >= 127)
      fail(fmt::format("unexpected byte 0x{:02x}", (unsigned char)c), t.loc);
    fail(fmt::format("unexpected character '{}'", c), t.loc);
  }
};

const char* kKeywords[] = {"const", "input", "param", "state", "block", "output", "update",
                           "return", "repeat", "in", "init"};

class Parser {
public:
  Parser(std::vector<Token> toks, std::map<int, SourceLoc> origins, ast::Program& prog)
      : toks_(std::move(toks)), origins_(std::move(origins)), prog_(prog) {}

  void parseAll() {
    while (peek().kind != Tok::End) statement();
  }

private:
  std::vector<Token> toks_;
  std::map<int, SourceLoc> origins_;
  ast::Program& prog_;
  size_t i_ = 0;
  int depth_ = 0;

  /// Real models nest a handful of calls; the cap keeps a hostile or generated file (10,000 nested
  /// calls) from overflowing the stack here, in the expander and in the AST's destructors, all of
  /// which recurse once per level.
  static constexpr int kMaxNesting = 256;
  struct NestingGuard {
    Parser& p;
    explicit NestingGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting)
        p.fail(fmt::format("nesting too deep (more than {} levels)", kMaxNesting), p.peek().loc);
    }
    ~NestingGuard() { --p.depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
  };

  const Token& peek(size_t ahead = 0) const { return toks_[std::min(i_ + ahead, toks_.size() - 1)]; }
  Token take() { return toks_[std::min(i_++, toks_.size() - 1)]; }

  [[noreturn]] void fail(const std::string& msg, const SourceLoc& loc) {
    throw DiagError{Diag{loc, msg, prog_.lineText(loc.line)}};
  }
  static std::string describe(const Token& t) {
    if (t.kind == Tok::End) return "end of file";
    if (t.kind == Tok::Ident) return fmt::format("'{}{}'", t.percent ? "%" : "", t.text);
    if (t.kind == Tok::String) return fmt::format("a string \"{}\"", t.text);
    return fmt::format("'{}'", t.text);
  }

  bool isPunct(const char* p, size_t ahead = 0) const {
    return peek(ahead).kind == Tok::Punct && peek(ahead).text == p;
  }
  bool isKeyword(const char* k) const {
    return peek().kind == Tok::Ident && !peek().percent && peek().text == k;
  }
  Token expectPunct(const char* p, const char* context) {
    if (!isPunct(p)) fail(fmt::format("expected '{}' {}, found {}", p, context, describe(peek())), peek().loc);
    return take();
  }
  /// A closing bracket: the message names where its opener is, which is what a reader needs when
  /// the parser only notices the missing ')' lines later or at the end of the file.
  Token expectClose(const char* p, const char* context, const Token& open) {
    if (!isPunct(p))
      fail(fmt::format("expected '{}' {}, found {} (the '{}' at {}:{} is still open)", p, context,
                       describe(peek()), open.text, open.loc.line, open.loc.col),
           peek().loc);
    return take();
  }
  void expectKeyword(const char* k, const char* context) {
    if (!isKeyword(k)) fail(fmt::format("expected '{}' {}, found {}", k, context, describe(peek())), peek().loc);
    take();
  }
  Token expectName(const char* what) {
    const Token& t = peek();
    if (t.kind != Tok::Ident) fail(fmt::format("expected {}, found {}", what, describe(t)), t.loc);
    if (!t.percent)
      for (const char* k : kKeywords)
        if (t.text == k) fail(fmt::format("expected {}, found keyword '{}'", what, k), t.loc);
    return take();
  }

  SourceLoc originFor(const SourceLoc& loc) {
    int lastLine = i_ > 0 ? toks_[i_ - 1].loc.line : loc.line;
    auto it = origins_.find(lastLine);
    return it != origins_.end() ? it->second : loc;
  }

  void statement() {
    const Token& t = peek();
    if (t.kind != Tok::Ident)
      fail(fmt::format("expected a statement (const, input, param, block, output, update or "
                       "name = ...), found {}",
                       describe(t)),
           t.loc);
    if (!t.percent) {
      if (t.text == "const") return constDecl();
      // `card KEY = VALUE, ...` (driver/model_card.h): not a keyword, so a value may be `card`.
      if (t.text == "card" && peek(1).kind == Tok::Ident && !peek(1).percent && isPunct("=", 2))
        return cardDecl();
      if (t.text == "input" || t.text == "param" || t.text == "state") return decl();
      if (t.text == "block") return block();
      if (t.text == "update") return update();
      if (t.text == "output" && peek(1).kind == Tok::Ident && !isPunct("=", 2) && !isPunct(":", 2)) {
        ast::Marker m;
        m.loc = take().loc;
        m.name = expectName("a value name after 'output'").text;
        prog_.markers.push_back(std::move(m));
        prog_.order.push_back({ast::Stmt::Marker, prog_.markers.size() - 1});
        return;
      }
    }
    prog_.assigns.push_back(assign(/*allowOutput=*/true));
    prog_.order.push_back({ast::Stmt::Assign, prog_.assigns.size() - 1});
  }

  void constDecl() {
    take();
    do {
      ast::ConstDecl c;
      Token name = expectName("a constant name");
      c.name = name.text;
      c.loc = name.loc;
      expectPunct("=", "after the constant's name");
      c.value = cexpr();
      prog_.consts.push_back(std::move(c));
      prog_.order.push_back({ast::Stmt::Const, prog_.consts.size() - 1});
    } while (isPunct(",") && (take(), true));
  }

  void cardDecl() {
    take();
    do {
      ast::CardEntry e;
      Token key = expectName("a card key");
      e.key = key.text;
      e.loc = key.loc;
      expectPunct("=", "after the card key");
      if (peek().kind == Tok::Ident && !peek().percent) {
        e.word = take().text;
      } else {
        ast::CExprPtr v = cexpr();
        if (v->kind != ast::CExpr::Number) fail("a card value is a name or a number literal", v->loc);
        e.number = v->number;
      }
      prog_.card.push_back(std::move(e));
    } while (isPunct(",") && (take(), true));
  }

  void decl() {
    ast::Decl d;
    Token kw = take();
    d.isParam = kw.text == "param" || kw.text == "state";
    d.isState = kw.text == "state";
    d.loc = kw.loc;
    d.name = expectName(d.isParam ? "a parameter name" : "an input name").text;
    expectPunct(":", "before the type");
    d.type = typeExpr();
    if (isKeyword("init")) {
      if (!d.isParam) fail("only a param or state has an init", peek().loc);
      take();
      Token how = expectName("normal(STD), zeros or ones");
      d.init = how.text;
      if (d.init == "normal") {
        expectPunct("(", "after normal");
        d.initArg = cexpr();
        expectPunct(")", "after normal's standard deviation");
      } else if (d.init != "zeros" && d.init != "ones") {
        fail(fmt::format("unknown init '{}' (normal(STD), zeros or ones)", d.init), how.loc);
      }
    }
    d.origin = originFor(d.loc);
    prog_.decls.push_back(std::move(d));
    prog_.order.push_back({ast::Stmt::Decl, prog_.decls.size() - 1});
  }

  void update() {
    ast::Marker m;
    m.isUpdate = true;
    m.loc = take().loc;
    m.name = expectName("the state to update").text;
    expectPunct("=", "after the updated state");
    m.value = expectName("the new value").text;
    prog_.markers.push_back(std::move(m));
    prog_.order.push_back({ast::Stmt::Marker, prog_.markers.size() - 1});
  }

  void block() {
    ast::Block b;
    b.loc = take().loc;
    b.name = expectName("a block name").text;
    expectPunct("(", "before the block's index variable");
    b.indexVar = expectName("the block's index variable").text;
    expectPunct(")", "after the index variable");
    expectPunct("(", "before the block's parameters");
    if (!isPunct(")")) {
      do {
        Token pname = expectName("a block parameter name");
        for (const auto& prev : b.params)
          if (prev.first == pname.text)
            fail(fmt::format("block '{}' has two parameters named '{}'", b.name, pname.text), pname.loc);
        if (pname.text == b.indexVar)
          fail(fmt::format("'{}' is the block's index variable and cannot name a parameter", pname.text),
               pname.loc);
        expectPunct(":", "before the parameter's type");
        b.params.emplace_back(pname.text, typeExpr());
      } while (isPunct(",") && (take(), true));
    }
    expectPunct(")", "after the block's parameters");
    expectPunct("->", "before the block's result type");
    b.result = typeExpr();
    Token open = expectPunct("{", "to open the block body");
    while (!isKeyword("return")) {
      if (peek().kind == Tok::End || isPunct("}"))
        fail(fmt::format("block '{}' has no 'return'", b.name), peek().loc);
      b.body.push_back(assign(/*allowOutput=*/false));
    }
    take();
    b.ret = expr();
    expectClose("}", "to close the block body", open);
    prog_.blocks.push_back(std::move(b));
    prog_.order.push_back({ast::Stmt::Block, prog_.blocks.size() - 1});
  }

  ast::Assign assign(bool allowOutput) {
    ast::Assign a;
    a.loc = peek().loc;
    if (isKeyword("output")) {
      if (!allowOutput) fail("'output' is only allowed at the top level", peek().loc);
      take();
      a.isOutput = true;
    }
    a.name = expectName("a value name").text;
    if (isPunct(":")) {
      take();
      a.type = std::make_unique<ast::TypeExpr>(typeExpr());
    }
    expectPunct("=", fmt::format("after '{}'", a.name).c_str());
    a.value = expr();
    a.origin = originFor(a.loc);
    return a;
  }

  ast::TypeExpr typeExpr() {
    ast::TypeExpr t;
    t.loc = peek().loc;
    Token dt = expectName("a type (f32[...], i32[...], bf16[...] or i8[...])");
    if (dt.text == "f32") t.dtype = DType::f32;
    else if (dt.text == "i32") t.dtype = DType::i32;
    else if (dt.text == "bf16") t.dtype = DType::bf16;
    else if (dt.text == "i8") t.dtype = DType::i8;
    else fail(fmt::format("unknown dtype '{}' (f32, i32, bf16 or i8)", dt.text), dt.loc);
    Token open = expectPunct("[", "after the dtype");
    if (!isPunct("]")) {
      do t.dims.push_back(cexpr());
      while (isPunct(",") && (take(), true));
    }
    expectClose("]", "to close the shape", open);
    return t;
  }

  ast::ExprPtr expr() {
    NestingGuard nesting(*this);
    auto e = std::make_unique<ast::Expr>();
    e->loc = peek().loc;
    if (isKeyword("repeat")) {
      take();
      e->kind = ast::Expr::Repeat;
      e->var = expectName("the repeat variable").text;
      expectKeyword("in", "after the repeat variable");
      e->from = cexpr();
      expectPunct("..", "in the repeat range");
      e->to = cexpr();
      expectPunct(":", "after the repeat range");
      e->name = expectName("a block name").text;
      expectPunct("(", "before the block index");
      e->index = cexpr();
      expectPunct(")", "after the block index");
      callArgs(*e);
      return e;
    }
    Token name = expectName("a value or an op");
    e->name = name.text;
    if (!isPunct("(")) {
      e->kind = ast::Expr::Ref;
      if (isPunct("[")) {
        take();
        e->index = cexpr();
        expectPunct("]", "after the layer index");
      }
      return e;
    }
    // op(args) {attrs}, or block(index)(args)
    e->kind = ast::Expr::Call;
    callArgs(*e);
    if (isPunct("(")) {
      if (e->args.size() != 1)
        fail(fmt::format("'{}(...)(...)' calls a block and takes one index", e->name), e->loc);
      e->kind = ast::Expr::BlockCall;
      // Re-read the single argument as an index expression.
      ast::Expr& idx = *e->args[0];
      e->index = refToCExpr(idx);
      e->args.clear();
      callArgs(*e);
      return e;
    }
    if (isPunct("{")) attrs(*e);
    return e;
  }

  /// In block(i)(x), `i` was parsed as a value reference; turn it into a constant expression.
  ast::CExprPtr refToCExpr(const ast::Expr& ref) {
    if (ref.kind != ast::Expr::Ref || ref.index)
      fail("a block index must be a number, a constant or the repeat variable", ref.loc);
    auto c = std::make_unique<ast::CExpr>();
    c->loc = ref.loc;
    if (std::isdigit((unsigned char)ref.name[0])) { // block(0)(x): callArgs kept the number's text
      c->kind = ast::CExpr::Number;
      c->isInt = ref.name.find_first_of(".eE") == std::string::npos;
      c->number = std::strtod(ref.name.c_str(), nullptr);
      if (!c->isInt) fail(fmt::format("a block index must be an integer, got '{}'", ref.name), ref.loc);
      return c;
    }
    c->kind = ast::CExpr::Name;
    c->name = ref.name;
    return c;
  }

  void callArgs(ast::Expr& e) {
    Token open = expectPunct("(", "before the arguments");
    if (!isPunct(")")) {
      do {
        if (e.kind == ast::Expr::Call && peek().kind == Tok::Number) {
          // block(0)(x): a numeric block index
          auto ref = std::make_unique<ast::Expr>();
          ref->kind = ast::Expr::Ref;
          ref->loc = peek().loc;
          ref->name = take().text;
          e.args.push_back(std::move(ref));
        } else {
          e.args.push_back(expr());
        }
      } while (isPunct(",") && (take(), true));
    }
    expectClose(")", "after the arguments", open);
  }

  void attrs(ast::Expr& e) {
    Token open = take();
    if (!isPunct("}")) {
      do {
        ast::AttrExpr a;
        Token name = expectName("an attribute name");
        a.name = name.text;
        a.loc = name.loc;
        for (const auto& prev : e.attrs)
          if (prev.name == a.name) fail(fmt::format("attribute '{}' given twice", a.name), name.loc);
        expectPunct("=", "after the attribute name");
        if (isPunct("[")) {
          Token openList = take();
          a.isList = true;
          if (!isPunct("]")) {
            do a.values.push_back(cexpr());
            while (isPunct(",") && (take(), true));
          }
          expectClose("]", "to close the list", openList);
        } else if (peek().kind == Tok::String) {
          a.isString = true;
          a.text = take().text;
        } else {
          a.values.push_back(cexpr());
        }
        e.attrs.push_back(std::move(a));
      } while (isPunct(",") && (take(), true));
    }
    expectClose("}", "to close the attributes", open);
  }

  // cexpr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ; unary := '-' unary | atom
  // A chain "1 + 1 + ... + 1" is parsed by a loop but builds a left-deep tree that evaluation and
  // destruction walk recursively, so every operator counts as one level of nesting.
  ast::CExprPtr cexpr() {
    auto lhs = term();
    int chain = 0;
    while (isPunct("+") || isPunct("-")) {
      deeper(chain);
      Token op = take(); // sequenced: argument evaluation order is unspecified
      lhs = binary(std::move(lhs), op, term());
    }
    depth_ -= chain;
    return lhs;
  }
  ast::CExprPtr term() {
    auto lhs = unary();
    int chain = 0;
    while (isPunct("*") || isPunct("/")) {
      deeper(chain);
      Token op = take();
      lhs = binary(std::move(lhs), op, unary());
    }
    depth_ -= chain;
    return lhs;
  }
  void deeper(int& chain) {
    ++chain;
    if (++depth_ > kMaxNesting)
      fail(fmt::format("nesting too deep (more than {} levels)", kMaxNesting), peek().loc);
  }
  ast::CExprPtr binary(ast::CExprPtr l, const Token& op, ast::CExprPtr r) {
    auto b = std::make_unique<ast::CExpr>();
    b->kind = ast::CExpr::Binary;
    b->op = op.text[0];
    b->loc = op.loc;
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return b;
  }
  ast::CExprPtr unary() {
    NestingGuard nesting(*this);
    if (isPunct("-")) {
      auto n = std::make_unique<ast::CExpr>();
      n->kind = ast::CExpr::Negate;
      n->loc = take().loc;
      n->args.push_back(unary());
      return n;
    }
    return atom();
  }
  ast::CExprPtr atom() {
    auto c = std::make_unique<ast::CExpr>();
    const Token& t = peek();
    c->loc = t.loc;
    if (t.kind == Tok::Number) {
      c->kind = ast::CExpr::Number;
      c->isInt = t.text.find_first_of(".eE") == std::string::npos;
      c->number = std::strtod(t.text.c_str(), nullptr);
      if (c->isInt && (t.text.size() > 15 || c->number > 9.0e15))
        fail(fmt::format("integer '{}' is too large", t.text), t.loc);
      if (!std::isfinite(c->number)) // 1e400: strtod gives inf; write `inf` when that is meant
        fail(fmt::format("number '{}' is out of range", t.text), t.loc);
      take();
      return c;
    }
    if (isPunct("(")) {
      Token open = take();
      auto inner = cexpr();
      expectClose(")", "to close the parenthesis", open);
      return inner;
    }
    if (t.kind == Tok::Ident && !t.percent) {
      c->name = take().text;
      if (isPunct("(")) {
        c->kind = ast::CExpr::Call;
        take();
        c->args.push_back(cexpr());
        expectPunct(")", "after the function argument");
      } else {
        c->kind = ast::CExpr::Name;
      }
      return c;
    }
    fail(fmt::format("expected a number or a constant, found {}", describe(t)), t.loc);
  }
};

} // namespace

Expected<std::shared_ptr<ast::Program>> parseProgram(const std::string& text, const std::string& file) {
  auto prog = std::make_shared<ast::Program>();
  prog->file = file;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    prog->lines.push_back(line);
  }
  try {
    std::map<int, SourceLoc> origins;
    std::vector<Token> toks = Lexer(text, *prog).run(origins);
    Parser(std::move(toks), std::move(origins), *prog).parseAll();
  } catch (DiagError& e) {
    return e.diag;
  }
  return prog;
}

Expected<Graph> parseGraph(const std::string& text, const std::string& file, const ConstOverrides& overrides) {
  auto prog = parseProgram(text, file);
  if (!prog) return prog.error();
  return expandProgram(**prog, overrides);
}

Expected<std::string> readTextFile(const std::string& path) {
  // A Diag naming the file, without a line (built in one place: GCC 12 misreads brace temporaries
  // in many returns as uninitialised).
  auto fail = [&path](std::string message) -> Expected<std::string> {
    Diag d;
    d.loc.file = path;
    d.message = std::move(message);
    return d;
  };
  // The size is checked before reading: /dev/zero or a 100 MB file is refused at once, not after
  // gigabytes of buffering. Non-regular files (pipes, devices) are read up to the limit.
  std::error_code ec;
  std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(st)) return fail("is a directory, not a model file");
  if (!ec && std::filesystem::is_regular_file(st)) {
    uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxModelFileBytes)
      return fail(fmt::format("the file is {} bytes; a model file is at most {} MiB", size,
                              kMaxModelFileBytes >> 20));
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return fail(std::string("cannot open file: ") + std::strerror(errno));
  std::string text;
  std::vector<char> buf(size_t(1) << 16);
  while (f.read(buf.data(), std::streamsize(buf.size())) || f.gcount() > 0) {
    text.append(buf.data(), size_t(f.gcount()));
    if (text.size() > kMaxModelFileBytes)
      return fail(fmt::format("more than {0} MiB: a model file is at most {0} MiB",
                              kMaxModelFileBytes >> 20));
  }
  if (f.bad()) return fail("cannot read file");
  return text;
}

} // namespace gptc
