#!/usr/bin/env bash
# Regenerates the generated parts of README.md from the binary: the `hearth run --help` block
# (from the parameter table) and the `hearth serve --help` block (from the settings table).
# tests/cli/test_docs.sh fails when README.md differs from what this script writes.
set -euo pipefail
HEARTH="${1:-build/hearth}"
README="${2:-README.md}"
run_help="$("$HEARTH" run --help)"
serve_help="$("$HEARTH" serve --help)"
python3 - "$README" "$run_help" "$serve_help" <<'PY'
import sys
path, blocks = sys.argv[1], {"run-help": sys.argv[2], "serve-help": sys.argv[3]}
s = open(path).read()
for name, text in blocks.items():
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    a, b = s.index(begin) + len(begin), s.index(end)
    s = s[:a] + "\n```\n" + text + "\n```\n" + s[b:]
open(path, "w").write(s)
PY
