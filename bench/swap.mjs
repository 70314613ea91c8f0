// A→B→A model swap latency, hearth against llama-server's router, each allowed one loaded model:
// time to the first streamed token of a request to model B right after model A was used (B is
// loaded, A evicted), then of A again. Usage (bench/swap.sh sets it up):
//   node swap.mjs HEARTH_URL LLAMA_URL MODEL_A MODEL_B RUNS [UNLOAD]
// UNLOAD=1: each server is told to unload the model in use before the next one is asked for
// (for a hearth without --max-loaded-models). Prints JSON lines, then a JSON summary.

const [, , H, L, A, B, RUNS = '3', UNLOAD = '0'] = process.argv;
const servers = { hearth: H, 'llama-server': L };

async function ttft(url, model) {
  const t0 = performance.now();
  const r = await fetch(url + '/completion', {
    method: 'POST',
    body: JSON.stringify({ model, prompt: 'Once upon a time', n_predict: 4, stream: true, temperature: 0, ignore_eos: true }),
  });
  if (!r.ok) throw new Error(`${url} ${model}: ${r.status} ${await r.text()}`);
  const reader = r.body.getReader();
  let first = null, buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += Buffer.from(value).toString();
    if (first === null && /"content":"[^"]/.test(buf)) first = performance.now() - t0;
  }
  if (first === null) throw new Error(`${url} ${model}: no token in ${buf.slice(0, 300)}`);
  return first;
}

async function unload(url, model) {
  if (UNLOAD !== '1') return;
  await fetch(url + '/models/unload', { method: 'POST', body: JSON.stringify({ model }) });
  // llama-server unloads in the background: wait until it says so.
  for (let i = 0; i < 200; i++) {
    const data = (await (await fetch(url + '/models')).json()).data;
    const m = data.find((x) => x.id === model || x.id === `${model}:latest`);
    if (!m || m.status.value === 'unloaded') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const figures = {};
function record(name, server, value) {
  figures[name] ??= { hearth: [], 'llama-server': [] };
  figures[name][server].push(value);
  console.log(JSON.stringify({ name, server, value }));
}

for (let run = 0; run < Number(RUNS); run++) {
  for (const [name, url] of Object.entries(servers)) {
    await ttft(url, A); // A is loaded and used
    record('warm: time to first token of A again (ms)', name, await ttft(url, A));
    await unload(url, A);
    record('swap A→B: time to first token of B (ms)', name, await ttft(url, B));
    await unload(url, B);
    record('swap B→A: time to first token of A (ms)', name, await ttft(url, A));
  }
}
const summary = {};
for (const [k, v] of Object.entries(figures)) {
  const h = median(v.hearth), l = median(v['llama-server']);
  summary[k] = { hearth: h, 'llama-server': l, ratio: l / h };
}
console.log(JSON.stringify({ summary }));
