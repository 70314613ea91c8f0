// make soak: a real `hearth serve` on a free port with a tiny model, hammered by concurrent
// streaming clients (Ollama NDJSON /api/generate and /api/chat, OpenAI SSE /v1/chat/completions),
// a share of them hanging up midway, for SOAK_SECONDS. It checks, prints, and appends to
// bench/RESULTS.md:
//   - no 5xx and no error inside a stream;
//   - every stream that was read to its end is well formed and finished (done:true / [DONE]);
//   - after each hang-up, the slot it held is free within SOAK_FREE_MS (250) ms (/slots);
//   - RSS of the daemon and of the worker grows less than 5 % from the end of the warm-up to the
//     end, file descriptors and threads are the same (both measured with the load paused, from
//     /proc), and the worker is never restarted.
// Exits 1 when a check fails. Not part of `make test`.
//
//   SOAK_SECONDS=300   how long the load runs after the warm-up (3600 for the record)
//   SOAK_WARMUP=30     seconds of load before the baseline is taken
//   SOAK_CLIENTS=64    concurrent streaming clients
//   SOAK_HANGUP=0.1    share of requests that hang up midway
//   SOAK_PARALLEL=16   slots of the model (--parallel); the other clients queue
//   SOAK_MODEL=path    a GGUF (default ../shared/models/stories260K.gguf)
//   SOAK_RESULTS=file  where the results go (default bench/RESULTS.md; "-" for nowhere)
//   SOAK_LOG=file      the server's log is appended there at the end
//   SOAK_DEBUG=1       print each late hang-up with its /slots polls
//   SOAK_REPORT=60     seconds between progress lines
//   HEARTH=path        the binary (default build/hearth; build-asan/hearth finds leaks at exit)
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const num = (name, def) => {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v}: not a number`);
  return n;
};
const SECONDS = num('SOAK_SECONDS', 300);
const WARMUP = num('SOAK_WARMUP', 30);
const CLIENTS = num('SOAK_CLIENTS', 64);
const HANGUP = num('SOAK_HANGUP', 0.1);
const PARALLEL = num('SOAK_PARALLEL', 16);
const FREE_MS = num('SOAK_FREE_MS', 250);
const REPORT_S = num('SOAK_REPORT', 60);
const HEARTH = process.env.HEARTH || join(ROOT, 'build', 'hearth');
const MODEL = process.env.SOAK_MODEL ||
  join(process.env.MODELS || join(ROOT, '..', 'shared', 'models'), 'stories260K.gguf');
const RESULTS = process.env.SOAK_RESULTS || join(ROOT, 'bench', 'RESULTS.md');
const NAME = 'soak';
const CTX = 2048; // every request asks for the same context, so no request forces a reload

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => process.stderr.write(`soak: ${s}\n`);

// ---- the server ----

const work = mkdtempSync(join(tmpdir(), 'hearth-soak-'));
copyFileSync(MODEL, join(work, `${NAME}.gguf`));
const child = spawn(HEARTH, ['serve', '--host', '127.0.0.1:0', '--models-dir', work,
  '--parallel', String(PARALLEL)], {
  env: { ...process.env, HEARTH_LOG_LEVEL: 'warn', HEARTH_KEEP_ALIVE: '-1',
    // The prompt cache is on and small, so that it fills during the warm-up: its RAM tier is
    // bounded growth by design, which the RSS check would otherwise count.
    HEARTH_PROMPT_CACHE_DIR: join(work, 'prompts'), HEARTH_PROMPT_CACHE_RAM_MB: '4',
    HEARTH_PROMPT_CACHE_MAX_MB: '64',
    HF_HUB_CACHE: join(work, 'hf'), OLLAMA_MODELS: join(work, 'ollama'), XDG_CONFIG_HOME: join(work, 'cfg') },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let log = '';
child.stderr.on('data', (d) => { log += d; if (log.length > 1 << 20) log = log.slice(-(1 << 19)); });
const port = await new Promise((res, rej) => {
  const t = setTimeout(() => rej(new Error('hearth serve did not start: ' + log)), 15000);
  child.stderr.on('data', () => {
    const m = log.match(/listening on [^\s]+:(\d+)/);
    if (m) { clearTimeout(t); res(Number(m[1])); }
  });
  child.on('exit', (c) => rej(new Error(`hearth serve exited ${c}: ${log}`)));
});
const URL_ = `http://127.0.0.1:${port}`;
let serverGone = false;
child.on('exit', (code, sig) => { serverGone = true; say(`hearth serve exited (${code ?? sig})`); });

