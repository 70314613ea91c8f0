# Stop strings cut exactly; a grammar forces multi-byte UTF-8 through byte tokens intact.
. "$(dirname "$0")/lib.sh"

run_hearth run "$STORIES" "" --temperature 0 -n 60 --stop "Lily"
expect_eq "stop at Lily" "$OUT" "Once upon a time, there was a little girl named "
run_hearth run "$STORIES" "" --temperature 0 -n 60 --stop "e park" --verbose
expect_eq "stop spanning tokens" "$OUT" "Once upon a time, there was a little girl named Lily. She loved to play outside in th"
expect_contains "stop reason" "$ERR" "stop reason:          stop at e park"
run_hearth run "$STORIES" "" --temperature 0 -n 60 --stop "zebra" --stop "girl"
expect_eq "first of two stops" "$OUT" "Once upon a time, there was a little "
run_hearth run "$STORIES" "" --temperature 0 -n 25 --stop "no such text"
expect_eq "unmatched stop loses nothing" "$OUT" "${KNOWN_STORY:0:${#OUT}}"
expect_contains "unmatched stop length" "$OUT" "She loved to play"
run_hearth run "$STORIES" "" --temperature 0 -n 60 --stop "Once"
expect_eq "stop at the very start" "$OUT" ""

# A grammar that spells Japanese: the 512-token vocabulary has no such characters, so each
# one is generated as three byte tokens and must come out whole.
run_hearth run "$STORIES" "" --temperature 0 -n 64 --grammar 'root ::= "日本語の文章です。" "\n"'
expect_eq "multi-byte UTF-8 through byte tokens" "$OUT" "日本語の文章です。"
run_hearth run "$STORIES" "" --temperature 0.9 --seed 3 -n 64 --grammar 'root ::= ("é" | "ü" | "→" | "😀")+ "."'
expect_eq "grammar exit" "$RC" 0
printf '%s' "$OUT" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1
expect_eq "sampled multi-byte output is valid UTF-8" "$?" 0
expect_contains "grammar ends" "$OUT" "."

# A stop string made of multi-byte characters, reached through byte tokens.
run_hearth run "$STORIES" "" --temperature 0 -n 64 --grammar 'root ::= "日本語の文章です。"' --stop "文章"
expect_eq "multi-byte stop" "$OUT" "日本語の"

# Grammar from a file.
printf 'root ::= "yes" | "no"\n' >"$T/yn.gbnf"
run_hearth run "$STORIES" "Is it?" --temperature 0 -n 8 --grammar-file "$T/yn.gbnf"
case "$OUT" in yes | no) ok ;; *) bad "grammar file: got [$OUT]" ;; esac

# Random-weight model over a real BPE vocabulary: whatever it samples is valid UTF-8.
if [ -n "${MKMODEL:-}" ] && [ -f "${LLAMA_DATA:-}/ggml-vocab-qwen2.gguf" ]; then
    "$MKMODEL" --vocab "$LLAMA_DATA/ggml-vocab-qwen2.gguf" --arch qwen2 --out "$T/q.gguf" \
        --n-embd 64 --n-ff 128 >/dev/null 2>&1
    run_hearth run "$T/q.gguf" "Hello" --temperature 1.5 --seed 5 -n 200
    expect_eq "qwen2 sample exit" "$RC" 0
    printf '%s' "$OUT" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1
    expect_eq "qwen2 sampled output is valid UTF-8" "$?" 0
    "$MKMODEL" --vocab "$LLAMA_DATA/ggml-vocab-llama-spm.gguf" --arch llama --out "$T/l.gguf" \
        >/dev/null 2>&1
    run_hearth run "$T/l.gguf" "Hello" --temperature 2 --seed 9 -n 300
    printf '%s' "$OUT" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1
    expect_eq "byte-fallback sampled output is valid UTF-8" "$?" 0
else
    bad "mkmodel or the vocab files are missing (run scripts/deps.sh)"
fi

finish
