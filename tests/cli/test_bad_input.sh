# Bad input to `hearth run`: each gets one clear error line and a non-zero exit, never a crash.
. "$(dirname "$0")/lib.sh"

# ---- model files ----
run_hearth run "$T/missing.gguf" "hi"
expect_clean_failure "missing file" "no such file"
mkdir -p "$T/dir.gguf"
run_hearth run "$T/dir.gguf" "hi"
expect_clean_failure "directory" "is a directory"
echo "this is not a model" >"$T/text.gguf"
run_hearth run "$T/text.gguf" "hi"
expect_clean_failure "not GGUF" "not a GGUF file"
: >"$T/empty.gguf"
run_hearth run "$T/empty.gguf" "hi"
expect_clean_failure "empty file" "not a GGUF file"
head -c 2000 "$STORIES" >"$T/trunc-header.gguf"
run_hearth run "$T/trunc-header.gguf" "hi"
expect_clean_failure "truncated in the header" "trunc-header.gguf"
size=$(stat -c %s "$STORIES")
head -c $((size - 100)) "$STORIES" >"$T/trunc-data.gguf"
run_hearth run "$T/trunc-data.gguf" "hi"
expect_clean_failure "tensor data past the end" "runs past the end"
# Absurd counts: n_tensors (bytes 8-15) and n_kv (bytes 16-23) set to 2^63-1.
cp "$STORIES" "$T/counts.gguf"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$T/counts.gguf" bs=1 seek=8 conv=notrunc 2>/dev/null
run_hearth run "$T/counts.gguf" "hi"
expect_clean_failure "absurd tensor count" "tensor count"
cp "$STORIES" "$T/kv.gguf"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$T/kv.gguf" bs=1 seek=16 conv=notrunc 2>/dev/null
run_hearth run "$T/kv.gguf" "hi"
expect_clean_failure "absurd metadata count" "metadata count"
# A key length running past the end of the file (the first key's u64 length at byte 24).
cp "$STORIES" "$T/key.gguf"
printf '\x00\x00\x00\x00\x00\x00\x00\x10' | dd of="$T/key.gguf" bs=1 seek=24 conv=notrunc 2>/dev/null
run_hearth run "$T/key.gguf" "hi"
expect_clean_failure "key length past the end" "metadata key"
printf 'GGUF\x01\x00\x00\x00' >"$T/v1.gguf"
head -c 100 /dev/zero >>"$T/v1.gguf"
run_hearth run "$T/v1.gguf" "hi"
expect_clean_failure "GGUF version 1" "unsupported GGUF version 1"

# ---- flags and values ----
run_hearth run "$STORIES" "hi" --no-such-flag
expect_clean_failure "unknown flag" "unknown flag '--no-such-flag'"
expect_eq "unknown flag exit status" "$RC" 2
run_hearth run "$STORIES" "hi" -n -5
expect_clean_failure "negative -n" "num_predict must be an integer from -1"
run_hearth run "$STORIES" "hi" --temperature nan
expect_clean_failure "temperature NaN" "temperature must be a number"
run_hearth run "$STORIES" "hi" --temperature inf
expect_clean_failure "temperature inf" "temperature"
run_hearth run "$STORIES" "hi" --top-p 2
expect_clean_failure "top_p 2" "top_p must be a number from 0 to 1, not '2'"
run_hearth run "$STORIES" "hi" --seed abc
expect_clean_failure "seed abc" "seed must be an integer"
run_hearth run "$STORIES" "hi" --top-k
expect_clean_failure "missing value" "--top-k needs a value"
run_hearth run "$STORIES" "hi" --mirostat 3
expect_clean_failure "mirostat 3" "mirostat"
run_hearth run "$STORIES" "hi" --ctx -1
expect_clean_failure "negative context" "num_ctx"
run_hearth run "$STORIES" "hi" --threads 100000
expect_clean_failure "absurd threads" "num_thread"
run_hearth run "$STORIES" "hi" extra
expect_clean_failure "extra argument" "unexpected argument 'extra'"
run_hearth run
expect_clean_failure "no model" "missing MODEL"
run_hearth run "$STORIES" "hi" --logit-bias banana
expect_clean_failure "bad logit bias" "logit_bias must look like"
run_hearth run "$STORIES" "hi" --logit-bias 99999+1
expect_clean_failure "logit bias outside the vocabulary" "outside the vocabulary"
run_hearth run "$STORIES" "hi" --grammar 'root ::= ['
expect_clean_failure "invalid grammar" "invalid grammar"
run_hearth run "$STORIES" "hi" --grammar-file "$T/missing.gbnf"
expect_clean_failure "missing grammar file" "missing.gbnf"
run_hearth run "$STORIES" "hi" --cache-type-k q9_9
expect_clean_failure "unknown cache type" "unknown KV cache type 'q9_9'"
long="$(printf 'Once upon a time %.0s' $(seq 1 200))"
run_hearth run "$STORIES" "$long" --ctx 256
expect_clean_failure "prompt longer than the context" "but the context holds 256"
run_hearth frobnicate
expect_clean_failure "unknown command" "unknown command 'frobnicate'"

# ---- help is true ----
run_hearth run --help
expect_eq "run --help exit" "$RC" 0
for flag in --temperature --top-k --top-p --min-p --typical-p --repeat-penalty --repeat-last-n \
    --presence-penalty --frequency-penalty --mirostat --mirostat-tau --mirostat-eta \
    --dry-multiplier --dry-base --dry-allowed-length --dry-penalty-last-n --xtc-probability \
    --xtc-threshold --top-n-sigma --seed --stop --grammar --logit-bias --num-ctx --num-thread \
    --verbose --grammar-file; do
    expect_contains "help lists $flag" "$OUT" "$flag"
done
run_hearth --help
for c in "serve " "run MODEL" "list " "ls " "ps " "show MODEL" "rm MODEL" "cp SOURCE" "stop MODEL" "version"; do
    expect_contains "hearth --help lists $c" "$OUT" "$c"
done
run_hearth version
expect_eq "version exit" "$RC" 0
expect_contains "version names libllama" "$OUT" "libllama "
expect_contains "version names the CPU backend" "$OUT" "CPU"

# No core files were left behind by any of the above.
expect_eq "no core dumps" "$(find . "$T" -maxdepth 1 -name 'core*' | wc -l)" 0
finish
