#!/usr/bin/env bash
# Regenerates the generated parts of README.md from the binary: the `hearth run --help` block.
# tests/cli/test_docs.sh fails when README.md differs from what this script writes.
set -euo pipefail
HEARTH="${1:-build/hearth}"
README="${2:-README.md}"
help="$("$HEARTH" run --help)"
python3 - "$README" "$help" <<'PY'
import sys
path, text = sys.argv[1], sys.argv[2]
s = open(path).read()
begin, end = "<!-- run-help:begin -->", "<!-- run-help:end -->"
a, b = s.index(begin) + len(begin), s.index(end)
s = s[:a] + "\n```\n" + text + "\n```\n" + s[b:]
open(path, "w").write(s)
PY
