# hearth bundle: one executable holding hearth and stories260K, copied to a directory with no
# checkout, store or settings around it, where it answers, serves and describes itself; damaged
# copies refuse to start; bad arguments to `hearth bundle` are clear errors. With the static
# build (make static: $HEARTH_STATIC_BIN), its bundle runs with nothing of the checkout and ldd
# shows only the C library's parts.
. "$(dirname "$0")/lib.sh"
PTY_RUN="$(cd "$(dirname "$0")" && pwd)/pty_run.py"

# The model by name from a folder, with a preset section that the bundle must carry.
mkdir -p "$T/models"
cp "$STORIES" "$T/models/stories260K.gguf"
cat >"$T/presets.ini" <<'EOF'
[*]
top_k = 30
[stories260K]
temperature = 0
num_predict = 40
system = "You tell stories.\nShort ones."
EOF

run_hearth bundle stories260K -o "$T/story" --models-dir "$T/models" --models-preset "$T/presets.ini"
expect_eq "bundle exit" "$RC" 0
expect_contains "bundle says what it wrote" "$OUT" "bundled stories260K:latest (1.2 MB) into $T/story"
expect_contains "bundle prints the model's digest" "$OUT" "model sha256 $(sha256sum "$STORIES" | cut -c1-64)"
case "$HEARTH" in
*build-static*) ;;
*) expect_contains "a dynamic hearth warns" "$ERR" "not the static build" ;;
esac
expect_eq "the bundle is executable" "$([ -x "$T/story" ] && echo yes)" yes
# The GGUF sits whole at a 64 KiB boundary: libllama maps the weights in place.
gguf_at="$(grep -obUaP 'GGUF\x03\x00\x00\x00' "$T/story" | head -1 | cut -d: -f1)"
expect_eq "the GGUF is 64 KiB-aligned" "$((gguf_at % 65536))" 0
expect_eq "the GGUF is unchanged" "$(tail -c +$((gguf_at + 1)) "$T/story" | head -c "$(stat -c %s "$STORIES")" | sha256sum | cut -c1-64)" "$(sha256sum "$STORIES" | cut -c1-64)"

# A fresh place: no checkout, empty home, store and settings. A dynamically linked hearth finds
# libllama through LD_LIBRARY_PATH there (as if installed); the static one needs nothing.
F="$(mktemp -d /tmp/hearth-bundle.XXXXXX)"
trap 'rm -rf "$T" "$F"' EXIT
mkdir -p "$F/home" "$F/empty" "$F/run"
cp "$T/story" "$F/run/story"
LIBS="$(dirname "$(dirname "$HEARTH")")/deps/llama/lib:${SRC:-.}/deps/llama/lib"
# run_fresh BIN ARGS...: runs BIN in the fresh place; sets OUT, ERR, RC.
run_fresh() {
    local bin="$1"
    shift
    (cd "$F/run" && timeout -s KILL 60 env -i PATH=/usr/bin:/bin HOME="$F/home" \
        HEARTH_MODELS_DIR="$F/empty" HEARTH_MODELS_PRESET="$F/empty/none.ini" \
        HF_HUB_CACHE="$F/empty" OLLAMA_MODELS="$F/empty" XDG_CONFIG_HOME="$F/empty" \
        LD_LIBRARY_PATH="${FRESH_LIBS-$LIBS}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
        "$bin" "$@" >"$T/out" 2>"$T/err" </dev/null)
    RC=$?
    OUT="$(cat "$T/out")"
    ERR="$(cat "$T/err")"
}

# The preset's temperature 0 and 40 tokens: the known story, with no flags at all.
run_fresh ./story ""
expect_eq "fresh: exit" "$RC" 0
expect_eq "fresh: the known story" "$OUT" "${KNOWN_STORY:0:${#OUT}}"
expect_contains "fresh: as long as the preset says" "$OUT" "One day, she saw a big, r"
expect_eq "fresh: nothing on stderr" "$ERR" ""
# Flags replace the preset's values.
run_fresh ./story "" -n 5 --verbose
expect_contains "fresh: -n replaces num_predict" "$ERR" "eval count:           5 token(s)"
# Without mmap, libllama reads the weights from the executable's stream instead.
run_fresh ./story "" -n 12 --no-use-mmap
expect_eq "fresh: read without mmap" "$OUT" "${KNOWN_STORY:0:${#OUT}}"
expect_contains "fresh: read without mmap, twelve tokens" "$OUT" "little girl"
# The prompt from a pipe.
(cd "$F/run" && printf 'Once upon a time' | timeout 60 env -i PATH=/usr/bin:/bin HOME="$F/home" \
    LD_LIBRARY_PATH="$LIBS" ASAN_OPTIONS="${ASAN_OPTIONS:-}" ./story -n 12 >"$T/piped" 2>&1)
