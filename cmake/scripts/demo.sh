#!/usr/bin/env bash
# cmake/scripts/demo.sh [MODEL.gguf] - build plm's programs and generate text.
#
#   cmake/scripts/demo.sh                  # synthesises a PLM-shaped model first
#   cmake/scripts/demo.sh plm-1.8b-q8_0.gguf
#
# Installs missing Debian packages (as root; otherwise prints the apt-get line
# and stops), builds the example programs (Release) in build/demo, makes a
# default model with plm-synth when none is given (real PLM-1.8B widths and
# vocabulary, fewer layers, random weights: the text is gibberish, the speed
# is real), then runs plm-run for a short generation and prints throughput.
#
# Environment (defaults in brackets):
#   PLM_ISA [native]       instruction set to build for (generic, avx2, avx512, neon, ...)
#   PLM_THREADS [nproc]    threads for generation
#   PLM_PROMPT             prompt text
#   PLM_N_PREDICT [64]     tokens to generate
#   PLM_SYNTH_LAYERS [8]   layers of the synthetic model (PLM-1.8B has 32)
#   PLM_SYNTH_TYPE [q8_0]  weight type of the synthetic model (f16, q8_0, q4_0, ...)
#   PLM_SYNTH_SEED [1]     seed of the synthetic weights
# The synthetic model has PLM-1.8B's widths (2048 hidden, 16 heads, 512 latent,
# 8192 FFN, 151,936 rows of embeddings) and plm-synth's small built-in
# byte-level vocabulary; 8 layers in Q8_0 is ~0.74 GB and takes ~20 s to write
# on 2 cores, so the whole demo stays well under a minute after the build.
#   BUILD_DIR [build/demo], JOBS [nproc]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
root=$(plm_root_dir)

model=${1:-}
build_dir=${BUILD_DIR:-$root/build/demo}
jobs=${JOBS:-$(plm_jobs)}
isa=${PLM_ISA:-native}
threads=${PLM_THREADS:-$(plm_jobs)}
prompt=${PLM_PROMPT:-"The robot sorted the screws by size, then"}
n_predict=${PLM_N_PREDICT:-64}
synth_layers=${PLM_SYNTH_LAYERS:-8}
synth_type=${PLM_SYNTH_TYPE:-q8_0}
synth_seed=${PLM_SYNTH_SEED:-1}

if [ -n "$model" ] && [ ! -f "$model" ]; then
  echo "model file '$model' does not exist" >&2
  exit 1
fi

plm_ensure_packages $PLM_BASE_PACKAGES

echo "== configure ($build_dir, PLM_ISA=$isa)"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPLM_ISA="$isa" \
  -DPLM_BUILD_EXAMPLES=ON -DPLM_BUILD_TESTS=OFF -DPLM_BUILD_BENCHMARKS=OFF -DPLM_INSTALL=OFF >/dev/null
echo "== build examples (-j$jobs)"
cmake --build "$build_dir" -j "$jobs"
bin="$build_dir/examples"

if [ -z "$model" ]; then
  if [ -x "$bin/plm-synth" ]; then
    model="$build_dir/plm-synth-${synth_layers}l-${synth_type}-s${synth_seed}.gguf"
    if [ ! -f "$model" ]; then
      echo "== synthesising $model (PLM-1.8B widths, $synth_layers layers, $synth_type)"
      start=$(date +%s)
      "$bin/plm-synth" -o "$model.partial" --layers "$synth_layers" --type "$synth_type" --seed "$synth_seed" \
        --threads 0 --no-progress
      mv "$model.partial" "$model"
      echo "   written in $(($(date +%s) - start)) s, $(du -h "$model" | cut -f1)"
    fi
  else
    model="$root/tests/data/plm-tiny-q8_0.gguf"
    echo "== plm-synth is not built (yet): using the tiny test model $model"
  fi
fi

if [ -x "$bin/plm-run" ]; then
  echo "== plm-run: $n_predict tokens, $threads threads"
  "$bin/plm-run" -m "$model" -p "$prompt" -n "$n_predict" -t "$threads"
elif [ -x "$bin/plm-perplexity" ]; then
  # No generator yet: describe the model by evaluating it on a short text.
  echo "== plm-run is not built (yet): evaluating the model with plm-perplexity instead"
  "$bin/plm-perplexity" -m "$model" -f "$root/tests/data/ppl-text.txt" -c 64 -t "$threads"
else
  echo "neither plm-run nor plm-perplexity is built (yet): nothing to run" >&2
  exit 1
fi
