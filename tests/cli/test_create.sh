# `hearth create`: a Modelfile becomes a preset section (and with --ollama an Ollama manifest);
# bad Modelfiles, missing files and bad flags are one-line errors naming the problem.
. "$(dirname "$0")/lib.sh"
export XDG_CONFIG_HOME="$T/config" OLLAMA_MODELS="$T/ollama"
unset HEARTH_MODELS_DIR
PRESETS="$XDG_CONFIG_HOME/hearth/presets.ini"
mkdir -p "$T/mf"
cp "$STORIES" "$T/mf/stories.gguf"

run_hearth create --help
expect_eq "help: exit" "$RC" 0
expect_contains "help: usage" "$OUT" "Usage: hearth create NAME"
expect_contains "help: -q" "$OUT" "--quantize TYPE"
run_hearth --help
expect_contains "create is in hearth --help" "$OUT" "create NAME -f Modelfile"

# FROM a path relative to the Modelfile's folder, run from elsewhere.
cat >"$T/mf/Modelfile" <<'MF'
# comment
FROM ./stories.gguf
PARAMETER temperature 0
PARAMETER num_predict 5
PARAMETER stop "<|end|>"
SYSTEM """Two
lines"""
LICENSE MIT
MESSAGE user hello
MF
run_hearth create story -f "$T/mf/Modelfile"
expect_eq "create: exit" "$RC" 0
expect_contains "create: success line" "$OUT" "success: created story"
expect_eq "create: nothing on stderr" "$ERR" ""
ini="$(cat "$PRESETS")"
expect_contains "preset section" "$ini" "[story:latest]"
expect_contains "model is the absolute path" "$ini" "model = $T/mf/stories.gguf"
expect_contains "parameter" "$ini" "num_predict = 5"
expect_contains "stop" "$ini" "stop = <|end|>"
expect_contains "system with a newline, quoted" "$ini" 'system = "Two\nlines"'
expect_contains "messages as JSON" "$ini" 'messages = [{"role":"user","content":"hello"}]'
expect_contains "license" "$ini" "license = MIT"
printf 'FROM ./stories.gguf\nADAPTER ./stories.gguf\n' >"$T/mf/Adapter"
run_hearth create adapted -f "$T/mf/Adapter"
expect_contains "ADAPTER: the absolute path" "$(cat "$PRESETS")" "adapter = $T/mf/stories.gguf"
[ -e "$OLLAMA_MODELS" ]
expect_eq "no Ollama store without --ollama" "$?" 1

# Creating the same name again replaces its section, and other sections stay.
printf 'FROM ./stories.gguf\nPARAMETER num_predict 9\n' >"$T/mf/Other"
run_hearth create other -f "$T/mf/Other"
printf 'FROM ./stories.gguf\nPARAMETER num_predict 7\n' >"$T/mf/Again"
run_hearth create story -f "$T/mf/Again"
ini="$(cat "$PRESETS")"
expect_contains "replaced" "$ini" "num_predict = 7"
expect_not_contains "old value gone" "$ini" "num_predict = 5"
expect_contains "other section kept" "$ini" "[other:latest]"
expect_eq "one story section" "$(grep -c '^\[story:latest\]' "$PRESETS")" 1

# --ollama writes a manifest whose model layer is the GGUF.
run_hearth create story2 -f "$T/mf/Modelfile" --ollama
expect_eq "--ollama: exit" "$RC" 0
man="$OLLAMA_MODELS/manifests/registry.ollama.ai/library/story2/latest"
[ -f "$man" ]
expect_eq "--ollama: manifest written" "$?" 0
digest="$(sha256sum "$STORIES" | cut -d' ' -f1)"
expect_contains "--ollama: model layer digest" "$(cat "$man")" "sha256:$digest"
cmp -s "$STORIES" "$OLLAMA_MODELS/blobs/sha256-$digest"
expect_eq "--ollama: blob is the GGUF" "$?" 0
expect_not_contains "--ollama: the manifest defines it, not a preset" "$(cat "$PRESETS")" "[story2:latest]"
run_hearth create story -f "$T/mf/Modelfile" --ollama
expect_eq "--ollama over a preset-defined name: exit" "$RC" 0
expect_not_contains "--ollama: the old section goes" "$(cat "$PRESETS")" "[story:latest]"
run_hearth create story -f "$T/mf/Again"
expect_contains "and comes back without --ollama" "$(cat "$PRESETS")" "[story:latest]"

