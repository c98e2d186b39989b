// Token data for training: llm.c token shards (a 1024-byte header, then uint16 tokens), raw uint16
// token files, the train/validation split, and the two ways batches are drawn from tokens —
// random windows, deterministic from (seed, step), and llm.c's sequential DataLoader order — with
// a loader state that can be saved and restored so a resumed run sees the same batches.
//
// Leaves to others: tokenizing text (bpe_tokenizer, char_tokenizer), copying batches into the
// compiled step's input buffers (runtime executable), and when to save the state (trainer).
#pragma once
#include "runtime/formats/file_io.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

// ---- files ------------------------------------------------------------------------------------

constexpr int32_t kLlmcTokensMagic = 20240520;
constexpr int32_t kLlmcTokensVersion = 1;
constexpr size_t kLlmcHeaderBytes = 256 * sizeof(int32_t);

/// The validated header of an llm.c token shard.
struct LlmcTokensHeader {
  int32_t version = 0;
  int64_t tokenCount = 0;
};

/// Reads and validates the header alone: magic, version, and that the file holds exactly
/// tokenCount tokens (no truncation, no trailing bytes).
IoResult<LlmcTokensHeader> readLlmcTokensHeader(const std::string& path);
/// Reads a whole shard. When vocabSize > 0 every token must be < vocabSize. Nothing is returned
/// unless everything checks.
IoResult<std::vector<uint16_t>> readLlmcTokens(const std::string& path, int32_t vocabSize = 0);
/// Writes a shard atomically (at most 2^31-1 tokens, as the header count is an int32).
IoStatus writeLlmcTokens(const std::string& path, std::span<const uint16_t> tokens);

/// A headerless file of little-endian uint16 tokens (nanoGPT's train.bin). Its length must be even.
IoResult<std::vector<uint16_t>> readRawTokens(const std::string& path, int32_t vocabSize = 0);
IoStatus writeRawTokens(const std::string& path, std::span<const uint16_t> tokens);

/// Every token < vocabSize, else an error "<where>: token 50300 at index 17 is outside the
/// vocabulary (size 50257)".
IoStatus checkTokenRange(std::string_view where, std::span<const uint16_t> tokens,
                         int32_t vocabSize);
/// Narrows tokenizer output (int32 ids) to uint16 storage; ids outside 0..65535 are an error.
IoResult<std::vector<uint16_t>> narrowTokens(std::span<const int32_t> ids);

// ---- split ------------------------------------------------------------------------------------

struct TokenSplit {
  std::vector<uint16_t> train, val;
};
/// The last `valFraction` of the tokens (rounded down) is validation, the rest training — the
/// nanoGPT/char-GPT convention (a contiguous tail, so no window straddles both). valFraction must
/// be in [0, 1).
IoResult<TokenSplit> splitTrainVal(std::span<const uint16_t> tokens, double valFraction = 0.1);

// ---- batches ----------------------------------------------------------------------------------

/// One batch: inputs and targets are [B, T] row-major, targets[b][t] = the token after
/// inputs[b][t].
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> inputs, targets;
};

/// Where a loader is, for resume. Saved with the training checkpoint.
struct LoaderState {
  enum Kind : uint32_t { Random = 1, Sequential = 2 };
  uint32_t kind = Random;
  uint64_t seed = 0;     // Random only
  uint64_t step = 0;     // batches drawn so far
  uint64_t shard = 0;    // Sequential only: current shard
  uint64_t position = 0; // Sequential only: token offset of the next batch in the shard (rank 0)
  int64_t B = 0, T = 0;  // checked on restore: a state is only meaningful for the same shape
  int64_t rank = 0, worldSize = 1;
};

/// Small binary file (docs/file-formats.md, "loader state"), written atomically.
IoStatus saveLoaderState(const std::string& path, const LoaderState& state);
IoResult<LoaderState> loadLoaderState(const std::string& path);

/// Random windows: row b of the batch at `step` starts at an offset that depends only on
/// (seed, step, rank * B + b), via a counter-based generator (SplitMix64's mixer; see
/// docs/file-formats.md), so batch k is the same whether or not batches 0..k-1 were drawn, on any
/// platform and standard library. With worldSize > 1 each rank draws different rows.
class RandomBatchSampler {
public:
  /// Needs at least T + 1 tokens; B, T >= 1; 0 <= rank < worldSize.
  static IoResult<RandomBatchSampler> create(std::vector<uint16_t> tokens, int B, int T,
                                             uint64_t seed, int rank = 0, int worldSize = 1);
  /// The batch of `step` (pure: does not move the sampler).
  Batch sample(uint64_t step) const;
  /// sample(step()) and advance.
  Batch next();
  uint64_t step() const { return step_; }
  /// Start offset of row `row` (0..B-1) at `step`; exposed so tests and docs can check the formula.
  uint64_t offset(uint64_t step, int row) const;

  LoaderState state() const;
  /// Continues from a saved state; fails (and changes nothing) if it is of another kind, seed or
  /// shape.
  IoStatus restore(const LoaderState& s);

private:
  RandomBatchSampler() = default;
  std::vector<uint16_t> tokens_;
  int B_ = 0, T_ = 0, rank_ = 0, world_ = 1;
  uint64_t seed_ = 0, step_ = 0;
};

/// llm.c's DataLoader order: consecutive B*T windows through each shard in turn (rank r of W reads
/// window r of each group of W), wrapping to the first shard after the last. A shard's tail too
/// short for a whole group is skipped, as in llm.c.
class SequentialLoader {
public:
  /// Every shard needs at least worldSize * B * T + 1 tokens.
  static IoResult<SequentialLoader> create(std::vector<std::vector<uint16_t>> shards, int B, int T,
                                           int rank = 0, int worldSize = 1);
  Batch next();
  /// Back to the first window of the first shard.
  void reset();
  LoaderState state() const;
  /// Fails (and changes nothing) unless the state fits these shards and this shape.
  IoStatus restore(const LoaderState& s);

private:
  SequentialLoader() = default;
  std::vector<std::vector<uint16_t>> shards_;
  int B_ = 0, T_ = 0, rank_ = 0, world_ = 1;
  uint64_t shard_ = 0, position_ = 0, step_ = 0;
};

} // namespace gptc
