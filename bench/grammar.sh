#!/usr/bin/env bash
# BENCH_GRAMMAR=1 make bench (or bench/grammar.sh): what a JSON schema costs generation. Tokens
# per second of the same 128-token generation with no constraint, with a schema whose answer is
# mostly free text, and with a schema of many small typed fields, on hearth and on llama-server
# (both given the same json_schema on /completion), over one model made by the test-model
# generator. Appends its table to bench/RESULTS.md (not for BENCH_MODEL=tiny, a smoke check).
#   BENCH_MODEL=tiny|small|1b-q4|1b-q8   (default small)
#   BENCH_RUNS=3
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
make build >/dev/null
bash scripts/deps.sh --llama-server
MODEL="${BENCH_MODEL:-small}"
RUNS="${BENCH_RUNS:-3}"
THREADS="${BENCH_THREADS:-$(nproc)}"
CTX=4096
WORK="$(mktemp -d)"
trap 'kill $HP $LP 2>/dev/null || true; cp "$WORK"/hearth.log bench/last-hearth.log 2>/dev/null || true; cp "$WORK"/llama.log bench/last-llama-server.log 2>/dev/null || true; rm -rf "$WORK"' EXIT
SPM=deps/llama-data/ggml-vocab-llama-spm.gguf
case "$MODEL" in
tiny) args=(--n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 128 --type q8_0) ;;
small) args=(--n-embd 512 --n-layer 8 --n-head 8 --n-head-kv 4 --n-ff 1536 --type q8_0) ;;
1b-q4) args=(--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --type q4_k_m) ;;
1b-q8) args=(--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --type q8_0) ;;
*) echo "unknown BENCH_MODEL $MODEL" >&2; exit 2 ;;
esac
echo "bench: making the $MODEL model" >&2
build/tests/mkmodel --vocab "$SPM" --arch llama --n-ctx "$CTX" "${args[@]}" --out "$WORK/grammar.gguf" >/dev/null 2>&1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HPORT=$(free_port)
LPORT=$(free_port)
HEARTH_LOG_LEVEL=info HEARTH_PROMPT_CACHE_DIR="$WORK/prompts" build/hearth serve --host "127.0.0.1:$HPORT" \
    --models-dir "$WORK" --parallel 1 --model grammar 2>"$WORK/hearth.log" &
HP=$!
deps/llama-server/llama-server -m "$WORK/grammar.gguf" --host 127.0.0.1 --port "$LPORT" -c "$CTX" -np 1 \
    -t "$THREADS" >"$WORK/llama.log" 2>&1 &
LP=$!
for _ in $(seq 1 300); do
    curl -sf "127.0.0.1:$HPORT/health" >/dev/null 2>&1 && curl -sf "127.0.0.1:$LPORT/health" >/dev/null 2>&1 && break
    sleep 0.2
done
export NODE_OPTIONS=""
node bench/grammar.mjs "http://127.0.0.1:$HPORT" "http://127.0.0.1:$LPORT" grammar "$RUNS" "$THREADS" >"$WORK/out.jsonl"
python3 - "$WORK/out.jsonl" "$MODEL" "$THREADS" "$RUNS" <<'PY'
import json, sys, subprocess, datetime
summary = json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
head = (f"Grammar sampling: generation tokens/s (128 tokens after a short prompt, greedy). Machine: {cpu}; "
        f"model: {sys.argv[2]}; threads {sys.argv[3]}; runs {sys.argv[4]}; {datetime.date.today()}")
rows = ["| constraint | hearth | llama-server | hearth / its unconstrained | llama-server / its unconstrained |",
        "|---|---:|---:|---:|---:|"]
base = summary["none"]
for k, v in summary.items():
    rows.append(f"| {k} | {v['hearth']:.1f} | {v['llama-server']:.1f} | {v['hearth'] / base['hearth']:.2f} | "
                f"{v['llama-server'] / base['llama-server']:.2f} |")
table = head + "\n\n" + "\n".join(rows) + "\n"
print(table)
if sys.argv[2] != "tiny":
    with open("bench/RESULTS.md", "a") as f:
        f.write("\n## Grammar run of " + str(datetime.datetime.now().replace(microsecond=0)) + "\n\n" + table)
PY
