#!/usr/bin/env bash
# hearth against llama-server on an NVIDIA GPU, both on libllama built with CUDA from the same
# pinned llama.cpp, on an 8B-shaped Q4_K_M model made by the test-model generator. Prints a table
# of medians and hearth / llama-server ratios and appends it to bench/RESULTS.md. Not a test.
#
#   bench/gpu.sh              on a machine with a GPU and this checkout built (make CUDA=1):
#                             uses build-cuda/ and deps/llama-cuda/
#   bench/gpu.sh pack DIR     here, on a machine without a GPU: copies into DIR what a GPU machine
#                             with no network needs (hearth and mkmodel as built here, the shared
#                             libraries they use beyond libc and libllama, the llama.cpp source, a
#                             vocabulary and a chat template); about 30 MB
#   bench/gpu.sh run DIR      on the GPU machine, in a copy of this checkout: builds libllama,
#                             llama-server and llama-bench with CUDA from DIR's source (cached in
#                             ~/.cache/hearth/deps; about 5 minutes with 16 cores), makes the
#                             model, and measures
#
#   GPU_RUNS=3       runs of every figure (after one warm-up), interleaved hearth, llama-server
#   GPU_SLOTS=32     slots on both servers (the largest concurrency measured)
#   GPU_CTX=4096     tokens per slot
#   GPU_WORK=DIR     where the model goes (default /dev/shm when it has 40 GB free)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf 'gpu: %s\n' "$*" >&2; }
die() { printf 'gpu: error: %s\n' "$*" >&2; exit 1; }

pack() {
    local dir="$1" src="${LLAMA_CPP_SRC:-$HOME/.cache/hearth/deps/llama.cpp-v0.5.0-src}"
    [ -x build/hearth ] && [ -x build/tests/mkmodel ] || die "build first (make)"
    [ -f "$src/include/llama.h" ] || die "no llama.cpp source at $src (scripts/deps.sh fetches it)"
    rm -rf "$dir"
    mkdir -p "$dir/lib"
    cp build/hearth build/tests/mkmodel "$dir/"
    # The Debian libraries hearth links (HTTP, JSON, TLS, curl's chain), not libc's own, not the
    # C++ runtime (the GPU machine's is at least as new) and not libllama/ggml (built there).
    ldd build/hearth build/tests/mkmodel | awk '/=> \//{print $1, $3}' | sort -u |
        while read -r name path; do
            case "$name" in
            libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | libresolv.so* | \
                libstdc++* | libgcc_s* | libgomp* | libllama* | libggml*) ;;
            *) cp -L "$path" "$dir/lib/$name" ;;
            esac
        done
    cp deps/llama-data/ggml-vocab-llama-bpe.gguf "$dir/vocab.gguf"
    cp deps/llama-data/templates/meta-llama-Llama-3.1-8B-Instruct.jinja "$dir/template.jinja"
    # The source without what a CUDA build of the library and two tools does not read.
    tar -C "$src" -cJf "$dir/llama-src.tar.xz" --exclude=.git --exclude=./models \
        --exclude=./docs --exclude=./examples --exclude=./tests --exclude=./gguf-py \
        --exclude=./ggml/src/ggml-vulkan --exclude=./ggml/src/ggml-sycl \
        --exclude=./ggml/src/ggml-cann --exclude=./ggml/src/ggml-musa \
        --exclude=./ggml/src/ggml-opencl --exclude=./ggml/src/ggml-metal \
        --exclude=./ggml/src/ggml-webgpu --exclude=./ggml/src/ggml-hip .
    du -sh "$dir" >&2
}

