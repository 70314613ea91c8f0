#!/usr/bin/env bash
# `hearth run NAME` on a terminal: the chat REPL through a running server. The conversation is
# kept across turns (the server renders every earlier turn), /set changes the next request,
# /show and /load reach the server, /save creates a model, and a model without a chat template
# falls back to one prompt per message.
. "$(dirname "$0")/lib.sh"
PTY="python3 $(dirname "$0")/pty_run.py"

mkdir -p "$T/models"
cp "$STORIES" "$T/models/stories260K.gguf"
"$MKMODEL" --vocab "$LLAMA_DATA/ggml-vocab-qwen2.gguf" --arch qwen2 --n-embd 64 --n-layer 2 \
    --n-head 4 --n-head-kv 2 --n-ff 128 --template "$LLAMA_DATA/templates/Qwen-Qwen2.5-7B-Instruct.jinja" \
    --out "$T/models/chat.gguf" >/dev/null 2>&1 || bad "mkmodel failed"
HEARTH_LOG_LEVEL=debug "$HEARTH" serve --host 127.0.0.1:0 --models-dir "$T/models" 2>"$T/serve.log" &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$T"' EXIT
port=""
for _ in $(seq 1 100); do
    port="$(sed -n 's/^hearth: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/serve.log")"
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { bad "server did not start: $(cat "$T/serve.log")"; finish; exit 1; }
export HEARTH_HOST="127.0.0.1:$port" HEARTH_HISTORY="$T/history"

$PTY 120 "$T/tty" -- "$HEARTH" run chat --num-predict 4 --temperature 0 <<'ACT'
wait >>>
send hello there\n
wait >>>
send /set system You are terse.\n
wait Set system message
send and again\n
wait >>>
send /show info\n
wait architecture
send /show system\n
wait You are terse.
send /save chat-terse\n
wait Created new model
send /clear\n
wait Cleared session context
send fresh start\n
wait >>>
send /load nope\n
wait not found
send /load stories260K\n
wait Loaded 'stories260K'
send Once upon a time\n
wait there was
send /bye\n
ACT
expect_eq "REPL exit status" "$?" 0
# The spinner (drawn while the server loads a model) is taken out: frames and line clears.
out="$(tr -d '\r' <"$T/tty" | sed 's/\x1b\[2m[|/\\-] *\x1b\[0m\x1b\[K//g; s/\x1b\[K//g')"
log="$(cat "$T/serve.log")"
expect_contains "banner" "$out" "chatting with chat through http://127.0.0.1:$port"
# Turn 1: one message; turn 2: system + user + assistant + user; after /clear: system + user.
turns="$(grep -o 'msg="chat rendered" model=chat:latest messages=[0-9]*' "$T/serve.log" | sed 's/.*messages=//' | tr '\n' ' ')"
expect_eq "the conversation is kept, then cleared" "$turns" "1 4 2 "
expect_contains "/show info" "$out" "qwen2"
expect_contains "/save" "$out" "Created new model 'chat-terse'"
run_hearth show chat-terse --system
expect_contains "the saved model has the system message" "$OUT" "You are terse."
expect_contains "/load of a missing model" "$out" "hearth: error: model 'nope' not found"
expect_contains "/load" "$out" "Loaded 'stories260K'"
expect_contains "a model without a template: its own prompt" "$out" "Once upon a time"$'\n'", there was"

# The spinner while the model loads (drawn at once here), dimmed on a terminal; with NO_COLOR
# the same spinner without any colour escape.
"$HEARTH" stop chat >/dev/null 2>&1
HEARTH_SPINNER_DELAY_MS=0 $PTY 60 "$T/tty3" -- "$HEARTH" run chat --num-predict 4 --temperature 0 <<'ACT'
wait >>>
send hi\n
wait >>>
send /bye\n
ACT
expect_contains "a dimmed spinner while the model loads" "$(cat "$T/tty3")" $'\x1b[2m| \x1b[0m'
"$HEARTH" stop chat >/dev/null 2>&1
HEARTH_SPINNER_DELAY_MS=0 NO_COLOR=1 $PTY 60 "$T/tty2" -- "$HEARTH" run chat --num-predict 4 --temperature 0 <<'ACT'
wait >>>
send hi\n
wait >>>
send /bye\n
ACT
expect_eq "NO_COLOR session" "$?" 0
if grep -q $'\x1b\[2m' "$T/tty2"; then bad "NO_COLOR: a colour escape was printed"; else ok; fi
expect_contains "NO_COLOR: the spinner without colour" "$(cat "$T/tty2")" $'\r| \x1b[K'

# A model that does not exist: a clear error before any prompt.
run_hearth run nope
expect_clean_failure "run an unknown model" "model 'nope' not found"

kill $spid 2>/dev/null
wait $spid 2>/dev/null
finish
