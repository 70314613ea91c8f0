#!/usr/bin/env bash
# BENCH_SWAP=1 make bench (or bench/swap.sh): model swap latency, hearth with
# --max-loaded-models 1 against llama-server's router (--models-dir, --models-max 1), over two
# models made by the test-model generator. Time to first token of B after A was used, then of A
# again; every swap loads a model and evicts the other. Appends its table to bench/RESULTS.md.
#   BENCH_MODEL=small|1b-q4|1b-q8   (default small)
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
small) args=(--n-embd 512 --n-layer 8 --n-head 8 --n-head-kv 4 --n-ff 1536 --type q8_0) ;;
1b-q4) args=(--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --type q4_k_m) ;;
1b-q8) args=(--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --type q8_0) ;;
*) echo "unknown BENCH_MODEL $MODEL" >&2; exit 2 ;;
esac
mkdir -p "$WORK/models"
echo "bench: making two $MODEL models" >&2
for m in a:1 b:2; do
    build/tests/mkmodel --vocab "$SPM" --arch llama --n-ctx "$CTX" --seed "${m#*:}" "${args[@]}" \
        --out "$WORK/models/swap-${m%%:*}.gguf" >/dev/null 2>&1
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HPORT=$(free_port)
LPORT=$(free_port)
# One loaded model at a time on both. A hearth without --max-loaded-models (before #7's
# scheduler) gets explicit unloads instead, on both servers alike.
UNLOAD=0
hflags=(--max-loaded-models 1)
if ! build/hearth serve --help | grep -q -- --max-loaded-models; then
    echo "bench: this hearth has no --max-loaded-models: unloading explicitly on both servers" >&2
    UNLOAD=1
    hflags=()
fi
HEARTH_LOG_LEVEL=info HEARTH_PROMPT_CACHE_DIR="$WORK/prompts" build/hearth serve --host "127.0.0.1:$HPORT" \
    --models-dir "$WORK/models" --parallel 1 "${hflags[@]}" 2>"$WORK/hearth.log" &
HP=$!
# The router passes -c, -np and -t on to each model's instance.
deps/llama-server/llama-server --models-dir "$WORK/models" --models-max 1 --host 127.0.0.1 --port "$LPORT" \
    -c "$CTX" -np 1 -t "$THREADS" >"$WORK/llama.log" 2>&1 &
LP=$!
for _ in $(seq 1 300); do
    curl -sf "127.0.0.1:$HPORT/" >/dev/null 2>&1 && curl -sf "127.0.0.1:$LPORT/health" >/dev/null 2>&1 && break
    sleep 0.2
done
export NODE_OPTIONS=""
node bench/swap.mjs "http://127.0.0.1:$HPORT" "http://127.0.0.1:$LPORT" swap-a swap-b "$RUNS" "$UNLOAD" >"$WORK/out.jsonl"
python3 - "$WORK/out.jsonl" "$MODEL" "$THREADS" "$RUNS" "$UNLOAD" <<'PY'
import json, sys, subprocess, datetime
summary = json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
how = "explicit unloads" if sys.argv[5] == "1" else "hearth --max-loaded-models 1, llama-server --models-max 1"
head = f"Model swap, {how}. Machine: {cpu}; model: {sys.argv[2]} (two of them); threads {sys.argv[3]}; runs {sys.argv[4]}; {datetime.date.today()}"
rows = ["| figure | hearth | llama-server | ratio (llama-server / hearth) |", "|---|---:|---:|---:|"]
for k, v in summary.items():
    rows.append(f"| {k} | {v['hearth']:.0f} | {v['llama-server']:.0f} | {v['ratio']:.2f} |")
table = head + "\n\n" + "\n".join(rows) + "\n"
print(table)
with open("bench/RESULTS.md", "a") as f:
    f.write("\n## Swap run of " + str(datetime.datetime.now().replace(microsecond=0)) + "\n\n" + table)
PY
