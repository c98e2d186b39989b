// runtime/exec/executable.cpp — regions, binding and the parallel region around step() (see
// executable.h). Each region is one aligned allocation followed by guard bytes; run() checks the
// guards afterwards, so a kernel that writes past its region is reported instead of silently
// corrupting the heap (ASan cannot see inside one allocation).
#include "runtime/exec/executable.h"
#include "runtime/formats/quantize.h"

#include "codegen/thread_count.h"
#include "codegen/thread_team.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

namespace gptc {

namespace {
constexpr int64_t kGuardBytes = 64;
constexpr unsigned char kGuardByte = 0xA5;
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kMapBytes = size_t(1) << 20; // regions this large are mmap'd (see allocate)

int64_t roundUp64(int64_t n) {
  return (n + 63) / 64 * 64;
}

std::string at(const Node& n) {
  return n.loc.known() ? fmt::format("{}:{}:{}: ", n.loc.file, n.loc.line, n.loc.col) : "";
}
} // namespace

Executable::Block Executable::allocate(int64_t bytes) {
  Block r;
  r.bytes = bytes;
  size_t total = size_t(roundUp64(bytes) + kGuardBytes);
  if (total >= kMapBytes) {
    // Anonymous pages come zeroed, and touched lazily: no memset pass over the whole region. With
    // 2 MiB pages (transparent huge pages on request) the first touch of a GPT-2-sized region
    // costs ~1,000 page faults instead of ~500,000, which is most of the start-up time on a VM.
    r.mapped = (total + kHugePage - 1) / kHugePage * kHugePage;
    void* p = mmap(nullptr, r.mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      r.mapped = 0;
      return r;
    }
    madvise(p, r.mapped, MADV_HUGEPAGE); // advice only: without THP it is still correct
    r.data = static_cast<char*>(p);
  } else {
    r.data = static_cast<char*>(std::aligned_alloc(64, total));
    if (!r.data) return r;
    std::memset(r.data, 0, size_t(bytes));
  }
  std::memset(r.data + bytes, kGuardByte, total - size_t(bytes));
  return r;
}

void Executable::release(Block& r) {
  if (r.mapped)
    munmap(r.data, r.mapped);
  else
    std::free(r.data);
  r = Block{};
}

bool Executable::guardIntact(const Block& r) {
  if (!r.data) return true;
  size_t total = size_t(roundUp64(r.bytes) + kGuardBytes);
  for (size_t i = size_t(r.bytes); i < total; ++i)
    if (static_cast<unsigned char>(r.data[i]) != kGuardByte) return false;
  return true;
}

Executable::~Executable() {
  for (Block* r : {&persistent_, &inputs_, &arena_, &scratch_})
    release(*r);
}

std::unique_ptr<Executable> Executable::create(const Graph& graph, const MemoryPlan& plan,
                                               const CompileOptions& options, std::string* err) {
  std::unique_ptr<Executable> e(new Executable());
  e->g_ = graph;
  e->plan_ = plan;
  e->step_ = compileStep(e->g_, e->plan_, options, err);
  if (!e->step_) return nullptr;
  e->persistent_ = allocate(plan.persistentBytes);
  e->inputs_ = allocate(plan.inputBytes);
  e->arena_ = allocate(plan.arenaBytes);
  if (!e->persistent_.data || !e->inputs_.data || !e->arena_.data) {
    if (err)
      *err = fmt::format("cannot allocate the regions ({} + {} + {} bytes)", plan.persistentBytes,
                         plan.inputBytes, plan.arenaBytes);
    return nullptr;
  }
  e->bound_.assign(graph.values.size(), false);
  return e;
}

int64_t Executable::scratchBytesPerThread() const {
  return step_->scratchBytesPerThread();
}

char* Executable::addressOf(int value) const {
  const ValuePlacement& p = plan_.placement[value];
  char* base = p.region == Region::Persistent ? persistent_.data
               : p.region == Region::Input    ? inputs_.data
                                              : arena_.data;
  return base + p.offset;
}

std::string Executable::bindBytes(const std::string& name, const void* data, int64_t count,
                                  DType dtype) {
  int v = g_.find(name);
  if (v < 0) return fmt::format("no value named '{}'", name);
  const Value& val = g_.value(v);
  if (val.kind == ValueKind::Op)
    return fmt::format("'{}' is computed by the step, not bound", name);
  if (val.type.dtype != dtype || val.type.numel() != count)
    return fmt::format("'{}' is {}, got {} {} values", name, typeToString(val.type), count,
                       dtypeName(dtype));
  std::memcpy(addressOf(v), data, size_t(count) * 4);
  bound_[v] = true;
  return "";
}

std::string Executable::bind(const std::string& name, std::span<const float> data) {
  return bindBytes(name, data.data(), int64_t(data.size()), DType::f32);
}
std::string Executable::bind(const std::string& name, std::span<const int32_t> data) {
  return bindBytes(name, data.data(), int64_t(data.size()), DType::i32);
}
std::string Executable::bind(const std::string& name, const Tensor& t) {
  if (t.type.dtype == DType::f32) return bind(name, std::span<const float>(t.f));
  if (t.type.dtype == DType::bf16 || t.type.dtype == DType::i8) {
    // Host tensors hold bf16/i8 as floats; the step reads the narrow bytes.
    int v = g_.find(name);
    if (v < 0) return fmt::format("no value named '{}'", name);
    if (g_.value(v).kind == ValueKind::Op)
      return fmt::format("'{}' is computed by the step, not bound", name);
    if (g_.type(v) != t.type || int64_t(t.f.size()) != t.numel())
      return fmt::format("'{}' is {}, got {}", name, typeToString(g_.type(v)),
                         typeToString(t.type));
    packFloats(t.type.dtype, t.f.data(), t.numel(), addressOf(v));
    bound_[v] = true;
    return "";
  }
  return bind(name, std::span<const int32_t>(t.i));
}

std::string Executable::initParams(uint64_t seed) {
  // Straight into the persistent region, one value per thread at a time (each value's stream is
  // its own, so the split changes nothing). State starts from seed 0, as in the interpreter.
  std::vector<int> todo;
  for (size_t v = 0; v < g_.values.size(); ++v)
    if (g_.values[v].kind == ValueKind::Param || g_.values[v].kind == ValueKind::State)
      todo.push_back(int(v));
  // Largest first, so the big tables do not end up last on one thread.
  std::stable_sort(todo.begin(), todo.end(),
                   [&](int a, int b) { return g_.type(a).numel() > g_.type(b).numel(); });
  parallelForEach(int64_t(todo.size()), [&](int64_t i) {
    const Value& val = g_.values[size_t(todo[size_t(i)])];
    initValueInto(val, val.kind == ValueKind::Param ? seed : 0, addressOf(todo[size_t(i)]));
  });
  return "";
}

std::string Executable::checkIndexInputs() const {
  // The ops whose data, not shapes, can be wrong; only ids that come straight from an input are
  // checked here (ids computed in the graph are the graph's business).
  for (const Node& n : g_.nodes) {
    int ids = -1;
    int64_t limit = 0, ignore = INT64_MIN;
    const char* what = "token id";
    if (n.kind == OpKind::Embedding) {
      ids = n.operands[0];
      limit = g_.type(n.operands[1]).shape[0];
    } else if (n.kind == OpKind::EmbeddingGrad) {
      ids = n.operands[0];
      limit = attrInt(n.attrs, "rows");
    } else if (n.kind == OpKind::EmbeddingGradAdd) {
      ids = n.operands[1];
      limit = g_.type(n.operands[0]).shape[0];
    } else if (n.kind == OpKind::CrossEntropy || n.kind == OpKind::CrossEntropyGrad) {
      ids = n.operands[1];
      int64_t classes = attrInt(n.attrs, "classes");
      limit = classes ? classes : g_.type(n.operands[0]).shape.back();
      ignore = attrInt(n.attrs, "ignore_index");
      what = "target";
    } else {
      continue;
    }
    if (g_.value(ids).kind != ValueKind::Input) continue;
    const int32_t* p = reinterpret_cast<const int32_t*>(addressOf(ids));
    for (int64_t i = 0; i < g_.type(ids).numel(); ++i)
      if (p[i] != ignore && (p[i] < 0 || p[i] >= limit))
        return fmt::format("{}error: {}: {} {} at index {} of %{} is outside [0, {})", at(n),
                           opName(n.kind), what, p[i], i, g_.value(ids).name, limit);
  }
  return "";
}

std::string Executable::run(int threads) {
  for (size_t v = 0; v < g_.values.size(); ++v)
    if (g_.values[v].kind == ValueKind::Input && !bound_[v])
      return fmt::format("input '{}' was never bound", g_.values[v].name);
  if (std::string e = checkIndexInputs(); !e.empty()) return e;
  if (threads <= 0) threads = defaultThreadCount();
  const int64_t perThread = roundUp64(std::max<int64_t>(step_->scratchBytesPerThread(), 64));
  if (threads > scratchThreads_) {
    release(scratch_);
    scratch_ = allocate(perThread * threads);
    if (!scratch_.data) return "cannot allocate the per-thread scratch";
    scratchThreads_ = threads;
  }
  StepFn step = step_->step();
  step_->resetWork(reversedClaims_);
  char *p = persistent_.data, *in = inputs_.data, *a = arena_.data, *s = scratch_.data;
  ThreadTeam::shared().run(threads,
                           [&](int tid, int nt) { step(p, in, a, s + perThread * tid, tid, nt); });
  for (const Block* r : {&persistent_, &inputs_, &arena_, &scratch_})
    if (!guardIntact(*r)) return "a kernel wrote past the end of its region (guard bytes changed)";
  return "";
}

const float* Executable::output(const std::string& name) const {
  int v = g_.find(name);
  if (v < 0 || g_.type(v).dtype != DType::f32) return nullptr;
  bool isOutput = false;
  for (int o : g_.outputs)
    isOutput |= o == v;
  if (!isOutput && plan_.placement[v].region == Region::Arena) return nullptr;
  return reinterpret_cast<const float*>(addressOf(v));
}

std::string Executable::read(const std::string& name, Tensor* out) const {
  int v = g_.find(name);
  if (v < 0) return fmt::format("no value named '{}'", name);
  bool isOutput = false;
  for (int o : g_.outputs)
    isOutput |= o == v;
  if (!isOutput && plan_.placement[v].region == Region::Arena)
    return fmt::format("'{}' is an intermediate: its arena bytes are reused; make it an output",
                       name);
  *out = Tensor(g_.type(v));
  if (out->type.dtype == DType::bf16 || out->type.dtype == DType::i8) {
    unpackFloats(out->type.dtype, addressOf(v), out->numel(), out->f.data());
    return "";
  }
  void* dst = out->type.dtype == DType::f32 ? static_cast<void*>(out->f.data()) : out->i.data();
  std::memcpy(dst, addressOf(v), size_t(g_.type(v).bytes()));
  return "";
}

float* Executable::param(const std::string& name) {
  int v = g_.find(name);
  if (v < 0 || g_.type(v).dtype != DType::f32) return nullptr;
  if (plan_.placement[v].region != Region::Persistent) return nullptr;
  return reinterpret_cast<float*>(addressOf(v));
}

std::vector<std::string> Executable::persistentNames() const {
  std::vector<std::string> out;
  for (const Value& v : g_.values)
    if (v.kind == ValueKind::Param || v.kind == ValueKind::State) out.push_back(v.name);
  return out;
}

} // namespace gptc
