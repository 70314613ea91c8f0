# A worker that dies mid-generation gives `hearth run` a clear one-line error, never a hang.
. "$(dirname "$0")/lib.sh"

# An abort inside the worker (fault injection: abort() after three tokens).
HEARTH_TEST_FAULT=abort_after_tokens:3 LIMIT=30 run_hearth run "$STORIES" "" --temperature 0 -n 50
expect_eq "abort: exit status" "$RC" 1
expect_contains "abort: message" "$ERR" "hearth: error: model runner crashed (killed by signal 6: Aborted)"
expect_eq "abort: the text before the crash is kept" "$OUT" "Once upon a"

# kill -9 of the worker while it generates a long text.
"$HEARTH" run "$STORIES" "" --ignore-eos -n -1 --ctx 200000 >"$T/out" 2>"$T/err" </dev/null &
pid=$!
worker=""
for _ in $(seq 1 100); do
    worker="$(pgrep -P "$pid" || true)"
    [ -n "$worker" ] && [ -s "$T/out" ] && break
    sleep 0.1
done
if [ -z "$worker" ]; then
    bad "kill -9: no worker process found"
    kill -9 "$pid" 2>/dev/null
else
    kill -9 "$worker"
    rc=""
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            rc=$?
            break
        fi
        sleep 0.1
    done
    if [ -z "$rc" ]; then
        bad "kill -9: hearth run still running 10 s after its worker died"
        kill -9 "$pid"
    else
        expect_eq "kill -9: exit status" "$rc" 1
        expect_contains "kill -9: message" "$(cat "$T/err")" "model runner crashed (killed by signal 9: Killed)"
        expect_eq "kill -9: one error line" "$(grep -c 'error' "$T/err")" 1
    fi
fi
# A reader that goes away (| head) stops the generation instead of letting it run on.
start=$(date +%s)
timeout 60 "$HEARTH" run "$STORIES" "" --temperature 0 --ignore-eos -n -1 --ctx 200000 2>"$T/err" | head -c 20 >"$T/head"
rcs=("${PIPESTATUS[@]}")
expect_eq "| head: output" "$(cat "$T/head")" "Once upon a time, th"
expect_eq "| head: exit status as for SIGPIPE" "${rcs[0]}" 141
expect_eq "| head: nothing on stderr" "$(grep -c error "$T/err")" 0
if [ $(($(date +%s) - start)) -lt 20 ]; then ok; else bad "| head: generation went on"; fi
finish
