// Models from every source through a real `hearth serve`: a --models-dir folder, Ollama's store
// (manifest + blobs, with template, system, license and messages layers) and the Hugging Face
// cache (snapshots of relative symlinks into blobs), laid out here as those tools write them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startServer, post, assertHealthy, makeModelsDir, MODELS, KNOWN_CONTINUATION } from './helpers.mjs';

let srv, dir, ollama, hub;
const COMMIT = 'abcdefabcdefabcdefabcdefabcdefabcdefabcd';
const sha = (b) => createHash('sha256').update(b).digest('hex');

function blob(data) { // an Ollama blob; returns its digest
  const d = sha(data);
  mkdirSync(join(ollama, 'blobs'), { recursive: true });
  writeFileSync(join(ollama, 'blobs', `sha256-${d}`), data);
  return `sha256:${d}`;
}

function ollamaModel(name, tag, gguf, layers) {
  const weights = readFileSync(gguf);
  const l = [{ mediaType: 'application/vnd.ollama.image.model', digest: blob(weights), size: weights.length }];
  for (const [kind, text] of Object.entries(layers)) {
    l.push({ mediaType: `application/vnd.ollama.image.${kind}`, digest: blob(text), size: Buffer.byteLength(text) });
  }
  const config = '{"model_format":"gguf","model_family":"llama"}';
  const manifest = {
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: blob(config), size: config.length },
    layers: l,
  };
  const p = join(ollama, 'manifests', 'registry.ollama.ai', 'library', name, tag);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, JSON.stringify(manifest));
}

function hfFile(repo, file, gguf) { // huggingface_hub's layout
  const data = readFileSync(gguf);
  const root = join(hub, `models--${repo.replace('/', '--')}`);
  mkdirSync(join(root, 'blobs'), { recursive: true });
  writeFileSync(join(root, 'blobs', sha(data)), data);
  const link = join(root, 'snapshots', COMMIT, file);
  mkdirSync(dirname(link), { recursive: true });
  const up = '../'.repeat(file.split('/').length + 1);
  symlinkSync(`${up}blobs/${sha(data)}`, link);
  mkdirSync(join(root, 'refs'), { recursive: true });
  writeFileSync(join(root, 'refs', 'main'), COMMIT);
  return join(root, 'blobs', sha(data));
}

before(async () => {
  dir = makeModelsDir();
  ollama = join(dir, 'ollama');
  hub = join(dir, 'hf-hub');
  // chatty has the qwen2 chat template in its GGUF; stories260K has none, so the Go template
  // layer (which holds chatml's tokens) is what formats its chats.
  ollamaModel('pirate', 'latest', join(dir, 'chatty.gguf'), {
    system: 'You are a pirate.', license: 'MIT License', template: '{{ .Prompt }}',
    messages: JSON.stringify([{ role: 'user', content: 'Ahoy?' }, { role: 'assistant', content: 'Arr!' }]),
  });
  ollamaModel('storyteller', '1', join(MODELS, 'stories260K.gguf'), {
    system: 'Tell stories.', params: JSON.stringify({ num_predict: 5, stop: ['<|im_end|>'] }),
    template: '{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n',
  });
  ollamaModel('tiny', 'latest', join(MODELS, 'stories260K.gguf'), {}); // tiny.gguf is in the folder too
  hfFile('org/Stories-GGUF', 'stories-Q8_0.gguf', join(MODELS, 'stories260K.gguf'));
  hfFile('org/Stories-GGUF', 'stories-F16.gguf', join(dir, 'chatty.gguf'));
  // Presets name models and describe them: a new name for an HF model, a system prompt over
  // an Ollama model's own.
  writeFileSync(join(dir, 'presets.ini'), [
    '[teller]', 'model = hf.co/org/Stories-GGUF:Q8_0', 'n-predict = 7', '',
    '[loop]', 'model = loop', '',
    '[storyteller:1]', 'system = "Tell short\\nstories."', '',
  ].join('\n'));
  srv = await startServer({ modelsDir: dir, args: ['--models-preset', join(dir, 'presets.ini')] });
});
after(async () => { await srv.stop(); });

test('/api/tags lists every source once, with its source', async () => {
  const r = await (await fetch(srv.url + '/api/tags')).json();
  const by = Object.fromEntries(r.models.map((m) => [m.name, m]));
  assert.equal(by['pirate:latest']?.source, 'ollama');
  assert.equal(by['storyteller:1']?.source, 'ollama');
  assert.equal(by['hf.co/org/Stories-GGUF:Q8_0']?.source, 'hf');
  assert.equal(by['hf.co/org/Stories-GGUF:F16']?.source, 'hf');
  assert.equal(by['stories260K:latest']?.source, 'folder');
  // The same name in a folder and in Ollama's store: the second is listed by its full name.
  assert.equal(by['tiny:latest']?.source, 'folder');
  assert.equal(by['registry.ollama.ai/library/tiny:latest']?.source, 'ollama');
  // Ollama models carry their blob's real digest.
  const weights = readFileSync(join(dir, 'chatty.gguf'));
  assert.equal(by['pirate:latest'].digest, sha(weights));
  assert.equal(by['hf.co/org/Stories-GGUF:Q8_0'].details.family, 'llama');
});

