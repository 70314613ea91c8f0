// Modelfiles, POST /api/create and /api/blobs against a real `hearth serve`, with the official
// `ollama` client where it has the call. The server gets its own Ollama store (OLLAMA_MODELS)
// and presets file (XDG_CONFIG_HOME) in a temporary folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import {
  startServer, post, streamLines, assertHealthy, MKMODEL, LLAMA_DATA, KNOWN_CONTINUATION,
} from './helpers.mjs';

let srv, ollama, state, ollamaRoot, presetsFile, f16Path, f16Digest, f16Size;
const blobsDir = () => join(ollamaRoot, 'blobs');
const manifestPath = (name) => join(ollamaRoot, 'manifests', 'registry.ollama.ai', 'library', name, 'latest');
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

before(async () => {
  state = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-create-'));
  ollamaRoot = join(state, 'ollama');
  presetsFile = join(state, 'config', 'hearth', 'presets.ini');
  // A small F16 llama with a real vocabulary: the source for uploads and quantizing.
  f16Path = join(state, 'f16.gguf');
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
    '--type', 'f16', '--n-embd', '256', '--n-ff', '512', '--n-layer', '2', '--out', f16Path], { stdio: 'ignore' });
  const bytes = readFileSync(f16Path);
  f16Digest = 'sha256:' + sha256(bytes);
  f16Size = bytes.length;
  srv = await startServer({ env: { OLLAMA_MODELS: ollamaRoot, XDG_CONFIG_HOME: join(state, 'config') } });
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  const r = await srv.stop();
  rmSync(state, { recursive: true, force: true });
  assert.equal(r.code, 0, 'hearth serve exits 0 on SIGTERM: ' + srv.log().slice(-3000));
});