expect_eq "fresh: prompt on stdin" "$(cat "$T/piped")" ", there was a little girl named Lily. She"

run_fresh ./story --help
expect_eq "help exit" "$RC" 0
expect_contains "help names the model" "$OUT" "holding the model stories260K:latest"
expect_contains "help: architecture, size" "$OUT" "stories260K:latest: llama, 292.8K parameters, f32, 1.2 MB"
expect_contains "help: the preset's parameters, [*] included" "$OUT" "top_k=30, temperature=0, num_predict=40"
expect_contains "help: the system prompt" "$OUT" "You tell stories. ..."
expect_contains "help: serve" "$OUT" "./story serve [FLAGS]"
expect_contains "help: verify" "$OUT" "./story --verify"
run_fresh ./story --help-run
expect_contains "help-run: run's flags" "$OUT" "--temperature X"
expect_contains "help-run: usage" "$OUT" "Usage: ./story [PROMPT] [flags]"
run_fresh ./story "a prompt" --help
expect_contains "help after a prompt: the bundle's usage" "$OUT" "Usage: ./story [PROMPT] [flags]"
run_fresh ./story "" --bogus
expect_clean_failure "an unknown flag" "unknown flag '--bogus'"
run_fresh ./story --verify
expect_eq "verify exit" "$RC" 0
expect_contains "verify" "$OUT" "the bundle is intact"
run_fresh ./story --version
expect_contains "version" "$OUT" "libllama"

# serve: every API, the model under its bundled name, with its preset.
(cd "$F/run" && exec env -i PATH=/usr/bin:/bin HOME="$F/home" LD_LIBRARY_PATH="$LIBS" \
    HEARTH_MODELS_PRESET="$F/empty/none.ini" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
    ./story serve --host 127.0.0.1:0 2>"$T/serve.log") &
spid=$!
port=""
for _ in $(seq 1 200); do
    port="$(sed -n 's/^hearth: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/serve.log")"
    [ -n "$port" ] && break
    sleep 0.05
done
if [ -z "$port" ]; then
    bad "bundle serve did not start: $(cat "$T/serve.log")"
else
    base="http://127.0.0.1:$port"
    tags="$(curl -s "$base/api/tags")"
    expect_contains "serve: /api/tags lists the bundled model" "$tags" '"name":"stories260K:latest"'
    expect_contains "serve: the model's size, not the bundle's" "$tags" "\"size\":$(stat -c %s "$STORIES"),"
    expect_eq "serve: only the bundled model" "$(printf '%s' "$tags" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["models"]))')" 1
    gen="$(curl -s "$base/api/generate" -d '{"model":"stories260K","prompt":"Once upon a time","stream":false,"options":{"num_predict":12}}')"
    expect_eq "serve: generation with the preset's temperature" "$(printf '%s' "$gen" | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"])')" ", there was a little girl named Lily. She"
    oai="$(curl -s "$base/v1/completions" -d '{"model":"stories260K","prompt":"Once upon a time","max_tokens":5}')"
    expect_contains "serve: OpenAI completions" "$oai" '"text":", there was a little'
    lc="$(curl -s "$base/completion" -d '{"prompt":"Once upon a time","n_predict":5}')"
    expect_contains "serve: llama-server's /completion with no model: the bundle's" "$lc" '"content":", there was a little'
    anth="$(curl -s "$base/v1/messages" -H 'content-type: application/json' -d '{"model":"stories260K","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}')"
    expect_contains "serve: Anthropic messages" "$anth" '"stop_reason":"max_tokens"'
    expect_eq "serve: the web UI" "$(curl -s -o /dev/null -w '%{http_code}' "$base/")" 200
    show="$(curl -s "$base/api/show" -d '{"model":"stories260K"}')"
    expect_contains "serve: the preset's system prompt" "$show" 'You tell stories.\nShort ones.'
    expect_eq "serve: no pull route" "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/pull" -d '{"model":"x"}')" 404
    expect_eq "serve: no create route" "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/create" -d '{"model":"x","from":"stories260K"}')" 404
    del="$(curl -s -X DELETE "$base/api/delete" -d '{"model":"stories260K"}')"
    expect_contains "serve: the bundled model cannot be deleted" "$del" "a bundle's models are fixed"
    expect_eq "serve: still listed after a delete" "$(curl -s "$base/api/tags" | grep -c stories260K)" 1
    missing="$(curl -s "$base/api/generate" -d '{"model":"llama3","prompt":"x","stream":false}')"
    expect_contains "serve: no other store" "$missing" "not found"
