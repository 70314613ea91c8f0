# Helpers for the end-to-end tests. Each test script sources this, calls the checks, and ends
# with `finish`, which prints "N passed, M failed" and sets the exit status.
set -u
: "${HEARTH:?HEARTH must point at the hearth binary}"
: "${MODELS:?MODELS must point at shared/models}"
STORIES="$MODELS/stories260K.gguf"
TINY="$MODELS/TinyStories-656K-Q8_0.gguf"
KNOWN_STORY="Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high"
T="$(mktemp -d "${TEST_TMP:-/tmp}/hearth-test.XXXXXX" 2>/dev/null || mktemp -d)"
trap 'rm -rf "$T"' EXIT
# The user's own Hugging Face cache, Ollama store and presets stay out of tests.
export HF_HUB_CACHE="$T/hf-hub" OLLAMA_MODELS="$T/ollama" XDG_CONFIG_HOME="$T/config"
_pass=0
_fail=0

ok() { _pass=$((_pass + 1)); }
bad() {
    _fail=$((_fail + 1))
    echo "FAIL: $*" >&2
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
    if [ "$2" == "$3" ]; then ok; else bad "$1: expected [$3], got [$2]"; fi
}
expect_ne() {
    if [ "$2" != "$3" ]; then ok; else bad "$1: both are [$2]"; fi
}
# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
    case "$2" in *"$3"*) ok ;; *) bad "$1: [$2] does not contain [$3]" ;; esac
}
expect_not_contains() {
    case "$2" in *"$3"*) bad "$1: [$2] contains [$3]" ;; *) ok ;; esac
}

# run_hearth ARGS...: runs hearth with a time limit; sets OUT, ERR, RC.
run_hearth() {
    local limit="${LIMIT:-60}"
    timeout -s KILL "$limit" "$HEARTH" "$@" >"$T/out" 2>"$T/err" </dev/null
    RC=$?
    OUT="$(cat "$T/out")"
    ERR="$(cat "$T/err")"
}

# expect_clean_failure NAME NEEDLE: a non-zero exit that is not a crash or a time-out, with a
# single-line "hearth: error:" message naming the problem.
expect_clean_failure() {
    local name="$1" needle="$2"
    if [ "$RC" -eq 0 ]; then bad "$name: exit 0, expected a failure"; return; fi
    if [ "$RC" -ge 124 ]; then bad "$name: exit $RC (crash or time-out); stderr: $ERR"; return; fi
    local lines
    lines="$(printf '%s\n' "$ERR" | grep -c .)"
    if [ "$lines" -ne 1 ]; then bad "$name: expected one line on stderr, got: $ERR"; return; fi
    expect_contains "$name" "$ERR" "hearth: error: "
    expect_contains "$name" "$ERR" "$needle"
}

finish() {
    echo "$(basename "$0" .sh): $_pass passed, $_fail failed"
    [ "$_fail" -eq 0 ]
}