// Every layer and the config of a manifest exist as blobs whose sha256 and size match.
function checkManifest(name) {
  const m = JSON.parse(readFileSync(manifestPath(name), 'utf8'));
  assert.equal(m.schemaVersion, 2);
  assert.equal(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  const layers = {};
  for (const l of [m.config, ...m.layers]) {
    const file = join(blobsDir(), l.digest.replace(':', '-'));
    const data = readFileSync(file);
    assert.equal('sha256:' + sha256(data), l.digest, `${l.mediaType} blob matches its digest`);
    assert.equal(data.length, l.size, `${l.mediaType} size`);
    layers[l.mediaType] = data;
  }
  return { manifest: m, layers, config: JSON.parse(layers['application/vnd.docker.container.image.v1+json']) };
}

async function uploadF16() {
  const res = await fetch(`${srv.url}/api/blobs/${f16Digest}`, { method: 'POST', body: readFileSync(f16Path) });
  assert.equal(res.status, 201);
}

test('a Modelfile with every instruction: its PARAMETERs, SYSTEM, MESSAGEs and TEMPLATE take effect', async () => {
  const chatml = 'TEMPLATE """{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n' +
    '{% endfor %}<|im_start|>assistant\n"""';
  const modelfile = [
    '# a story model that stops early',
    'from stories260K',
    'PARAMETER temperature 0',
    'PARAMETER num_predict 6',
    'parameter seed 42',
    'SYSTEM Once upon a time there was a dog',
    'MESSAGE user "Who was there?"',
    'MESSAGE assistant """A dog',
    'named Max."""',
    chatml,
    'LICENSE """MIT',
    'license text"""',
    'REQUIRES 0.5.0',
  ].join('\n');
  const r = await post(srv.url, '/api/create', { model: 'short', modelfile, stream: false });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { status: 'success' });
  // The same model without SYSTEM and MESSAGEs, to see what they add to the prompt.
  const bare = await post(srv.url, '/api/create', {
    model: 'bare', modelfile: `FROM stories260K\nPARAMETER temperature 0\nPARAMETER num_predict 6\n${chatml}\n`, stream: false,
  });
  assert.equal(bare.status, 200, bare.text);

  const chat = (model) => post(srv.url, '/api/chat', {
    model, stream: false, messages: [{ role: 'user', content: 'Tell me.' }],
  });
  const g = await chat('short'), b = await chat('bare');
  assert.equal(g.status, 200, g.text);
  assert.equal(b.status, 200, b.text);
  assert.ok(g.body.eval_count <= 6, `num_predict 6 limits the answer (${g.body.eval_count} tokens)`);
  // SYSTEM and the two MESSAGEs went into the prompt through the template: "<|im_start|>system\n
  // Once upon a time there was a dog<|im_end|>\n" and two turns more are well over 20 tokens.
  assert.ok(g.body.prompt_eval_count >= b.body.prompt_eval_count + 20,
    `prompt tokens with SYSTEM and MESSAGEs ${g.body.prompt_eval_count}, without ${b.body.prompt_eval_count}`);

  // What `ollama show` reports: the system prompt, the template, the license.
  const show = await post(srv.url, '/api/show', { model: 'short' });
  assert.equal(show.status, 200, show.text);
  assert.equal(show.body.system, 'Once upon a time there was a dog');
  assert.match(show.body.template, /<\|im_start\|>\{\{ m\.role \}\}/);
  assert.match(show.body.license, /MIT\nlicense text/);

  // Ollama's store defines the model (Ollama sees it); the presets file holds only the Jinja
  // template, which Ollama cannot run, as settings for that name.
  const { layers } = checkManifest('short');
  assert.deepEqual(JSON.parse(layers['application/vnd.ollama.image.params']), { temperature: 0, num_predict: 6, seed: 42 });
  assert.equal(layers['application/vnd.ollama.image.template'], undefined, 'no Jinja in a Go template layer');
  const ini = readFileSync(presetsFile, 'utf8');
  const section = ini.split(/^(?=\[)/m).find((x) => x.startsWith('[short:latest]'));
  assert.ok(section, ini);
  assert.match(section, /^chat-template = "\{% for m in messages %\}<\|im_start\|>/m);
  assert.doesNotMatch(section, /^model =/m, 'the name is defined once, by the manifest');
  await assertHealthy(assert, srv.url);
});

test('a stop PARAMETER stops the output where a user sees it', async () => {
  const modelfile = 'FROM stories260K\nPARAMETER temperature 0\nPARAMETER num_predict 40\nPARAMETER stop girl\n';
  const r = await post(srv.url, '/api/create', { model: 'stopper', modelfile, stream: false });
  assert.equal(r.status, 200, r.text);
  const g = await post(srv.url, '/api/generate', {
    model: 'stopper', prompt: 'Once upon a time', raw: true, stream: false,
    options: { num_ctx: 128 }, // bounds the run should the stop not work
  });
  assert.equal(g.status, 200, g.text);
  assert.equal(g.body.done_reason, 'stop');
  assert.equal(g.body.response, ', there was a little ');
});

test('the Ollama manifest parses back: blobs with matching sha256, params as Ollama writes them', async () => {
  const modelfile = [
    'FROM stories260K',
    'PARAMETER num_predict 6',
    'PARAMETER temperature 0.5',
    'PARAMETER stop "<end>"',
    'PARAMETER stop User:',
    'PARAMETER use_mmap false',
    'TEMPLATE "{{ .System }} {{ .Prompt }}"',
    'SYSTEM """Be',
    'brief."""',
    'MESSAGE user hi',
    'MESSAGE assistant hello',
    'LICENSE MIT',
  ].join('\n');
  const r = await streamLines(srv.url, '/api/create', { model: 'layered', modelfile });
  assert.equal(r.status, 200);
  assert.deepEqual(r.lines.at(-1), { status: 'success' });
  assert.ok(r.lines.some((l) => l.status === 'writing manifest'));
  const { layers, config } = checkManifest('layered');
  assert.deepEqual(JSON.parse(layers['application/vnd.ollama.image.params']),
    { num_predict: 6, temperature: 0.5, stop: ['<end>', 'User:'], use_mmap: false });
  assert.equal(layers['application/vnd.ollama.image.template'].toString(), '{{ .System }} {{ .Prompt }}');
  assert.equal(layers['application/vnd.ollama.image.system'].toString(), 'Be\nbrief.');
  assert.equal(layers['application/vnd.ollama.image.license'].toString(), 'MIT');
  assert.deepEqual(JSON.parse(layers['application/vnd.ollama.image.messages']),
    [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }]);
  assert.equal(statSync(join(srv.dir, 'stories260K.gguf')).size,
    layers['application/vnd.ollama.image.model'].length, 'the model layer is the GGUF');
  assert.equal(config.model_format, 'gguf');
  assert.equal(config.model_family, 'llama');
  assert.equal(config.file_type, 'F32');
  assert.doesNotMatch(readFileSync(presetsFile, 'utf8'), /\[layered:latest\]/,
    'a Go template lives in the manifest: no preset section');

  // Defined once, deleted once.
  const del = await post(srv.url, '/api/delete', { model: 'layered' }, { method: 'DELETE' });
  assert.equal(del.status, 200, del.text);
  assert.equal(existsSync(manifestPath('layered')), false);
  const again = await post(srv.url, '/api/show', { model: 'layered' });
  assert.equal(again.status, 404);
});

test('blobs: HEAD, upload, wrong digest, malformed digests', async () => {
  const head = (d) => fetch(`${srv.url}/api/blobs/${d}`, { method: 'HEAD' }).then((r) => r.status);
  assert.equal(await head(f16Digest), 404);
  await uploadF16();
  assert.equal(await head(f16Digest), 200);
  assert.equal(sha256(readFileSync(join(blobsDir(), f16Digest.replace(':', '-')))), f16Digest.slice(7));

  // A body whose sha256 is not the URL's: 400, and nothing is kept.
  const wrong = 'sha256:' + 'ab'.repeat(32);
  const res = await fetch(`${srv.url}/api/blobs/${wrong}`, { method: 'POST', body: 'not the right bytes' });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error, /sha256 is [0-9a-f]{64}, not the/);
  assert.equal(existsSync(join(blobsDir(), wrong.replace(':', '-'))), false);
  assert.deepEqual(readdirSync(blobsDir()).filter((f) => f.startsWith('.')), [], 'no temporary file is left');

  for (const bad of ['sha256:ABC', 'sha256:' + 'A'.repeat(64), 'sha256-' + 'a'.repeat(64),
    'sha256:' + 'a'.repeat(63), 'sha512:' + 'a'.repeat(64), '..%2f..%2fetc%2fpasswd', 'sha256:' + 'a'.repeat(64) + '/x']) {
    const p = await fetch(`${srv.url}/api/blobs/${bad}`, { method: 'POST', body: 'x' });
    assert.equal(p.status, 400, `POST ${bad}`);
    assert.match((await p.json()).error, /invalid digest/);
    assert.equal(await head(bad), 400, `HEAD ${bad}`);
  }
  await assertHealthy(assert, srv.url);
});

