#!/usr/bin/env bash
# make bench: hearth against llama-server built from the same llama.cpp, on a model made by the
# test-model generator, with the same threads, context and slots. Prints a table of medians and
# hearth / llama-server ratios (for times, llama-server / hearth: above 1 is hearth ahead) and
# writes it to bench/RESULTS.md. Not part of `make test`.
#   BENCH_MODEL=small|1b-q4|1b-q8   (default small: a 40M-parameter llama over a real vocabulary)
#   BENCH_RUNS=3                     runs of every figure, interleaved hearth, llama-server
#   BENCH_SLOTS=4                    slots (parallel requests) on both servers
#   BENCH_SWAP=1                     instead: model swap latency (bench/swap.sh)
#   BENCH_GRAMMAR=1                  instead: generation with and without a JSON schema
#                                    (bench/grammar.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ "${BENCH_SWAP:-0}" = 1 ]; then exec bash bench/swap.sh; fi
if [ "${BENCH_GRAMMAR:-0}" = 1 ]; then exec bash bench/grammar.sh; fi
make build >/dev/null
bash scripts/deps.sh --llama-server
MODEL="${BENCH_MODEL:-small}"
RUNS="${BENCH_RUNS:-3}"
THREADS="${BENCH_THREADS:-$(nproc)}"
CTX=8192
SLOTS="${BENCH_SLOTS:-4}"
WORK="$(mktemp -d)"
# On failure the servers' logs stay in bench/last-*.log.
trap 'kill $HP $LP 2>/dev/null || true; cp "$WORK"/hearth.log bench/last-hearth.log 2>/dev/null || true; cp "$WORK"/llama.log bench/last-llama-server.log 2>/dev/null || true; cp "$WORK"/out.jsonl bench/last-out.jsonl 2>/dev/null || true; rm -rf "$WORK"' EXIT
SPM=deps/llama-data/ggml-vocab-llama-spm.gguf
TMPL=deps/llama-data/templates/Qwen-Qwen2.5-7B-Instruct.jinja
case "$MODEL" in
small) args=(--n-embd 512 --n-layer 8 --n-head 8 --n-head-kv 4 --n-ff 1536 --type q8_0) ;;
1b-q4) args=(--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --type q4_k_m) ;;
1b-q8) args=(--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --type q8_0) ;;
*) echo "unknown BENCH_MODEL $MODEL" >&2; exit 2 ;;
esac
echo "bench: making the $MODEL model" >&2
build/tests/mkmodel --vocab "$SPM" --arch llama --n-ctx "$CTX" --template "$TMPL" "${args[@]}" \
    --out "$WORK/bench.gguf" >/dev/null 2>&1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HPORT=$(free_port)
LPORT=$(free_port)
echo "bench: hearth on port $HPORT, llama-server on port $LPORT" >&2
# The same engine settings on both: threads, and SLOTS slots of CTX tokens each, a KV stream per
# slot (hearth's num_ctx is per slot; llama-server's -c is the whole cache, split among -np).
HEARTH_LOG_LEVEL=info HEARTH_PROMPT_CACHE_DIR="$WORK/prompts" build/hearth serve --host "127.0.0.1:$HPORT" --models-dir "$WORK" \
    --parallel "$SLOTS" --model bench 2>"$WORK/hearth.log" &
HP=$!
deps/llama-server/llama-server -m "$WORK/bench.gguf" --host 127.0.0.1 --port "$LPORT" -c $((CTX * SLOTS)) \
    -np "$SLOTS" -t "$THREADS" --jinja --slot-save-path "$WORK" >"$WORK/llama.log" 2>&1 &
LP=$!
for _ in $(seq 1 300); do
    curl -sf "127.0.0.1:$HPORT/health" >/dev/null 2>&1 && curl -sf "127.0.0.1:$LPORT/health" >/dev/null 2>&1 && break
    sleep 0.2
