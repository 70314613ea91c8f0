// The scheduler with real workers: the memory estimate against what llama.cpp allocates and what
// a worker keeps resident, eviction under a memory budget, 507 for a model that cannot fit, the
// request queue cap (503 with Retry-After on every API), and the stall detector.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, post, assertHealthy, waitForLog, MKMODEL, LLAMA_DATA } from './helpers.mjs';

const MiB = 1 << 20;
const haveMk = MKMODEL && LLAMA_DATA && existsSync(join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'));

// Three models of one shape (different weights) and one with a large vocabulary.
function makeModels() {
  const dir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-sched-'));
  // ChatML, which llama.cpp's template renderer knows.
  writeFileSync(join(dir, 'chat.jinja'), '{% for message in messages %}<|im_start|>{{ message.role }}\n' +
    '{{ message.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n');
  for (const n of [1, 2, 3]) {
    execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
      '--n-embd', '512', '--n-layer', '4', '--n-ff', '1024', '--type', 'f16', '--seed', String(n),
      '--template', join(dir, 'chat.jinja'), '--out', join(dir, `m${n}.gguf`)], { stdio: 'ignore' });
  }
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-qwen2.gguf'), '--arch', 'qwen2',
    '--n-embd', '128', '--n-layer', '2', '--n-ff', '256', '--n-ctx', '1024', '--type', 'q8_0',
    '--out', join(dir, 'q.gguf')], { stdio: 'ignore' });
  return dir;
}

const servers = [];
after(async () => { for (const s of servers) await s.stop().catch(() => {}); });
async function start(opts) {
  const s = await startServer({ modelsDir: makeModels(), ...opts });
  servers.push(s);
  return s;
}

const gen = (srv, model, extra = {}) => post(srv.url, '/api/generate',
  { model, prompt: 'Once upon a time', stream: false, options: { num_predict: 8, temperature: 0 }, ...extra });

function workers(srv) {
  const pids = [];
  for (const t of readdirSync(`/proc/${srv.child.pid}/task`)) {
    const c = readFileSync(`/proc/${srv.child.pid}/task/${t}/children`, 'utf8').trim();
    if (c) pids.push(...c.split(/\s+/).map(Number));
  }
  return pids;
}
const rssBytes = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;

// The "loading model" line of a model: the estimate in bytes.
function estimateOf(log, model) {
  const re = new RegExp(`msg="loading model" model="${model}[^"]*" need_bytes=(\\d+)`, 'g');
  const all = [...log.matchAll(re)];
  assert.ok(all.length, `no estimate logged for ${model}`);
  return Number(all.at(-1)[1]);
}

// What llama.cpp said it allocated after the last "loading model" line of model: its model, KV,
// output and compute buffers.
function allocatedOf(log, model) {
  const start = log.lastIndexOf(`msg="loading model" model="${model}`);
  const tail = log.slice(start);
  const end = tail.indexOf('msg="model loaded"');
  let sum = 0;
  for (const m of tail.slice(0, end).matchAll(/(model|KV|output|compute) buffer size =\s+([\d.]+) MiB/g))
    sum += Number(m[2]) * MiB;
  return sum;
}

let unitEstimate = 0; // the estimate of m1 (m2 and m3 are the same shape)

test('the estimate is within 30 % above what llama.cpp allocates, and above what a worker keeps resident', { skip: !haveMk }, async () => {
  const srv = await start({ env: { HEARTH_LOG_LEVEL: 'debug' }, args: ['--parallel', '2'] });
  for (const [model, extra] of [['m1', {}], ['q', {}], ['m2', { options: { num_predict: 8, num_ctx: 1024, num_parallel: 3 } }]]) {
    const r = await gen(srv, model, extra);
    assert.equal(r.status, 200, r.text);
    const log = await waitForLog(srv, new RegExp(`model loaded" model="${model}`));
    const est = estimateOf(log, model);
    const alloc = allocatedOf(log, model);
    assert.ok(alloc > 0, 'llama.cpp reported its buffers');
    // The estimate adds a worker's own footprint (binary, libraries: ESTIMATE_OVERHEAD, 32 MiB)
    // to llama.cpp's buffers.
    const ratio = (est - 32 * MiB) / alloc;
    console.log(`${model}: estimate ${(est / MiB).toFixed(1)} MiB, llama.cpp allocated ${(alloc / MiB).toFixed(1)} MiB, RSS ${(rssBytes(Math.max(...workers(srv))) / MiB).toFixed(1)} MiB`);
    assert.ok(ratio > 1 && ratio < 1.3, `${model}: estimate ${(est / MiB).toFixed(1)} MiB, llama.cpp allocated ${(alloc / MiB).toFixed(1)} MiB`);
    // The newest worker is this model's: it read every weight and cleared its KV cache.
    const pid = Math.max(...workers(srv));
    const rss = rssBytes(pid);
    assert.ok(rss < est, `${model}: RSS ${(rss / MiB).toFixed(1)} MiB is above the estimate ${(est / MiB).toFixed(1)} MiB`);
    // and every weight is resident (read by the generation).
    const file = statSync(join(srv.dir, `${model}.gguf`)).size;
    assert.ok(rss > file * 0.9, `${model}: RSS ${(rss / MiB).toFixed(1)} MiB, file ${(file / MiB).toFixed(1)} MiB`);
    if (model === 'm1') unitEstimate = est;
  }
});