test('blobs: a client that goes away mid-upload leaves no file', async () => {
  const digest = 'sha256:' + 'cd'.repeat(32);
  await new Promise((resolve) => {
    const sock = net.connect(srv.port, '127.0.0.1', () => {
      sock.write(`POST /api/blobs/${digest} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\n\r\n`);
      sock.write(Buffer.alloc(65536, 1), () => setTimeout(() => { sock.destroy(); resolve(); }, 200));
    });
  });
  for (let i = 0; i < 50 && readdirSync(blobsDir()).some((f) => f.startsWith('.')); i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(readdirSync(blobsDir()).filter((f) => f.startsWith('.')), []);
  assert.equal(existsSync(join(blobsDir(), digest.replace(':', '-'))), false);
  await assertHealthy(assert, srv.url);
});

test('the ollama client creates a model from uploaded files; it is listed and generates', async () => {
  await uploadF16();
  const statuses = [];
  const stream = await ollama.create({
    model: 'uploaded', files: { 'model.gguf': f16Digest }, stream: true,
    parameters: { num_predict: 3, temperature: 0 }, system: 'Be brief.',
  });
  for await (const part of stream) statuses.push(part.status);
  assert.equal(statuses.at(-1), 'success');
  assert.ok(statuses.includes('parsing GGUF'));
  const { layers } = checkManifest('uploaded');
  // The legacy form older Ollama clients send: the Modelfile text with FROM @DIGEST.
  const legacy = await post(srv.url, '/api/create', { name: 'legacy', modelfile: `FROM @${f16Digest}\nPARAMETER top_k 5\n`, stream: false });
  assert.equal(legacy.status, 200, legacy.text);
  assert.deepEqual(JSON.parse(checkManifest('legacy').layers['application/vnd.ollama.image.params']), { top_k: 5 });
  assert.equal(layers['application/vnd.ollama.image.model'].length, f16Size);
  const listed = (await ollama.list()).models.filter((m) => m.name === 'uploaded:latest');
  assert.equal(listed.length, 1, 'listed once');
  const g = await ollama.generate({ model: 'uploaded', prompt: 'Hello', raw: true, options: { num_ctx: 128 } });
  assert.ok(g.eval_count <= 3, `num_predict 3 from the create request (${g.eval_count})`);
});

test('quantize F16 to Q4_K_M: a smaller GGUF that loads; an already quantized model is refused', async () => {
  await uploadF16();
  const parts = [];
  for await (const p of await ollama.create({
    model: 'small', files: { 'model.gguf': f16Digest }, quantize: 'q4_K_M', stream: true,
  })) parts.push(p);
  assert.equal(parts.at(-1).status, 'success');
  const q = parts.filter((p) => p.status === 'quantizing F16 model to Q4_K_M');
  assert.ok(q.length >= 1, 'quantizing is reported');
  assert.ok(q.some((p) => p.total > 0 && p.completed === p.total), 'with progress to the end');
  const { layers, config } = checkManifest('small');
  const model = layers['application/vnd.ollama.image.model'];
  assert.ok(model.length < f16Size / 2, `Q4_K_M (${model.length}) is smaller than F16 (${f16Size})`);
  assert.equal(model.subarray(0, 4).toString(), 'GGUF');
  assert.equal(config.file_type, 'Q4_K_M');
  const g = await post(srv.url, '/api/generate', {
    model: 'small', prompt: 'Hello', raw: true, stream: false, options: { num_predict: 2 },
  });
  assert.equal(g.status, 200, g.text);
  assert.equal(g.body.eval_count, 2);

  const again = await post(srv.url, '/api/create', { model: 'smaller', from: 'small', quantize: 'Q4_0', stream: false });
  assert.equal(again.status, 400);
  assert.match(again.body.error, /only an F32, F16, BF16 or Q8_0 model can be quantized; this one is Q4_K_M/);
  await assertHealthy(assert, srv.url);
});

test('a client that goes away during a quantize leaves no temporary file', async () => {
  await uploadF16();
  const ac = new AbortController();
  const res = await fetch(`${srv.url}/api/create`, {
    method: 'POST', signal: ac.signal,
    body: JSON.stringify({ model: 'gone', files: { 'model.gguf': f16Digest }, quantize: 'Q4_K_M' }),
  });
  const reader = res.body.getReader();
  await reader.read(); // the first status line
  ac.abort();
  const temps = () => readdirSync(blobsDir()).filter((f) => f.startsWith('.'));
  for (let i = 0; i < 100 && temps().length; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(temps(), []);
  await assertHealthy(assert, srv.url);
});

test('bad /api/create bodies: 400 (or 404) naming the field or line, nothing written', async () => {
  const missing = 'sha256:' + 'ef'.repeat(32);
  const cases = [
    [{}, 400, /field 'model' is required/],
    [{ model: 'x' }, 400, /'from' .* or 'files' .* is required/],
    [{ model: 'x', from: './x.gguf' }, 400, /network API does not read files/],
    [{ model: 'x', from: '/etc/passwd' }, 400, /network API does not read files/],
    [{ model: 'x', path: '/tmp/Modelfile' }, 400, /field 'path' is not accepted/],
    [{ model: 'x', modelfile: 'FROM stories260K\nFORM y\n' }, 400, /modelfile: line 2: unknown instruction 'FORM'/],
    [{ model: 'x', modelfile: 'FROM stories260K\nPARAMETER top_p 7\n' }, 400, /modelfile: line 2: top_p must be/],
    [{ model: 'x', modelfile: 'FROM stories260K\nSYSTEM """open\n' }, 400, /line 2: the """ opened here is never closed/],
    [{ model: 'x', modelfile: 'PARAMETER top_k 1\n' }, 400, /no FROM line/],
    [{ model: 'x', modelfile: 'FROM ./local.gguf\n' }, 400, /network API does not read files/],
    [{ model: 'x', from: 'stories260K', parameters: { temperature: 'hot' } }, 400, /parameters.temperature: temperature must be/],
    [{ model: 'x', from: 'stories260K', parameters: { no_such: 1 } }, 400, /parameters.no_such: unknown parameter/],
    [{ model: 'x', from: 'stories260K', parameters: { top_k: {} } }, 400, /parameters.top_k: must be a number/],
    [{ model: 'x', from: 'stories260K', parameters: [] }, 400, /'parameters' must be an object/],
    [{ model: 'x', from: 'stories260K', messages: [{ role: 'robot', content: 'x' }] }, 400, /messages\[0\].role/],
    [{ model: 'x', from: 'stories260K', messages: [{ role: 'user' }] }, 400, /messages\[0\].content/],
    [{ model: 'x', from: 'stories260K', quantize: 'Q9_Z' }, 400, /unknown quantization type 'Q9_Z'/],
    [{ model: 'x', from: 'stories260K', template: 7 }, 400, /field 'template' must be a string/],
    [{ model: 'x', from: 'stories260K', renderer: 'qwen3-coder' }, 400, /'renderer' is not supported/],
    [{ model: 'x', files: { 'a.gguf': 'sha256:zz' } }, 400, /files.a.gguf: invalid digest/],
    [{ model: 'x', files: { 'a.safetensors': missing } }, 400, /no .gguf file/],
    [{ model: 'x', files: { 'a.gguf': missing } }, 404, /no such blob/],
    [{ model: 'x', from: 'stories260K', adapters: { 'l.gguf': missing } }, 404, /ADAPTER .*no such blob/],
    [{ model: 'x', from: 'no-such-model' }, 404, /no-such-model/],
    [{ model: '../evil', from: 'stories260K' }, 400, /\.\./],
    [{ model: 'hf.co/a/b', from: 'stories260K' }, 400, /cannot be a new model's name/],
    [{ model: 'x', from: 'stories260K', stream: 'yes' }, 400, /'stream' must be true or false/],
  ];
  for (const [body, status, re] of cases) {
    const r = await post(srv.url, '/api/create', body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.body.error, re, JSON.stringify(body));
  }
  const raw = await post(srv.url, '/api/create', '{"model":', { raw: true });
  assert.equal(raw.status, 400);
  assert.match(raw.body.error, /invalid JSON/);
  assert.equal(existsSync(manifestPath('x')), false, 'no manifest for a refused create');
  assert.doesNotMatch(readFileSync(presetsFile, 'utf8'), /\[x:latest\]/);
  await assertHealthy(assert, srv.url);
});

test('a truncated GGUF blob (CVE-2024-39720) is refused by name and the server stays up', async () => {
  const data = Buffer.from('GGUF');
  const digest = 'sha256:' + sha256(data);
  const up = await fetch(`${srv.url}/api/blobs/${digest}`, { method: 'POST', body: data });
  assert.equal(up.status, 201);
  for (const quantize of [undefined, 'Q4_K_M']) {
    const r = await post(srv.url, '/api/create', { model: 'trunc', files: { 'm.gguf': digest }, quantize });
    assert.equal(r.status, 422, r.text);
    assert.match(r.body.error, /sha256-[0-9a-f]{64}/, 'the error names the file');
  }
  assert.equal(existsSync(manifestPath('trunc')), false);
  await assertHealthy(assert, srv.url);
});

test('an upload over HEARTH_MAX_BLOB_GB is 413', async () => {
  const capped = await startServer({ env: { OLLAMA_MODELS: join(state, 'capped'), HEARTH_MAX_BLOB_GB: '0' } });
  try {
    const res = await fetch(`${capped.url}/api/blobs/${f16Digest}`, { method: 'POST', body: 'abc' });
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, /larger than 0 bytes/);
    assert.equal(existsSync(join(state, 'capped', 'blobs', f16Digest.replace(':', '-'))), false);
    await assertHealthy(assert, capped.url);
  } finally {
    await capped.stop();
  }
});