test('a model from the Hugging Face cache generates the known story', async () => {
  const r = await post(srv.url, '/api/generate', {
    model: 'hf.co/org/Stories-GGUF:Q8_0', prompt: 'Once upon a time', raw: true, stream: false,
    options: { temperature: 0, num_predict: 30 },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.response, KNOWN_CONTINUATION);
  // ORG/REPO:QUANT without the host, quant in any case.
  const s = await post(srv.url, '/api/show', { model: 'org/Stories-GGUF:q8_0' });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.body.source, 'hf');
  // No quant named, and no Q4_K_M among several: an error listing the files.
  const amb = await post(srv.url, '/api/show', { model: 'hf.co/org/Stories-GGUF' });
  assert.equal(amb.status, 400);
  assert.match(amb.body.error, /stories-Q8_0\.gguf/);
  assert.match(amb.body.error, /stories-F16\.gguf/);
});

test("an Ollama model's system prompt, few-shot messages and license are honoured", async () => {
  const r = await post(srv.url, '/apply-template', { model: 'pirate', messages: [{ role: 'user', content: 'Hello' }] });
  assert.equal(r.status, 200, r.text);
  // The GGUF's own (qwen2, Jinja) template is used over the Go template layer.
  assert.match(r.body.prompt, /<\|im_start\|>system\nYou are a pirate\.<\|im_end\|>/);
  assert.match(r.body.prompt, /Ahoy\?[\s\S]*Arr![\s\S]*Hello/);
  // A client's own system message replaces the model's.
  const own = await post(srv.url, '/apply-template', {
    model: 'pirate', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
  });
  assert.doesNotMatch(own.body.prompt, /pirate/);
  assert.match(own.body.prompt, /^<\|im_start\|>system\nBe brief\./);
  const show = await post(srv.url, '/api/show', { model: 'pirate' });
  assert.equal(show.status, 200, show.text);
  assert.equal(show.body.system, 'You are a pirate.');
  assert.equal(show.body.license, 'MIT License');
  assert.equal(show.body.template_source, 'gguf');
  assert.equal(show.body.messages.length, 2);
  assert.match(show.body.modelfile, /SYSTEM """You are a pirate\."""/);
  // An Ollama chat through the official route works end to end.
  const c = await post(srv.url, '/api/chat', {
    model: 'pirate', stream: false, messages: [{ role: 'user', content: 'Hi' }], options: { num_predict: 4 },
  });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.body.done, true);
});

test("a GGUF without a chat template is formatted by Ollama's template layer", async () => {
  const show = await post(srv.url, '/api/show', { model: 'storyteller:1' });
  assert.equal(show.body.template_source, 'ollama');
  const r = await post(srv.url, '/apply-template', { model: 'storyteller:1', messages: [{ role: 'user', content: 'Go' }] });
  assert.equal(r.status, 200, r.text);
  // (the presets file's [storyteller:1] system replaces the layer's: see the presets test)
  assert.match(r.body.prompt, /<\|im_start\|>system\nTell short\nstories\.<\|im_end\|>\n<\|im_start\|>user\nGo<\|im_end\|>/);
});

test('names: ambiguity, paths and bad names are clear 4xx errors', async () => {
  const amb = await post(srv.url, '/api/show', { model: 'tiny' });
  assert.equal(amb.status, 400);
  assert.match(amb.body.error, /ambiguous/);
  assert.match(amb.body.error, /registry\.ollama\.ai\/library\/tiny:latest|ollama/);
  const full = await post(srv.url, '/api/show', { model: 'registry.ollama.ai/library/tiny:latest' });
  assert.equal(full.status, 200, full.text);
  for (const model of ['/etc/passwd', './x.gguf', '../../etc/passwd', 'a/../b', 'x:', 'hf.co/o/..', 'a b']) {
    const r = await post(srv.url, '/api/show', { model });
    assert.equal(r.status, 400, `${model}: ${r.text}`);
    assert.equal(typeof r.body.error, 'string');
  }
  const missing = await post(srv.url, '/api/show', { model: 'hf.co/org/Missing:Q4_K_M' });
  assert.equal(missing.status, 404);
  await assertHealthy(assert, srv.url);
});