done
# num_ctx and threads for hearth come with every request (presets arrive with #6).
export NODE_OPTIONS=""
node bench/bench.mjs "http://127.0.0.1:$HPORT" "http://127.0.0.1:$LPORT" bench "$RUNS" "$SLOTS" >"$WORK/out.jsonl"
kill $HP $LP 2>/dev/null || true
wait $HP $LP 2>/dev/null || true
# The memory-bandwidth limit: measured read bandwidth over the bytes a generated token reads
# (every weight once; the KV cache of these short contexts is small beside them).
cc -O3 -march=native -pthread bench/membw.c -o "$WORK/membw"
BW=$("$WORK/membw" "$THREADS" 2>/dev/null)
MODEL_BYTES=$(stat -c %s "$WORK/bench.gguf")
# The raw engine on the same model and threads, for the share each server delivers via HTTP.
# Generation at depth 512 too: the servers' generation figure follows a 512-token prompt, and
# attention over those tokens costs the engine as much as the weights on a small model.
deps/llama-server/llama-bench -m "$WORK/bench.gguf" -p 512 -n 128 -d 0,512 -t "$THREADS" -r 3 -o json \
    >"$WORK/engine.json" 2>/dev/null || echo '[]' >"$WORK/engine.json"
python3 - "$WORK/out.jsonl" "$MODEL" "$THREADS" "$RUNS" "$WORK/engine.json" "$BW" "$MODEL_BYTES" "$SLOTS" <<'PY'
import json, sys, platform, subprocess, datetime
lines = open(sys.argv[1]).read().splitlines()
summary = json.loads(lines[-1])["summary"]
engine = {("pp" if r.get("n_prompt") else "tg") + ("@512" if r.get("n_depth") else ""): r.get("avg_ts")
          for r in json.load(open(sys.argv[5]))}
gen = summary.get("generation tokens/s (128 tokens)")
extra = []
if engine.get("pp") and engine.get("tg@512") and gen:
    extra = [
        f"| llama-bench (the raw engine): pp512 {engine['pp']:.1f} tokens/s, tg128 {engine['tg']:.1f} tokens/s, tg128 after 512 tokens {engine['tg@512']:.1f} tokens/s | | | |",
        f"| share of the engine's generation speed (tg128 after 512) through HTTP | {gen['hearth'] / engine['tg@512']:.2f} | {gen['llama-server'] / engine['tg@512']:.2f} | |",
    ]
bw, model_bytes = float(sys.argv[6]), int(sys.argv[7])
limit = bw * 1e9 / model_bytes
extra.append(f"| memory-bandwidth limit: {bw:.1f} GB/s read / {model_bytes / 1e6:.0f} MB per token = {limit:.1f} tokens/s | | | |")
if gen:
    extra.append(f"| share of the bandwidth limit, single-stream generation | {gen['hearth'] / limit:.2f} | {gen['llama-server'] / limit:.2f} | |")
if engine.get("tg"):
    extra.append(f"| llama-bench tg128 as a share of the bandwidth limit (above 1: the model fits in the CPU caches) | {engine['tg'] / limit:.2f} | | |")
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
head = f"Machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; model: {sys.argv[2]} ({model_bytes / 2**20:.0f} MiB); threads {sys.argv[3]}; slots {sys.argv[8]}; runs {sys.argv[4]}; {datetime.date.today()}"
rows = ["| figure | hearth | llama-server | ratio |", "|---|---:|---:|---:|"]
for k, v in summary.items():
    rows.append(f"| {k} | {v['hearth']:.1f} | {v['llama-server']:.1f} | {v['ratio']:.2f} |")
rows += extra
table = head + "\n\n" + "\n".join(rows) + "\n"
print(table)
with open("bench/RESULTS.md", "a") as f:
    f.write("\n## Run of " + str(datetime.datetime.now().replace(microsecond=0)) + "\n\n" + table)
PY
