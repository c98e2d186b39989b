// Checkpoint files: llm.c's GPT-2 format (`gpt2_124M.bin`: a 1024-byte header, then the 16
// parameter tensors in llm.c's order, f32, each stacked over layers) and gptc's own format for
// models that are not GPT-2 (named tensors with dtype, shape and a CRC-32). Readers validate the
// whole file — header, sizes, exact length, checksum — before returning anything, so a failed load
// leaves the caller's state untouched.
//
// Leaves to others: binding tensors to the compiled model's parameter buffers (runtime executable)
// and what goes into the metadata string (trainer: step, loader state, optimizer config).
#pragma once
#include "runtime/formats/file_io.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

// ---- llm.c GPT-2 --------------------------------------------------------------------------------

constexpr int32_t kLlmcModelMagic = 20240326;
constexpr int32_t kLlmcModelVersion = 3;     // fp32
constexpr int32_t kLlmcModelVersionBf16 = 5; // llm.c's bf16 checkpoints: recognised, refused

/// GPT-2's sizes as llm.c's header stores them.
struct Gpt2Config {
  int32_t maxT = 0; // context length
  int32_t V = 0;    // vocabulary size
  int32_t L = 0;    // layers
  int32_t NH = 0;   // heads
  int32_t C = 0;    // channels
  int32_t Vp = 0;   // vocabulary padded (llm.c: up to a multiple of 128)
  bool operator==(const Gpt2Config&) const = default;
};

/// Name and shape of one llm.c parameter tensor.
struct LlmcTensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

/// The 16 tensors in file order: wte [Vp,C], wpe [maxT,C], ln1w [L,C], ln1b [L,C],
/// qkvw [L,3C,C], qkvb [L,3C], attprojw [L,C,C], attprojb [L,C], ln2w [L,C], ln2b [L,C],
/// fcw [L,4C,C], fcb [L,4C], fcprojw [L,C,4C], fcprojb [L,C], lnfw [C], lnfb [C].
std::vector<LlmcTensorSpec> llmcTensorSpecs(const Gpt2Config& config);

/// Every size positive and sane (C divisible by NH, V <= Vp, bounded), else an error naming
/// `where`.
IoStatus validateGpt2Config(std::string_view where, const Gpt2Config& config);

/// Reads and validates the header alone (magic, version, sizes) and checks that the file length is
/// exactly 1024 + 4 * (sum of tensor sizes) — without reading a byte of weights, so a caller can
/// compare the config with its model first.
IoResult<Gpt2Config> readLlmcHeader(const std::string& path);

/// Ok if equal, else "<path>: L is 12 in the file but 2 in the model" (first differing field).
IoStatus checkConfigMatches(std::string_view path, const Gpt2Config& inFile,
                            const Gpt2Config& inModel);

/// GPT-2 parameters in llm.c's layout: `tensors` in llmcTensorSpecs order.
struct Gpt2Weights {
  Gpt2Config config;
  std::vector<NamedTensor> tensors;
  const NamedTensor* find(std::string_view name) const;
  NamedTensor* find(std::string_view name);
};

/// Zero-filled weights of the right shapes.
Gpt2Weights zeroGpt2Weights(const Gpt2Config& config);
/// The 16 tensors present, named and shaped as llmcTensorSpecs(config) says.
IoStatus checkGpt2Weights(std::string_view where, const Gpt2Weights& weights);

/// Reads a whole llm.c checkpoint. With `expected`, a config mismatch is an error before any
/// weights are read.
IoResult<Gpt2Weights> readLlmcCheckpoint(const std::string& path,
                                         const std::optional<Gpt2Config>& expected = std::nullopt);
/// Writes an llm.c (version 3) checkpoint atomically.
IoStatus writeLlmcCheckpoint(const std::string& path, const Gpt2Weights& weights);

// ---- gptc named-tensor checkpoints ------------------------------------------------------------

constexpr char kGptcCheckpointMagic[8] = {'G', 'P', 'T', 'C', 'C', 'K', 'P', 'T'};
/// Version 1 stores f32 tensors only; version 2 adds bf16 and i8 (quantized weights). A writer
/// uses version 1 when every tensor is f32, so f32 checkpoints stay byte-for-byte as before.
constexpr uint32_t kGptcCheckpointVersion = 2;
constexpr uint32_t kGptcCheckpointVersionF32 = 1;
constexpr uint32_t kGptcDtypeF32 = uint32_t(StoredDType::f32);

/// Any model's state: named tensors (f32, or bf16/i8 in version 2) plus an opaque metadata string
/// (gptc writes JSON or key=value lines there).
struct GptcCheckpoint {
  std::string metadata;
  std::vector<NamedTensor> tensors;
  const NamedTensor* find(std::string_view name) const;
};

/// Writes atomically; names must be unique, non-empty, at most 4096 bytes and free of NUL, rank at
/// most 8, data.size() == numel(shape); a bf16 tensor's values must be bf16 numbers and an i8
/// tensor's integers in [-128, 127] (else an error: nothing is rounded here).
IoStatus writeGptcCheckpoint(const std::string& path, const GptcCheckpoint& checkpoint);
/// Reads and validates everything (structure, exact length, CRC-32 over the whole file) before
/// returning.
IoResult<GptcCheckpoint> readGptcCheckpoint(const std::string& path);

} // namespace gptc
