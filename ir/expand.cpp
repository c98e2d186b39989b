// expand: the model language (constants, blocks, repeat) -> flat SSA Graph.
//
// Evaluates constants in order (command-line overrides replace a constant's value where it is
// declared), inlines each block call with its index bound, and names every value: a block-local `h`
// in layer 3 becomes %h.3, a stacked parameter's layer `ln1w[l]` becomes a `select` named %ln1w.3,
// and a nested call without a name gets a number. Shapes are inferred as values are built (the op
// table's shape rules), so a mismatch is reported at the call that causes it, with the layer.
// Every dropout without an explicit salt gets a distinct one, so no two dropouts share a mask.
// It leaves simplification, CSE and DCE to the passes.
#include "ir/parser.h"

#include <cctype>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <set>

namespace gptc {
namespace {

struct Num {
  double v = 0;
  bool isInt = false;
};

class Expander {
public:
  Expander(const ast::Program& p, const ConstOverrides& o) : prog_(p), overrides_(o) {}

  Graph run() {
    for (const auto& [name, text] : overrides_) {
      bool found = false;
      for (const auto& c : prog_.consts) found |= c.name == name;
      // No line of the file is to blame: the diagnostic names the file only.
      if (!found)
        fail(fmt::format("--set {}: the model has no constant '{}'", name, name), SourceLoc{prog_.file, 0, 0});
    }
    for (const ast::Stmt& s : prog_.order) {
      switch (s.kind) {
      case ast::Stmt::Const: constDecl(prog_.consts[s.index]); break;
      case ast::Stmt::Decl: decl(prog_.decls[s.index]); break;
      case ast::Stmt::Block: {
        const ast::Block& b = prog_.blocks[s.index];
        checkFreshName(b.name, b.loc);
        blocks_[b.name] = &b;
        break;
      }
      case ast::Stmt::Assign: topAssign(prog_.assigns[s.index]); break;
      case ast::Stmt::Marker: marker(prog_.markers[s.index]); break;
      }
    }
    return std::move(g_);
  }

private:
  const ast::Program& prog_;
  const ConstOverrides& overrides_;
  Graph g_;
  std::map<std::string, Num> consts_;
  std::map<std::string, const ast::Block*> blocks_;
  std::map<std::string, int> globals_; // top-level names -> value ids
  std::set<int> outputSet_;
  int64_t nextSalt_ = 1;

  struct Scope {
    std::map<std::string, int>* locals = nullptr; // null at the top level
    std::string indexVar;
    int64_t index = 0;
    std::string suffix; // ".3" inside layer 3
    std::vector<std::string> callStack;
  };

  [[noreturn]] void fail(const std::string& msg, const SourceLoc& loc) {
    throw DiagError{Diag{loc, msg, loc.file == prog_.file ? prog_.lineText(loc.line) : ""}};
  }

  // ---- constants ----
  Num evalC(const ast::CExpr& e, const Scope* scope) {
    switch (e.kind) {
    case ast::CExpr::Number: return {e.number, e.isInt};
    case ast::CExpr::Name: {
      if (scope && e.name == scope->indexVar) return {double(scope->index), true};
      auto it = consts_.find(e.name);
      if (it != consts_.end()) return it->second;
      if (e.name == "inf") return {std::numeric_limits<double>::infinity(), false};
      fail(fmt::format("unknown constant '{}'", e.name), e.loc);
    }
    case ast::CExpr::Negate: {
      Num n = evalC(*e.args[0], scope);
      return {-n.v, n.isInt};
    }
    case ast::CExpr::Call: {
      Num n = evalC(*e.args[0], scope);
      if (e.name == "sqrt") {
        if (n.v < 0) fail("sqrt of a negative number", e.loc);
        return {std::sqrt(n.v), false};
      }
      if (e.name == "log") {
        if (n.v <= 0) fail("log of a non-positive number", e.loc);
        return {std::log(n.v), false};
      }
      fail(fmt::format("unknown function '{}' in a constant expression (sqrt, log)", e.name), e.loc);
    }
    case ast::CExpr::Binary: {
      Num a = evalC(*e.args[0], scope), b = evalC(*e.args[1], scope);
      bool ints = a.isInt && b.isInt;
      // NaN would print as "nan", which reads back as an unknown constant, and compares unequal to
      // itself, so it is refused where it arises.
      double r = e.op == '+' ? a.v + b.v : e.op == '-' ? a.v - b.v : a.v * b.v;
      if (e.op != '/' && std::isnan(r))
        fail(fmt::format("{} {} {} is not a number", a.v, e.op, b.v), e.loc);
      switch (e.op) {
      case '+':
      case '-':
      case '*': return {r, ints};
      case '/':
        if (b.v == 0) fail("division by zero in a constant expression", e.loc);
        if (std::isinf(a.v) && std::isinf(b.v)) fail("inf / inf is not a number", e.loc);
        if (ints) {
          if (std::fmod(a.v, b.v) != 0)
            fail(fmt::format("{} / {} is not a whole number (write {}.0 / {} for a fraction)", a.v, b.v,
                             a.v, b.v),
                 e.loc);
          return {a.v / b.v, true};
        }
        return {a.v / b.v, false};
      }
    }
    }
    fail("bad constant expression", e.loc);
  }

