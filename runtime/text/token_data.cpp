// Token files, split and batch loaders (see token_data.h). Readers validate sizes from the header
// against the file length before allocating, so a corrupt count cannot trigger a huge allocation,
// and return nothing unless the whole file checks.
#include "runtime/text/token_data.h"

#include <limits>

namespace gptc {
namespace {

std::string num(uint64_t v) {
  return std::to_string(v);
}

/// SplitMix64's output function: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

void fillRow(const std::vector<uint16_t>& tokens, uint64_t start, int T, int32_t* in,
             int32_t* tgt) {
  for (int t = 0; t < T; ++t) {
    in[t] = tokens[start + uint64_t(t)];
    tgt[t] = tokens[start + uint64_t(t) + 1];
  }
}

IoStatus checkShape(std::string_view who, int B, int T, int rank, int world) {
  if (B < 1 || T < 1)
    return ioError(who, "B and T must be positive (B=" + std::to_string(B) +
                            ", T=" + std::to_string(T) + ")");
  if (int64_t(B) * T > (int64_t(1) << 30))
    return ioError(who, "B*T = " + std::to_string(int64_t(B) * T) + " is more than 2^30 tokens");
  if (world < 1 || rank < 0 || rank >= world)
    return ioError(who,
                   "rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world - 1));
  return {};
}

IoStatus checkStateShape(std::string_view who, const LoaderState& s, int B, int T, int rank,
                         int world) {
  auto field = [&](const char* name, int64_t saved, int64_t mine) -> IoStatus {
    if (saved == mine) return {};
    return ioError(who, std::string("cannot restore: ") + name + " is " + std::to_string(saved) +
                            " in the saved state but " + std::to_string(mine) + " in this loader");
  };
  for (auto st : {field("B", s.B, B), field("T", s.T, T), field("rank", s.rank, rank),
                  field("worldSize", s.worldSize, world)})
    if (!st) return st;
  return {};
}

} // namespace

// ---- files ------------------------------------------------------------------------------------

IoResult<LlmcTokensHeader> readLlmcTokensHeader(const std::string& path) {
  auto f = FileReader::open(path);
  if (!f) return f.ioError();
  uint64_t size = f->size();
  if (size == 0) return ioError(path, "empty file (expected an llm.c token shard)");
  if (size < kLlmcHeaderBytes)
    return ioError(path, "too short for an llm.c token shard: " + num(size) +
                             " bytes, the header alone is 1024");
  uint8_t h[16];
  if (IoStatus st = f->readAt(0, h, sizeof h); !st) return st.ioError();
  int32_t magic = loadI32(h), version = loadI32(h + 4), count = loadI32(h + 8);
  if (magic != kLlmcTokensMagic)
    return ioError(path, "bad magic " + std::to_string(magic) + " (expected " +
                             std::to_string(kLlmcTokensMagic) + "): not an llm.c token shard");
  if (version != kLlmcTokensVersion)
    return ioError(path, "unsupported version " + std::to_string(version) + " (gptc reads " +
                             std::to_string(kLlmcTokensVersion) + ")");
  if (count < 0) return ioError(path, "negative token count " + std::to_string(count));
  uint64_t want = kLlmcHeaderBytes + 2 * uint64_t(count);
  if (size < want)
    return ioError(path, "truncated: the header says " + num(uint64_t(count)) + " tokens (" +
                             num(want) + " bytes with the header) but the file has " + num(size) +
                             " bytes");
  if (size > want)
    return ioError(path, "size mismatch: the header says " + num(uint64_t(count)) + " tokens (" +
                             num(want) + " bytes with the header) but the file has " + num(size) +
                             " bytes (" + num(size - want) + " trailing)");
  return LlmcTokensHeader{version, count};
}

IoResult<std::vector<uint16_t>> readLlmcTokens(const std::string& path, int32_t vocabSize) try {
  auto h = readLlmcTokensHeader(path);
  if (!h) return h.ioError();
  auto f = FileReader::open(path);
  if (!f) return f.ioError();
  if (f->size() != kLlmcHeaderBytes + 2 * uint64_t(h->tokenCount))
    return ioError(path, "file changed size while being read");
  std::vector<uint16_t> tokens(size_t(h->tokenCount));
  if (IoStatus st = f->readAt(kLlmcHeaderBytes, tokens.data(), tokens.size() * 2); !st)
    return st.ioError();
  if (vocabSize > 0)
    if (IoStatus st = checkTokenRange(path, tokens, vocabSize); !st) return st.ioError();
  return tokens;
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoStatus writeLlmcTokens(const std::string& path, std::span<const uint16_t> tokens) try {
  if (tokens.size() > size_t(std::numeric_limits<int32_t>::max()))
    return ioError(path, num(tokens.size()) + " tokens do not fit an llm.c shard (int32 count)");
  std::vector<uint8_t> header;
  header.reserve(kLlmcHeaderBytes);
  appendI32(header, kLlmcTokensMagic);
  appendI32(header, kLlmcTokensVersion);
  appendI32(header, int32_t(tokens.size()));
  header.resize(kLlmcHeaderBytes, 0);
  auto w = AtomicFileWriter::create(path);
  if (!w) return w.ioError();
  if (IoStatus st = w->write(header); !st) return st;
  if (IoStatus st = w->write(tokens.data(), tokens.size() * 2); !st) return st;
  return w->commit();
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoResult<std::vector<uint16_t>> readRawTokens(const std::string& path, int32_t vocabSize) try {
  auto f = FileReader::open(path);
  if (!f) return f.ioError();
  if (f->size() % 2 != 0)
    return ioError(path, "odd length " + num(f->size()) +
                             ": not a whole number of uint16 tokens (truncated?)");
  std::vector<uint16_t> tokens(size_t(f->size() / 2));
  if (IoStatus st = f->readAt(0, tokens.data(), tokens.size() * 2); !st) return st.ioError();
  if (vocabSize > 0)
    if (IoStatus st = checkTokenRange(path, tokens, vocabSize); !st) return st.ioError();
  return tokens;
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoStatus writeRawTokens(const std::string& path, std::span<const uint16_t> tokens) try {
  auto w = AtomicFileWriter::create(path);
  if (!w) return w.ioError();
  if (IoStatus st = w->write(tokens.data(), tokens.size() * 2); !st) return st;
  return w->commit();
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoStatus checkTokenRange(std::string_view where, std::span<const uint16_t> tokens,
                         int32_t vocabSize) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (int32_t(tokens[i]) >= vocabSize)
      return ioError(where, "token " + std::to_string(tokens[i]) + " at index " + num(i) +
                                " is outside the vocabulary (size " + std::to_string(vocabSize) +
                                ")");
  return {};
}

IoResult<std::vector<uint16_t>> narrowTokens(std::span<const int32_t> ids) try {
  std::vector<uint16_t> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] > 65535)
      return ioError("tokens", "id " + std::to_string(ids[i]) + " at index " + num(i) +
                                   " does not fit uint16 token storage");
    out[i] = uint16_t(ids[i]);
  }
  return out;
} catch (const std::exception& e) {
  return ioError(std::string_view("tokens"), std::string("failed: ") + e.what());
}

// ---- split ------------------------------------------------------------------------------------

IoResult<TokenSplit> splitTrainVal(std::span<const uint16_t> tokens, double valFraction) try {
  if (!(valFraction >= 0.0 && valFraction < 1.0))
    return ioError("train/val split",
                   "validation fraction " + std::to_string(valFraction) + " is outside [0, 1)");
  auto nVal = size_t(double(tokens.size()) * valFraction);
  size_t nTrain = tokens.size() - nVal;
  TokenSplit s;
  s.train.assign(tokens.begin(), tokens.begin() + long(nTrain));
  s.val.assign(tokens.begin() + long(nTrain), tokens.end());
  return s;
} catch (const std::exception& e) {
  return ioError(std::string_view("train/val split"), std::string("failed: ") + e.what());
}

// ---- loader state file --------------------------------------------------------------------------

namespace {
constexpr uint32_t kStateMagic = 0x53444C47; // "GLDS"
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateBytes = 4 * 4 + 8 * 8 + 4; // magic version kind reserved, 8 u64, crc
} // namespace

IoStatus saveLoaderState(const std::string& path, const LoaderState& s) try {
  std::vector<uint8_t> b;
  appendU32(b, kStateMagic);
  appendU32(b, kStateVersion);
  appendU32(b, s.kind);
  appendU32(b, 0);
  for (uint64_t v : {s.seed, s.step, s.shard, s.position, uint64_t(s.B), uint64_t(s.T),
                     uint64_t(s.rank), uint64_t(s.worldSize)})
    appendU64(b, v);
  appendU32(b, crc32(b.data(), b.size()));
  return writeFileAtomic(path, b);
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoResult<LoaderState> loadLoaderState(const std::string& path) try {
  auto bytes = readFileBytes(path, 4096);
  if (!bytes) return bytes.ioError();
  const auto& b = *bytes;
  if (b.empty()) return ioError(path, "empty file (expected a gptc loader state)");
  if (b.size() < 8)
    return ioError(path, "too short for a loader state (" + num(b.size()) + " bytes)");
  if (loadU32(b.data()) != kStateMagic)
    return ioError(path, "bad magic " + num(loadU32(b.data())) + " (expected " + num(kStateMagic) +
                             ", \"GLDS\"): not a gptc loader state");
  if (loadU32(b.data() + 4) != kStateVersion)
    return ioError(path, "unsupported version " + num(loadU32(b.data() + 4)) + " (gptc reads 1)");
  if (b.size() != kStateBytes)
    return ioError(path, "size mismatch: " + num(b.size()) + " bytes, a loader state is " +
                             num(kStateBytes));
  uint32_t stored = loadU32(b.data() + kStateBytes - 4), actual = crc32(b.data(), kStateBytes - 4);
  if (stored != actual) return ioError(path, "checksum mismatch: the file is corrupt");
  LoaderState s;
  s.kind = loadU32(b.data() + 8);
  if (s.kind != LoaderState::Random && s.kind != LoaderState::Sequential)
    return ioError(path, "unknown loader kind " + num(s.kind));
  const uint8_t* p = b.data() + 16;
  s.seed = loadU64(p);
  s.step = loadU64(p + 8);
  s.shard = loadU64(p + 16);
  s.position = loadU64(p + 24);
  s.B = loadI64(p + 32);
  s.T = loadI64(p + 40);
  s.rank = loadI64(p + 48);
  s.worldSize = loadI64(p + 56);
  return s;
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

// ---- RandomBatchSampler
// ---------------------------------------------------------------------------

IoResult<RandomBatchSampler> RandomBatchSampler::create(std::vector<uint16_t> tokens, int B, int T,
                                                        uint64_t seed, int rank,
                                                        int worldSize) try {
  if (IoStatus st = checkShape("random batch sampler", B, T, rank, worldSize); !st)
    return st.ioError();
  if (tokens.size() < uint64_t(T) + 1)
    return ioError("random batch sampler", num(tokens.size()) + " tokens are too few for T=" +
                                               std::to_string(T) + " (need T+1)");
  RandomBatchSampler s;
  s.tokens_ = std::move(tokens);
  s.B_ = B;
  s.T_ = T;
  s.rank_ = rank;
  s.world_ = worldSize;
  s.seed_ = seed;
  return s;
} catch (const std::exception& e) {
  return ioError(std::string_view("random batch sampler"), std::string("failed: ") + e.what());
}

uint64_t RandomBatchSampler::offset(uint64_t step, int row) const {
  uint64_t stream = mix64(mix64(seed_ + kGolden) + step * kGolden);
  uint64_t u = mix64(stream + (uint64_t(rank_) * uint64_t(B_) + uint64_t(row)) * kGolden);
  uint64_t range = tokens_.size() - uint64_t(T_); // window starts 0..N-T-1
  // Lemire's multiply-shift: uniform enough (bias < range / 2^64) and identical everywhere.
  return uint64_t((unsigned __int128)u * range >> 64);
}

Batch RandomBatchSampler::sample(uint64_t step) const {
  Batch b;
  b.B = B_;
  b.T = T_;
  b.inputs.resize(size_t(B_) * size_t(T_));
  b.targets.resize(b.inputs.size());
  for (int r = 0; r < B_; ++r)
    fillRow(tokens_, offset(step, r), T_, &b.inputs[size_t(r) * size_t(T_)],
            &b.targets[size_t(r) * size_t(T_)]);
  return b;
}

Batch RandomBatchSampler::next() {
  return sample(step_++);
}

LoaderState RandomBatchSampler::state() const {
  LoaderState s;
  s.kind = LoaderState::Random;
  s.seed = seed_;
  s.step = step_;
  s.B = B_;
  s.T = T_;
  s.rank = rank_;
  s.worldSize = world_;
  return s;
}

IoStatus RandomBatchSampler::restore(const LoaderState& s) {
  if (s.kind != LoaderState::Random)
    return ioError("random batch sampler", "cannot restore a sequential loader's state");
  if (s.seed != seed_)
    return ioError("random batch sampler", "cannot restore: seed is " + num(s.seed) +
                                               " in the saved state but " + num(seed_) +
                                               " in this sampler");
  if (IoStatus st = checkStateShape("random batch sampler", s, B_, T_, rank_, world_); !st)
    return st;
  step_ = s.step;
  return {};
}

// ---- SequentialLoader
// -----------------------------------------------------------------------------

IoResult<SequentialLoader> SequentialLoader::create(std::vector<std::vector<uint16_t>> shards,
                                                    int B, int T, int rank, int worldSize) try {
  if (IoStatus st = checkShape("sequential loader", B, T, rank, worldSize); !st)
    return st.ioError();
  if (shards.empty()) return ioError("sequential loader", "no shards");
  uint64_t need = uint64_t(worldSize) * uint64_t(B) * uint64_t(T) + 1;
  for (size_t i = 0; i < shards.size(); ++i)
    if (shards[i].size() < need)
      return ioError("sequential loader", "shard " + num(i) + " has " + num(shards[i].size()) +
                                              " tokens, fewer than worldSize*B*T+1 = " + num(need));
  SequentialLoader l;
  l.shards_ = std::move(shards);
  l.B_ = B;
  l.T_ = T;
  l.rank_ = rank;
  l.world_ = worldSize;
  return l;
} catch (const std::exception& e) {
  return ioError(std::string_view("sequential loader"), std::string("failed: ") + e.what());
}

Batch SequentialLoader::next() {
  Batch b;
  b.B = B_;
  b.T = T_;
  const uint64_t bt = uint64_t(B_) * uint64_t(T_);
  b.inputs.resize(bt);
  b.targets.resize(bt);
  const auto& tokens = shards_[shard_];
  // One contiguous run of B*T+1 tokens: row r of the batch continues where row r-1 ended.
  uint64_t start = position_ + uint64_t(rank_) * bt;
  for (int r = 0; r < B_; ++r)
    fillRow(tokens, start + uint64_t(r) * uint64_t(T_), T_, &b.inputs[size_t(r) * size_t(T_)],
            &b.targets[size_t(r) * size_t(T_)]);
  position_ += uint64_t(world_) * bt;
  if (position_ + uint64_t(world_) * bt + 1 > shards_[shard_].size()) {
    shard_ = (shard_ + 1) % shards_.size();
    position_ = 0;
  }
  ++step_;
  return b;
}

void SequentialLoader::reset() {
  shard_ = 0;
  position_ = 0;
  step_ = 0;
}

LoaderState SequentialLoader::state() const {
  LoaderState s;
  s.kind = LoaderState::Sequential;
  s.step = step_;
  s.shard = shard_;
  s.position = position_;
  s.B = B_;
  s.T = T_;
  s.rank = rank_;
  s.worldSize = world_;
  return s;
}

IoStatus SequentialLoader::restore(const LoaderState& s) {
  if (s.kind != LoaderState::Sequential)
    return ioError("sequential loader", "cannot restore a random sampler's state");
  if (IoStatus st = checkStateShape("sequential loader", s, B_, T_, rank_, world_); !st) return st;
  if (s.shard >= shards_.size())
    return ioError("sequential loader", "cannot restore: shard " + num(s.shard) +
                                            " but there are " + num(shards_.size()) + " shards");
  uint64_t group = uint64_t(world_) * uint64_t(B_) * uint64_t(T_);
  if (s.position % group != 0 || s.position + group + 1 > shards_[s.shard].size())
    return ioError("sequential loader", "cannot restore: position " + num(s.position) +
                                            " is not a batch boundary inside shard " +
                                            num(s.shard));
  shard_ = s.shard;
  position_ = s.position;
  step_ = s.step;
  return {};
}

} // namespace gptc
