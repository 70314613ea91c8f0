// Crash isolation: kill -9 of a model's worker in the middle of a request. The request's client
// gets the error in its own protocol's shape, the server and other models' streams go on, the
// model shows failed, and the next request starts a fresh worker. SIGTERM during streams leaves
// no worker behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { startServer, post, assertHealthy } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--parallel', '2'] }); });
after(async () => { await srv?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Long generations: no end of text, a big context, far more tokens than the test waits for.
const LONG = { ignore_eos: true, num_ctx: 32768 };

// Opens a streamed request and returns once its first bytes have arrived; the rest is read in
// the background.
async function openStream(url, path, body, headers = {}) {
  const res = await fetch(url + path, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  const s = { text: '', lastAt: 0, reader };
  const first = await reader.read();
  s.text += dec.decode(first.value, { stream: true });
  s.lastAt = Date.now();
  s.rest = (async () => {
    for (;;) {
      let r;
      try { r = await reader.read(); } catch { break; }
      if (r.done) break;
      s.text += dec.decode(r.value, { stream: true });
      s.lastAt = Date.now();
    }
    return s.text;
  })();
  return s;
}

async function ps(url) {
  return (await (await fetch(url + '/api/ps')).json()).models;
}

async function workerPid(url, name) {
  const m = (await ps(url)).find((x) => x.name === name);
  assert.ok(m && m.pid > 1, `${name} is loaded with a worker: ${JSON.stringify(m)}`);
  assert.match(readFileSync(`/proc/${m.pid}/cmdline`, 'latin1'), /worker/);
  return m.pid;
}

async function restarts() {
  const m = await (await fetch(srv.url + '/metrics')).text();
  return Number(m.match(/^hearth_worker_restarts_total (\d+)$/m)[1]);
}

async function modelStatus(id) {
  const data = (await (await fetch(srv.url + '/models')).json()).data;
  return data.find((m) => m.id === id).status;
}

const CRASH = /^model runner crashed \(killed by signal 9\b/;

// Each API family: the request to crash, and how its client sees the error in the stream.
const FAMILIES = [
  {
    // Two requests on the crashed worker: both get the error, the crash counts once.
    name: 'Ollama /api/generate (NDJSON), two streams', model: 'stories260K:latest', path: '/api/generate', twice: true,
    body: { model: 'stories260K', prompt: 'Once', stream: true, options: { num_predict: 1000000, ...LONG } },
    error(text) {
      const last = JSON.parse(text.trim().split('\n').pop());
      assert.match(last.error, CRASH);
    },
  },
  {
    name: 'OpenAI /v1/completions (SSE)', model: 'stories260K:latest', path: '/v1/completions',
    body: { model: 'stories260K', prompt: 'Once', stream: true, max_tokens: 1000000, ...LONG },
    error(text) {
      const events = text.split('\n\n').filter(Boolean);
      assert.equal(events.pop(), 'data: [DONE]');
      const e = JSON.parse(events.pop().replace(/^data: /, ''));
      assert.match(e.error.message, CRASH);
      assert.equal(e.error.type, 'server_error');
    },
  },
  {
    name: 'Anthropic /v1/messages (SSE)', model: 'chatty:latest', path: '/v1/messages',
    headers: { 'anthropic-version': '2023-06-01' },
    body: { model: 'chatty', max_tokens: 1000000, stream: true, messages: [{ role: 'user', content: 'Hi' }], ...LONG },
    error(text) {
      const last = text.trim().split('\n\n').pop();
      assert.match(last, /^event: error\n/);
      const e = JSON.parse(last.split('\n')[1].replace(/^data: /, ''));
      assert.equal(e.type, 'error');
      assert.equal(e.error.type, 'api_error');
      assert.match(e.error.message, CRASH);
    },
  },
  {
    name: 'llama-server /completion (SSE)', model: 'stories260K:latest', path: '/completion',
    body: { model: 'stories260K', prompt: 'Once', stream: true, n_predict: 1000000, ...LONG },
    error(text) {
      const last = text.trim().split('\n\n').pop();
      const e = JSON.parse(last.replace(/^data: /, ''));
      assert.equal(e.error.code, 500);
      assert.match(e.error.message, CRASH);
    },
  },
];

for (const f of FAMILIES) {
  test(`kill -9 during a stream: ${f.name}`, async () => {
    const before = await restarts();
    // Another model streams all along.
    const other = await openStream(srv.url, '/api/generate',
      { model: 'tiny', prompt: 'Once', options: { num_predict: 1000000, ...LONG } });
    const victim = await openStream(srv.url, f.path, f.body, f.headers);
    const second = f.twice ? await openStream(srv.url, f.path, f.body, f.headers) : null;
    const pid = await workerPid(srv.url, f.model);
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    const text = await Promise.race([victim.rest, sleep(10000).then(() => null)]);
    assert.ok(text !== null, 'the crashed stream ends');
    f.error(text);
    if (second) f.error(await second.rest);

    // The other model's stream goes on.
    await sleep(500);
    assert.ok(other.lastAt > killedAt + 200, 'the other model kept streaming');
    assert.doesNotMatch(other.text, /"error"/);
    assert.equal((await fetch(srv.url + '/health')).status, 200);
    await assertHealthy(assert, srv.url);
    await other.reader.cancel();
    await other.rest;

    assert.equal(await restarts(), before + 1, 'one crash counted');
    // The model shows how its worker ended until it is loaded again.
    let st;
    for (let i = 0; i < 50; i++) {
      st = await modelStatus(f.model);
      if (st.failed) break;
      await sleep(50);
    }
    assert.equal(st.value, 'unloaded');
    assert.equal(st.failed, true);
    assert.match(st.error, CRASH);

    // The next request to it starts a fresh worker.
    const next = await post(srv.url, f.path, { ...f.body, stream: false, max_tokens: 3, n_predict: 3,
      options: { ...(f.body.options || {}), num_predict: 3 } }, { headers: f.headers || {} });
    assert.equal(next.status, 200, next.text);
    const pid2 = await workerPid(srv.url, f.model);
    assert.notEqual(pid2, pid);
    assert.equal((await modelStatus(f.model)).value, 'loaded');
  });
}

test('kill -9 before anything was sent: HTTP 500 with how the worker ended', async () => {
  const ctl = post(srv.url, '/api/generate',
    { model: 'stories260K', prompt: 'Once', stream: false, options: { num_predict: 1000000, ...LONG } });
  let pid = 0;
  for (let i = 0; i < 200 && !pid; i++) {
    const m = (await ps(srv.url)).find((x) => x.name === 'stories260K:latest');
    if (m && m.slots_busy > 0) pid = m.pid;
    else await sleep(20);
  }
  assert.ok(pid > 1, 'the generation is running');
  process.kill(pid, 'SIGKILL');
  const r = await ctl;
  assert.equal(r.status, 500);
  assert.match(r.body.error, CRASH);
  const again = await post(srv.url, '/api/generate',
    { model: 'stories260K', prompt: 'Once', stream: false, options: { num_predict: 3 } });
  assert.equal(again.status, 200, again.text);
});

test('a worker killed while idle is replaced on the next request', async () => {
  const r = await post(srv.url, '/api/generate', { model: 'tiny', prompt: 'Once', stream: false, options: { num_predict: 3 } });
  assert.equal(r.status, 200, r.text);
  const pid = await workerPid(srv.url, 'tiny:latest');
  process.kill(pid, 'SIGKILL');
  await sleep(200);
  const again = await post(srv.url, '/api/generate', { model: 'tiny', prompt: 'Once', stream: false, options: { num_predict: 3 } });
  assert.equal(again.status, 200, again.text);
  assert.notEqual(await workerPid(srv.url, 'tiny:latest'), pid);
});

// The pids of `hearth worker` processes started by the server over models folder dir (found by
// their command line and the prompt cache folder they inherited), sorted.
function workersOf(dir) {
  const mark = `HEARTH_PROMPT_CACHE_DIR=${dir}/prompts`;
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return /^[^\0]*hearth\0worker\0/.test(readFileSync(`/proc/${d}/cmdline`, 'latin1')) &&
        readFileSync(`/proc/${d}/environ`, 'latin1').split('\0').includes(mark);
    } catch { return false; }
  }).map(Number).sort();
}

test('SIGTERM during streams exits cleanly and leaves no worker', async () => {
  const s2 = await startServer({ args: ['--parallel', '2'] });
  try {
    const a = await openStream(s2.url, '/api/generate',
      { model: 'stories260K', prompt: 'Once', options: { num_predict: 1000000, ...LONG } });
    const b = await openStream(s2.url, '/v1/completions',
      { model: 'tiny', prompt: 'Once', stream: true, max_tokens: 1000000, ...LONG });
    const pids = [await workerPid(s2.url, 'stories260K:latest'), await workerPid(s2.url, 'tiny:latest')];
    assert.deepEqual(workersOf(s2.dir), [...pids].sort(), 'the worker processes are found by their command line');
    s2.child.kill('SIGTERM');
    const ended = await Promise.race([Promise.all([a.rest, b.rest]), sleep(20000).then(() => null)]);
    assert.ok(ended, 'both streams end');
    const r = await Promise.race([s2.exited, sleep(20000).then(() => null)]);
    assert.deepEqual(r, { code: 0, signal: null }, 'hearth serve exits 0');
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `worker ${pid} is gone`);
    assert.deepEqual(workersOf(s2.dir), [], 'no worker of that server is left');
  } finally {
    await s2.stop();
  }
});
