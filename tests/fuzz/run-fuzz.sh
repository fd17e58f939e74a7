#!/bin/sh
# run-fuzz.sh SECONDS [TARGET]
# Builds the libFuzzer targets with clang in their own build folder (build-fuzz,
# next to the source tree, or $CS_FUZZ_BUILD) and fuzzes TARGET (default
# fits_header) for SECONDS seconds, starting from the committed seed corpus.
# New interesting inputs go to a scratch corpus under the build folder; crash
# inputs are written to build-fuzz/crashes/ (add them to corpus/<target>/ as
# regression cases once fixed). Exit status: 0 no crash, 1 crash or build error.
set -eu

secs=${1:?usage: run-fuzz.sh SECONDS [TARGET]}
target=${2:-fits_header}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${CS_FUZZ_BUILD:-$src/build-fuzz}

if ! command -v clang >/dev/null 2>&1; then
        echo "run-fuzz.sh: clang is not installed (apt-get install clang)" >&2
        exit 1
fi
# One configure/compile at a time when runs overlap (script/test and a developer).
mkdir -p "$build"
exec 9>"$build/.run-fuzz.lock"
flock 9
if [ ! -f "$build/build.ninja" ]; then
        # Instrument the library too (fuzzer-no-link), not only the target.
        CC=clang meson setup "$build" "$src" -Dfuzz=true -Dbuildtype=debugoptimized \
                -Db_sanitize=address,undefined -Db_lundef=false \
                -Dc_args=-fsanitize=fuzzer-no-link >"$build/.setup.log" 2>&1 || {
                cat "$build/.setup.log" >&2
                exit 1
        }
fi
meson compile -C "$build" "fuzz_$target" >"$build/compile.log" 2>&1 || {
        tail -50 "$build/compile.log" >&2
        exit 1
}

flock -u 9

work="$build/corpus-$target"
crashes="$build/crashes"
mkdir -p "$work" "$crashes"
# Each run writes its own log (runs may overlap in one build folder).
log="$build/fuzz-$target-$$.log"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
"$build/tests/fuzz/fuzz_$target" "$work" "$here/corpus/$target" \
        -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || status=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
if [ "$status" -ne 0 ]; then
        echo "run-fuzz.sh: fuzz_$target failed (status $status); log: $log" >&2
        grep -E 'ERROR|check failed|SUMMARY|artifact' "$log" >&2 || true
        exit 1
fi
echo "run-fuzz.sh: fuzz_$target ran ${secs}s without a crash"
