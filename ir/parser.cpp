// Recursive-descent parser for the gptc text form. It builds the AST (ir/ast.h) and checks only
// syntax; names, shapes and constants are checked by the expander, which knows the environment.
// Statements are not newline-terminated; a trailing comment of the form "# file:line:col" on a
// statement's last line records where the statement came from (dumps carry their model's locations).
#include "ir/parser.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <sstream>

namespace gptc {
namespace {

enum class Tok : uint8_t { End, Ident, Number, Punct };

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
    for (;;) {
      skipSpaceAndComments(origins);
      if (pos_ >= text_.size()) break;
      out.push_back(next());
    }
    Token end;
    end.loc = here();
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
    static const std::regex locComment(R"(^#\s*([^\s:]+):(\d+):(\d+)\s*$)");
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
      while (pos_ < text_.size()) {
        char d = text_[pos_];
        if (std::isdigit((unsigned char)d)) {
        } else if (d == '.') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '.') break; // a range "0..L"
        } else if ((d == 'e' || d == 'E') && pos_ + 1 < text_.size() &&
                   (std::isdigit((unsigned char)text_[pos_ + 1]) ||
                    ((text_[pos_ + 1] == '-' || text_[pos_ + 1] == '+') && pos_ + 2 < text_.size() &&
                     std::isdigit((unsigned char)text_[pos_ + 2])))) {
          t.text += d;
          advance();
          d = text_[pos_];
        } else {
          break;
        }
        t.text += d;
        advance();
      }
      if (pos_ < text_.size() && identStart(text_[pos_]))
        fail(fmt::format("malformed number '{}{}'", t.text, text_[pos_]), t.loc);
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
    if (std::strchr("()[]{},:=+-*/", c)) {
      t.kind = Tok::Punct;
      t.text = std::string(1, c);
      advance();
      return t;
    }
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

  const Token& peek(size_t ahead = 0) const { return toks_[std::min(i_ + ahead, toks_.size() - 1)]; }
  Token take() { return toks_[std::min(i_++, toks_.size() - 1)]; }

  [[noreturn]] void fail(const std::string& msg, const SourceLoc& loc) {
    throw DiagError{Diag{loc, msg, prog_.lineText(loc.line)}};
  }
  static std::string describe(const Token& t) {
    if (t.kind == Tok::End) return "end of file";
    if (t.kind == Tok::Ident) return fmt::format("'{}{}'", t.percent ? "%" : "", t.text);
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
        std::string pname = expectName("a block parameter name").text;
        expectPunct(":", "before the parameter's type");
        b.params.emplace_back(pname, typeExpr());
      } while (isPunct(",") && (take(), true));
    }
    expectPunct(")", "after the block's parameters");
    expectPunct("->", "before the block's result type");
    b.result = typeExpr();
    expectPunct("{", "to open the block body");
    while (!isKeyword("return")) {
      if (peek().kind == Tok::End) fail(fmt::format("block '{}' has no 'return'", b.name), peek().loc);
      b.body.push_back(assign(/*allowOutput=*/false));
    }
    take();
    b.ret = expr();
    expectPunct("}", "to close the block body");
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
    Token dt = expectName("a type (f32[...] or i32[...])");
    if (dt.text == "f32") t.dtype = DType::f32;
    else if (dt.text == "i32") t.dtype = DType::i32;
    else fail(fmt::format("unknown dtype '{}' (f32 or i32)", dt.text), dt.loc);
    expectPunct("[", "after the dtype");
    if (!isPunct("]")) {
      do t.dims.push_back(cexpr());
      while (isPunct(",") && (take(), true));
    }
    expectPunct("]", "to close the shape");
    return t;
  }

  ast::ExprPtr expr() {
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
      fail("a block index must be a constant or the repeat variable", ref.loc);
    auto c = std::make_unique<ast::CExpr>();
    c->kind = ast::CExpr::Name;
    c->name = ref.name;
    c->loc = ref.loc;
    return c;
  }

  void callArgs(ast::Expr& e) {
    expectPunct("(", "before the arguments");
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
    expectPunct(")", "after the arguments");
  }

  void attrs(ast::Expr& e) {
    take();
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
          take();
          a.isList = true;
          if (!isPunct("]")) {
            do a.values.push_back(cexpr());
            while (isPunct(",") && (take(), true));
          }
          expectPunct("]", "to close the list");
        } else {
          a.values.push_back(cexpr());
        }
        e.attrs.push_back(std::move(a));
      } while (isPunct(",") && (take(), true));
    }
    expectPunct("}", "to close the attributes");
  }

  // cexpr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ; unary := '-' unary | atom
  ast::CExprPtr cexpr() {
    auto lhs = term();
    while (isPunct("+") || isPunct("-")) {
      Token op = take(); // sequenced: argument evaluation order is unspecified
      lhs = binary(std::move(lhs), op, term());
    }
    return lhs;
  }
  ast::CExprPtr term() {
    auto lhs = unary();
    while (isPunct("*") || isPunct("/")) {
      Token op = take();
      lhs = binary(std::move(lhs), op, unary());
    }
    return lhs;
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
      take();
      return c;
    }
    if (isPunct("(")) {
      take();
      auto inner = cexpr();
      expectPunct(")", "to close the parenthesis");
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
  std::ifstream f(path, std::ios::binary);
  if (!f) return Diag{{path, 0, 0}, std::string("cannot open file: ") + std::strerror(errno)};
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Diag{{path, 0, 0}, "cannot read file"};
  return ss.str();
}

} // namespace gptc
