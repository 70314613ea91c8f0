// Presets (--models-preset): a real `hearth serve` reading a presets file in llama-server's
// format, and the precedence request > section > [*] > GGUF general.sampling.* > defaults seen
// from the OpenAI client, the Ollama API and `hearth show --parameters`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startServer, waitForLog, assertHealthy, post, HEARTH, MODELS, MKMODEL, LLAMA_DATA, KNOWN_CONTINUATION } from './helpers.mjs';

const PRESETS = `; presets for the test
version = 1
[*]
c = 1024
top-k = 7

[stories260K]
ctx-size = 512
temp = 0
stop = "Lily"
`;

let srv, dir, ini, client;

// A models folder with the real stories260K and a random-weight model whose GGUF recommends
// temperature 0.3 and top_k 17 (general.sampling.*).
function makeDir() {
  const d = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-presets-'));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(d, 'stories260K.gguf'));
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
    '--sampling', 'temp=0.3', '--sampling', 'top_k=17', '--out', join(d, 'recommends.gguf')], { stdio: 'ignore' });
  return d;
}

const unload = () => post(srv.url, '/api/generate', { model: 'stories260K', keep_alive: 0 });

async function ps(name) {
  const r = await fetch(srv.url + '/api/ps').then((x) => x.json());
  return r.models.find((m) => m.name === name);
}

function show(name) {
  return execFileSync(HEARTH, ['show', name, '--parameters'], {
    env: { ...process.env, HEARTH_HOST: `127.0.0.1:${srv.port}` },
  }).toString();
}

// The row of `hearth show --parameters` for one parameter: [value, source].
function row(out, name) {
  const line = out.split('\n').find((l) => l.split(/\s+/)[0] === name);
  assert.ok(line, `no ${name} in:\n${out}`);
  const cols = line.trim().split(/\s+/);
  return [cols[1], cols[cols.length - 1]];
}

before(async () => {
  dir = makeDir();
  ini = join(dir, 'presets.ini');
  writeFileSync(ini, PRESETS);
  srv = await startServer({ modelsDir: dir, args: ['--models-preset', ini] });
  client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
});
after(async () => { await srv?.stop(); });

test('a [NAME] section reaches an OpenAI client: context size, temperature and stop', async () => {
  const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30 });
  // temp = 0 from the section makes the output the known greedy story; stop = "Lily" ends it.
  assert.equal(r.choices[0].text, ', there was a little girl named ');
  assert.equal(r.choices[0].finish_reason, 'stop');
  // llama.cpp rounds a context up to a multiple of 256: the values here are multiples.
  assert.equal((await ps('stories260K:latest')).context_length, 512);
  const slots = await fetch(srv.url + '/slots?model=stories260K').then((x) => x.json());
  assert.equal(slots[0].n_ctx, 512);
});

test('a request beats the section; a request stop list replaces the preset one', async () => {
  const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, stop: ['park'] });
  assert.equal(r.choices[0].text, KNOWN_CONTINUATION.slice(0, KNOWN_CONTINUATION.indexOf('park')));
  const o = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'Once upon a time', stream: false, options: { num_ctx: 768, num_predict: 3 } });
  assert.equal(o.status, 200, o.text);
  assert.equal((await ps('stories260K:latest')).context_length, 768);
  // An OpenAI client may send it too, as an extra field.
  await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 2, num_ctx: 1024 });
  assert.equal((await ps('stories260K:latest')).context_length, 1024);
  // A smaller context is served by the larger loaded one, without a reload (#7).
  await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 2, num_ctx: 256 });
  assert.equal((await ps('stories260K:latest')).context_length, 1024);
  // A request that does not set num_ctx loads with the section's value: nothing sticks.
  await unload();
  await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 2 });
  assert.equal((await ps('stories260K:latest')).context_length, 512);
});

test('[*] applies to a model without a section, and beats the GGUF recommendation', async () => {
  const r = await client.completions.create({ model: 'recommends', prompt: 'Hello', max_tokens: 2 });
  assert.equal(r.usage.completion_tokens, 2);
  assert.equal((await ps('recommends:latest')).context_length, 1024);
  const out = show('recommends');
  assert.deepEqual(row(out, 'temperature'), ['0.3', 'gguf']);
  assert.deepEqual(row(out, 'top_k'), ['7', '[*]']);
  assert.deepEqual(row(out, 'num_ctx'), ['1024', '[*]']);
  assert.deepEqual(row(out, 'top_p'), ['0.95', 'default']);
});

