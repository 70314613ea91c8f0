# The interactive loop on a terminal (a pseudo-terminal driven by pty_run.py): each line is a
# prompt, Ctrl-C stops a generation without leaving, /bye and Ctrl-D leave.
. "$(dirname "$0")/lib.sh"
PTY="python3 $(dirname "$0")/pty_run.py"

$PTY 30 "$T/tty" -- "$HEARTH" run "$STORIES" --temperature 0 -n 10 <<'ACT'
wait >>>
send Once upon\n
wait >>>
send /bye\n
ACT
expect_eq "loop exit status" "$?" 0
out="$(tr -d '\r' <"$T/tty")"
expect_contains "banner" "$out" "Each line is a prompt"
expect_contains "answer" "$out" ">>> Once upon"$'\n'" a time, there was a little girl"

# Ctrl-C in the middle of a generation stops it and returns to the prompt; the next prompt
# is answered in full (-n 3000 tokens, about 12,000 characters); Ctrl-D then leaves. One
# thread: with other tests and builds on the same two cores, two ggml threads that wait for
# each other at every operation make 3000 tokens take minutes.
$PTY 120 "$T/tty2" -- "$HEARTH" run "$STORIES" --temperature 0 -n 3000 --ignore-eos --ctx 4096 \
    --threads 1 <<'ACT'
wait >>>
send Once\n
wait Lily
interrupt
wait >>>
send Lily\n
wait >>>
send \x04
ACT
expect_eq "Ctrl-C: the loop goes on and Ctrl-D exits 0" "$?" 0
out="$(tr -d '\r' <"$T/tty2")"
expect_eq "Ctrl-C: three prompts (first, after the cancel, after Lily)" "$(printf '%s' "$out" | grep -o '>>> ' | wc -l)" 3
first="${out#*>>> Once}"
first="${first%%>>> Lily*}"
second="${out#*>>> Lily}"
if [ "${#first}" -lt 6000 ]; then ok; else bad "Ctrl-C did not stop the generation (${#first} characters)"; fi
if [ "${#second}" -gt 6000 ]; then ok; else bad "the answer after Ctrl-C is cut short (${#second} characters)"; fi
finish