  int64_t evalInt(const ast::CExpr& e, const Scope* scope, const char* what) {
    Num n = evalC(e, scope);
    if (!n.isInt) fail(fmt::format("{} must be an integer, got {}", what, n.v), e.loc);
    if (std::fabs(n.v) > 1e15) fail(fmt::format("{} is out of range: {}", what, n.v), e.loc);
    return int64_t(n.v);
  }

  void constDecl(const ast::ConstDecl& c) {
    if (consts_.count(c.name)) fail(fmt::format("constant '{}' is already defined", c.name), c.loc);
    Num value;
    auto ov = overrides_.find(c.name);
    if (ov != overrides_.end()) {
      // The override's text is not in the file, so its errors point at the constant it replaces.
      auto p = parseProgram("const __v = " + ov->second, "--set " + c.name);
      if (!p || (*p)->consts.size() != 1 || (*p)->order.size() != 1)
        fail(fmt::format("--set {}={}: not a number or constant expression", c.name, ov->second), c.loc);
      try {
        value = evalC(*(*p)->consts[0].value, nullptr);
      } catch (DiagError& e) {
        fail(fmt::format("--set {}={}: {}", c.name, ov->second, e.diag.message), c.loc);
      }
    } else {
      value = evalC(*c.value, nullptr);
    }
    consts_[c.name] = value;
  }

  TensorType evalType(const ast::TypeExpr& t, const Scope* scope) {
    TensorType out{t.dtype, {}};
    for (const auto& d : t.dims) {
      int64_t n = evalInt(*d, scope, "a dimension");
      if (n <= 0) fail(fmt::format("dimension must be positive, got {}", n), d->loc);
      out.shape.push_back(n);
    }
    if (out.shape.size() > 8) fail("at most 8 dimensions", t.loc);
    if (numelOf(out.shape) > kMaxTensorElements)
      fail(fmt::format("tensor too large ({} elements; at most 2^34)", shapeToString(out.shape)), t.loc);
    return out;
  }

  void checkFreshName(const std::string& name, const SourceLoc& loc) {
    if (globals_.count(name) || consts_.count(name) || blocks_.count(name) || g_.find(name) >= 0)
      fail(fmt::format("'{}' is already defined", name), loc);
    if (opKindByName(name)) fail(fmt::format("'{}' is an op name and cannot name a value", name), loc);
  }

  void decl(const ast::Decl& d) {
    checkFreshName(d.name, d.loc);
    TensorType t = evalType(d.type, nullptr);
    int id;
    if (d.isParam) {
      ParamInit init;
      // bf16 and i8 params are quantized weights (passes/quantize.cpp), read back from a dump.
      if (t.dtype == DType::i32) fail("parameters and state must be f32 (or bf16, i8)", d.type.loc);
      if (d.init == "zeros") init.kind = ParamInit::Zeros;
      else if (d.init == "ones") init.kind = ParamInit::Ones;
      else {
        init.kind = ParamInit::Normal;
        init.stddev = d.initArg ? evalC(*d.initArg, nullptr).v : 0.02;
        if (!(init.stddev >= 0) || std::isinf(init.stddev))
          fail("normal(std) needs a finite std >= 0", d.initArg->loc);
      }
      id = d.isState ? g_.addState(d.name, t, init, d.origin) : g_.addParam(d.name, t, init, d.origin);
    } else {
      id = g_.addInput(d.name, t, d.origin);
    }
    globals_[d.name] = id;
  }

  void topAssign(const ast::Assign& a) {
    checkFreshName(a.name, a.loc);
    Scope top;
    int id = nameResult(expr(*a.value, top, a.name, a.origin), *a.value, a.name);
    if (a.type) checkType(id, evalType(*a.type, nullptr), a.type->loc, a.name);
    globals_[a.name] = id;
    if (a.isOutput) addOutput(id, a.loc);
  }

  /// `xL = repeat ...` and `u = block(l)(...)`: the block's result keeps a numbered name from inside
  /// the block; give it the assignment's name so dumps read like the model.
  int nameResult(int id, const ast::Expr& e, const std::string& name) {
    if (e.kind != ast::Expr::Repeat && e.kind != ast::Expr::BlockCall) return id;
    Value& v = g_.values[id];
    if (v.kind != ValueKind::Op || v.name.empty() || !std::isdigit((unsigned char)v.name[0])) return id;
    if (g_.find(name) >= 0) return id;
    v.name = name;
    g_.reindex();
    return id;
  }

