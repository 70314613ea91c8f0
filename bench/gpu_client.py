#!/usr/bin/env python3
"""hearth vs llama-server on a GPU, through HTTP (bench/gpu.sh runs it; standard library only,
since the GPU machines have Python but not always Node). Runs every figure interleaved hearth,
llama-server, RUNS times, and prints one JSON object of medians.

usage: gpu_client.py HEARTH_URL LLAMA_URL MODEL RUNS
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

H, L, MODEL, RUNS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
SERVERS = {"hearth": H, "llama-server": L}
WORDS = "the quick brown fox jumps over the lazy dog while a small bird sings in the old tree".split()


def text(n, seed):
    """About n tokens of plain words; the seed makes every prompt different (no prompt cache)."""
    out = [str(seed)]
    i = 0
    while len(out) < n:
        out.append(WORDS[(i * 7 + seed) % len(WORDS)])
        i += 1
    return " ".join(out)


def post(url, path, body, stream=False):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("POST", path, json.dumps({"model": MODEL, **body, **({"stream": True} if stream else {})}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{url}{path}: {r.status} {r.read()[:300]!r}")
    if not stream:
        j = json.loads(r.read())
        c.close()
        return j
    chunks, first, t0 = 0, None, time.perf_counter()
    for line in r:
        if not line.startswith(b"data: ") or b"[DONE]" in line:
            continue
        j = json.loads(line[6:])
        if j.get("content"):
            chunks += 1
            if first is None:
                first = time.perf_counter() - t0
    c.close()
    return {"chunks": chunks, "ttft": first}


figures = {}


def record(name, server, value):
    figures.setdefault(name, {"hearth": [], "llama-server": []})[server].append(value)
    print(json.dumps({"name": name, "server": server, "value": value}), file=sys.stderr, flush=True)


seed = 1
for run in range(RUNS + 1):  # run 0 warms both servers up (CUDA graphs, allocations) and is dropped
    for name, url in SERVERS.items():
        one = post(url, "/completion", {"prompt": text(512, seed), "n_predict": 128, "temperature": 0,
                                         "ignore_eos": True, "cache_prompt": False})
        seed += 1
        if run:
            record("prompt tokens/s (512-token prompt)", name, one["timings"]["prompt_per_second"])
            record("generation tokens/s (128 tokens)", name, one["timings"]["predicted_per_second"])
        for n in (8, 32):
            results = [None] * n
            seeds = list(range(seed, seed + n))
            seed += n

            def work(i):
                results[i] = post(url, "/completion", {"prompt": text(32, seeds[i]), "n_predict": 128,
                                                       "temperature": 0, "ignore_eos": True}, stream=True)

            t0 = time.perf_counter()
            ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            wall = time.perf_counter() - t0
            if any(r is None or r["chunks"] == 0 for r in results):
                raise RuntimeError(f"{name}: a stream of {n} failed or sent no tokens")
            if run:
                record(f"aggregate tokens/s, {n} streams", name, sum(r["chunks"] for r in results) / wall)

print(json.dumps({k: {s: statistics.median(v) for s, v in d.items()} for k, d in figures.items()}))
