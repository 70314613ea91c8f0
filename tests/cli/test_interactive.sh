# The chat REPL on a terminal (a pseudo-terminal driven by pty_run.py): each line is a turn,
# Ctrl-C stops a generation without leaving, /bye and Ctrl-D leave, slash commands change the
# session, """ spans lines, and the history file brings lines back in the next session.
. "$(dirname "$0")/lib.sh"
PTY="python3 $(dirname "$0")/pty_run.py"

export HEARTH_HISTORY="$T/history"
$PTY 30 "$T/tty" -- "$HEARTH" run "$STORIES" --temperature 0 -n 10 <<'ACT'
wait >>>
send Once upon\n
wait >>>
send /bye\n
ACT
expect_eq "loop exit status" "$?" 0
out="$(tr -d '\r' <"$T/tty")"
expect_contains "banner" "$out" "/? for help, /bye or Ctrl-D leaves"
expect_contains "answer" "$out" "Once upon"$'\n'" a time, there was a little girl"

# Ctrl-C in the middle of a generation stops it and returns to the prompt; the next prompt
# is answered in full (-n 800 tokens, about 1,800 characters); Ctrl-D then leaves. One
# thread: with other tests and builds on the same two cores, two ggml threads that wait for
# each other at every operation make 3000 tokens take minutes.
$PTY 240 "$T/tty2" -- "$HEARTH" run "$STORIES" --temperature 0 -n 800 --ignore-eos --ctx 4096 \
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
if [ "${#first}" -lt 900 ]; then ok; else bad "Ctrl-C did not stop the generation (${#first} characters)"; fi
if [ "${#second}" -gt 1500 ]; then ok; else bad "the answer after Ctrl-C is cut short (${#second} characters)"; fi
# Slash commands: /set parameter takes effect on the next answer, bad names and commands are
# answered, /show parameters lists what was set, /? helps; then a multi-line prompt.
$PTY 60 "$T/tty3" -- "$HEARTH" run "$STORIES" --temperature 0 -n 10 <<'ACT'
wait >>>
send /set parameter num_predict 3\n
wait Set parameter
wait >>>
send Once\n
wait upon a time
wait >>>
send /set parameter bogus 1\n
wait Unknown parameter
send /set parameter temperature hot\n
wait Couldn't set
send /show parameters\n
wait num_predict=3
send /frobnicate\n
wait Unknown command
send /?\n
wait /set parameter NAME VALUE
send """Once upon\n
wait ...
send a time"""\n
wait >>>
send /bye\n
ACT
expect_eq "commands session exit status" "$?" 0
out="$(tr -d '\r' <"$T/tty3")"
expect_contains "/set parameter" "$out" "Set parameter 'num_predict' to '3'"
expect_contains "it takes effect" "$out" "Once"$'\n'" upon a time"$'\n'
expect_not_contains "3 tokens only" "$out" "upon a time, there"
expect_contains "unknown parameter" "$out" "Unknown parameter 'bogus'"
expect_contains "bad value" "$out" "Couldn't set parameter"
expect_contains "/show parameters" "$out" "num_predict=3"
expect_contains "unknown command" "$out" "Unknown command '/frobnicate'. Type /? for help"
expect_contains "help" "$out" "/set parameter NAME VALUE"
expect_contains "multi-line continuation prompt" "$out" "... a time"
n_prompts="$(printf '%s' "$out" | grep -o '>>> ' | wc -l)"
expect_eq "one prompt per line typed (8 commands and turns, then /bye)" "$n_prompts" 9

# The history file has the lines typed; the next session recalls the last with the up arrow
# (typed once libedit has the terminal: keys typed before it are read as plain text).
hist="$(cat "$HEARTH_HISTORY" 2>/dev/null)"
expect_contains "history saved" "$hist" "num_predict"
$PTY 30 "$T/tty4" -- "$HEARTH" run "$STORIES" --temperature 0 -n 3 <<'ACT'
wait >>>
send Once\n
wait upon a time
wait >>>
send \x04
ACT
$PTY 30 "$T/tty5" -- "$HEARTH" run "$STORIES" --temperature 0 -n 3 <<'ACT'
wait >>>
sleep 0.5
send \x1b[A\n
wait upon a time
wait >>>
send \x04
ACT
expect_eq "history session exit status" "$?" 0
out="$(tr -d '\r' <"$T/tty5")"
expect_contains "the up arrow recalls the last line" "$out" "Once"$'\n'" upon a time"
# HEARTH_NOHISTORY: nothing is written.
rm -f "$HEARTH_HISTORY"
HEARTH_NOHISTORY=1 $PTY 30 "$T/tty6" -- "$HEARTH" run "$STORIES" --temperature 0 -n 3 <<'ACT'
wait >>>
send Once\n
wait >>>
send \x04
ACT
if [ -e "$HEARTH_HISTORY" ]; then bad "HEARTH_NOHISTORY=1 still wrote $HEARTH_HISTORY"; else ok; fi

finish