test('three models alternating under a budget that fits two: every request succeeds, evictions logged', { skip: !haveMk }, async () => {
  assert.ok(unitEstimate > 0);
  const budget = Math.floor(unitEstimate * 2.5);
  const srv = await start({ args: ['--max-memory', String(budget), '--max-loaded-models', '0', '--parallel', '2'] });
  for (const model of ['m1', 'm2', 'm3', 'm1', 'm3', 'm2', 'm1']) {
    const r = await gen(srv, model);
    assert.equal(r.status, 200, r.text);
    const ps = await (await fetch(srv.url + '/api/ps')).json();
    assert.ok(ps.models.length <= 2, `${ps.models.length} models loaded: ${ps.models.map((m) => m.name)}`);
    assert.ok(ps.models.some((m) => m.name.startsWith(model)), `${model} is loaded`);
  }
  const log = await waitForLog(srv, /evicted to load/);
  const evictions = [...log.matchAll(/msg="unloading model" model="([^"]+)" reason="evicted to load '([^']+)': it needs/g)];
  // m3 evicts m1, m1 evicts m2, (m3 is loaded), m2 evicts m1, m1 evicts m3.
  assert.equal(evictions.length, 4, log);
  // The first eviction: m1 (the soonest to expire) made room for m3.
  assert.match(evictions[0][1], /^m1/);
  assert.match(evictions[0][2], /^m3/);

  // A model (with options) larger than the whole budget: 507 with the numbers, nothing evicted.
  const before = (await (await fetch(srv.url + '/api/ps')).json()).models.map((m) => m.name).sort();
  const big = await gen(srv, 'm3', { options: { num_ctx: 65536, num_predict: 4 } });
  assert.equal(big.status, 507, big.text);
  assert.match(big.body.error, /needs [\d.]+ [MG]iB \(weights [\d.]+ MiB, KV cache [\d.]+ [MG]iB, compute [\d.]+ MiB\) but only [\d.]+ MiB of the [\d.]+ MiB memory budget is free/);
  const afterPs = (await (await fetch(srv.url + '/api/ps')).json()).models.map((m) => m.name).sort();
  assert.deepEqual(afterPs, before);
  // The same through the OpenAI API.
  const oa = await post(srv.url, '/v1/completions', { model: 'm3', prompt: 'x', max_tokens: 2, num_ctx: 65536 });
  assert.equal(oa.status, 507, oa.text);
  assert.match(oa.body.error.message, /model 'm3:latest' needs/);
  await assertHealthy(assert, srv.url);
  const again = await gen(srv, 'm1');
  assert.equal(again.status, 200, again.text);
});

test('26 concurrent requests against --max-queue 16: 503s with Retry-After, no resets, the rest succeed', { skip: !haveMk }, async () => {
  const srv = await start({ args: ['--max-queue', '16', '--parallel', '1'] });
  const results = await Promise.allSettled(Array.from({ length: 26 }, () =>
    gen(srv, 'm1', { options: { num_predict: 32, temperature: 0 } })));
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.equal(rejected.length, 0, `connection errors: ${rejected.map((r) => r.reason)}`);
  const ok = results.filter((r) => r.value.status === 200).length;
  const busy = results.filter((r) => r.value.status === 503);
  assert.equal(ok + busy.length, 26, results.map((r) => r.value.status).join(' '));
  assert.ok(busy.length >= 1 && busy.length <= 10, `${busy.length} busy`);
  assert.ok(ok >= 16, `${ok} succeeded`);
  for (const b of busy) {
    assert.equal(b.value.body.error, 'server busy, please try again.  maximum pending requests exceeded');
    assert.ok(Number(b.value.headers.get('retry-after')) > 0);
  }
  await assertHealthy(assert, srv.url);
});

