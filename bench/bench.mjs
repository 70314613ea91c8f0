// hearth vs llama-server through HTTP: one model, the same threads, context and slots, runs
// interleaved A B A B, the median of each figure. Usage (bench/run.sh sets it up):
//   node bench.mjs HEARTH_URL LLAMA_URL MODEL RUNS
// Prints JSON lines with each measurement, then a JSON summary on the last line.

const [, , H, L, MODEL, RUNS = '3', SLOTS = '4'] = process.argv;
const runs = Number(RUNS);
const servers = { hearth: H, 'llama-server': L };

const words = 'the quick brown fox jumps over the lazy dog while a small bird sings in the old tree'.split(' ');
function text(n, seed) { // about n tokens of plain words; seed makes every prompt different
  const out = [String(seed)];
  for (let i = 0; out.length < n; i++) out.push(words[(i * 7 + seed) % words.length]);
  return out.join(' ');
}

// A server may close an idle keep-alive connection just as the client reuses it (llama-server
// does; undici then reports "other side closed" or ECONNRESET before any answer): such a request
// is sent again, up to three more times (another pooled connection may be just as stale).
async function retried(url, what, fn) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 3 || !/other side closed|ECONNRESET/.test(`${e.message} ${e.cause?.message}`)) throw e;
      console.error(`bench: ${url}${what}: ${e.cause?.message}; sent again`);
    }
  }
}

async function completion(url, body) {
  return retried(url, '/completion', async () => {
    const t0 = performance.now();
    const r = await fetch(url + '/completion', { method: 'POST', body: JSON.stringify({ model: MODEL, num_ctx: 8192, ...body }) });
    const j = await r.json();
    if (!r.ok) throw new Error(JSON.stringify(j));
    return { ...j, wall_ms: performance.now() - t0 };
  });
}

async function streamed(url, path, body) { // time to first token and token count of a stream
  return retried(url, path, () => streamedOnce(url, path, body));
}

async function streamedOnce(url, path, body) {
  const t0 = performance.now();
  const r = await fetch(url + path, { method: 'POST', body: JSON.stringify({ model: MODEL, num_ctx: 8192, stream: true, ...body }) });
  const reader = r.body.getReader();
  let first = null, chunks = 0, buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += Buffer.from(value).toString();
    const events = buf.split('\n\n');
    buf = events.pop();
    for (const ev of events) {
      if (!ev.startsWith('data: ') || ev.includes('[DONE]')) continue;
      const j = JSON.parse(ev.slice(6));
      const c = j.content ?? j.choices?.[0]?.delta?.content ?? '';
      if (c && first === null) first = performance.now() - t0;
      if (c) chunks++;
    }
  }
  return { ttft_ms: first, chunks, wall_ms: performance.now() - t0 };
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

const figures = {};
function record(name, server, value) {
  figures[name] ??= { hearth: [], 'llama-server': [] };
  figures[name][server].push(value);
  console.log(JSON.stringify({ name, server, value }));
}

let seed = 1;
for (let run = 0; run < runs; run++) {
  for (const [name, url] of Object.entries(servers)) {
    // Single stream: a 512-token prompt, then 128 generated tokens (server-side timings).
    const one = await completion(url, { prompt: text(512, seed++), n_predict: 128, temperature: 0, ignore_eos: true, cache_prompt: false });
    record('prompt tokens/s (512-token prompt)', name, one.timings.prompt_per_second);
    record('generation tokens/s (128 tokens)', name, one.timings.predicted_per_second);
    // Aggregate generation throughput with concurrent streaming clients.
    for (const n of [4, 8, 16]) {
      const t0 = performance.now();
      const res = await Promise.all(Array.from({ length: n }, () =>
        streamed(url, '/completion', { prompt: text(32, seed++), n_predict: 48, temperature: 0, ignore_eos: true })));
      const tokens = res.reduce((s, r) => s + r.chunks, 0);
      record(`aggregate tokens/s, ${n} streams`, name, tokens / ((performance.now() - t0) / 1000));
    }
    // Time to first token on turn 10 of a chat with a long system prompt.
    const system = text(2000, 7);
    const messages = [{ role: 'system', content: system }];
    let ttft = 0;
    for (let turn = 1; turn <= 10; turn++) {
      messages.push({ role: 'user', content: `question ${turn}: ${text(20, turn)}` });
      const r = await streamed(url, '/v1/chat/completions', { messages, max_tokens: 16, temperature: 0 });
      ttft = r.ttft_ms;
      messages.push({ role: 'assistant', content: text(16, turn + 100) });
    }
    record('time to first token, chat turn 10 (ms)', name, ttft);
    // The same turn again after the model went away: hearth unloads it (its worker saves the
    // prompt cache) and reloads on the request; llama-server, which cannot unload its one model,
    // loses its slot's cache the same way (slot erase), as a restarted server would.
    messages.pop();
    if (name === 'hearth') {
      await fetch(url + '/api/generate', { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: '', keep_alive: 0 }) });
    } else {
      for (let i = 0; i < Number(SLOTS); i++) await fetch(url + `/slots/${i}?action=erase`, { method: 'POST' });
    }
    const again = await streamed(url, '/v1/chat/completions', { messages, max_tokens: 16, temperature: 0 });
    record('time to first token, turn 10 after a reload (ms)', name, again.ttft_ms);
    // Round trip of a 1-token request.
    const rt = [];
    for (let i = 0; i < 5; i++) rt.push((await completion(url, { prompt: 'Hello', n_predict: 1 })).wall_ms);
    record('1-token round trip (ms)', name, median(rt));
  }
}

const summary = {};
for (const [name, v] of Object.entries(figures)) {
  const h = median(v.hearth), l = median(v['llama-server']);
  const lower = /\(ms\)/.test(name); // for times, smaller is better: ratio = llama / hearth
  summary[name] = { hearth: h, 'llama-server': l, ratio: lower ? l / h : h / l };
}
console.log(JSON.stringify({ summary }));
