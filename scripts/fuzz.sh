#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader of files written by others (fuzz/, docs/reliability.md):
# builds the libFuzzer targets with Debian's clang-19 + ASan + UBSan in build-fuzz/ (installing
# clang-19 and its runtime when missing), then runs each target for SECONDS (default 60) from its
# seed corpus tests/fuzz/<target>/, with tests/fuzz/<target>.dict when present.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600; scripts/fuzz.sh 30 graph bpe
# New corpus units go to build-fuzz/corpus/<target>/ (not committed), crashes to
# build-fuzz/crashes/. A crash's input belongs in tests/fuzz/<target>/ once fixed (the g++ test
# suite replays that folder: tests/fuzz_replay/). Prints a table, one row per target, from
# libFuzzer's final stats (executions, exec/s, edges = `cov:`, features = `ft:`, corpus units and
# bytes, peak RSS, wall and CPU seconds, crash/timeout/oom artifacts, load average when the target ended); the same
# table as Markdown goes to build-fuzz/fuzz_table.md ($GPTC_FUZZ_TABLE: elsewhere, e.g. for
# two runs side by side on two cores). Exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(graph llmc_checkpoint gptc_checkpoint safetensors token_shard bpe \
                                     char_vocab object_cache)

need=()
for p in clang-19 libclang-rt-19-dev cmake llvm-19-dev libfmt-dev libpcre2-dev nlohmann-json3-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

build=${GPTC_FUZZ_BUILD:-build-fuzz}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DGPTC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
fi
if ! cmake --build "$build" -j"${GPTC_FUZZ_JOBS:-2}" --target $(printf 'fuzz_%s ' "${targets[@]}") \
  >"$build/build.log" 2>&1; then
  tail -30 "$build/build.log" >&2
  echo "fuzz: the build failed (all of it in $build/build.log)" >&2
  exit 2
fi

mkdir -p "$build/crashes"
status=0
table=${GPTC_FUZZ_TABLE:-$build/fuzz_table.md}
cpuName=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
{
  echo "Each target ${secs} s, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $cpuName."
  echo
  echo "| target | executions | exec/s | edges (cov) | features (ft) | corpus units | corpus bytes | peak RSS MB | wall s | CPU s | crashes | load (1 min) at end |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$table"
printf '%-16s %11s %7s %6s %7s %6s %8s %6s %5s %5s %7s %s\n' target execs exec/s edges ft units bytes \
  rssMB wall cpu crashes load
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log="$build/fuzz_$t.log"
  before=$(ls "$build/crashes" | grep -c "^$t-" || true)
  set +e
  # Wall and CPU seconds of the target: on a shared machine (or one whose jobs are paused while
  # benchmarks run) the CPU time is what the fuzzer really had.
  TIMEFORMAT='%R %U %S'
  { time ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      UBSAN_OPTIONS=print_stacktrace=1 \
      "$build/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$build/crashes/$t-" "${dict[@]}" \
      "$corpus" "tests/fuzz/$t" >"$log" 2>&1; } 2>"$build/fuzz_$t.time"
  rc=$?
  set -e
  read -r wall user sys <"$build/fuzz_$t.time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", u + s }')
  wall=$(awk -v w="$wall" 'BEGIN { printf "%.0f", w }')
  load=$(cut -d' ' -f1 /proc/loadavg)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  # The last status line (DONE, or the last pulse before a crash) carries cov/ft/corp.
  last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
  edges=$(grep -o 'cov: [0-9]*' <<<"$last" | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | cut -d' ' -f2)
  units=$(grep -o 'corp: [0-9]*' <<<"$last" | cut -d' ' -f2)
  bytes=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' <<<"$last" | cut -d/ -f2)
  after=$(ls "$build/crashes" | grep -c "^$t-" || true)
  crashes=$((after - before))
  if [ $rc -ne 0 ]; then status=1; [ $crashes -gt 0 ] || crashes=1; fi
  note=""
  [ $rc -ne 0 ] && note=" (rc $rc, see $log)"
  printf '%-16s %11s %7s %6s %7s %6s %8s %6s %5s %5s %7s %s\n' "$t" "${execs:-?}" "${rate:-?}" \
    "${edges:-?}" "${ft:-?}" "${units:-?}" "${bytes:-?}" "${rss:-?}" "$wall" "$cpu" "$crashes" \
    "$load$note"
  echo "| $t | ${execs:-?} | ${rate:-?} | ${edges:-?} | ${ft:-?} | ${units:-?} | ${bytes:-?} | ${rss:-?} | $wall | $cpu | $crashes | $load |" >>"$table"
done
exit $status
