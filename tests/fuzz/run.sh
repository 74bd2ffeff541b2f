#!/usr/bin/env bash
# Runs the libFuzzer targets the fuzz preset built (`make fuzz`, `make fuzz-grow`):
#
#   tests/fuzz/run.sh SECONDS [TARGET...]
#
# runs each target (default: every one built) for SECONDS, one after another,
# from its committed corpus tests/fuzz/corpus/<target>/; what it finds goes to
# a temporary corpus, not into the tree. Undefined behaviour stops a target
# like a crash (tests/fuzz/CMakeLists.txt: -fno-sanitize-recover). Each
# target's log is kept in build/fuzz/artifacts/<target>/fuzz.log, and when a
# target fails, the input that made it fail lies beside it (crash-*, leak-*,
# timeout-*, oom-*); every target runs, then the script exits 1 naming those
# that failed. Reproduce one with: build/fuzz/tests/fuzz/<target>_fuzz FILE
# A target with a dictionary in tests/fuzz/dict/<target>.dict gets it (-dict).
#
# With FUZZ_MERGE=1, a target that passed then minimizes its committed corpus
# together with what it found (-merge=1 -use_counters=0: the fewest inputs,
# smaller first, that reach every edge any of them reaches; none above
# FUZZ_MERGE_MAX_BYTES, default 4096) and writes that back into
# tests/fuzz/corpus/<target>/. Hand-made seeds (any name that is not libFuzzer's
# SHA-1) always stay. SECONDS 0 only minimizes what is there.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
bin=build/fuzz/tests/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$bin"/*_fuzz; do targets+=("$(basename "$f" _fuzz)"); done
fi
# Also for UBSan checks built to recover (none are: belt and braces).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
max_len=20000
failed=()

for name in "${targets[@]}"; do
  fuzzer=$bin/${name}_fuzz
  if [ ! -x "$fuzzer" ]; then
    echo "no fuzz target $fuzzer"
    failed+=("$name")
    continue
  fi
  out=build/fuzz/artifacts/$name
  rm -rf "$out"
  mkdir -p "$out"
  work=$(mktemp -d)
  if [ "$seconds" = 0 ]; then echo "$name: its corpus"; else echo "fuzzing $name for $seconds s"; fi
  if [ "$seconds" = 0 ]; then limit=(-runs=0); else limit=(-max_total_time="$seconds"); fi
  # A dictionary (tokens libFuzzer splices in) where the target has one.
  dict=()
  if [ -f "tests/fuzz/dict/$name.dict" ]; then dict=(-dict="tests/fuzz/dict/$name.dict"); fi
  "$fuzzer" "${limit[@]}" "${dict[@]}" -max_len=$max_len -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/" "$work" "tests/fuzz/corpus/$name" >"$out/fuzz.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    # What went wrong (the sanitizer's or libFuzzer's verdict), else the log's end.
    grep -m 4 -E 'runtime error|^==[0-9]+== *ERROR|^SUMMARY|Test unit written' "$out/fuzz.log" || tail -3 "$out/fuzz.log"
    echo "FAILED: $name (exit $rc); its log and the input that failed are in $out/:"
    ls "$out"
    failed+=("$name")
  else
    grep -E '^Done [0-9]+ runs|^stat::(number_of_executed_units|new_units_added)' "$out/fuzz.log" | tr '\n' ' '
    echo
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
      corpus=tests/fuzz/corpus/$name
      kept=$(mktemp -d)
      find "$corpus" "$work" -type f -size +"${FUZZ_MERGE_MAX_BYTES:-4096}"c -regextype egrep \
        -regex '.*/[0-9a-f]{40}' -delete
      find "$corpus" -type f -regextype egrep ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$kept" \;
      if "$fuzzer" -merge=1 -use_counters=0 -max_len=$max_len "$kept" "$corpus" "$work" >"$out/merge.log" 2>&1; then
        find "$corpus" -type f -regextype egrep -regex '.*/[0-9a-f]{40}' -delete
        find "$kept" -type f -exec cp -n {} "$corpus"/ \;
        echo "  $corpus: $(find "$corpus" -type f | wc -l) files"
      else
        echo "FAILED: merging $name's corpus; see $out/merge.log"
        failed+=("$name")
      fi
      rm -rf "$kept"
    fi
  fi
  rm -rf "$work"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that failed: ${failed[*]} (logs and inputs in build/fuzz/artifacts/)"
  exit 1
fi