  void addOutput(int id, const SourceLoc& loc) {
    if (!outputSet_.insert(id).second) fail(fmt::format("'{}' is already an output", g_.values[id].name), loc);
    g_.outputs.push_back(id);
  }

  void marker(const ast::Marker& m) {
    int id = lookup(m.name, nullptr, m.loc);
    if (!m.isUpdate) return addOutput(id, m.loc);
    int value = lookup(m.value, nullptr, m.loc);
    // Inputs are fed afresh each step, so only persistent values (params, state) can be replaced.
    if (g_.values[id].kind == ValueKind::Op || g_.values[id].kind == ValueKind::Input)
      fail(fmt::format("'{}' is not a param or state and cannot be updated", m.name), m.loc);
    if (g_.values[id].type != g_.values[value].type)
      fail(fmt::format("update of '{}' ({}) with a value of type {}", m.name,
                       typeToString(g_.values[id].type), typeToString(g_.values[value].type)),
           m.loc);
    for (const Update& u : g_.updates)
      if (u.state == id) fail(fmt::format("'{}' is updated twice", m.name), m.loc);
    g_.updates.push_back({id, value});
  }

  void checkType(int id, const TensorType& want, const SourceLoc& loc, const std::string& name) {
    if (g_.values[id].type != want)
      fail(fmt::format("'{}' is declared {} but its value is {}", name, typeToString(want),
                       typeToString(g_.values[id].type)),
           loc);
  }

  int lookup(const std::string& name, const Scope* scope, const SourceLoc& loc) {
    if (scope && scope->locals) {
      auto it = scope->locals->find(name);
      if (it != scope->locals->end()) return it->second;
    }
    auto it = globals_.find(name);
    if (it != globals_.end()) return it->second;
    int id = g_.find(name);
    if (id >= 0) return id;
    if (consts_.count(name))
      fail(fmt::format("'{}' is a constant; ops take values as operands (numbers go in attributes: "
                       "op(x) {{name = {}}})",
                       name, name),
           loc);
    if (!name.empty() && std::isdigit((unsigned char)name[0]))
      fail(fmt::format("'{}' is a number; ops take values as operands (numbers go in attributes)", name), loc);
    if (blocks_.count(name)) fail(fmt::format("'{}' is a block; call it as {}(index)(args)", name, name), loc);
    fail(fmt::format("unknown value '{}'", name), loc);
  }

  /// Evaluates an expression to a value id. `name`/`origin`: what to call the value the expression's
  /// top op produces and where it came from (a nested call gets a fresh number and its own location).
  int expr(const ast::Expr& e, Scope& scope, const std::string& name, const SourceLoc& origin) {
    switch (e.kind) {
    case ast::Expr::Ref: {
      int id = lookup(e.name, &scope, e.loc);
      if (!e.index) {
        if (!name.empty() && scope.locals == nullptr)
          fail(fmt::format("'{} = {}' only renames a value; an assignment needs an op on the right",
                           name, e.name),
               e.loc);
        return id;
      }
      int64_t i = evalInt(*e.index, &scope, "a layer index");
      std::string vname = g_.uniqueName(name.empty() ? g_.values[id].name + "." + std::to_string(i)
                                                    : name + scope.suffix);
      return build(OpKind::Select, {id}, {{"index", AttrValue(i)}}, e.loc, origin, vname);
    }
    case ast::Expr::Call: {
      auto kind = opKindByName(e.name);
      if (!kind) {
        if (blocks_.count(e.name))
          fail(fmt::format("'{}' is a block; call it as {}(index)(args)", e.name, e.name), e.loc);
        fail(fmt::format("unknown op '{}'", e.name), e.loc);
      }
      std::vector<int> operands;
      for (const auto& a : e.args) operands.push_back(expr(*a, scope, "", a->loc));
      Attrs attrs;
      for (const ast::AttrExpr& a : e.attrs) {
        if (a.isString) {
          attrs[a.name] = a.text;
        } else if (a.isList) {
          std::vector<int64_t> list;
          for (const auto& v : a.values) list.push_back(evalInt(*v, &scope, "a list element"));
          attrs[a.name] = list;
        } else {
          Num n = evalC(*a.values[0], &scope);
          if (n.isInt) attrs[a.name] = evalInt(*a.values[0], &scope, "an integer attribute");
          else attrs[a.name] = n.v;
        }
      }
      if (*kind == OpKind::Dropout && !attrs.count("salt")) attrs["salt"] = nextSalt_++;
      std::string vname = name.empty() ? "" : name + scope.suffix;
      if (!vname.empty()) vname = g_.uniqueName(vname);
      return build(*kind, operands, attrs, e.loc, origin, vname);
    }
    case ast::Expr::BlockCall: {
      int64_t i = evalInt(*e.index, &scope, "a block index");
      std::vector<int> args;
      for (const auto& a : e.args) args.push_back(expr(*a, scope, "", a->loc));
      return callBlock(e, i, args, scope);
    }
    case ast::Expr::Repeat: {
      int64_t from = evalInt(*e.from, &scope, "the start of a repeat range");
      int64_t to = evalInt(*e.to, &scope, "the end of a repeat range");
      if (to < from) fail(fmt::format("empty or reversed repeat range {}..{}", from, to), e.loc);
      if (to - from > 100000) fail("repeat range too long", e.loc);
      std::vector<int> args;
      for (const auto& a : e.args) args.push_back(expr(*a, scope, "", a->loc));
      if (args.empty()) fail("repeat needs at least one argument to thread through the layers", e.loc);
      if (to == from) return args[0];
      Scope rangeScope = scope;
      rangeScope.indexVar = e.var;
      for (int64_t i = from; i < to; ++i) {
        rangeScope.index = i;
        int64_t idx = evalInt(*e.index, &rangeScope, "a block index");
        args[0] = callBlock(e, idx, args, scope);
      }
      return args[0];
    }
    }
    fail("bad expression", e.loc);
  }

