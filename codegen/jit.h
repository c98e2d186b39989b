// codegen/jit.h — gptc's JIT: a small wrapper around LLVM ORC's LLJIT, in the spirit of LLVM's
// KaleidoscopeJIT (create, addModule, lookup), plus what gptc needs around it: an O3 pipeline run
// on every module, capture of the IR before/after optimisation and of the assembly (for
// `--emit=llvm` / `--emit=asm`), absolute symbols for callbacks into the process, and an on-disk
// object cache so that compiling the same module twice costs a file read.
//
// This header is LLVM-free (pimpl) because runtime/ and tools/ include it. Errors are values:
// functions return false / nullptr and fill `*err` with a one-line reason; nothing throws.
//
// What it leaves to others: emitting the IR (codegen/llvm_context.h's ModuleBuilder, filled by the
// lowerings and by codegen/matmul.cpp), and deciding which modules to build.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace gptc::codegen {

class ModuleBuilder; // codegen/llvm_context.h (LLVM-facing)

/// How the JIT caches compiled objects on disk.
///   directory: `cacheDir` if set, else $GPTC_CACHE_DIR, else $XDG_CACHE_HOME/gptc, else
///   ~/.cache/gptc. GPTC_CACHE_DIR=off (or useCache=false) disables the cache.
///   key: SHA-256 of (module IR text before optimisation, CPU name, CPU features, opt level,
///   LLVM version, cache format version). Files are written atomically (temp file + rename).
///   Trust: codegen/object_cache.h (a 0700 folder of the user's, a keyed checksum per entry; a
///   bad entry is discarded with a warning and compiled again, never executed).
struct JitOptions {
  bool useCache = true;
  std::string cacheDir; ///< empty: the default directory described above
  /// Keep the LLVM IR text before and after the O3 pipeline / the assembly of every module.
  /// While capturing, the cache is written but not read, so the dumps are always complete.
  bool captureIR = false;
  bool captureAsm = false;
  int optLevel = 3; ///< 0..3: the PassBuilder default pipeline and codegen level
  /// Where cache warnings go (a discarded entry, an unusable folder); unset: one line on stderr.
  std::function<void(const std::string&)> warn;
};

/// Counters, for tests and `--stats`.
struct JitStats {
  int modulesAdded = 0;
  int cacheHits = 0;     ///< modules loaded from the object cache (no optimisation, no codegen)
  int cacheMisses = 0;   ///< modules optimised and compiled (and then written to the cache)
  int cacheRejected = 0; ///< bad entries discarded (then compiled: they count as misses too)
  double optimizeSeconds = 0; ///< time in the O3 pipeline
};

class Jit {
public:
  /// Creates a JIT for the host CPU (name and features from the host). nullptr + *err on failure.
  static std::unique_ptr<Jit> create(const JitOptions& options, std::string* err);
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  /// Verifies, optimises (O3) and adds the module; consumes the builder. With the cache on, a
  /// module seen before is loaded from disk instead. Code is generated lazily at the first lookup
  /// of one of its symbols (a cache miss writes the object file then).
  bool addModule(ModuleBuilder&& module, std::string* err);

  /// Parses textual LLVM IR (a .ll file's contents) into a module and adds it as addModule does.
  /// For tests and for loading hand-written helpers; `name` is used in error messages.
  bool addModuleFromIR(std::string_view irText, std::string_view name, std::string* err);

  /// Address of a symbol defined by an added module (or by the process / defineAbsolute),
  /// or nullptr and *err (if given).
  void* lookup(std::string_view name, std::string* err = nullptr);

  /// Makes `name` resolve to `address` in JIT'd code (e.g. a runtime barrier or a logging hook).
  /// Symbols of the process itself (libc, libgomp, ...) resolve without this.
  bool defineAbsolute(std::string_view name, void* address, std::string* err);

  /// With JitOptions::captureIR: the IR of every module added so far, before/after O3.
  std::string irBeforeOptimization() const;
  std::string irAfterOptimization() const;
  /// With JitOptions::captureAsm: the assembly of every module added so far.
  std::string assembly() const;

  std::string cpuName() const;
  std::string cpuFeatures() const;
  /// The cache directory in use, or "" when the cache is off.
  std::string cacheDirectory() const;
  JitStats stats() const;

private:
  Jit();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace gptc::codegen
