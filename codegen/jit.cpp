// codegen/jit.cpp — the ORC LLJIT wrapper (see jit.h): host target machine, O3 pipeline, IR/asm
// capture, process + absolute symbols, and the on-disk object cache.
//
// Flow of Jit::addModule:
//   verify → print IR (cache key + --emit=llvm) → cache hit? add the object file, done
//          → O3 (PassBuilder default pipeline) → [asm of a clone] → LLJIT::addIRModule
//   LLJIT compiles at the first lookup; its SimpleCompiler asks the same ObjectCache first and
//   hands it every object it compiles, which writes it to disk.
// LLVM reports errors with llvm::Error / Expected; they become strings at this file's boundary.
#include "codegen/jit.h"

#include "codegen/llvm_context.h"
#include "codegen/object_cache.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/ObjectCache.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace gptc::codegen {

namespace {

/// Bump when anything that changes generated objects without changing the IR text changes
/// (pipeline options, codegen flags).
constexpr const char* kCacheFormat = "gptc-objcache-v2"; // v2: entries carry a keyed .sum
constexpr const char* kKeyPrefix = "gptc-";

bool fail(std::string* err, std::string msg) {
  if (err) *err = std::move(msg);
  return false;
}

std::string errText(llvm::Error e) {
  return llvm::toString(std::move(e));
}

std::string defaultCacheDir() {
  if (const char* d = std::getenv("GPTC_CACHE_DIR")) {
    std::string s = d;
    if (s == "off" || s == "0" || s.empty()) return "";
    return s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/gptc";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/gptc";
  return "";
}

/// Prints a warning the way JitOptions::warn asks (stderr by default).
void warnUser(const JitOptions& o, const std::string& msg) {
  if (o.warn)
    o.warn(msg);
  else
    std::fprintf(stderr, "gptc: warning: %s\n", msg.c_str());
}

/// llvm::ObjectCache on disk. The key travels as the module identifier ("gptc-<sha256>"), set by
/// Jit::addModule from the unoptimised IR text, so LLVM's SimpleCompiler and our hit path agree.
/// Entries are `<key>.o` plus `<key>.sum` (object_cache.h): an entry whose sum does not verify
/// is deleted and reported, and the module is compiled again.
class DiskObjectCache : public llvm::ObjectCache {
public:
  /// Sets up the folder and the key; on any problem the cache is off (with one warning).
  void open(std::string dir, const JitOptions* options, JitStats* stats) {
    options_ = options;
    stats_ = stats;
    dir_.clear();
    if (dir.empty()) return;
    std::string why = prepareCacheDirectory(dir);
    if (why.empty()) why = loadOrCreateCacheKey(dir, &key_);
    if (!why.empty()) {
      // Several JITs are created per run: say it once.
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) warnUser(*options_, why + "; running without the JIT cache");
      return;
    }
    dir_ = std::move(dir);
  }
  bool enabled() const { return !dir_.empty(); }
  const std::string& directory() const { return dir_; }

  std::unique_ptr<llvm::MemoryBuffer> getObject(const llvm::Module* m) override {
    const std::string id = m->getModuleIdentifier();
    std::string path = pathFor(id);
    if (path.empty()) return nullptr;
    std::string object, sum;
    std::string why = readCacheFile(path, kMaxCachedObjectBytes, &object);
    if (why == "missing") return nullptr;
    if (why.empty()) {
      why = readCacheFile(path + ".sum", 4096, &sum);
      if (why == "missing") why = "no checksum file";
    }
    if (why.empty()) why = checkCacheEntry(key_, id, object, sum);
    if (!why.empty()) {
      discard(path, why);
      return nullptr;
    }
    // A copy in our memory: what runs is exactly what was checked, whatever the file does next.
    return llvm::MemoryBuffer::getMemBufferCopy(object, id);
  }

  void notifyObjectCompiled(const llvm::Module* m, llvm::MemoryBufferRef obj) override {
    const std::string id = m->getModuleIdentifier();
    std::string path = pathFor(id);
    if (path.empty()) return;
    // A cache that cannot be written (a full disk) is not an error: the code is already compiled.
    // The sum goes first: a reader that sees the object sees its sum. Concurrent writers of one
    // key write identical bytes; if they ever did not, readers would discard the entry.
    std::string_view bytes(obj.getBufferStart(), obj.getBufferSize());
    if (!writeCacheFile(path + ".sum", makeCacheSum(key_, id, bytes))) return;
    if (!writeCacheFile(path, bytes)) {
      std::error_code ec;
      std::filesystem::remove(path + ".sum", ec);
    }
  }

  /// Deletes a bad entry and says so (one line naming the file).
  void discard(const std::string& path, const std::string& why) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + ".sum", ec);
    if (stats_) stats_->cacheRejected++;
    warnUser(*options_, "JIT cache entry " + path + ": " + why +
                            "; discarded, compiling again (GPTC_CACHE_DIR=off disables the cache)");
  }

  std::string pathFor(const std::string& id) const {
    if (dir_.empty() || id.rfind(kKeyPrefix, 0) != 0) return "";
    return dir_ + "/" + id + ".o";
  }