  int build(OpKind kind, std::vector<int> operands, Attrs attrs, const SourceLoc& loc,
            const SourceLoc& origin, const std::string& name) {
    Expected<int> r = g_.addNode(kind, std::move(operands), std::move(attrs), origin, name);
    if (!r) {
      // Most shape rules already start with the op's name ("matmul contraction dims differ").
      const std::string& msg = r.error().message;
      std::string_view op = opName(kind);
      std::string quoted = fmt::format("'{}'", op);
      bool named = msg.compare(0, quoted.size(), quoted) == 0 ||
                   (msg.compare(0, op.size(), op) == 0 && msg.size() > op.size() &&
                    (msg[op.size()] == ' ' || msg[op.size()] == ':' || msg[op.size()] == '\''));
      fail(named ? msg : fmt::format("{}: {}", op, msg), loc);
    }
    return *r;
  }

  int callBlock(const ast::Expr& call, int64_t index, const std::vector<int>& args, const Scope& outer) {
    auto it = blocks_.find(call.name);
    if (it == blocks_.end()) fail(fmt::format("unknown block '{}'", call.name), call.loc);
    const ast::Block& b = *it->second;
    for (const std::string& s : outer.callStack)
      if (s == b.name) fail(fmt::format("block '{}' calls itself", b.name), call.loc);
    if (args.size() != b.params.size())
      fail(fmt::format("block '{}' takes {} argument{}, got {}", b.name, b.params.size(),
                       b.params.size() == 1 ? "" : "s", args.size()),
           call.loc);
    std::map<std::string, int> locals;
    Scope scope;
    scope.locals = &locals;
    scope.indexVar = b.indexVar;
    scope.index = index;
    scope.suffix = "." + std::to_string(index);
    scope.callStack = outer.callStack;
    scope.callStack.push_back(b.name);
    for (size_t k = 0; k < args.size(); ++k) {
      TensorType want = evalType(b.params[k].second, &scope);
      if (g_.values[args[k]].type != want)
        fail(fmt::format("block '{}' parameter '{}' is {} but the argument is {}", b.name,
                         b.params[k].first, typeToString(want), typeToString(g_.values[args[k]].type)),
             call.loc);
      locals[b.params[k].first] = args[k];
    }
    for (const ast::Assign& a : b.body) {
      if (locals.count(a.name) || consts_.count(a.name) || a.name == b.indexVar)
        fail(fmt::format("'{}' is already defined", a.name), a.loc);
      int id = nameResult(expr(*a.value, scope, a.name, a.origin), *a.value, a.name + scope.suffix);
      if (a.type) checkType(id, evalType(*a.type, &scope), a.type->loc, a.name);
      locals[a.name] = id;
    }
    int result = expr(*b.ret, scope, "", b.ret->loc);
    TensorType want = evalType(b.result, &scope);
    if (g_.values[result].type != want)
      fail(fmt::format("block '{}' returns {} but declares {}", b.name,
                       typeToString(g_.values[result].type), typeToString(want)),
           b.ret->loc);
    return result;
  }
};

} // namespace

Expected<Graph> expandProgram(const ast::Program& program, const ConstOverrides& overrides) {
  try {
    return Expander(program, overrides).run();
  } catch (DiagError& e) {
    return e.diag;
  }
}

} // namespace gptc
