#include "ir/graph.h"

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

namespace gptc {

int Graph::addInput(const std::string& name, TensorType type, SourceLoc loc) {
  Value v;
  v.name = name;
  v.type = std::move(type);
  v.kind = ValueKind::Input;
  v.loc = std::move(loc);
  values.push_back(std::move(v));
  byName_[name] = int(values.size()) - 1;
  return int(values.size()) - 1;
}

int Graph::addParam(const std::string& name, TensorType type, ParamInit init, SourceLoc loc) {
  int id = addInput(name, std::move(type), std::move(loc));
  values[id].kind = ValueKind::Param;
  values[id].init = init;
  return id;
}

int Graph::addState(const std::string& name, TensorType type, ParamInit init, SourceLoc loc) {
  int id = addParam(name, std::move(type), init, std::move(loc));
  values[id].kind = ValueKind::State;
  return id;
}

std::string completeAttrs(OpKind kind, Attrs& attrs) {
  const OpInfo& info = opInfo(kind);
  for (const auto& [name, value] : attrs) {
    const AttrSpec* spec = nullptr;
    for (const AttrSpec& s : info.attrs)
      if (s.name == name) spec = &s;
    if (!spec) {
      std::string known;
      for (const AttrSpec& s : info.attrs) known += (known.empty() ? "" : ", ") + s.name;
      return fmt::format("'{}' has no attribute '{}'{}", info.name, name,
                         known.empty() ? " (it takes none)" : " (it takes: " + known + ")");
    }
    bool ok = (spec->kind == AttrKind::Int && std::holds_alternative<int64_t>(value)) ||
              (spec->kind == AttrKind::Float &&
               (std::holds_alternative<double>(value) || std::holds_alternative<int64_t>(value))) ||
              (spec->kind == AttrKind::IntList && std::holds_alternative<std::vector<int64_t>>(value)) ||
              (spec->kind == AttrKind::String && std::holds_alternative<std::string>(value));
    if (!ok) {
      const char* want = spec->kind == AttrKind::Int     ? "an integer"
                         : spec->kind == AttrKind::Float ? "a number"
                         : spec->kind == AttrKind::String ? "a string in double quotes"
                                                         : "a list of integers";
      return fmt::format("attribute '{}' of '{}' must be {}", name, info.name, want);
    }
  }
  for (const AttrSpec& s : info.attrs) {
    auto it = attrs.find(s.name);
    if (it == attrs.end()) {
      if (!s.defaultValue) return fmt::format("'{}' needs attribute '{}'", info.name, s.name);
      attrs[s.name] = *s.defaultValue;
    } else if (s.kind == AttrKind::Float && std::holds_alternative<int64_t>(it->second)) {
      it->second = double(std::get<int64_t>(it->second));
    }
  }
  return "";
}

Expected<int> Graph::addNode(OpKind kind, std::vector<int> operands, Attrs attrs, SourceLoc loc,
                             const std::string& name) {
  const OpInfo& info = opInfo(kind);
  bool countOk = info.acceptsOperandCount(operands.size());
  for (int id : operands)
    if (id < 0 || size_t(id) >= values.size())
      return Diag{loc, fmt::format("'{}': operand id {} is not a value", info.name, id)};
  if (!countOk)
    return Diag{loc, fmt::format("'{}' takes {} operand{} ({}), got {}", info.name,
                                 info.operandCountText(), info.operands.size() == 1 ? "" : "s",
                                 info.operandList(), operands.size())};
  if (std::string err = completeAttrs(kind, attrs); !err.empty()) return Diag{loc, err};
  std::vector<TensorType> types;
  for (int id : operands) types.push_back(values[id].type);
  Expected<TensorType> type = inferType(kind, types, attrs);
  if (!type) return Diag{loc, type.error().message};
  // Attribute-driven shapes (fill, broadcast, sinusoidal, pad) come straight from user input.
  for (int64_t d : type->shape)
    if (d <= 0)
      return Diag{loc, fmt::format("'{}' would give {}, which has a dimension < 1", info.name,
                                   typeToString(*type))};
  if (type->numel() > kMaxTensorElements)
    return Diag{loc, fmt::format("'{}' would give {}, more than 2^34 elements", info.name,
                                 typeToString(*type))};

  std::string vname = name.empty() ? uniqueName(std::to_string(nextTemp_++)) : name;
  while (name.empty() && find(vname) >= 0) vname = std::to_string(nextTemp_++);
  if (find(vname) >= 0) return Diag{loc, fmt::format("'%{}' is already defined", vname)};

  Value v;
  v.name = vname;
  v.type = *type;
  v.kind = ValueKind::Op;
  v.def = int(nodes.size());
  v.loc = loc;
  values.push_back(std::move(v));
  int id = int(values.size()) - 1;
  byName_[vname] = id;
  nodes.push_back(Node{kind, std::move(operands), std::move(attrs), id, std::move(loc)});
  return id;
}

int Graph::add(OpKind kind, std::vector<int> operands, Attrs attrs, SourceLoc loc,
               const std::string& name) {
  Expected<int> r = addNode(kind, std::move(operands), std::move(attrs), std::move(loc),
                            name.empty() ? "" : uniqueName(name));
  if (!r) {
    std::fprintf(stderr, "gptc internal error: building '%s': %s\n",
                 std::string(opName(kind)).c_str(), r.error().message.c_str());
    std::abort();
  }
  return *r;
}

int Graph::find(const std::string& name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? -1 : it->second;
}

std::string Graph::uniqueName(const std::string& base) const {
  if (find(base) < 0) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (find(n) < 0) return n;
  }
}

