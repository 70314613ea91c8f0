# README.md documents the flags of `hearth run` exactly as `hearth run --help` prints them.
. "$(dirname "$0")/lib.sh"
: "${SRC:?}"
cp "$SRC/README.md" "$T/README.md"
bash "$SRC/scripts/gen-readme.sh" "$HEARTH" "$T/README.md"
if diff -u "$SRC/README.md" "$T/README.md" >"$T/diff"; then
    ok
else
    bad "README.md is out of date; run scripts/gen-readme.sh: $(head -20 "$T/diff")"
fi
finish
