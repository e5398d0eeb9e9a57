#!/bin/sh
# bench/speed.sh BUILD_DIR OUT_DIR - the measurements behind bench/RESULTS.md "Speed (issue 5)".
#
# Writes PLM-1.8B-shaped models with seeded random weights (plm-synth: q8_0,
# q8_0 with 90% FFN sparsity, q4_0, q4_k_m, f16) to $MODELS (default /tmp,
# ~10 GB; existing files are reused) and runs plm-bench on each with 2
# threads, llama-bench's test sizes: pp512, tg128 at depths 0 / 2048 / 4096,
# $REPS repetitions (default 3). One JSON file per model in OUT_DIR, the
# markdown tables on stdout, and OUT_DIR/decode_vs_depth.png (gnuplot).
# Run it on a quiet machine (the load average at each start goes to stderr).
set -eu
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
build=$1
out=$2
models=${MODELS:-/tmp}
reps=${REPS:-3}
synth=$build/examples/plm-synth
bench=$build/examples/plm-bench
mkdir -p "$out"

model() {  # NAME SYNTH-ARGS...
  name=$1
  shift
  if [ ! -f "$models/plm18b-$name.gguf" ]; then
    "$synth" -o "$models/plm18b-$name.gguf" "$@" --no-progress >&2
  fi
  echo "$models/plm18b-$name.gguf"
}

run() {  # NAME PLM-BENCH-ARGS...
  name=$1
  shift
  echo "== $name: plm-bench $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$bench" -t 2 -r "$reps" "$@" -o json > "$out/$name.json"
  "$bench" --from-json "$out/$name.json"
}

run q8_0 -m "$(model q8_0 --type q8_0)" -p 512 -n 128 -d 0,2048,4096
run q8_0-s90 -m "$(model q8_0-s90 --type q8_0 --ffn-sparsity 0.9)" -p 0 -n 128 -d 0,2048
run q4_0 -m "$(model q4_0 --type q4_0)" -p 512 -n 128 -d 0,2048,4096
run q4_k_m -m "$(model q4_k_m --type q4_k_m)" -p 512 -n 128 -d 0,2048
run f16 -m "$(model f16 --type f16)" -p 512 -n 128 -d 0
"$bench" --from-json "$out/q8_0.json,$out/q4_0.json,$out/q8_0-s90.json,$out/q4_k_m.json" \
  --plot "$out/decode_vs_depth.png" > /dev/null
echo "plot: $out/decode_vs_depth.png" >&2