# -q on an F32 model: a Q8_0 copy in the models folder beside the presets file.
run_hearth create storyq -f "$T/mf/Modelfile" -q Q8_0
expect_eq "-q: exit" "$RC" 0
expect_contains "-q: progress" "$OUT" "quantizing F32 model to Q8_0"
q="$XDG_CONFIG_HOME/hearth/models/storyq-latest.gguf"
[ -f "$q" ] && [ "$(stat -c %s "$q")" -lt "$(stat -c %s "$STORIES")" ]
expect_eq "-q: a smaller GGUF" "$?" 0
run_hearth run "$q" "Once upon a time" --temperature 0 -n 4
expect_eq "-q: the result loads and runs" "$RC" 0
expect_contains "-q: model points at it" "$(cat "$PRESETS")" "model = $q"
run_hearth create storyq2 -f "$T/mf/Modelfile" -q Q9_9
expect_clean_failure "-q unknown type" "unknown quantization type 'Q9_9'"

# A running server reads what create wrote: the PARAMETERs take effect on `hearth run NAME`.
printf 'FROM ./stories.gguf\nPARAMETER temperature 0\nPARAMETER stop girl\n' >"$T/mf/Stop"
run_hearth create stopper -f "$T/mf/Stop"
printf 'FROM stories\nPARAMETER temperature 0\nPARAMETER num_predict 3\n' >"$T/mf/Short"
run_hearth create short -f "$T/mf/Short" --models-dir "$T/mf"
expect_eq "FROM a name in --models-dir" "$RC" 0
expect_contains "FROM a name: model is the name" "$(cat "$PRESETS")" "model = stories:latest"
"$HEARTH" serve --host 127.0.0.1:0 --models-dir "$T/mf" 2>"$T/serve.log" &
spid=$!
port=""
for _ in $(seq 1 100); do
    port="$(sed -n 's/^hearth: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/serve.log")"
    [ -n "$port" ] && break
    sleep 0.05
done
if [ -n "$port" ]; then
    export HEARTH_HOST="127.0.0.1:$port"
    run_hearth list
    expect_contains "list shows a created model" "$OUT" "stopper:latest"
    run_hearth run stopper "Once upon a time"
    expect_eq "stop PARAMETER ends the output" "$OUT" ", there was a little "
    run_hearth run short "Once upon a time"
    expect_eq "num_predict PARAMETER limits it" "$OUT" ", there was"
    run_hearth run storyq "Once upon a time" -n 3
    expect_eq "the quantized model runs through the server" "$RC" 0
    unset HEARTH_HOST
else
    bad "server did not start: $(cat "$T/serve.log")"
fi
kill "$spid"
wait "$spid"
expect_eq "server exits 0" "$?" 0

# Failures: one line, naming the file and line.
run_hearth create x -f "$T/mf/missing"
expect_clean_failure "missing Modelfile" "$T/mf/missing"
run_hearth create x -f "$T/mf"
expect_clean_failure "a folder" "not a regular file"
printf 'FROM ./stories.gguf\n\nFORM x\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "bad instruction" "line 3: unknown instruction 'FORM'"
printf 'FROM ./stories.gguf\nPARAMETER temperature hot\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "bad parameter" "line 2: temperature must be a number"
printf 'SYSTEM hi\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "no FROM" "no FROM line"
printf 'FROM ./nope.gguf\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "FROM a missing file" "nope.gguf"
printf 'not a gguf' >"$T/mf/fake.gguf"
printf 'FROM ./fake.gguf\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "FROM a file that is not a GGUF" "fake.gguf"
printf 'FROM ./stories.gguf\nADAPTER ./nolora.gguf\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "ADAPTER a missing file" "nolora.gguf"
printf 'FROM ./stories.gguf\nADAPTER ./fake.gguf\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "ADAPTER a file that is not a GGUF" "ADAPTER: "
printf 'FROM no-such-model\n' >"$T/mf/Bad"
run_hearth create x -f "$T/mf/Bad"
expect_clean_failure "FROM an unknown name" "no-such-model"
run_hearth create "../x" -f "$T/mf/Modelfile"
expect_clean_failure "bad name" "../x"
run_hearth create
expect_clean_failure "no name" "needs a model name"
run_hearth create x -f
expect_clean_failure "-f without a value" "-f needs a value"
run_hearth create x --bogus
expect_clean_failure "unknown flag" "unknown flag '--bogus'"
expect_not_contains "failures wrote no section" "$(cat "$PRESETS")" "[x:latest]"

finish
