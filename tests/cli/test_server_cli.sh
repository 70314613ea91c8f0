# The CLI commands that talk to a running server: list, ps, show, cp, rm, stop, and run by name.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/models"
cp "$STORIES" "$T/models/stories260K.gguf"
cp "$TINY" "$T/models/tiny.gguf"
# A Hugging Face cache entry as huggingface_hub writes it: list shows its source and quant.
hf="$HF_HUB_CACHE/models--org--Tiny-GGUF"
commit=0123456789012345678901234567890123456789
blob="$(sha256sum "$TINY" | cut -c1-64)"
mkdir -p "$hf/blobs" "$hf/snapshots/$commit" "$hf/refs"
cp "$TINY" "$hf/blobs/$blob"
ln -s "../../blobs/$blob" "$hf/snapshots/$commit/Tiny-Q8_0.gguf"
printf '%s' "$commit" >"$hf/refs/main"
"$HEARTH" serve --host 127.0.0.1:0 --models-dir "$T/models" 2>"$T/serve.log" &
spid=$!
port=""
for _ in $(seq 1 100); do
    port="$(sed -n 's/^hearth: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/serve.log")"
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { bad "server did not start: $(cat "$T/serve.log")"; finish; exit 1; }
export HEARTH_HOST="127.0.0.1:$port"

run_hearth list
expect_eq "list exit" "$RC" 0
expect_contains "list header" "$OUT" "NAME"
expect_contains "list stories" "$OUT" "stories260K:latest"
expect_contains "list size" "$OUT" "1.2 MB"
expect_contains "list hf" "$OUT" "hf.co/org/Tiny-GGUF:Q8_0"
expect_contains "list columns" "$OUT" "QUANT    SOURCE"
expect_eq "list hf row" "$(printf '%s\n' "$OUT" | grep -c 'hf.co/org/Tiny-GGUF:Q8_0 .* Q8_0 *hf ')" 1
expect_eq "list folder row" "$(printf '%s\n' "$OUT" | grep -c '^stories260K:latest .* folder ')" 1
run_hearth list --json
expect_contains "list --json" "$OUT" '"quantization_level": "Q8_0"'

run_hearth run stories260K "Once upon a time" --temperature 0 -n 30
expect_eq "run by name through the server" "$OUT" ", there was a little girl named Lily. She loved to play outside in the park. One day,"
run_hearth run stories260K "Once upon a time" --temperature 0 -n 30 --stop Lily --verbose
expect_eq "run by name: stop" "$OUT" ", there was a little girl named "
expect_contains "run by name: verbose" "$ERR" "prompt eval count:    5 token(s)"
run_hearth run nope "x"
expect_clean_failure "run unknown name" "model 'nope' not found"

run_hearth ps
expect_contains "ps shows the loaded model" "$OUT" "stories260K:latest"
expect_contains "ps processor" "$OUT" "100% CPU"
expect_contains "ps columns" "$OUT" "PROCESSOR  CONTEXT   SLOTS   UNTIL"
expect_eq "ps row: slots idle of four" "$(printf '%s\n' "$OUT" | grep -c '^stories260K:latest .* 100% CPU .* 0/4 ')" 1
run_hearth show stories260K
expect_contains "show architecture" "$OUT" "architecture         llama"
expect_contains "show quantization" "$OUT" "quantization         F32"
run_hearth show stories260K --modelfile
expect_contains "show --modelfile" "$OUT" "FROM $T/models/stories260K.gguf"
run_hearth show stories260K --json
expect_eq "show --json parses back" "$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["details"]["family"])')" llama
run_hearth show stories260K -v
expect_contains "show -v metadata" "$OUT" "llama.block_count"
run_hearth show nope
expect_clean_failure "show unknown" "not found"

run_hearth cp tiny tiny2
expect_eq "cp" "$OUT" "copied 'tiny' to 'tiny2'"
[ -f "$T/models/tiny2.gguf" ] && ok || bad "cp made no file"
run_hearth rm tiny2
expect_eq "rm" "$OUT" "deleted 'tiny2'"
[ ! -e "$T/models/tiny2.gguf" ] && ok || bad "rm left the file"
run_hearth rm tiny2
expect_clean_failure "rm twice" "not found"
run_hearth cp tiny "../escape"
expect_clean_failure "cp to a path" "invalid model name"

run_hearth stop stories260K
expect_eq "stop exit" "$RC" 0
run_hearth ps
expect_not_contains "stop unloaded it" "$OUT" "stories260K"

kill -TERM "$spid"
wait "$spid"
expect_eq "serve exits 0 on SIGTERM" "$?" 0
expect_contains "one log line per request" "$(cat "$T/serve.log")" 'method=POST path="/api/generate" model="stories260K:latest" status=200'

HEARTH_HOST=127.0.0.1:1 run_hearth list
expect_clean_failure "no server" "could not connect to a hearth server"
run_hearth serve --host nonsense:99999
expect_clean_failure "bad host" "invalid host"
run_hearth serve --bogus
expect_clean_failure "serve unknown flag" "unknown flag"
run_hearth serve --parallel 0
expect_clean_failure "serve --parallel 0" "invalid parallel '0'"
run_hearth serve -np 300
expect_clean_failure "serve -np 300" "from 1 to 256"
HEARTH_NUM_PARALLEL=many run_hearth serve
expect_clean_failure "bad HEARTH_NUM_PARALLEL" "invalid parallel 'many'"
run_hearth serve --max-memory lots
expect_clean_failure "serve --max-memory lots" "invalid max-memory 'lots'"
HEARTH_MAX_MEMORY=0 run_hearth serve
expect_clean_failure "HEARTH_MAX_MEMORY=0" "invalid max-memory '0'"
run_hearth serve --max-queue -1
expect_clean_failure "serve --max-queue -1" "invalid max-queue '-1'"
OLLAMA_MAX_LOADED_MODELS=two run_hearth serve
expect_clean_failure "bad OLLAMA_MAX_LOADED_MODELS" "invalid max-loaded-models 'two'"
HEARTH_STALL_TIMEOUT=soon run_hearth serve
expect_clean_failure "bad HEARTH_STALL_TIMEOUT" "invalid HEARTH_STALL_TIMEOUT 'soon'"
HEARTH_LOAD_TIMEOUT=-1m run_hearth serve
expect_clean_failure "negative HEARTH_LOAD_TIMEOUT" "invalid HEARTH_LOAD_TIMEOUT '-1m'"
run_hearth serve --max-queue
expect_clean_failure "serve --max-queue without a value" "needs a value"
run_hearth serve --help
expect_contains "serve --help names --max-memory" "$OUT" "HEARTH_MAX_MEMORY"
expect_contains "serve --help names --max-loaded-models" "$OUT" "OLLAMA_MAX_LOADED_MODELS"
expect_contains "serve --help names --max-queue" "$OUT" "OLLAMA_MAX_QUEUE"
expect_contains "serve --help names the timeouts" "$OUT" "HEARTH_STALL_TIMEOUT"
expect_contains "serve --help" "$OUT" "--models-dir"
expect_contains "serve --help names --parallel" "$OUT" "HEARTH_NUM_PARALLEL"
finish