fi
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
expect_contains "serve: stops cleanly" "$(cat "$T/serve.log")" 'msg="stopped"'
run_fresh ./story serve --models-preset "$F/empty/x.ini"
expect_clean_failure "serve: --models-preset refused" "its own preset"

# A chat model (random weights, qwen2's vocabulary and template): a prompt is one turn of chat
# through the template, the preset's system prompt first; without one the REPL opens on a
# terminal with that system prompt.
if [ -x "${MKMODEL:-}" ] && [ -f "${LLAMA_DATA:-}/ggml-vocab-qwen2.gguf" ]; then
    "$MKMODEL" --vocab "$LLAMA_DATA/ggml-vocab-qwen2.gguf" --arch qwen2 --n-embd 64 --n-layer 2 \
        --type q8_0 --out "$T/models/chat.gguf" >/dev/null 2>&1
    printf '[chat]\nsystem = Answer in one word.\ntemperature = 0\nnum_predict = 4\n' >"$T/chat.ini"
    run_hearth bundle chat -o "$F/run/chat" --models-dir "$T/models" --models-preset "$T/chat.ini"
    expect_eq "chat: bundle exit" "$RC" 0
    run_fresh ./chat "hi" --verbose
    expect_eq "chat: exit" "$RC" 0
    # <|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n
    # <|im_start|>assistant\n: 19 tokens of qwen2's vocabulary, where "hi" alone is one.
    expect_contains "chat: the template and the system prompt" "$ERR" "prompt eval count:    19 token(s)"
    run_fresh ./chat "hi" --system-ignored
    expect_clean_failure "chat: a bad flag" "unknown flag '--system-ignored'"
    printf 'wait >>> \nsend /show system\\n\nwait Answer in one word.\nsend /bye\\n\n' |
        (cd "$F/run" && env -i PATH=/usr/bin:/bin HOME="$F/home" TERM=xterm LD_LIBRARY_PATH="$LIBS" \
            ASAN_OPTIONS="${ASAN_OPTIONS:-}" HEARTH_NOHISTORY=1 \
            timeout 60 python3 "$PTY_RUN" 50 "$T/pty.out" -- ./chat)
    expect_eq "chat: the REPL ends with /bye" "$?" 0
    expect_contains "chat: the REPL shows the preset's system prompt" "$(cat "$T/pty.out")" "Answer in one word."
else
    echo "test_bundle: SKIP the chat model checks: no mkmodel or qwen2 vocabulary"
fi

# Damaged copies refuse to start: one line naming the problem, exit 1, and no generation.
size="$(stat -c %s "$T/story")"
preset_at="$(grep -obUa '; hearth bundle' "$T/story" | tail -1 | cut -d: -f1)"
flip() { # flip FILE OFFSET: changes one byte (a hex digit into another one)
    python3 -c 'import sys; f=open(sys.argv[1],"r+b"); o=int(sys.argv[2]); f.seek(o); b=f.read(1)[0]; f.seek(o); f.write(bytes([(ord("a") if b != ord("a") else ord("b")) if chr(b) in "0123456789abcdef" else b ^ 0xff]))' "$1" "$2"
}
head -c $((size - 100)) "$T/story" >"$F/run/cut"
chmod +x "$F/run/cut"
run_fresh ./cut ""
expect_clean_failure "truncated: refused" "the bundle is truncated"
expect_eq "truncated: exit 1" "$RC" 1
head -c $((gguf_at + 5000)) "$T/story" >"$F/run/cut"
run_fresh ./cut --help
expect_clean_failure "cut inside the model: refused" "the bundle is truncated"
cp "$T/story" "$F/run/bad"
flip "$F/run/bad" $((preset_at + 40))
run_fresh ./bad ""
expect_clean_failure "a flipped byte in the preset" "was modified or is corrupted"
cp "$T/story" "$F/run/bad"
flip "$F/run/bad" $((size - 100)) # inside the trailer's weights digest
run_fresh ./bad ""
expect_clean_failure "a flipped byte in the trailer's digest" "was modified or is corrupted"
cp "$T/story" "$F/run/bad"
flip "$F/run/bad" $((size - 170)) # inside the trailer's offsets
run_fresh ./bad ""
expect_clean_failure "a flipped byte in the trailer's offsets" "damaged"
cp "$T/story" "$F/run/bad"
flip "$F/run/bad" $((gguf_at + 100)) # the GGUF's header
run_fresh ./bad ""
expect_clean_failure "a flipped byte in the GGUF header" "was modified or is corrupted"
cp "$T/story" "$F/run/bad"
flip "$F/run/bad" $((preset_at - 1000)) # the last tensor's weights
run_fresh ./bad --verify
expect_clean_failure "--verify finds a flipped weight" "the SHA-256 of its weights"
run_fresh ./bad "" -n 3
expect_eq "a flipped weight is found by --verify only (the start checks the header)" "$RC" 0