run() {
    local dir="${1:-}" hearth mkmodel libs=""
    RUNS="${GPU_RUNS:-3}"
    SLOTS="${GPU_SLOTS:-32}"
    CTX="${GPU_CTX:-4096}"
    command -v nvidia-smi >/dev/null || die "no nvidia-smi: this needs an NVIDIA GPU"
    GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
    say "GPU: $GPU_NAME"
    if [ -n "$dir" ]; then
        dir="$(cd "$dir" && pwd)"
        if [ ! -f "$dir/llama.cpp/include/llama.h" ]; then
            mkdir -p "$dir/llama.cpp"
            tar -C "$dir/llama.cpp" -xJf "$dir/llama-src.tar.xz"
        fi
        export LLAMA_CPP_SRC="$dir/llama.cpp"
        hearth="$dir/hearth"
        mkmodel="$dir/mkmodel"
        libs="$dir/lib"
        VOCAB="$dir/vocab.gguf"
        TMPL="$dir/template.jinja"
    else
        hearth="build-cuda/hearth"
        mkmodel="build-cuda/tests/mkmodel"
        VOCAB=deps/llama-data/ggml-vocab-llama-bpe.gguf
        TMPL=deps/llama-data/templates/meta-llama-Llama-3.1-8B-Instruct.jinja
    fi
    local t0=$SECONDS
    JOBS="$(nproc)" bash scripts/deps.sh --cuda
    say "llama.cpp with CUDA ready after $((SECONDS - t0)) s"
    CUDA_LIB="$ROOT/deps/llama-cuda/lib"
    # hearth as built elsewhere finds the CUDA libllama first (LD_LIBRARY_PATH beats RUNPATH).
    export LD_LIBRARY_PATH="$CUDA_LIB${libs:+:$libs}:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    [ -x "$hearth" ] || die "no hearth binary at $hearth"

    local work="${GPU_WORK:-}"
    if [ -z "$work" ]; then
        local shm_free
        shm_free=$(df -k --output=avail /dev/shm 2>/dev/null | tail -1 || echo 0)
        if [ "${shm_free:-0}" -gt $((40 * 1024 * 1024)) ]; then work=/dev/shm/hearth-gpu; else work="$ROOT/bench/.gpu-work"; fi
    fi
    mkdir -p "$work"
    MODEL_FILE="$work/bench8b.gguf"
    if [ ! -f "$MODEL_FILE" ]; then
        t0=$SECONDS
        say "making the 8B-shaped Q4_K_M model in $work"
        "$mkmodel" --vocab "$VOCAB" --template "$TMPL" --arch llama --n-embd 4096 --n-layer 32 \
            --n-head 32 --n-head-kv 8 --n-ff 14336 --n-ctx 8192 --type q4_k_m --via f16 \
            --out "$MODEL_FILE.part" >"$work/mkmodel.log" 2>&1 ||
            { tail -5 "$work/mkmodel.log" >&2; die "mkmodel failed"; }
        mv "$MODEL_FILE.part" "$MODEL_FILE"
        say "model made in $((SECONDS - t0)) s ($(du -h "$MODEL_FILE" | cut -f1))"
    fi

    say "llama-bench (the raw engine: all layers on the GPU, flash attention on)"
    "$CUDA_LIB/llama-bench" -m "$MODEL_FILE" -p 512 -n 128 -ngl 99 -fa 1 -r 3 -o json \
        >"$work/engine.json" 2>"$work/llama-bench.log" || { tail -5 "$work/llama-bench.log" >&2; echo '[]' >"$work/engine.json"; }
    local bw="0"
    if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
        "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" -O3 -o "$work/membw" bench/gpu_membw.cu &&
            bw="$("$work/membw")" || bw=0
    fi

    free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    HPORT=$(free_port)
    LPORT=$(free_port)
    say "hearth on port $HPORT, llama-server on port $LPORT ($SLOTS slots of $CTX tokens each)"
    # hearth decides GPU layers itself (num_gpu unset: the offload plan); llama-server is told all.
    printf '[bench8b]\nctx-size = %s\n' "$CTX" >"$work/presets.ini"
    HEARTH_LOG_LEVEL=info HEARTH_PROMPT_CACHE_DIR=off XDG_CONFIG_HOME="$work/config" \
        "$hearth" serve --host "127.0.0.1:$HPORT" --models-dir "$work" --parallel "$SLOTS" \
        --models-preset "$work/presets.ini" --model bench8b 2>"$work/hearth.log" &
    HP=$!
    "$CUDA_LIB/llama-server" -m "$MODEL_FILE" --host 127.0.0.1 --port "$LPORT" \
        -c $((CTX * SLOTS)) -np "$SLOTS" -ngl 99 >"$work/llama.log" 2>&1 &
    LP=$!
    trap 'kill $HP $LP 2>/dev/null || true' EXIT
    # Python, not curl: GPU machines do not always have curl.
    get() { python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
    local ok=0
    for _ in $(seq 1 600); do
        if get "http://127.0.0.1:$HPORT/health" >/dev/null 2>&1 && get "http://127.0.0.1:$LPORT/health" >/dev/null 2>&1; then ok=1; break; fi
        kill -0 $HP 2>/dev/null || { tail -20 "$work/hearth.log" >&2; die "hearth exited"; }
        kill -0 $LP 2>/dev/null || { tail -20 "$work/llama.log" >&2; die "llama-server exited"; }
        sleep 0.5
    done
    [ $ok = 1 ] || die "the servers did not become healthy"
    get "http://127.0.0.1:$HPORT/api/ps" >"$work/ps.json"
    python3 bench/gpu_client.py "http://127.0.0.1:$HPORT" "http://127.0.0.1:$LPORT" bench8b "$RUNS" \
        >"$work/out.json" 2>"$work/out.log" || { tail -20 "$work/out.log" >&2; tail -20 "$work/hearth.log" >&2; die "the client failed"; }
    grep -E 'offload plan|model loaded|backends loaded' "$work/hearth.log" >&2 || true
    kill $HP $LP 2>/dev/null || true
    wait $HP $LP 2>/dev/null || true
    # The same CUDA build with the GPU hidden: the model runs on the CPU, with a log line.
    say "check: the CUDA build with no visible GPU"
    if CUDA_VISIBLE_DEVICES="" HEARTH_LOG_LEVEL=info timeout 300 "$hearth" run "$MODEL_FILE" \
        "Hello" --num-predict 4 >"$work/cpu-fallback.out" 2>"$work/cpu-fallback.log" &&
        grep -q "no GPU found" "$work/cpu-fallback.log"; then
        say "check passed: no GPU found, ran on the CPU ($(wc -c <"$work/cpu-fallback.out") bytes of output)"
    else
        say "check FAILED: see $work/cpu-fallback.log"; tail -5 "$work/cpu-fallback.log" >&2
    fi

    python3 - "$work/out.json" "$work/engine.json" "$work/ps.json" "$GPU_NAME" "$bw" \
        "$(stat -c %s "$MODEL_FILE")" "$RUNS" "$SLOTS" "$CTX" <<'PY'
import json, sys, datetime
figs = json.load(open(sys.argv[1]))
engine = {("pp" if r.get("n_prompt") else "tg"): r.get("avg_ts") for r in json.load(open(sys.argv[2]))}
ps = json.load(open(sys.argv[3]))["models"][0]
gpu, bw, model_bytes, runs, slots, ctx = sys.argv[4], float(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8], sys.argv[9]
rows = [f"### {datetime.date.today()}: {gpu}, 8B-shaped llama Q4_K_M ({model_bytes / 2**30:.2f} GiB), "
        f"{slots} slots of {ctx} tokens, median of {runs} runs after a warm-up",
        "", "| figure | hearth | llama-server | hearth / llama-server |", "|---|---|---|---|"]
for name, v in figs.items():
    ratio = f"{v['hearth'] / v['llama-server']:.2f}" if v['llama-server'] else "-"
    rows.append(f"| {name} | {v['hearth']:.1f} | {v['llama-server']:.1f} | {ratio} |")
gen = figs.get("generation tokens/s (128 tokens)")
if engine.get("pp") and engine.get("tg"):
    rows.append(f"| llama-bench (the raw engine): pp512 | {engine['pp']:.1f} | | |")
    rows.append(f"| llama-bench: tg128 | {engine['tg']:.1f} | | |")
    if gen:
        rows.append(f"| share of llama-bench's tg128 through HTTP | {gen['hearth'] / engine['tg']:.2f} | {gen['llama-server'] / engine['tg']:.2f} | |")
if bw > 0 and gen:
    limit = bw / 2 * 1e9 / model_bytes  # a copy reads and writes: half of it is read bandwidth
    rows.append(f"| device copy bandwidth {bw:.0f} GB/s (read + write): generation limit {limit:.0f} tokens/s; "
                f"single-stream generation at {gen['hearth'] / limit:.0%} (hearth), {gen['llama-server'] / limit:.0%} (llama-server) | | | |")
rows.append(f"| hearth's placement (auto): {ps.get('processor')}, {ps.get('gpu_layers')} layers of 33 on the GPU, "
            f"{ps.get('size_vram', 0) / 2**30:.2f} GiB of VRAM measured | | | |")
print("\n".join(rows))
PY
}

case "${1:-}" in
pack) [ -n "${2:-}" ] || die "usage: bench/gpu.sh pack DIR"; pack "$2" ;;
run) run "${2:-}" | tee "$ROOT/bench/.gpu-table.md" ;;
"") run "" | tee "$ROOT/bench/.gpu-table.md" ;;
*) die "usage: bench/gpu.sh [pack DIR | run [DIR]]" ;;
esac
if [ -s "$ROOT/bench/.gpu-table.md" ] && [ "${1:-}" != pack ]; then
    { echo; cat "$ROOT/bench/.gpu-table.md"; } >>"$ROOT/bench/RESULTS.md"
fi
