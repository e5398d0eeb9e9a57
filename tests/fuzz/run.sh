#!/bin/sh
# tests/fuzz/run.sh SECONDS [TARGET...] - build, seed, fuzz and replay.
#
#   1. builds the fuzz targets (build.sh) into $BUILD_DIR (default build-fuzz);
#   2. writes the seed corpora (make_seeds) to $BUILD_DIR/seeds/<target>;
#   3. runs each target for SECONDS (-max_total_time) on its corpus
#      $BUILD_DIR/corpus/<target> (kept between runs) plus the seeds, $FUZZ_JOBS
#      (default 2) targets at a time; crash inputs go to $BUILD_DIR/artifacts/<target>/,
#      logs to $BUILD_DIR/logs/<target>.log. SECONDS = 0 skips fuzzing;
#   4. replays every seed and every committed input in tests/fuzz/regressions/<target>/.
# Exits non-zero if any fuzzer found a crash or any replay failed.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
secs=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-2}
targets=${*:-gguf model_load tokenizer_vocab tokenizer_encode chat}
# Stacks in UBSan reports (libFuzzer prints ASan's by itself).
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS

"$here/build.sh" "$build" || exit 1
"$build/make_seeds" "$build/seeds" $targets >/dev/null || exit 1
mkdir -p "$build/logs"

# Per-target options: longest input, per-input timeout (seconds), dictionary.
opts() {
  case $1 in
    gguf) echo "-max_len=65536 -timeout=25 -dict=$here/gguf.dict" ;;
    model_load) echo "-max_len=262144 -timeout=60 -dict=$here/gguf.dict" ;;
    tokenizer_vocab) echo "-max_len=65536 -timeout=25 -dict=$here/gguf.dict" ;;
    tokenizer_encode) echo "-max_len=8192 -timeout=25 -dict=$here/text.dict" ;;
    chat) echo "-max_len=4096 -timeout=25 -dict=$here/text.dict" ;;
    *) echo "unknown target '$1'" >&2; return 1 ;;
  esac
}

failed=0
fuzz_one() {
  t=$1
  o=$(opts "$t") || return 1
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  # shellcheck disable=SC2086
  "$build/fuzz_$t" $o -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "$build/seeds/$t" >"$build/logs/$t.log" 2>&1
}

if [ "$secs" -gt 0 ]; then
  set -- $targets
  while [ $# -gt 0 ]; do
    pids=""
    names=""
    n=0
    while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
      fuzz_one "$1" &
      pids="$pids $!"
      names="$names $1"
      n=$((n + 1))
      shift
    done
    set -- $names -- "$@"
    for pid in $pids; do
      t=$1
      shift
      if ! wait "$pid"; then
        echo "FUZZ FAILED: $t (log: $build/logs/$t.log)"
        # The input that broke it (libFuzzer names it crash-/leak-/oom-/timeout-<sha1>)
        # and the report, so that a CI log alone says what to reproduce.
        for a in "$build/artifacts/$t"/*; do
          [ -f "$a" ] && echo "  artifact: $a (reproduce: $build/fuzz_$t $a)"
        done
        echo "  --- last lines of $build/logs/$t.log:"
        tail -n 40 "$build/logs/$t.log" | sed 's/^/  | /'
        failed=1
      fi
    done
    shift  # the "--"
  done
fi

printf '%-18s %12s %10s %8s %s\n' target execs exec/s corpus crashes
for t in $targets; do
  log=$build/logs/$t.log
  execs=-
  rate=-
  if [ "$secs" -gt 0 ] && [ -f "$log" ]; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  fi
  corpus=$(ls "$build/corpus/$t" 2>/dev/null | wc -l)
  crashes=$(ls "$build/artifacts/$t" 2>/dev/null | wc -l)
  printf '%-18s %12s %10s %8s %s\n' "$t" "${execs:--}" "${rate:--}" "$corpus" "$crashes"
done

# Replay: every seed and every committed regression input must run clean.
# One process per input, so that every failing input is named.
for t in $targets; do
  o=$(opts "$t")
  log=$build/logs/$t.replay.log
  : >"$log"
  n=0
  bad=0
  for f in $(find "$build/seeds/$t" "$here/regressions/$t" -type f ! -name README.md 2>/dev/null | sort); do
    n=$((n + 1))
    # shellcheck disable=SC2086
    if ! "$build/fuzz_$t" $o -rss_limit_mb=2048 "$f" >>"$log" 2>&1; then
      echo "REPLAY FAILED: $t: $f (see $log)"
      bad=1
    fi
  done
  if [ $bad -ne 0 ]; then
    failed=1
  else
    echo "replay ok: $t ($n inputs)"
  fi
done
exit $failed
