// Every bad input to the Ollama routes: a clear JSON error with the right status, and the server
// still healthy afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, streamLines, rawRequest, assertHealthy, KNOWN_CONTINUATION } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

async function expectError(path, body, status, pattern, opts) {
  const r = await post(srv.url, path, body, opts);
  assert.equal(r.status, status, `${path} ${typeof body === 'string' ? body.slice(0, 60) : JSON.stringify(body).slice(0, 80)}: ${r.text}`);
  assert.equal(typeof r.body?.error, 'string', `a JSON error: ${r.text}`);
  if (pattern) assert.match(r.body.error, pattern);
  await assertHealthy(assert, srv.url);
  return r;
}

const M = 'stories260K';

test('malformed bodies', async () => {
  await expectError('/api/generate', '{"model": "x", ', 400, /invalid JSON/, { raw: true });
  await expectError('/api/generate', '[1,2]', 400, /JSON object/, { raw: true });
  await expectError('/api/generate', '', 400, /missing request body/, { raw: true });
  await expectError('/api/chat', '{"model":"a","model":"b"}', 400, /duplicate/, { raw: true });
  await expectError('/api/generate', Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 400, /invalid JSON/, { raw: true });
});

test('wrong types', async () => {
  await expectError('/api/generate', { model: 5 }, 400, /'model' must be a string/);
  await expectError('/api/generate', { model: M, prompt: ['x'] }, 400, /'prompt' must be a string/);
  await expectError('/api/generate', { model: M, prompt: 'x', stream: 'yes' }, 400, /'stream'/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: [] }, 400, /options must be an object/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { temperature: 'hot' } }, 400, /temperature must be a number/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { num_predict: 1.5 } }, 400, /num_predict must be an integer/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { stop: [1] } }, 400, /stop/);
  await expectError('/api/generate', { model: M, prompt: 'x', context: ['a'] }, 400, /context/);
  await expectError('/api/chat', { model: M, messages: 'hi' }, 400, /messages must be a list/);
  await expectError('/api/chat', { model: M, messages: [{ role: 'wizard', content: 'x' }] }, 400, /role/);
  await expectError('/api/chat', { model: M, messages: [{ role: 'user', content: 5 }] }, 400, /content/);
  await expectError('/api/embed', { model: M, input: 5 }, 400, /input must be/);
  await expectError('/api/embed', { model: M, input: ['a', 7] }, 400, /input must be/);
  await expectError('/api/generate', { model: M, prompt: 'x', keep_alive: 'soon' }, 400, /keep_alive/);
  await expectError('/api/generate', { model: M, prompt: 'x', keep_alive: true }, 400, /keep_alive/);
});

test('out-of-range values', async () => {
  await expectError('/api/generate', { model: M, prompt: 'x', options: { temperature: -1 } }, 400, /temperature must be a number from 0/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { top_p: 2 } }, 400, /top_p/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { num_predict: -5 } }, 400, /num_predict/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { mirostat: 3 } }, 400, /mirostat/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { num_ctx: -1 } }, 400, /num_ctx/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { seed: 1e20 } }, 400, /seed|too big/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { stop: Array(33).fill('a') } }, 413, /at most 32/);
  await expectError('/api/generate', { model: M, prompt: 'x', top_logprobs: 21 }, 400, /top_logprobs/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { logit_bias: { 99999: 1 } } }, 400, /outside the vocabulary/);
  await expectError('/api/generate', { model: M, prompt: 'x', options: { grammar: 'root ::= [' } }, 400, /invalid grammar/);
  await expectError('/api/embed', { model: M, input: 'x', dimensions: 100000 }, 400, /dimensions/);
  await expectError('/api/generate', { model: M, prompt: 'x', context: [999999] }, 400, /outside the vocabulary/);
});