async function cleanup() {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await gone; // its worker writes the prompt cache as it goes
  }
  rmSync(work, { recursive: true, force: true });
  // SOAK_LOG=file keeps the server's log (its warnings, and a sanitizer's report at exit).
  if (process.env.SOAK_LOG) appendFileSync(process.env.SOAK_LOG, log);
}

// ---- /proc ----

function procStats(pid) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((st.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  return { rss: kb('VmRSS') * 1024, threads: kb('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function workerPid() {
  const ps = await (await fetch(URL_ + '/api/ps')).json();
  const m = ps.models.find((x) => x.name.startsWith(NAME));
  return m ? m.pid : 0;
}

async function restarts() {
  const t = await (await fetch(URL_ + '/metrics')).text();
  return Number((t.match(/^hearth_worker_restarts_total (\d+)$/m) || [])[1]);
}

// ---- the clients ----

const stats = {
  started: 0, completed: 0, hungUp: 0, status: {}, errors: [], byKind: {},
  freeMs: [], pollMs: [], freeLate: 0, freeUnseen: 0, tokens: 0,
};
const fail = (msg) => { if (stats.errors.length < 50) stats.errors.push(msg); };
let running = true;
let paused = false;

// A hang-up is found in /slots by its prompt's length in tokens: a target T unique among the
// hang-ups in flight, from T0 up, made of "Lily" (one token) said T - OFF[kind] times, where
// OFF[kind] is what the API adds (BOS, the chat template), measured at the start. The other
// requests' prompts are shorter than T0.
const T0 = 100;
const targets = Array.from({ length: CLIENTS }, (_, k) => T0 + k);
const OFF = {};

function words(n) { return Array(n).fill('Lily').join(' '); }

const KINDS = ['generate', 'chat', 'openai'];
function request(kind, prompt, n) {
  if (kind === 'generate') {
    return { path: '/api/generate', body: { model: NAME, prompt, stream: true,
      options: { num_predict: n, num_ctx: CTX, temperature: 0.8, seed: Math.floor(Math.random() * 1e9) } } };
  }
  if (kind === 'chat') {
    return { path: '/api/chat', body: { model: NAME, stream: true,
      messages: [{ role: 'user', content: prompt }],
      options: { num_predict: n, num_ctx: CTX, temperature: 0.8 } } };
  }
  return { path: '/v1/chat/completions', body: { model: NAME, stream: true, max_tokens: n,
    num_ctx: CTX, temperature: 0.8, messages: [{ role: 'user', content: prompt }] } };
}

// Checks a whole NDJSON or SSE body; returns the tokens (chunks) it carried, or throws.
function checkBody(kind, text) {
  if (kind === 'openai') {
    if (!text.endsWith('\n\n')) throw new Error('the SSE stream does not end with a blank line');
    const events = text.slice(0, -2).split('\n\n');
    if (events.pop() !== 'data: [DONE]') throw new Error('no data: [DONE] at the end');
    let finished = false;
    for (const ev of events) {
      if (!ev.startsWith('data: ')) throw new Error(`not an SSE data event: ${ev.slice(0, 80)}`);
      const o = JSON.parse(ev.slice(6));
      if (o.error) throw new Error(`error event: ${JSON.stringify(o.error).slice(0, 200)}`);
      if (o.object !== 'chat.completion.chunk') throw new Error(`object ${o.object}`);
      if (o.choices?.[0]?.finish_reason) finished = true;
    }
    if (!finished) throw new Error('no chunk with a finish_reason');
    return events.length;
  }
  if (!text.endsWith('\n')) throw new Error('the NDJSON stream does not end with a newline');
  const lines = text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
  const last = lines.pop();
  for (const o of lines) {
    if (o.error) throw new Error(`error line: ${o.error}`);
    if (o.done !== false) throw new Error('a line before the last is not done:false');
    if (kind === 'generate' && typeof o.response !== 'string') throw new Error('no response');
    if (kind === 'chat' && typeof o.message?.content !== 'string') throw new Error('no message');
  }
  if (last.error) throw new Error(`error line: ${last.error}`);
  if (last.done !== true) throw new Error('the last line is not done:true');
  if (!['stop', 'length'].includes(last.done_reason)) throw new Error(`done_reason ${last.done_reason}`);
  return lines.length;
}

// Polls /slots until no slot is busy with the hung-up request's prompt; returns the ms it took
// from the hang-up.
async function slotFreed(target, t0) {
  const mine = (s) => s.is_processing && s.n_prompt_tokens === target;
  let polls = 0, slowest = 0;
  for (;;) {
    const tp = Date.now();
    const slots = await (await fetch(URL_ + '/slots')).json();
    polls++;
    slowest = Math.max(slowest, Date.now() - tp);
    stats.pollMs.push(Date.now() - tp);
    if (!slots.some(mine)) {
      if (process.env.SOAK_DEBUG && Date.now() - t0 > FREE_MS) say(`late: ${Date.now() - t0} ms, ${polls} polls, slowest ${slowest} ms`);
      return Date.now() - t0;
    }
    if (Date.now() - t0 > 10000) return 10000;
    await sleep(5);
  }
}

async function oneRequest(active) {
  const kind = KINDS[Math.floor(Math.random() * KINDS.length)];
  const hang = Math.random() < HANGUP && targets.length > 0;
  const target = hang ? targets.splice(Math.floor(Math.random() * targets.length), 1)[0] : -1;
  // Short prompts (at most 30 words) for the others; hang-ups generate long enough to be cut.
  const prompt = hang ? words(target - OFF[kind]) : words(1 + Math.floor(Math.random() * 30));
  const n = hang ? 100000 : 16 + Math.floor(Math.random() * 150);
  active.kind = kind;
  active.hang = hang;
  active.phase = 'request';
  const { path, body } = request(kind, prompt, n);
  const ac = new AbortController();
  stats.started++;
  const k = (stats.byKind[kind] ||= { started: 0, completed: 0, hungUp: 0 });
  k.started++;
  try {
    const res = await fetch(URL_ + path, { method: 'POST', signal: ac.signal,
      headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    stats.status[res.status] = (stats.status[res.status] || 0) + 1;
    if (res.status !== 200) {
      fail(`${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      return;
    }
    active.phase = 'streaming';
    if (!hang) {
      const text = await res.text();
      try {
        stats.tokens += checkBody(kind, text);
        stats.completed++;
        k.completed++;
      } catch (e) {
        fail(`${path}: ${e.message}: ${text.slice(-300)}`);
      }
      return;
    }
    // Read a few chunks (the request is in a slot and generating), then hang up.
    const reader = res.body.getReader();
    const want = 2 + Math.floor(Math.random() * 20);
    let seen = '';
    const dec = new TextDecoder();
    for (let i = 0; i < want; i++) {
      const r = await reader.read();
      if (r.done) break;
      seen += dec.decode(r.value, { stream: true });
    }
    if (/"error"/.test(seen)) fail(`${path}: error before the hang-up: ${seen.slice(-300)}`);
    ac.abort();
    const t0 = Date.now();
    stats.hungUp++;
    k.hungUp++;
    active.phase = 'waiting for the slot';
    const ms = await slotFreed(target, t0);
    stats.freeMs.push(ms);
    if (ms > FREE_MS) stats.freeLate++;
  } catch (e) {
    if (!(hang && e.name === 'AbortError')) fail(`${path}: ${e.message}`);
  } finally {
    if (target >= 0) targets.push(target);
  }
}

// Waits until nothing runs: every client idle, no slot busy, idle connections closed.
async function quiesce(clientsIdle) {
  paused = true;
  await clientsIdle();
  for (let i = 0; i < 200; i++) {
    const slots = await (await fetch(URL_ + '/slots')).json();
    if (!slots.some((s) => s.is_processing)) break;
    await sleep(50);
  }
  // undici keeps idle connections for 4 s; each holds a thread in the daemon until closed.
  await sleep(6000);
}

// ---- the run ----

let inFlight = 0;
const active = new Set();
function trackedClient() {
  return (async () => {
    while (running && !serverGone) {
      if (paused) {
        await sleep(50);
        continue;
      }
      inFlight++;
      const a = { t: Date.now() };
      active.add(a);
      try { await oneRequest(a); } finally { inFlight--; active.delete(a); }
    }
  })();
}
const clientsIdle = async () => {
  const t = Date.now();
  while (inFlight > 0) {
    await sleep(20);
    if (Date.now() - t > 300000) {
      const what = [...active].map((a) => `${a.kind}${a.hang ? ' (hang-up)' : ''} ${a.phase} ` +
        `for ${Math.round((Date.now() - a.t) / 1000)} s`);
      fail(`${inFlight} requests still running 300 s after the load was paused: ${what.join('; ')}`);
      return;
    }
  }
};

say(`hearth serve on port ${port}, model ${MODEL}, ${CLIENTS} clients, ${PARALLEL} slots, ` +
    `${WARMUP} s warm-up, ${SECONDS} s soak`);
// What each API adds to a prompt, in tokens.
for (const kind of KINDS) {
  const { path, body } = request(kind, words(50), 100000);
  const ac = new AbortController();
  const res = await fetch(URL_ + path, { method: 'POST', signal: ac.signal, body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' } });
  await res.body.getReader().read();
  const busy = (await (await fetch(URL_ + '/slots')).json()).filter((x) => x.is_processing);
  ac.abort();
  if (busy.length !== 1) throw new Error(`calibrating ${kind}: ${busy.length} busy slots`);
  OFF[kind] = busy[0].n_prompt_tokens - 50;
  if (OFF[kind] < 0 || T0 - OFF[kind] < 40) throw new Error(`calibrating ${kind}: offset ${OFF[kind]}`);
  while ((await (await fetch(URL_ + '/slots')).json()).some((x) => x.is_processing)) await sleep(20);
}
say(`prompt tokens each API adds: ${JSON.stringify(OFF)}`);
const wpid = await workerPid();
const t0 = Date.now();
const clients = Array.from({ length: CLIENTS }, trackedClient);
await sleep(WARMUP * 1000);
await quiesce(clientsIdle);
// /proc first: a request of ours would hold a connection thread and its socket.
const base = { daemon: procStats(child.pid), worker: wpid ? procStats(wpid) : null };
const restarts0 = await restarts();
const warm = { ...stats, started: stats.started, completed: stats.completed, hungUp: stats.hungUp };
say(`warm-up done (${warm.started} requests); baseline daemon ${JSON.stringify(base.daemon)} ` +
    `worker ${wpid} ${JSON.stringify(base.worker)}`);
paused = false;
const peak = { daemon: { ...base.daemon }, worker: base.worker ? { ...base.worker } : null };
const tSoak = Date.now();
let lastReport = tSoak;
while (Date.now() - tSoak < SECONDS * 1000 && !serverGone) {
  await sleep(1000);
  for (const [who, pid] of [['daemon', child.pid], ['worker', wpid]]) {
    if (!pid || !peak[who]) continue;
    try {
      const s = procStats(pid);
      for (const f of ['rss', 'threads', 'fds']) peak[who][f] = Math.max(peak[who][f], s[f]);
    } catch { /* gone: counted below */ }
  }
  if (Date.now() - lastReport >= REPORT_S * 1000) {
    lastReport = Date.now();
    say(`${Math.round((Date.now() - tSoak) / 1000)} s: ${stats.started} requests, ${stats.completed} ` +
        `completed, ${stats.hungUp} hung up, ${stats.errors.length} errors`);
  }
}
await quiesce(clientsIdle);
let end = null;
try { end = { daemon: procStats(child.pid), worker: wpid ? procStats(wpid) : null }; } catch { /* gone */ }
const wpid2 = serverGone ? 0 : await workerPid();
const restarts1 = serverGone ? NaN : await restarts();
running = false;
paused = false;
await Promise.all(clients);
const wall = (Date.now() - t0) / 1000;

// ---- the verdict ----

const checks = [];
const check = (name, ok, detail) => checks.push({ name, ok, detail });
const five = Object.entries(stats.status).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0);
check('server up to the end', !serverGone, serverGone ? 'hearth serve exited' : 'yes');
check('no 5xx', five === 0, `${five} of ${stats.started} (statuses ${JSON.stringify(stats.status)})`);
check('every stream read to its end well formed and finished', stats.errors.length === 0,
  `${stats.completed} complete, ${stats.errors.length} bad`);
const pctOf = (arr) => {
  const v = [...arr].sort((a, b) => a - b);
  return (p) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] : 0);
};
const fp = pctOf(stats.freeMs), pp = pctOf(stats.pollMs);
// The time is from the hang-up to the answer of the first /slots poll that shows the slot free,
// so it includes that poll's own round trip (given beside it).
check(`slot free within ${FREE_MS} ms of each hang-up`, stats.freeLate === 0 && stats.freeMs.length > 0,
  `${stats.freeMs.length} hang-ups: median ${fp(0.5)} ms, p90 ${fp(0.9)} ms, p99 ${fp(0.99)} ms, ` +
  `max ${fp(1)} ms, ${stats.freeLate} late; a /slots round trip: median ${pp(0.5)} ms, p99 ${pp(0.99)} ms, ` +
  `max ${pp(1)} ms`);
check('worker never restarted', wpid2 === wpid && restarts1 === restarts0, `pid ${wpid} -> ${wpid2}, ` +
  `restarts ${restarts0} -> ${restarts1}`);
const mib = (b) => (b / 1048576).toFixed(1);
for (const who of ['daemon', 'worker']) {
  const b = base[who], e = end?.[who], p = peak[who];
  if (!b || !e) { check(`${who} measured`, false, 'no process'); continue; }
  const growth = (e.rss - b.rss) / b.rss;
  check(`${who} RSS growth < 5 %`, growth < 0.05,
    `${mib(b.rss)} -> ${mib(e.rss)} MiB (${(growth * 100).toFixed(1)} %), peak ${mib(p.rss)} MiB`);
  check(`${who} fds flat`, e.fds === b.fds, `${b.fds} -> ${e.fds} (peak ${p.fds})`);
  check(`${who} threads flat`, e.threads === b.threads, `${b.threads} -> ${e.threads} (peak ${p.threads})`);
}
const failed = checks.filter((c) => !c.ok);

const cpu = cpus()[0]?.model?.trim() || 'unknown CPU';
const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
let commit = 'unknown';
try { commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* no git */ }
const kinds = Object.entries(stats.byKind).map(([k, v]) => `${k} ${v.started}/${v.completed}/${v.hungUp}`).join(', ');
const lines = [
  `## Soak ${date}`,
  '',
  `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. hearth ${commit}. ` +
  `Model: ${MODEL.split('/').pop()}, ${PARALLEL} slots of ${CTX} tokens. ${CLIENTS} streaming clients, ` +
  `${Math.round(HANGUP * 100)} % hanging up midway; ${WARMUP} s warm-up, then ${SECONDS} s ` +
  `(${(SECONDS / 60).toFixed(0)} min${SECONDS < 3600 ? ', not the 60-minute record' : ''}); wall ${wall.toFixed(0)} s.`,
  '',
  `Requests after the warm-up: ${stats.started - warm.started} (${stats.completed - warm.completed} read to the end, ` +
  `${stats.hungUp - warm.hungUp} hung up); in all ${stats.started}, ${stats.tokens} chunks streamed. ` +
  `By kind (started/complete/hung up): ${kinds}.`,
  '',
  '| check | result | detail |',
  '|---|---|---|',
  ...checks.map((c) => `| ${c.name} | ${c.ok ? 'pass' : '**FAIL**'} | ${c.detail} |`),
  '',
];
process.stdout.write(lines.join('\n') + '\n');
if (stats.errors.length) say('errors:\n  ' + stats.errors.slice(0, 10).join('\n  '));
if (failed.length || serverGone) say('server log (tail):\n' + log.slice(-3000));
if (RESULTS !== '-') {
  appendFileSync(RESULTS, '\n' + lines.join('\n'));
  say(`results appended to ${RESULTS}`);
}
await cleanup();
say(failed.length ? `FAILED: ${failed.map((c) => c.name).join('; ')}` : 'all checks passed');
process.exit(failed.length ? 1 : 0);
