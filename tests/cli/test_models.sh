# The test-model generator: llama, qwen2 and qwen3 GGUFs with random weights and real
# vocabularies, any size and quant type, deterministic for a seed; hearth runs each of them.
. "$(dirname "$0")/lib.sh"
: "${MKMODEL:?}" "${LLAMA_DATA:?}"
SPM="$LLAMA_DATA/ggml-vocab-llama-spm.gguf"
QWEN="$LLAMA_DATA/ggml-vocab-qwen2.gguf"

mk() { "$MKMODEL" "$@" >"$T/mk.log" 2>&1 || bad "mkmodel $*: $(tail -3 "$T/mk.log")"; }

mk --vocab "$SPM" --arch llama --out "$T/a.gguf" --seed 1
mk --vocab "$SPM" --arch llama --out "$T/b.gguf" --seed 1
mk --vocab "$SPM" --arch llama --out "$T/c.gguf" --seed 2
cmp -s "$T/a.gguf" "$T/b.gguf"
expect_eq "same seed, same file" "$?" 0
cmp -s "$T/a.gguf" "$T/c.gguf"
expect_ne "another seed, another file" "$?" 0

# Each architecture and type loads, and greedy decoding is fixed.
i=0
for spec in "llama $SPM f32" "llama $SPM f16" "llama $SPM q8_0" "qwen2 $QWEN q4_0" \
    "qwen3 $QWEN q4_k_m" "qwen3 $QWEN q6_k"; do
    set -- $spec
    i=$((i + 1))
    mk --vocab "$2" --arch "$1" --type "$3" --out "$T/m$i.gguf" --n-embd 256 --n-head 4 \
        --n-head-kv 2 --n-ff 512 --n-layer 2
    run_hearth run "$T/m$i.gguf" "Hello" --temperature 0 -n 16 --verbose
    expect_eq "$1 $3: exit" "$RC" 0
    expect_contains "$1 $3: architecture" "$ERR" "$1"
    expect_contains "$1 $3: 16 tokens" "$ERR" "eval count:           16 token(s)"
    first="$OUT"
    run_hearth run "$T/m$i.gguf" "Hello" --temperature 0 -n 16
    expect_eq "$1 $3: greedy output is fixed" "$OUT" "$first"
done
run_hearth run "$T/m4.gguf" "Hello" --temperature 0 -n 1 --verbose
expect_contains "q4_0 type reported" "$ERR" "Q4_0"

# The chat template comes from the vocab file, or from --template.
run_hearth run "$T/m4.gguf" "Hi" -n 1 --verbose
expect_contains "qwen2 vocab brings its chat template" "$ERR" "has a chat template"
run_hearth run "$T/a.gguf" "Hi" -n 1 --verbose
expect_contains "llama-spm vocab has none" "$ERR" "no chat template"
TMPL="$LLAMA_DATA/templates/meta-llama-Llama-3.1-8B-Instruct.jinja"
mk --vocab "$SPM" --arch llama --out "$T/t.gguf" --template "$TMPL"
run_hearth run "$T/t.gguf" "Hi" -n 1 --verbose
expect_contains "--template sets one" "$ERR" "has a chat template"
grep -q "Cutting Knowledge Date" "$T/t.gguf"
expect_eq "--template text is in the file" "$?" 0

# Bad arguments to the generator itself.
"$MKMODEL" --vocab "$SPM" --arch gpt9 --out "$T/x.gguf" 2>"$T/err"
expect_ne "unknown arch refused" "$?" 0
"$MKMODEL" --vocab "$SPM" --n-embd 65 --out "$T/x.gguf" 2>"$T/err"
expect_ne "indivisible dimensions refused" "$?" 0
finish
