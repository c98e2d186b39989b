// codegen/llvm_context.cpp — host target description, the fast-math policy and ModuleBuilder
// (see llvm_context.h). Leaves optimisation and compilation to jit.cpp.
#include "codegen/llvm_context.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace gptc::codegen {

const HostTarget& hostTarget() {
  static const HostTarget host = [] {
    HostTarget h;
    h.triple = llvm::sys::getProcessTriple();
    h.cpu = llvm::sys::getHostCPUName().str();
    std::vector<std::string> feats;
    for (const auto& f : llvm::sys::getHostCPUFeatures())
      feats.push_back((f.second ? "+" : "-") + f.first().str());
    // StringMap order is unspecified: sort so the string (and the cache key) is stable.
    std::sort(feats.begin(), feats.end());
    for (const auto& f : feats) {
      if (!h.features.empty()) h.features += ',';
      h.features += f;
      if (f == "+avx2") h.avx2 = true;
      if (f == "+fma") h.fma = true;
      if (f == "+avx512f") h.avx512f = true;
    }
    return h;
  }();
  return host;
}

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

llvm::FastMathFlags fastMathPolicy() {
  // The one place where gptc's fast-math flags are chosen; the reasons are in llvm_context.h.
  llvm::FastMathFlags f;
  f.setAllowContract(true);
  f.setAllowReassoc(true);
  return f;
}

void applyFastMathPolicy(llvm::IRBuilderBase& b) {
  b.setFastMathFlags(fastMathPolicy());
}

void applyTargetAttributes(llvm::Function& f) {
  const HostTarget& h = hostTarget();
  f.addFnAttr("target-cpu", h.cpu);
  f.addFnAttr("target-features", h.features);
  if (h.avx512f) {
    f.addFnAttr("min-legal-vector-width", "512");
    f.addFnAttr("prefer-vector-width", "512");
  }
  f.addFnAttr(llvm::Attribute::NoUnwind);
}

ModuleBuilder::ModuleBuilder(std::string_view name)
    : ctx_(std::make_unique<llvm::LLVMContext>()),
      module_(std::make_unique<llvm::Module>(llvm::StringRef(name.data(), name.size()), *ctx_)) {
  module_->setTargetTriple(hostTarget().triple);
}

ModuleBuilder ModuleBuilder::adopt(std::unique_ptr<llvm::LLVMContext> ctx,
                                   std::unique_ptr<llvm::Module> module) {
  ModuleBuilder mb;
  mb.ctx_ = std::move(ctx);
  mb.module_ = std::move(module);
  return mb;
}

ModuleBuilder::~ModuleBuilder() {
  module_.reset();
} // before the context
ModuleBuilder::ModuleBuilder(ModuleBuilder&&) noexcept = default;
ModuleBuilder& ModuleBuilder::operator=(ModuleBuilder&& o) noexcept {
  module_.reset();
  ctx_ = std::move(o.ctx_);
  module_ = std::move(o.module_);
  return *this;
}

static llvm::Function* makeFunction(llvm::Module& m, llvm::FunctionType* type,
                                    std::string_view name, llvm::GlobalValue::LinkageTypes link) {
  auto* f =
      llvm::Function::Create(type, link, llvm::Twine(llvm::StringRef(name.data(), name.size())), m);
  applyTargetAttributes(*f);
  return f;
}

llvm::Function* ModuleBuilder::createFunction(llvm::FunctionType* type, std::string_view name) {
  return makeFunction(*module_, type, name, llvm::GlobalValue::ExternalLinkage);
}

llvm::Function* ModuleBuilder::createInternalFunction(llvm::FunctionType* type,
                                                      std::string_view name) {
  return makeFunction(*module_, type, name, llvm::GlobalValue::InternalLinkage);
}

} // namespace gptc::codegen