test('copy and delete on the Ollama store and the Hugging Face cache', async () => {
  let r = await post(srv.url, '/api/copy', { source: 'pirate', destination: 'buccaneer:v2' });
  assert.equal(r.status, 200, r.text);
  assert.ok(existsSync(join(ollama, 'manifests/registry.ollama.ai/library/buccaneer/v2')));
  r = await post(srv.url, '/api/show', { model: 'buccaneer:v2' });
  assert.equal(r.body.system, 'You are a pirate.');
  // Deleting one of two manifests that share blobs keeps the blobs.
  const weights = join(ollama, 'blobs', `sha256-${sha(readFileSync(join(dir, 'chatty.gguf')))}`);
  r = await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: 'pirate' }) });
  assert.equal(r.status, 200);
  assert.ok(existsSync(weights));
  r = await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: 'buccaneer:v2' }) });
  assert.equal(r.status, 200);
  assert.ok(!existsSync(weights), 'the last manifest using a blob takes it along');
  // Deleting from the HF cache removes the snapshot entry and its blob.
  const link = join(hub, 'models--org--Stories-GGUF', 'snapshots', COMMIT, 'stories-F16.gguf');
  const target = join(dirname(link), '../..', 'blobs', sha(readFileSync(join(dir, 'chatty.gguf'))));
  assert.ok(lstatSync(link).isSymbolicLink());
  r = await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: 'hf.co/org/Stories-GGUF:F16' }) });
  assert.equal(r.status, 200, await r.text());
  assert.ok(!existsSync(link) && !existsSync(target));
  const tags = await (await fetch(srv.url + '/api/tags')).json();
  assert.ok(!tags.models.some((m) => m.name === 'hf.co/org/Stories-GGUF:F16'));
  // With one GGUF left, the bare repository name finds it.
  r = await post(srv.url, '/api/show', { model: 'hf.co/org/Stories-GGUF' });
  assert.equal(r.status, 200, r.text);
  await assertHealthy(assert, srv.url);
});

test("an Ollama model's params layer sets its defaults; a request still wins", async () => {
  const gen = (options) => post(srv.url, '/api/generate', {
    model: 'storyteller:1', prompt: 'Once upon a time', raw: true, stream: false, options,
  });
  let r = await gen({ temperature: 0 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.eval_count, 5, 'num_predict 5 from the params layer');
  r = await gen({ temperature: 0, num_predict: 9 });
  assert.equal(r.body.eval_count, 9);
  const show = await post(srv.url, '/api/show', { model: 'storyteller:1' });
  const np = show.body.hearth_parameters.find((p) => p.name === 'num_predict');
  assert.equal(np.source, 'model');
  assert.match(show.body.modelfile, /PARAMETER num_predict 5/);
});

test('presets: a section names a model and describes it', async () => {
  const tags = await (await fetch(srv.url + '/api/tags')).json();
  const teller = tags.models.find((m) => m.name === 'teller:latest');
  assert.equal(teller?.source, 'preset');
  const r = await post(srv.url, '/api/generate', {
    model: 'teller', prompt: 'Once upon a time', raw: true, stream: false, options: { temperature: 0 },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.eval_count, 7, "the section's n-predict");
  assert.ok(KNOWN_CONTINUATION.startsWith(r.body.response), r.body.response);
  // A section's system prompt replaces the Ollama layer's, newline and all.
  const show = await post(srv.url, '/api/show', { model: 'storyteller:1' });
  assert.equal(show.body.system, 'Tell short\nstories.');
  // A section that points at itself is an error that says so, not a hang.
  const loop = await post(srv.url, '/api/show', { model: 'loop' });
  assert.equal(loop.status, 400, loop.text);
  assert.match(loop.body.error, /more than 4 presets/);
  // Copy of a preset model copies its section; delete removes only the name.
  let c = await post(srv.url, '/api/copy', { source: 'teller', destination: 'teller2' });
  assert.equal(c.status, 200, c.text);
  const text = readFileSync(join(dir, 'presets.ini'), 'utf8');
  assert.match(text, /\[teller2\]\nmodel = hf\.co\/org\/Stories-GGUF:Q8_0\nnum_predict = 7/);
  c = await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: 'teller2' }) });
  assert.equal(c.status, 200, await c.text());
  assert.doesNotMatch(readFileSync(join(dir, 'presets.ini'), 'utf8'), /teller2/);
  assert.ok(existsSync(join(hub, 'models--org--Stories-GGUF', 'snapshots', COMMIT, 'stories-Q8_0.gguf')));
  // An HF model gets another name through a section.
  c = await post(srv.url, '/api/copy', { source: 'hf.co/org/Stories-GGUF:Q8_0', destination: 'stories-hf' });
  assert.equal(c.status, 200, c.text);
  const s = await post(srv.url, '/api/show', { model: 'stories-hf' });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.body.source, 'preset');
  // Deleting a model takes the section that described it along.
  c = await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: 'storyteller:1' }) });
  assert.equal(c.status, 200, await c.text());
  assert.doesNotMatch(readFileSync(join(dir, 'presets.ini'), 'utf8'), /storyteller/);
  assert.match(readFileSync(join(dir, 'presets.ini'), 'utf8'), /\[teller\]/);
});