private:
  std::string dir_;
  CacheKey key_{};
  const JitOptions* options_ = nullptr;
  JitStats* stats_ = nullptr;
};

std::string printModule(const llvm::Module& m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  m.print(os, nullptr);
  return s;
}

std::string cacheKey(const std::string& irText, const HostTarget& host, int optLevel) {
  llvm::SHA256 h;
  auto add = [&](llvm::StringRef s) {
    h.update(s);
    h.update(llvm::StringRef("\0", 1));
  };
  add(kCacheFormat);
  add(LLVM_VERSION_STRING);
  add(host.cpu);
  add(host.features);
  add(std::to_string(optLevel));
  add(irText);
  std::array<uint8_t, 32> digest = h.final();
  static const char* hex = "0123456789abcdef";
  std::string out = kKeyPrefix;
  for (uint8_t b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

llvm::CodeGenOptLevel codeGenLevel(int opt) {
  switch (opt) {
  case 0:
    return llvm::CodeGenOptLevel::None;
  case 1:
    return llvm::CodeGenOptLevel::Less;
  case 2:
    return llvm::CodeGenOptLevel::Default;
  default:
    return llvm::CodeGenOptLevel::Aggressive;
  }
}

} // namespace

struct Jit::Impl {
  JitOptions options;
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb;
  std::unique_ptr<llvm::TargetMachine> tm; // drives the O3 pipeline's cost model
  DiskObjectCache cache;                   // must outlive `jit` (its compiler points here)
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::string irBefore, irAfter, asmText;
  JitStats stats;

  void optimize(llvm::Module& m) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions pto;
    pto.LoopVectorization = options.optLevel >= 2;
    pto.SLPVectorization = options.optLevel >= 2;
    llvm::PassBuilder pb(tm.get(), pto);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::OptimizationLevel level = options.optLevel <= 0   ? llvm::OptimizationLevel::O0
                                    : options.optLevel == 1 ? llvm::OptimizationLevel::O1
                                    : options.optLevel == 2 ? llvm::OptimizationLevel::O2
                                                            : llvm::OptimizationLevel::O3;
    llvm::ModulePassManager mpm = level == llvm::OptimizationLevel::O0
                                      ? pb.buildO0DefaultPipeline(level)
                                      : pb.buildPerModuleDefaultPipeline(level);
    mpm.run(m, mam);
  }

  bool emitAssembly(const llvm::Module& m, std::string* out, std::string* err) {
    auto asmTm = jtmb->createTargetMachine();
    if (!asmTm) return fail(err, "cannot create target machine: " + errText(asmTm.takeError()));
    std::unique_ptr<llvm::Module> clone = llvm::CloneModule(m); // codegen mutates its module
    llvm::SmallString<0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if ((*asmTm)->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
      return fail(err, "the target cannot emit assembly");
    pm.run(*clone);
    out->append(buf.begin(), buf.end());
    return true;
  }
};

Jit::Jit() : impl_(std::make_unique<Impl>()) {}
Jit::~Jit() = default;

std::unique_ptr<Jit> Jit::create(const JitOptions& options, std::string* err) {
  initializeNativeTarget();
  std::unique_ptr<Jit> j(new Jit());
  Impl& I = *j->impl_;
  I.options = options;
  I.cache.open(options.useCache ? (options.cacheDir.empty() ? defaultCacheDir() : options.cacheDir)
                                : std::string(),
               &I.options, &I.stats);

  const HostTarget& host = hostTarget();
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(host.triple)};
  jtmb.setCPU(host.cpu);
  std::vector<std::string> feats;
  llvm::SmallVector<llvm::StringRef, 64> parts;
  llvm::StringRef(host.features).split(parts, ',', -1, false);
  for (llvm::StringRef p : parts)
    feats.push_back(p.str());
  jtmb.addFeatures(feats);
  jtmb.setCodeGenOptLevel(codeGenLevel(options.optLevel));
  I.jtmb = jtmb;

  auto tm = jtmb.createTargetMachine();
  if (!tm) {
    fail(err, "cannot create target machine for " + host.triple + ": " + errText(tm.takeError()));
    return nullptr;
  }
  I.tm = std::move(*tm);

  DiskObjectCache* cache = &I.cache;
  auto jit = llvm::orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(jtmb)
                 .setCompileFunctionCreator(
                     [cache](llvm::orc::JITTargetMachineBuilder b)
                         -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                       auto ctm = b.createTargetMachine();
                       if (!ctm) return ctm.takeError();
                       return std::make_unique<llvm::orc::TMOwningSimpleCompiler>(
                           std::move(*ctm), cache->enabled() ? cache : nullptr);
                     })
                 .create();
  if (!jit) {
    fail(err, "cannot create LLJIT: " + errText(jit.takeError()));
    return nullptr;
  }
  I.jit = std::move(*jit);

  // Symbols of the process (libc, libm, libgomp, the runtime's exported helpers) resolve from
  // JIT'd code, as in KaleidoscopeJIT.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      I.jit->getDataLayout().getGlobalPrefix());
  if (!gen) {
    fail(err, "cannot search the process for symbols: " + errText(gen.takeError()));
    return nullptr;
  }
  I.jit->getMainJITDylib().addGenerator(std::move(*gen));
  return j;
}

