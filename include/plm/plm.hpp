// plm/plm.hpp - the one include a user needs: plm's whole public API.
//
// Only includes, in layer order (core first). Include narrower headers (e.g.
// <plm/gguf/reader.hpp>) to keep compile times down when only a part is used.
// Not included: scalar references kept for tests (kernels/matvec_ref.hpp),
// ISA-specific internals (kernels/arch/) and model-making tools (synth/).
#pragma once

#include "plm/version.hpp"

// core: errors, memory, files, tensors, threads
#include "plm/core/buffer.hpp"
#include "plm/core/checked.hpp"
#include "plm/core/dtype.hpp"
#include "plm/core/function_ref.hpp"
#include "plm/core/mapped_file.hpp"
#include "plm/core/result.hpp"
#include "plm/core/tensor.hpp"
#include "plm/core/thread_pool.hpp"

// GGUF container
#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"

// quantization formats
#include "plm/quant/blocks.hpp"
#include "plm/quant/dequantize.hpp"
#include "plm/quant/half.hpp"
#include "plm/quant/quantize.hpp"
#include "plm/quant/traits.hpp"

// kernels (each usable on its own)
#include "plm/kernels/activation.hpp"
#include "plm/kernels/attention.hpp"
#include "plm/kernels/matvec.hpp"
#include "plm/kernels/norm.hpp"
#include "plm/kernels/rope.hpp"
#include "plm/kernels/rows_combination.hpp"
#include "plm/kernels/softmax.hpp"
#include "plm/kernels/sparse_ffn.hpp"
#include "plm/kernels/vec.hpp"

// text and sampling
#include "plm/sample/rng.hpp"
#include "plm/sample/sampler.hpp"
#include "plm/text/chat.hpp"
#include "plm/text/tokenizer.hpp"

// model and engine: load a model, run sessions, evaluate
#include "plm/model/forward.hpp"
#include "plm/model/hparams.hpp"
#include "plm/model/linear.hpp"
#include "plm/model/weights.hpp"
#include "plm/engine/engine.hpp"
#include "plm/engine/generate.hpp"
#include "plm/engine/perplexity.hpp"
