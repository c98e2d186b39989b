// safetensors (Hugging Face's weight format): an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw data. The reader validates every
// range (inside the file, matching dtype x shape, no overlaps, no holes, no trailing bytes) before
// converting F32/F16/BF16 data to f32. A second layer maps Hugging Face GPT-2 tensor names onto
// llm.c's layout (stacked over layers, Conv1D weights transposed, wte padded to Vp rows).
//
// Leaves to others: reading config.json (the caller passes the head count, which the weights do not
// determine), and models other than GPT-2.
#pragma once
#include "runtime/formats/file_io.h"
#include "runtime/formats/llmc_checkpoint.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace gptc {

/// One tensor of a safetensors header. [begin, end) is relative to the start of the data section.
struct SafetensorsEntry {
  std::string name;
  std::string dtype; // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

struct SafetensorsIndex {
  std::vector<SafetensorsEntry> entries; // sorted by begin
  std::map<std::string, std::string> metadata;
  uint64_t dataStart = 0; // file offset of the data section: 8 + header length
};

/// Reads and validates the header alone.
IoResult<SafetensorsIndex> readSafetensorsIndex(const std::string& path);

/// Reads the tensors `want` accepts (all when empty), converting F32, F16 and BF16 to f32; a wanted
/// tensor of another dtype is an error. Tensors come in file order.
IoResult<std::vector<NamedTensor>>
readSafetensors(const std::string& path, const std::function<bool(const std::string&)>& want = {});

/// Writes F32 tensors (names unique) atomically, header padded with spaces to a multiple of 8.
IoStatus writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                          const std::map<std::string, std::string>& metadata = {});

/// IEEE half and bfloat16 to float (exact: every value of both is a float).
float halfToFloat(uint16_t h);
float bf16ToFloat(uint16_t b);

/// Maps Hugging Face GPT-2 tensors (wte.weight, wpe.weight, h.{i}.ln_1.weight, h.{i}.attn.c_attn.*,
/// ..., ln_f.*, optionally prefixed "transformer.") onto llm.c's 16 tensors. L, C, V and maxT come
/// from the shapes; numHeads from the caller; Vp = paddedVocab, or V rounded up to a multiple of
/// 128 when 0. Conv1D weights ([in, out]) are transposed to llm.c's [out, in]. The causal-mask
/// buffers (h.{i}.attn.bias / masked_bias) and a tied lm_head.weight are ignored; any other name is
/// an error, as is a missing tensor or a wrong shape. `where` names the source in errors.
IoResult<Gpt2Weights> gpt2FromHuggingFace(const std::vector<NamedTensor>& tensors, int32_t numHeads,
                                          int32_t paddedVocab = 0,
                                          const std::string& where = "safetensors");
/// readSafetensors + gpt2FromHuggingFace.
IoResult<Gpt2Weights> loadHuggingFaceGpt2(const std::string& path, int32_t numHeads,
                                          int32_t paddedVocab = 0);

} // namespace gptc