test('unknown and invalid models', async () => {
  await expectError('/api/generate', { model: 'nope', prompt: 'x' }, 404, /model 'nope' not found/);
  await expectError('/api/chat', { model: 'nope', messages: [] }, 404, /not found/);
  await expectError('/api/embed', { model: 'nope', input: 'x' }, 404, /not found/);
  await expectError('/api/show', { model: 'nope' }, 404, /not found/);
  await expectError('/api/delete', { model: 'nope' }, 404, /not found/, { method: 'DELETE' });
  await expectError('/api/copy', { source: 'nope', destination: 'x' }, 404, /not found/);
  await expectError('/api/generate', { model: '../stories260K', prompt: 'x' }, 400, /is a file path: the API takes model names/);
  await expectError('/api/copy', { source: M, destination: '../../evil' }, 400, /invalid model name/);
  await expectError('/api/copy', { source: M }, 400, /source and destination/);
  await expectError('/api/generate', { prompt: 'x' }, 400, /model is required/);
  await expectError('/api/show', {}, 400, /model is required/);
});

test('what the model cannot do is refused, not faked', async () => {
  // a schema keyword the grammar cannot enforce is refused rather than ignored
  await expectError('/api/generate', { model: M, prompt: 'x', format: { type: 'object', properties: { n: { type: 'number', multipleOf: 2 } } } }, 400, /JSON schema: .*'multipleOf'/);
  await expectError('/api/generate', { model: M, prompt: 'x', format: 'xml' }, 400, /format/);
  await expectError('/api/chat', { model: 'chatty', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] }, 400, /does not support tools/);
  await expectError('/api/generate', { model: M, prompt: 'x', images: ['aGk='] }, 400, /images/);
  await expectError('/api/generate', { model: M, prompt: 'x', suffix: 'y' }, 400, /fill-in-the-middle/);
  await expectError('/api/generate', { model: M, prompt: 'x', template: '{{ range .Messages }}' }, 400, /template/);
});

// A loaded worker with a larger context serves a smaller num_ctx as loaded (#7): the tests of
// what a 256-token context does unload the model first, so it loads with 256.
const unload = () => post(srv.url, '/api/generate', { model: M, keep_alive: 0 });

test('context overflow is an error with the counts, unless truncation is asked for', async () => {
  await unload();
  const long = 'Once upon a time '.repeat(400);
  const r = await expectError('/api/generate', { model: M, prompt: long, options: { num_ctx: 256 } }, 400, /the prompt is \d+ tokens but the context holds 256/);
  assert.ok(r.body.error.length < 300);
  const t = await post(srv.url, '/api/generate', { model: M, prompt: long, stream: false, truncate: true, options: { num_ctx: 256, num_predict: 4 } });
  assert.equal(t.status, 200, t.text);
  assert.ok(t.body.truncated_tokens > 1000, `truncated_tokens: ${t.text}`);
  assert.ok(t.body.prompt_eval_count < 256);
});

test('a full context: stop with a warning, or shift on request', async () => {
  await unload();
  const body = { model: M, prompt: 'Once upon a time', stream: false, options: { num_ctx: 256, num_predict: 600, ignore_eos: true, temperature: 0 } };
  const stop = await post(srv.url, '/api/generate', body);
  assert.equal(stop.body.done_reason, 'length');
  assert.ok(stop.body.eval_count < 256);
  assert.ok(stop.body.warnings.some((w) => /context is full/.test(w)), 'never silent');
  const shift = await post(srv.url, '/api/generate', { ...body, shift: true });
  assert.equal(shift.body.eval_count, 600, 'generation went on past the context');
  assert.ok(shift.body.shifted_tokens > 300);
  const viaOption = await post(srv.url, '/api/generate', { ...body, options: { ...body.options, context_shift: true } });
  assert.equal(viaOption.body.eval_count, 600);
  assert.equal(viaOption.body.response, shift.body.response, 'the same text either way');
});