void Graph::reindex() {
  byName_.clear();
  for (size_t i = 0; i < values.size(); ++i) {
    byName_[values[i].name] = int(i);
    values[i].def = -1;
  }
  for (size_t n = 0; n < nodes.size(); ++n) values[nodes[n].result].def = int(n);
}

void Graph::eraseNodes(const std::vector<bool>& keep) {
  std::vector<int> newId(values.size(), -1);
  std::vector<Value> newValues;
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].kind != ValueKind::Op) {
      newId[i] = int(newValues.size());
      newValues.push_back(values[i]);
    }
  std::vector<Node> newNodes;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (!keep[n]) continue;
    Node node = nodes[n];
    newId[node.result] = int(newValues.size());
    newValues.push_back(values[node.result]);
    for (int& o : node.operands) o = newId[o];
    node.result = newId[node.result];
    newNodes.push_back(std::move(node));
  }
  for (int& o : outputs) o = newId[o];
  for (Update& u : updates) {
    u.state = newId[u.state];
    u.value = newId[u.value];
  }
  values = std::move(newValues);
  nodes = std::move(newNodes);
  reindex();
}

void Graph::replaceAllUses(int from, int to) {
  for (Node& n : nodes)
    for (int& o : n.operands)
      if (o == from) o = to;
  for (int& o : outputs)
    if (o == from) o = to;
  for (Update& u : updates)
    if (u.value == from) u.value = to;
}

bool graphsEqual(const Graph& a, const Graph& b, std::string* why) {
  auto fail = [&](std::string msg) {
    if (why) *why = std::move(msg);
    return false;
  };
  auto decls = [](const Graph& g) {
    std::vector<const Value*> out;
    for (const Value& v : g.values)
      if (v.kind != ValueKind::Op) out.push_back(&v);
    return out;
  };
  auto da = decls(a), db = decls(b);
  if (da.size() != db.size()) return fail("different number of inputs/params");
  for (size_t i = 0; i < da.size(); ++i) {
    const Value &x = *da[i], &y = *db[i];
    if (x.name != y.name || x.kind != y.kind || !(x.type == y.type) || !(x.init == y.init))
      return fail("declaration " + x.name + " differs from " + y.name);
  }
  if (a.nodes.size() != b.nodes.size()) return fail("different number of ops");
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node &x = a.nodes[i], &y = b.nodes[i];
    const Value &rx = a.values[x.result], &ry = b.values[y.result];
    if (x.kind != y.kind || x.attrs != y.attrs || rx.name != ry.name || !(rx.type == ry.type) ||
        !(x.loc == y.loc) || x.operands.size() != y.operands.size())
      return fail("op " + std::to_string(i) + " (%" + rx.name + ") differs");
    for (size_t k = 0; k < x.operands.size(); ++k)
      if (a.values[x.operands[k]].name != b.values[y.operands[k]].name)
        return fail("operand " + std::to_string(k) + " of %" + rx.name + " differs");
  }
  auto names = [](const Graph& g, const std::vector<int>& ids) {
    std::vector<std::string> out;
    for (int id : ids) out.push_back(g.values[id].name);
    return out;
  };
  if (names(a, a.outputs) != names(b, b.outputs)) return fail("outputs differ");
  if (a.updates.size() != b.updates.size()) return fail("updates differ");
  for (size_t i = 0; i < a.updates.size(); ++i)
    if (a.values[a.updates[i].state].name != b.values[b.updates[i].state].name ||
        a.values[a.updates[i].value].name != b.values[b.updates[i].value].name)
      return fail("update " + std::to_string(i) + " differs");
  return true;
}

} // namespace gptc
