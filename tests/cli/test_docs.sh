# README.md documents the flags of `hearth run` and `hearth serve` exactly as their --help prints
# them; `hearth` alone and `hearth COMMAND --help` print true usage: every command of the table,
# and each command's --help names every flag its shell completion offers.
. "$(dirname "$0")/lib.sh"
: "${SRC:?}"
cp "$SRC/README.md" "$T/README.md"
bash "$SRC/scripts/gen-readme.sh" "$HEARTH" "$T/README.md"
if diff -u "$SRC/README.md" "$T/README.md" >"$T/diff"; then
    ok
else
    bad "README.md is out of date; run scripts/gen-readme.sh: $(head -20 "$T/diff")"
fi

run_hearth
expect_eq "hearth alone: exit" "$RC" 0
usage="$OUT"
run_hearth --help
expect_eq "hearth --help is hearth alone" "$OUT" "$usage"
"$HEARTH" completion bash >"$T/comp.bash"
# The commands completion offers (from the same table) are the ones usage lists.
cmds="$(sed -n 's/.*COMPREPLY=($(compgen -W "\([^"]*\)" -- "$cur"))$/\1/p' "$T/comp.bash" | head -1)"
[ -n "$cmds" ] && ok || bad "no command list in the bash completion"
for c in $cmds; do
    expect_eq "usage lists $c" "$(printf '%s\n' "$usage" | grep -c "^  $c\b")" 1
    run_hearth "$c" --help
    expect_eq "$c --help: exit" "$RC" 0
    if [ "$c" = help ]; then
        expect_eq "help --help" "$OUT" "$usage"
        continue
    fi
    expect_eq "$c --help: usage line" "$(printf '%s\n' "$OUT" | head -1 | cut -d' ' -f1-3)" "Usage: hearth $c"
    [ "$c" = config ] && continue # its flags are serve's, described by serve --help
    flags="$(grep -A1 "^    $c)" "$T/comp.bash" | sed -n 's/.*compgen -W "\([^"]*\)".*/\1/p')"
    for f in $flags; do
        [ "$f" = --help ] && continue
        # run documents its boolean parameters' --no-NAME forms as one line
        case "$c $f" in "run --no-"*) expect_contains "run --help: --no-NAME" "$OUT" "--no-NAME"; continue ;; esac
        expect_contains "$c --help names $f" "$OUT" "$f"
    done
done
finish