test('a full queue answers 503 with Retry-After on every API', { skip: !haveMk }, async () => {
  const srv = await start({ args: ['--max-queue', '2', '--parallel', '1'] });
  assert.equal((await gen(srv, 'm1')).status, 200); // loaded
  // One runs and two wait: the queue is full.
  const long = Array.from({ length: 3 }, () => gen(srv, 'm1', { options: { num_predict: 200, temperature: 0 } }));
  for (let i = 0; i < 200; i++) {
    const m = await (await fetch(srv.url + '/metrics')).text();
    if (Number((m.match(/^hearth_queue_depth (\d+)$/m) || [])[1]) >= 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const calls = [
    post(srv.url, '/api/chat', { model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: false }),
    post(srv.url, '/v1/chat/completions', { model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
    post(srv.url, '/v1/messages', { model: 'm1', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }),
    post(srv.url, '/completion', { model: 'm1', prompt: 'hi', n_predict: 4 }),
  ];
  const answers = await Promise.all(calls);
  for (const a of answers) {
    assert.equal(a.status, 503, a.text);
    assert.ok(Number(a.headers.get('retry-after')) > 0, a.text);
    assert.match(a.text, /server busy, please try again/);
  }
  for (const r of await Promise.all(long)) assert.equal(r.status, 200, r.text);
  assert.equal((await gen(srv, 'm1')).status, 200);
});

test('a request waiting for a reload whose client goes away is dropped: no reload for nobody', { skip: !haveMk }, async () => {
  const srv = await start({ args: ['--parallel', '1'] });
  assert.equal((await gen(srv, 'm1')).status, 200);
  // A stream that runs until it is cancelled (the context shifts instead of filling up).
  const runCtl = new AbortController();
  const running = await fetch(srv.url + '/api/generate', { method: 'POST', signal: runCtl.signal,
    body: JSON.stringify({ model: 'm1', prompt: 'Once', options: { num_predict: 1000000, context_shift: true } }) });
  const reader = running.body.getReader();
  await reader.read(); // it is generating
  // A larger context than loaded: it must wait for the running request, then reload.
  const ctl = new AbortController();
  const waiting = fetch(srv.url + '/api/generate', { method: 'POST', signal: ctl.signal,
    body: JSON.stringify({ model: 'm1', prompt: 'x', stream: false, options: { num_ctx: 4096 } }) });
  await new Promise((r) => setTimeout(r, 300));
  ctl.abort();
  await assert.rejects(waiting);
  const log = await waitForLog(srv, /dropping a waiting request/);
  assert.match(log, /dropping a waiting request: its client went away/);
  runCtl.abort(); // the running request ends: nobody waits for the reload any more
  await reader.read().catch(() => {});
  await new Promise((r) => setTimeout(r, 500));
  assert.doesNotMatch(srv.log(), /reloading model/);
  const ps = await (await fetch(srv.url + '/api/ps')).json();
  assert.equal(ps.models.length, 1);
  assert.equal(ps.models[0].context_length, 2048); // as loaded
  assert.equal((await gen(srv, 'm1')).status, 200);
});

test('a worker that stalls is killed: its request gets an error and the next one a fresh worker', { skip: !haveMk }, async () => {
  const srv = await start({ env: { HEARTH_STALL_TIMEOUT: '1s' } });
  assert.equal((await gen(srv, 'm1')).status, 200);
  const [pid] = workers(srv);
  const res = await fetch(srv.url + '/api/generate', { method: 'POST',
    body: JSON.stringify({ model: 'm1', prompt: 'Once', options: { num_predict: 100000, num_ctx: 2048 } }) });
  const reader = res.body.getReader();
  await reader.read(); // the first token: it is generating
  process.kill(pid, 'SIGSTOP');
  let text = '';
  const t0 = Date.now();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.match(lines.at(-1).error || '', /stalled/);
  assert.ok(Date.now() - t0 < 10000);
  const log = await waitForLog(srv, /worker stalled/);
  assert.match(log, /worker stalled: killing it/);
  const next = await gen(srv, 'm1');
  assert.equal(next.status, 200, next.text);
  assert.ok(!workers(srv).includes(pid), 'the stalled worker is gone');
});
