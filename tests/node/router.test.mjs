// llama-server's router routes (GET /models with each model's status, POST /models/load and
// /models/unload) and what /api/ps and the official `ollama` client show of loaded models.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { startServer, makeModelsDir, post, assertHealthy } from './helpers.mjs';

let srv;
before(async () => {
  const dir = makeModelsDir();
  // A GGUF cut off in the middle of its tensor data: the worker refuses to load it.
  const whole = readFileSync(join(dir, 'stories260K.gguf'));
  writeFileSync(join(dir, 'broken.gguf'), whole.subarray(0, Math.floor(whole.length / 2)));
  srv = await startServer({ modelsDir: dir, args: ['--parallel', '2'] });
});
after(async () => { await srv?.stop(); });

const models = async (path = '/models') => {
  const r = await fetch(srv.url + path);
  assert.equal(r.status, 200);
  return (await r.json()).data;
};
const entry = async (id, path) => (await models(path)).find((m) => m.id === id);

// llama-server's error shape, with the status its code says.
function assertRouterError(r, status, message) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.error.code, status);
  assert.equal(r.body.error.type, status === 404 ? 'not_found_error'
    : status >= 500 ? 'server_error' : 'invalid_request_error');
  if (message instanceof RegExp) assert.match(r.body.error.message, message);
  else assert.equal(r.body.error.message, message);
}

test('GET /models lists every model of the store, unloaded, in OpenAI\'s list shape', async () => {
  for (const path of ['/models', '/v1/models']) {
    const data = await models(path);
    const ids = data.map((m) => m.id).sort();
    for (const id of ['stories260K:latest', 'tiny:latest', 'broken:latest'])
      assert.ok(ids.includes(id), `${path} lists ${id}: ${ids}`);
    for (const m of data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.deepEqual(m.status, { value: 'unloaded' }, `${m.id} has never been loaded`);
    }
  }
});