test('unknown options are reported, never silently dropped', async () => {
  const r = await post(srv.url, '/api/generate', { model: M, prompt: 'Once', stream: false,
    options: { num_predict: 2, flux_capacitor: 1, tfs_z: 0.9 } });
  assert.equal(r.status, 200);
  assert.ok(r.body.warnings.some((w) => /unknown option 'flux_capacitor'/.test(w)));
  assert.ok(r.body.warnings.some((w) => /'tfs_z' is no longer supported/.test(w)));
  const strict = await startServer({ env: { HEARTH_STRICT_OPTIONS: '1' } });
  try {
    const s = await post(strict.url, '/api/generate', { model: M, prompt: 'Once', options: { flux_capacitor: 1 } });
    assert.equal(s.status, 400);
    assert.match(s.body.error, /unknown option 'flux_capacitor'/);
    const ok = await post(strict.url, '/api/generate', { model: M, prompt: 'Once', stream: false, options: { tfs_z: 1, num_predict: 1 } });
    assert.equal(ok.status, 200, 'retired options stay accepted');
  } finally {
    await strict.stop();
  }
});

test('routes and methods', async () => {
  const r = await fetch(srv.url + '/api/generate');
  assert.equal(r.status, 405);
  assert.match((await r.json()).error, /not allowed/);
  assert.match(r.headers.get('allow'), /POST/);
  const n = await fetch(srv.url + '/api/nothing');
  assert.equal(n.status, 404);
  assert.match((await n.json()).error, /no route/);
  const h = await fetch(srv.url + '/api/version', { method: 'HEAD' });
  assert.equal(h.status, 200);
  const t = await fetch(srv.url + '/api/tags', { method: 'HEAD' });
  assert.equal(t.status, 200);
  await assertHealthy(assert, srv.url);
});

test('request body cap', async () => {
  const big = JSON.stringify({ model: M, prompt: 'x'.repeat(33 << 20) });
  const r = await post(srv.url, '/api/generate', big, { raw: true }).catch((e) => ({ status: 'reset', e }));
  if (r.status !== 'reset') {
    assert.equal(r.status, 413);
    assert.match(r.body.error, /larger than/);
  }
  // Declared too large: refused before the body is read.
  const raw = await rawRequest(srv.port, 'POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n{');
  assert.match(raw, /^HTTP\/1\.1 413/);
  assert.match(raw, /larger than/);
  await assertHealthy(assert, srv.url);
});

test('garbage on the wire', async () => {
  const r1 = await rawRequest(srv.port, 'NONSENSE\r\n\r\n', 2000);
  assert.match(r1, /^HTTP\/1\.1 400|^$/);
  const r2 = await rawRequest(srv.port, 'GET / HTTP/1.1\r\nHost: localhost\r\n' + 'X-Long: ' + 'a'.repeat(200000) + '\r\n\r\n', 3000);
  assert.ok(!/^HTTP\/1\.1 200/.test(r2), 'an oversized header is not served');
  await assertHealthy(assert, srv.url);
});

test('a stream that fails midway ends with an error event; the next request works', async () => {
  const crashy = await startServer({ env: { HEARTH_TEST_FAULT: 'abort_after_tokens:3' } });
  try {
    const { status, lines } = await streamLines(crashy.url, '/api/generate', { model: M, prompt: 'Once upon a time', options: { temperature: 0, num_predict: 50 } });
    assert.equal(status, 200);
    const last = lines[lines.length - 1];
    assert.match(last.error, /^model runner crashed \(killed by signal 6: Aborted\)$/);
    assert.equal(lines.filter((l) => l.response !== undefined).length, 3);
    const again = await post(crashy.url, '/api/generate', { model: M, prompt: 'Once upon a time', stream: false, options: { temperature: 0, num_predict: 2 } });
    assert.equal(again.status, 200, 'a new worker serves the next request');
    assert.equal(again.body.eval_count, 2);
    await assertHealthy(assert, crashy.url);
  } finally {
    await crashy.stop();
  }
});

