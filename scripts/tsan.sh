#!/usr/bin/env bash
# make tsan: builds hearth with ThreadSanitizer (clang, build-tsan/) and runs the tests labelled
# tsan in tests/CMakeLists.txt: the scheduler, the worker protocol, and streaming through the
# real daemon and its workers. libllama and ggml come from deps/ as they are, not instrumented:
# races inside them are not seen, and tests/tsan.supp silences reports whose racing frames are
# all inside them (see that file). Every process writes its reports to build-tsan/tsan/report.PID
# (the daemon's workers too, whose exit status no test sees); any report fails the run.
#
#   scripts/tsan.sh                 build, then ctest -L tsan
#   scripts/tsan.sh -R node.crash   other ctest arguments instead of -L tsan
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${TSAN_BUILD:-build-tsan}"
JOBS="${JOBS:-$(nproc)}"
command -v clang >/dev/null || { echo "tsan: clang is needed (scripts/deps.sh installs it)" >&2; exit 1; }

# Warnings are gcc's business (make build); clang has a few more of its own.
CC=clang cmake -S . -B "$BUILD" -DHEARTH_TSAN=ON -DHEARTH_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target hearth mkmodel test_sched test_proto

REPORTS="$PWD/$BUILD/tsan"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp ignore_noninstrumented_modules=1 log_path=$REPORTS/report second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(-L tsan)
rc=0
ctest --test-dir "$BUILD" --output-on-failure "${args[@]}" || rc=$?

shopt -s nullglob
reports=("$REPORTS"/report.*)
if [ ${#reports[@]} -gt 0 ]; then
    for r in "${reports[@]}"; do
        echo "==== $r" >&2
        cat "$r" >&2
    done
    echo "tsan: ${#reports[@]} process(es) reported data races or other thread errors (above)" >&2
    exit 1
fi
[ "$rc" -eq 0 ] || { echo "tsan: tests failed" >&2; exit "$rc"; }
echo "tsan: no reports" >&2
