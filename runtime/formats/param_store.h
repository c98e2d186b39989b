// Parameter values for a graph, by name: from initParams (a seed), from an llm.c GPT-2 checkpoint
// (gpt2_124M.bin) or from a gptc named-tensor checkpoint, checked against the graph's declared
// parameters before they are bound to an Interpreter. GPT-2 graphs use llm.c's tensor names and
// layout (wte, wpe, ln1w, ..., lnfb, each stacked over layers), so an llm.c file maps one to one.
//
// Every loader validates everything it can before reading weights — for llm.c, the header's sizes
// (maxT, V, L, NH, C, Vp) against the sizes the graph implies — and returns a one-line error naming
// the file and the first field or tensor that disagrees. It leaves the file formats themselves to
// runtime/formats/llmc_checkpoint.h and the compiled executable's buffers to the runtime
// executable.
#pragma once
#include "runtime/formats/llmc_checkpoint.h"
#include "runtime/interp/interpreter.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

/// Values for a graph's params (and possibly state), by name, typed as the graph declares them.
using ParamMap = std::map<std::string, Tensor>;

/// The GPT-2 sizes a graph implies: Vp and C from wte [Vp,C], maxT from wpe [maxT,C], L from
/// ln1w [L,C], NH from its split_heads ops, V from its cross_entropy's `classes` (0: every column,
/// V = Vp). An error names what is missing when the graph is not GPT-2 shaped.
IoResult<Gpt2Config> gpt2ConfigOf(const Graph& g);

/// Picks the graph's params (required) and state (optional) out of named tensors: each must have
/// exactly the declared shape; tensors the graph does not declare are ignored (a training
/// checkpoint also holds optimizer moments). `where` names the source in errors.
/// A quantized checkpoint (gptc version 2) may store `w.q` (bf16, or i8 with `w.scale`) instead
/// of the f32 param `w`: `w` is then dequantized (runtime/formats/quantize.h). With `keepQuantized`
/// the stored `w.q` / `w.scale` of the graph's params are in the result too, typed as stored, for
/// quantizeParams to take as they are (callers that bind every entry leave it false).
IoResult<ParamMap> paramsFromTensors(const Graph& g, std::vector<NamedTensor> tensors,
                                     std::string_view where, bool keepQuantized = false);

/// An llm.c GPT-2 checkpoint: the header is compared with gpt2ConfigOf(g) before any weight is
/// read ("ckpt.bin: L is 12 in the file but 2 in the model").
IoResult<ParamMap> loadLlmcParams(const Graph& g, const std::string& path);

/// A gptc named-tensor checkpoint (runtime/formats/llmc_checkpoint.h, "GPTCCKPT").
IoResult<ParamMap> loadGptcParams(const Graph& g, const std::string& path,
                                  bool keepQuantized = false);

/// Either format, told apart by the file's magic number.
IoResult<ParamMap> loadParams(const Graph& g, const std::string& path, bool keepQuantized = false);

/// Binds every entry with Interpreter::bind; "" or the first failure.
std::string bindParams(Interpreter& interp, const ParamMap& params);

} // namespace gptc