test('fill in the middle, Go templates, and templates llama.cpp cannot render', async () => {
  const f = await post(srv.url, '/api/generate', { model: 'chatty', prompt: 'a', suffix: 'b',
    stream: false, options: { temperature: 0, num_predict: 3 } });
  assert.equal(f.status, 200, f.text);
  assert.equal(f.body.eval_count, 3);
  assert.equal(f.body.prompt_eval_count, 5, 'FIM_PRE a FIM_SUF b FIM_MID (the qwen2 vocabulary adds no BOS)');
  const show = await post(srv.url, '/api/show', { model: 'chatty' });
  assert.ok(show.body.capabilities.includes('insert'));
  const t = await post(srv.url, '/api/generate', { model: M, prompt: 'upon a time', system: 'Once',
    template: '{{ .System }} {{ .Prompt }}', stream: false, options: { temperature: 0, num_predict: 30 } });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.body.response, KNOWN_CONTINUATION, 'the template put the system before the prompt');
  // A template llama.cpp's built-in renderer never knew renders through the Jinja engine.
  const odd = await post(srv.url, '/apply-template', { model: 'odd', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(odd.status, 200, odd.text);
  assert.equal(odd.body.prompt, '<<x>>');
});

test('keep_alive: expiry and forever', async () => {
  await post(srv.url, '/api/generate', { model: 'tiny', prompt: 'Once', stream: false, keep_alive: '1s', options: { num_predict: 1 } });
  let ps = (await fetch(srv.url + '/api/ps').then((r) => r.json())).models;
  assert.ok(ps.find((m) => m.name === 'tiny:latest'));
  await new Promise((r) => setTimeout(r, 1800));
  ps = (await fetch(srv.url + '/api/ps').then((r) => r.json())).models;
  assert.ok(!ps.find((m) => m.name === 'tiny:latest'), 'unloaded after its keep_alive');
  await post(srv.url, '/api/generate', { model: 'tiny', prompt: '', keep_alive: -1 });
  ps = (await fetch(srv.url + '/api/ps').then((r) => r.json())).models;
  assert.match(ps.find((m) => m.name === 'tiny:latest').expires_at, /^9999-/);
  await post(srv.url, '/api/generate', { model: 'tiny', prompt: '', keep_alive: 0 });
});

test('embeddings: limits', async () => {
  await unload();
  const long = 'Once upon a time '.repeat(800);
  await expectError('/api/embed', { model: M, input: long, truncate: false, options: { num_ctx: 256 } }, 400, /context holds 256/);
  const r = await post(srv.url, '/api/embed', { model: M, input: long, options: { num_ctx: 256 } });
  assert.equal(r.status, 200, 'truncated by default, as in Ollama');
  assert.equal(r.body.prompt_eval_count, 256);
  const e = await post(srv.url, '/api/embed', { model: M, input: [] });
  assert.deepEqual(e.body.embeddings, []);
  await expectError('/api/embed', { model: M, input: Array(2049).fill('a') }, 413, /at most 2048/);
});

test('logprobs', async () => {
  const r = await post(srv.url, '/api/generate', { model: M, prompt: 'Once upon a time', stream: false,
    logprobs: true, top_logprobs: 3, options: { temperature: 0, num_predict: 4 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.logprobs.length, 4);
  const first = r.body.logprobs[0];
  assert.equal(first.token, ',');
  assert.ok(first.logprob <= 0);
  assert.equal(first.top_logprobs.length, 3);
  assert.equal(first.top_logprobs[0].token, ',', 'greedy picks the most likely token');
  assert.deepEqual(first.bytes, [44]);
});

test('format json constrains the output to JSON', async () => {
  const r = await post(srv.url, '/api/generate', { model: M, prompt: 'Once', stream: false, format: 'json',
    options: { temperature: 0, num_predict: 60 } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.response, /^\{/);
});

test('SIGTERM ends streams with a final event and exits 0', async () => {
  const s = await startServer();
  const res = await fetch(s.url + '/api/generate', { method: 'POST', body: JSON.stringify({ model: M,
    prompt: 'Once upon a time', options: { num_predict: 1000000, num_ctx: 100000, ignore_eos: true } }) });
  const reader = res.body.getReader();
  await reader.read();
  s.child.kill('SIGTERM');
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  const last = JSON.parse(text.trim().split('\n').pop());
  assert.match(last.error, /shutting down/);
  const r = await s.stop();
  assert.equal(r.code, 0);
});

test('the real story through the API, after all of the above', async () => {
  const r = await post(srv.url, '/api/generate', { model: M, prompt: 'Once upon a time', stream: false, options: { temperature: 0, num_predict: 30 } });
  assert.equal(r.body.response, KNOWN_CONTINUATION);
});
