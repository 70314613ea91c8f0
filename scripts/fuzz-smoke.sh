#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_NAME.c as a libFuzzer target (clang, ASan+UBSan, build-fuzz/),
# replays its regression corpus tests/fuzz/regress/NAME/, then fuzzes it for FUZZ_SECONDS
# (default 60) from its seeds tests/fuzz/corpus/NAME/. A crash, leak, timeout or OOM fails;
# the input that caused it is left in build-fuzz/artifacts/ (copy it into regress/NAME/ once
# the bug is fixed). New inputs found go to build-fuzz/corpus/NAME/, never into the checkout.
#
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh            all targets, 10 minutes each
#   scripts/fuzz-smoke.sh gguf manifest               some targets
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${FUZZ_BUILD:-build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
JOBS="${JOBS:-$(nproc)}"
command -v clang >/dev/null || { echo "fuzz-smoke: clang is needed (scripts/deps.sh installs it)" >&2; exit 1; }

if [ $# -gt 0 ]; then
    names=("$@")
else
    names=()
    for f in tests/fuzz/fuzz_*.c; do
        n="$(basename "$f" .c)"
        names+=("${n#fuzz_}")
    done
fi
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done

CC=clang cmake -S . -B "$BUILD" -DHEARTH_FUZZ=ON -DHEARTH_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$BUILD/artifacts"
status=0
start=$(date +%s)
for n in "${names[@]}"; do
    bin="$BUILD/tests/fuzz/fuzz_$n"
    seeds="tests/fuzz/corpus/$n"
    regress="tests/fuzz/regress/$n"
    work="$BUILD/corpus/$n"
    mkdir -p "$work"
    opts=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 "-artifact_prefix=$BUILD/artifacts/$n-")
    if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
        echo "== fuzz $n: replaying $(ls "$regress" | wc -l) regression inputs"
        if ! "$bin" "${opts[@]}" "$regress"/*; then
            echo "fuzz-smoke: $n crashed on its regression corpus" >&2
            status=1
            continue
        fi
    fi
    echo "== fuzz $n: ${SECONDS_EACH}s"
    dirs=("$work")
    [ -d "$seeds" ] && dirs+=("$seeds")
    if ! "$bin" "${opts[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "${dirs[@]}" \
        >"$BUILD/fuzz-$n.log" 2>&1; then
        tail -60 "$BUILD/fuzz-$n.log" >&2
        echo "fuzz-smoke: $n failed; the input is in $BUILD/artifacts/" >&2
        status=1
    else
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$BUILD/fuzz-$n.log" | tr '\n' ' '
        echo
    fi
done
echo "fuzz-smoke: ${#names[@]} targets in $(( $(date +%s) - start ))s"
exit $status