bool Jit::addModule(ModuleBuilder&& builder, std::string* err) {
  Impl& I = *impl_;
  std::unique_ptr<llvm::LLVMContext> ctx = builder.takeContext();
  std::unique_ptr<llvm::Module> m = builder.takeModule();
  if (!ctx || !m) return fail(err, "addModule: the ModuleBuilder was already consumed");
  const std::string name = m->getModuleIdentifier();

  m->setDataLayout(I.jit->getDataLayout());
  m->setTargetTriple(I.jit->getTargetTriple().str());
  {
    std::string msg;
    llvm::raw_string_ostream os(msg);
    if (llvm::verifyModule(*m, &os)) {
      m.reset();
      return fail(err, "module '" + name + "' is invalid: " + msg);
    }
  }
  const std::string irText = printModule(*m);
  const std::string key = cacheKey(irText, hostTarget(), I.options.optLevel);
  m->setModuleIdentifier(key);
  I.stats.modulesAdded++;
  const bool capturing = I.options.captureIR || I.options.captureAsm;
  if (I.options.captureIR) I.irBefore += irText;

  if (I.cache.enabled() && !capturing) {
    if (std::unique_ptr<llvm::MemoryBuffer> obj = I.cache.getObject(m.get())) {
      // A verified entry that LLVM still refuses is discarded like a corrupt one.
      if (auto e = I.jit->addObjectFile(std::move(obj))) {
        I.cache.discard(I.cache.pathFor(key), "not a loadable object: " + errText(std::move(e)));
      } else {
        m.reset();
        I.stats.cacheHits++;
        return true;
      }
    }
  }

  auto t0 = std::chrono::steady_clock::now();
  I.optimize(*m);
  I.stats.optimizeSeconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (I.options.captureIR) {
    // Show the module under its own name, not the cache key.
    m->setModuleIdentifier(name);
    I.irAfter += printModule(*m);
    m->setModuleIdentifier(key);
  }
  if (I.options.captureAsm) {
    I.asmText += "# ---- module " + name + "\n";
    if (!I.emitAssembly(*m, &I.asmText, err)) return false;
  }
  I.stats.cacheMisses++;
  if (auto e = I.jit->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(m), llvm::orc::ThreadSafeContext(std::move(ctx)))))
    return fail(err, "cannot add module '" + name + "': " + errText(std::move(e)));
  return true;
}

bool Jit::addModuleFromIR(std::string_view irText, std::string_view name, std::string* err) {
  auto ctx = std::make_unique<llvm::LLVMContext>();
  llvm::SMDiagnostic diag;
  auto buf = llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(irText.data(), irText.size()),
                                              llvm::StringRef(name.data(), name.size()),
                                              /*RequiresNullTerminator=*/false);
  std::unique_ptr<llvm::Module> parsed = llvm::parseIR(buf->getMemBufferRef(), diag, *ctx);
  if (!parsed) {
    return fail(err, std::string(name) + ":" + std::to_string(diag.getLineNo()) + ":" +
                         std::to_string(diag.getColumnNo() + 1) +
                         ": error: " + diag.getMessage().str());
  }
  parsed->setModuleIdentifier(llvm::StringRef(name.data(), name.size()));
  return addModule(ModuleBuilder::adopt(std::move(ctx), std::move(parsed)), err);
}

void* Jit::lookup(std::string_view name, std::string* err) {
  auto addr = impl_->jit->lookup(llvm::StringRef(name.data(), name.size()));
  if (!addr) {
    fail(err, "symbol '" + std::string(name) + "' not found: " + errText(addr.takeError()));
    return nullptr;
  }
  return addr->toPtr<void*>();
}

bool Jit::defineAbsolute(std::string_view name, void* address, std::string* err) {
  Impl& I = *impl_;
  llvm::orc::SymbolMap syms;
  syms[I.jit->mangleAndIntern(llvm::StringRef(name.data(), name.size()))] =
      llvm::orc::ExecutorSymbolDef(llvm::orc::ExecutorAddr::fromPtr(address),
                                   llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  if (auto e = I.jit->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(syms))))
    return fail(err, "cannot define '" + std::string(name) + "': " + errText(std::move(e)));
  return true;
}

std::string Jit::irBeforeOptimization() const {
  return impl_->irBefore;
}
std::string Jit::irAfterOptimization() const {
  return impl_->irAfter;
}
std::string Jit::assembly() const {
  return impl_->asmText;
}
std::string Jit::cpuName() const {
  return hostTarget().cpu;
}
std::string Jit::cpuFeatures() const {
  return hostTarget().features;
}
std::string Jit::cacheDirectory() const {
  return impl_->cache.directory();
}
JitStats Jit::stats() const {
  return impl_->stats;
}

} // namespace gptc::codegen