test('/api/show: Ollama parameters text and every value with its source', async () => {
  const r = await post(srv.url, '/api/show', { model: 'stories260K' });
  assert.equal(r.status, 200);
  const lines = r.body.parameters.trim().split('\n').map((l) => l.trim().split(/\s+/));
  assert.deepEqual(lines.find((l) => l[0] === 'num_ctx'), ['num_ctx', '512']);
  assert.deepEqual(lines.find((l) => l[0] === 'stop'), ['stop', '"Lily"']);
  assert.deepEqual(lines.find((l) => l[0] === 'temperature'), ['temperature', '0']);
  assert.ok(!lines.find((l) => l[0] === 'top_p'), 'defaults are not in the parameters text');
  const byName = Object.fromEntries(r.body.hearth_parameters.map((p) => [p.name, p]));
  assert.deepEqual(byName.num_ctx, { name: 'num_ctx', value: 512, source: 'section' });
  assert.deepEqual(byName.stop, { name: 'stop', value: ['Lily'], source: 'section' });
  assert.deepEqual(byName.top_k, { name: 'top_k', value: 7, source: '[*]' });
  assert.deepEqual(byName.min_p.source, 'default');
  assert.deepEqual(row(show('stories260K'), 'temperature'), ['0.0', 'section']);
});

test('a live edit takes effect without a restart; a malformed one keeps the last good file', async () => {
  writeFileSync(ini, PRESETS.replace('ctx-size = 512', 'ctx-size = 256'));
  await unload(); // loaded with 512, it would serve 256 as loaded
  await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 2 });
  assert.equal((await ps('stories260K:latest')).context_length, 256);
  await waitForLog(srv, /presets reloaded/);
  assert.match(srv.log(), /presets reloaded/);

  writeFileSync(ini, PRESETS.replace('ctx-size = 512', 'ctx-size = 288\ntemp = warm'));
  const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30 });
  assert.equal(r.choices[0].text, ', there was a little girl named ');
  assert.equal((await ps('stories260K:latest')).context_length, 256);
  const log = await waitForLog(srv, /keeping the last good version/);
  assert.match(log, /presets\.ini:9: bad value for temp/);
  await assertHealthy(assert, srv.url);

  writeFileSync(ini, PRESETS); // fixed again
  await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 2 });
  assert.equal((await ps('stories260K:latest')).context_length, 512);
});

test('a malformed presets file fails startup with its line; a missing named file too', async () => {
  const bad = join(dir, 'bad.ini');
  writeFileSync(bad, '[*]\nc = 512\n\n[stories260K]\nflash-attn = sometimes\n');
  let r = spawnSync(HEARTH, ['serve', '--host', '127.0.0.1:0', '--models-preset', bad], { timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr.toString(), /bad\.ini:5: flash-attn must be on, off or auto, not 'sometimes'/);
  // The same through HEARTH_MODELS_PRESET.
  writeFileSync(bad, '[*]\nrope-scaling = yarn\n');
  r = spawnSync(HEARTH, ['serve', '--host', '127.0.0.1:0'], { timeout: 10000, env: { ...process.env, HEARTH_MODELS_PRESET: bad } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr.toString(), /bad\.ini:2: 'rope-scaling' is a llama-server or Ollama setting that hearth does not support/);
  r = spawnSync(HEARTH, ['serve', '--host', '127.0.0.1:0', '--models-preset', join(dir, 'nope.ini')], { timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr.toString(), /presets file .*nope\.ini does not exist/);
});

test('a missing default presets file is no presets; load-on-startup loads a model at start', async () => {
  const cfg = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-cfg-'));
  const models = makeDir();
  const s = await startServer({ modelsDir: models, env: { XDG_CONFIG_HOME: cfg, HEARTH_MODELS_PRESET: '' } });
  try {
    await assertHealthy(assert, s.url);
    assert.match(s.log(), new RegExp(`presets="${cfg}/hearth/presets.ini"`));
  } finally { await s.stop(); }
  // The default file, with a section that loads its model at start.
  const d2 = makeDir();
  execFileSync('mkdir', ['-p', join(cfg, 'hearth')]);
  writeFileSync(join(cfg, 'hearth', 'presets.ini'), '[stories260K]\nc = 768\nload-on-startup = true\n');
  const s2 = await startServer({ modelsDir: d2, env: { XDG_CONFIG_HOME: cfg, HEARTH_MODELS_PRESET: '' } });
  try {
    const log = await waitForLog(s2, /loaded on startup/);
    assert.match(log, /loaded on startup" model="stories260K:latest"/);
    const r = await fetch(s2.url + '/api/ps').then((x) => x.json());
    assert.equal(r.models[0].name, 'stories260K:latest');
    assert.equal(r.models[0].context_length, 768);
  } finally { await s2.stop(); rmSync(cfg, { recursive: true, force: true }); }
});
