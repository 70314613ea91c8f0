# hearth run on the real trained models: the known story, determinism by seed, stdin prompts.
. "$(dirname "$0")/lib.sh"

run_hearth run "$STORIES" "" --temperature 0 -n 40
expect_eq "greedy story exit" "$RC" 0
expect_eq "greedy story from BOS" "$OUT" "${KNOWN_STORY:0:${#OUT}}"
expect_contains "greedy story length" "$OUT" "One day, she saw a big, r"
expect_eq "nothing on stderr" "$ERR" ""

run_hearth run "$TINY" "" --temp 0 -n 12
expect_eq "TinyStories-656K greedy" "${OUT:0:48}" "Once upon a time, there was a little girl named "

# Same seed, same text; another seed, other text (sampling at temperature 1).
run_hearth run "$STORIES" "Once upon a time" --temperature 1 --seed 42 -n 60
a="$OUT"
run_hearth run "$STORIES" "Once upon a time" --temperature 1 --seed 42 -n 60
expect_eq "same seed twice" "$OUT" "$a"
run_hearth run "$STORIES" "Once upon a time" --temperature 1 --seed 43 -n 60
expect_ne "another seed" "$OUT" "$a"
expect_ne "sampled text is not empty" "$a" ""

# -n limits the generated tokens (checked through --verbose's counts).
run_hearth run "$STORIES" "" --temperature 0 -n 5 --verbose
expect_contains "-n 5 eval count" "$ERR" "eval count:           5 token(s)"
expect_contains "-n 5 prompt count" "$ERR" "prompt eval count:    1 token(s)"
expect_contains "-n 5 stop reason" "$ERR" "stop reason:          length"
expect_contains "verbose load time" "$ERR" "load duration:"

# The prompt from a pipe equals the prompt as an argument.
printf 'Once upon a time' | timeout 60 "$HEARTH" run "$STORIES" --temperature 0 -n 20 >"$T/piped" 2>&1
run_hearth run "$STORIES" "Once upon a time" --temperature 0 -n 20
expect_eq "prompt from stdin" "$(cat "$T/piped")" "$OUT"

# Without -n, generation runs to the end of the text or the context, whichever comes first.
run_hearth run "$STORIES" "" --temperature 0 --num-ctx 64 --verbose
expect_eq "small context exit" "$RC" 0
expect_contains "context full is reported" "$ERR" "context"

# Sampler knobs are accepted and change nothing about determinism.
run_hearth run "$STORIES" "Once" --seed 7 -n 30 --top-k 20 --top-p 0.9 --min-p 0.1 \
    --typical-p 0.95 --repeat-penalty 1.1 --repeat-last-n 32 --presence-penalty 0.2 \
    --frequency-penalty 0.1 --dry-multiplier 0.8 --xtc-probability 0.5 --xtc-threshold 0.1 \
    --top-n-sigma 2 --dynatemp-range 0.2 --logit-bias 13+1 --logit-bias 2-inf
a="$OUT"
expect_eq "all samplers exit" "$RC" 0
run_hearth run "$STORIES" "Once" --seed 7 -n 30 --top-k 20 --top-p 0.9 --min-p 0.1 \
    --typical-p 0.95 --repeat-penalty 1.1 --repeat-last-n 32 --presence-penalty 0.2 \
    --frequency-penalty 0.1 --dry-multiplier 0.8 --xtc-probability 0.5 --xtc-threshold 0.1 \
    --top-n-sigma 2 --dynatemp-range 0.2 --logit-bias 13+1 --logit-bias 2-inf
expect_eq "all samplers deterministic" "$OUT" "$a"
for m in 1 2; do
    run_hearth run "$STORIES" "Once" --seed 7 -n 20 --mirostat $m --mirostat-tau 4 --mirostat-eta 0.2
    expect_eq "mirostat $m" "$RC" 0
    expect_ne "mirostat $m output" "$OUT" ""
done

# ignore_eos keeps generating past the end of a story: exactly -n tokens.
run_hearth run "$STORIES" "" --temperature 0 -n 300 --ignore-eos --verbose
expect_contains "ignore-eos runs to -n" "$ERR" "eval count:           300 token(s)"

finish