test('POST /models/load loads, /models/unload unloads, and GET /models follows', async () => {
  let r = await post(srv.url, '/models/load', { model: 'stories260K' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { success: true });
  for (const path of ['/models', '/v1/models']) {
    const m = await entry('stories260K:latest', path);
    assert.equal(m.status.value, 'loaded');
    assert.equal(m.meta.n_vocab, 512, 'the loaded instance\'s facts');
    assert.ok(m.meta.n_ctx > 0 && m.meta.size > 0);
  }
  assert.equal((await entry('tiny:latest')).status.value, 'unloaded', 'only the one asked for');
  const ps = await (await fetch(srv.url + '/api/ps')).json();
  assert.deepEqual(ps.models.map((m) => m.name), ['stories260K:latest']);

  r = await post(srv.url, '/models/load', { model: 'stories260K' });
  assertRouterError(r, 400, 'model is already running');

  r = await post(srv.url, '/models/unload', { model: 'stories260K' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { success: true });
  assert.deepEqual((await entry('stories260K:latest')).status, { value: 'unloaded' });
  assert.equal((await (await fetch(srv.url + '/api/ps')).json()).models.length, 0);

  r = await post(srv.url, '/models/unload', { model: 'stories260K' });
  assertRouterError(r, 400, 'model is not running');
  r = await post(srv.url, '/models/unload', { model: 'tiny' });
  assertRouterError(r, 400, 'model is not running');
});

test('load and unload of unknown models and bad bodies are errors in llama-server\'s shape', async () => {
  assertRouterError(await post(srv.url, '/models/load', { model: 'nope' }), 404, 'model is not found');
  assertRouterError(await post(srv.url, '/models/unload', { model: 'nope' }), 400, 'model is not found');
  for (const path of ['/models/load', '/models/unload']) {
    assertRouterError(await post(srv.url, path, '', { raw: true }), 400, 'missing request body');
    assertRouterError(await post(srv.url, path, '{"model":', { raw: true }), 400, /invalid JSON/);
    assertRouterError(await post(srv.url, path, ['stories260K']), 400, /must be a JSON object/);
    assertRouterError(await post(srv.url, path, {}), 400, 'model name is missing from the request');
    assertRouterError(await post(srv.url, path, { model: '' }), 400, 'model name is missing from the request');
    assertRouterError(await post(srv.url, path, { model: 42 }), 400, "field 'model' must be a string");
    assertRouterError(await post(srv.url, path, { model: 'x'.repeat(5000) }), 400, 'model name is too long');
    const get = await fetch(srv.url + path);
    assert.equal(get.status, 405, `GET ${path}`);
  }
  assert.equal((await models()).filter((m) => m.status.value !== 'unloaded').length, 0, 'nothing loaded');
  await assertHealthy(assert, srv.url);
});

test('a model that fails to load answers with the worker\'s message and shows failed', async () => {
  const r = await post(srv.url, '/models/load', { model: 'broken' });
  assert.ok(r.status >= 400 && r.status !== 404, `status ${r.status}: ${r.text}`);
  const msg = r.body.error.message;
  assert.ok(msg.length > 10, msg);
  assert.doesNotMatch(msg, /model runner crashed/, 'the worker said why; it did not crash');
  const m = await entry('broken:latest');
  assert.equal(m.status.value, 'unloaded', 'as llama-server shows a failed instance');
  assert.equal(m.status.failed, true);
  assert.equal(m.status.error, msg, 'the same message as the load\'s answer');
  // A generation asks for the same load and gets the same message.
  const g = await post(srv.url, '/api/generate', { model: 'broken', prompt: 'x', stream: false });
  assert.equal(g.status, r.status);
  assert.equal(g.body.error, msg);
  // The others are unaffected, and the failed one is still failed until a load succeeds.
  const ok = await post(srv.url, '/models/load', { model: 'tiny' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await entry('tiny:latest')).status.value, 'loaded');
  assert.equal((await entry('broken:latest')).status.failed, true);
  assert.equal((await post(srv.url, '/models/unload', { model: 'tiny' })).status, 200);
  await assertHealthy(assert, srv.url);
});

test('/api/ps: Ollama\'s fields, the official client parses them, hearth\'s beside them', async () => {
  const ollama = new Ollama({ host: srv.url });
  await ollama.generate({ model: 'stories260K', prompt: 'Once', options: { num_predict: 2, num_ctx: 512 } });
  // A long streamed generation holds one of the two slots while ps is read.
  const ctl = new AbortController();
  const res = await fetch(srv.url + '/api/generate', {
    method: 'POST', signal: ctl.signal,
    body: JSON.stringify({ model: 'stories260K', prompt: 'Once', options: { num_predict: 100000, num_ctx: 512, ignore_eos: true } }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  await reader.read();
  const ps = await ollama.ps();
  assert.equal(ps.models.length, 1);
  const m = ps.models[0];
  assert.equal(m.name, 'stories260K:latest');
  assert.equal(m.model, 'stories260K:latest');
  assert.ok(m.size >= 1000000, `size ${m.size}`);
  assert.equal(m.size_vram, 0);
  assert.equal(m.context_length, 512);
  assert.ok(new Date(m.expires_at) > new Date(), `expires in the future: ${m.expires_at}`);
  assert.equal(m.details.family, 'llama');
  assert.match(m.digest, /^[0-9a-f]{64}$/);
  assert.equal(m.processor, '100% CPU');
  assert.equal(m.slots_total, 2);
  assert.equal(m.slots_busy, 1, 'the stream holds a slot');
  assert.equal(m.queued, 0);
  assert.ok(Number.isInteger(m.pid) && m.pid > 1);
  assert.match(readFileSync(`/proc/${m.pid}/cmdline`, 'latin1'), /worker/, 'pid is the worker\'s');
  assert.deepEqual(m.memory, [{ device: 'CPU', bytes: m.size }]);
  ctl.abort();
  await reader.cancel().catch(() => {});
  // The slot comes free once the cancelled generation has ended.
  let busy = 1;
  for (let i = 0; i < 100 && busy; i++) {
    busy = (await ollama.ps()).models[0].slots_busy;
    if (busy) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(busy, 0);
});