# Bad arguments to hearth bundle.
run_hearth bundle nope -o "$T/x" --models-dir "$T/models" --models-preset "$T/presets.ini"
expect_clean_failure "missing model" "model 'nope' not found"
run_hearth bundle "$T/models/none.gguf" -o "$T/x"
expect_clean_failure "missing file" "not found"
run_hearth bundle "$STORIES"
expect_clean_failure "no -o" "usage: hearth bundle NAME -o FILE"
expect_eq "no -o: usage status" "$RC" 2
run_hearth bundle "$STORIES" -o
expect_clean_failure "-o without a value" "-o needs a value"
run_hearth bundle "$STORIES" -o /nonexistent/dir/story
expect_clean_failure "unwritable -o" "cannot write /nonexistent/dir/story"
run_hearth bundle "$STORIES" -o "$HEARTH"
expect_clean_failure "-o is the running hearth" "is the hearth executable running now"
run_hearth bundle "$STORIES" -o "$T"
expect_clean_failure "-o is a directory" "is a directory"
run_hearth bundle "$T/models/stories260K.gguf" -o "$T/models/stories260K.gguf"
expect_clean_failure "-o is the model" "is the model file itself"
expect_eq "the model is untouched" "$(sha256sum <"$T/models/stories260K.gguf")" "$(sha256sum <"$STORIES")"
printf 'not a model' >"$T/junk.gguf"
run_hearth bundle "$T/junk.gguf" -o "$T/x"
expect_clean_failure "not a GGUF" "not a GGUF file"
run_hearth bundle "$STORIES" -o "$T/x" --bogus
expect_clean_failure "unknown flag" "unknown flag '--bogus'"
expect_eq "no file left by failures" "$(ls "$T" | grep -c '^x')" 0
# A bundle's model can be bundled again (the running hearth's own image is what is copied).
run_hearth bundle "$T/story" -o "$T/again" --name retold
expect_eq "rebundle exit" "$RC" 0
run_fresh "$T/again" --help
expect_contains "rebundle: the new name" "$OUT" "holding the model retold:latest"

# The static build: ldd shows only the C library's parts, and the bundle runs with no
# LD_LIBRARY_PATH from the fresh place.
if [ -x "${HEARTH_STATIC_BIN:-}" ]; then
    timeout 60 "$HEARTH_STATIC_BIN" bundle "$STORIES" -o "$F/run/static" >"$T/out" 2>"$T/err"
    expect_eq "static: bundle exit" "$?" 0
    expect_not_contains "static: no warning" "$(cat "$T/err")" "not the static build"
    libs="$(ldd "$F/run/static" | awk '{print $1}' | sed 's/\.so.*//' | sort -u | tr '\n' ' ')"
    expect_eq "static: ldd shows only libc-level libraries" \
        "$(printf '%s\n' $libs | grep -Ev '^(linux-vdso|/lib64/ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libgcc_s)$' | tr '\n' ' ')" ""
    FRESH_LIBS="" run_fresh ./static "" --temperature 0 -n 40
    expect_eq "static: runs with nothing installed" "$OUT" "${KNOWN_STORY:0:${#OUT}}"
    expect_contains "static: the whole story" "$OUT" "One day, she saw a big, r"
else
    echo "test_bundle: SKIP the static checks: no static hearth (make static builds build-static/hearth)"
fi

finish
