// The bad-request battery (#11): hostile and broken requests to every API, each answered with the
// right status and a JSON error in that API's own shape, with no file path in it, and the server
// healthy afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { startServer, rawRequest, waitForLog, slotsFree } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer({ env: { HEARTH_MAX_BODY: '1MiB' } }); });
after(async () => { await srv.stop(); });

const M = 'stories260K';
const C = 'chatty'; // has a chat template (when mkmodel made it)

// Each API's error shape.
const shapes = {
  ollama(b) { return typeof b?.error === 'string' ? b.error : null; },
  openai(b) {
    const e = b?.error;
    return e && typeof e.message === 'string' && typeof e.type === 'string' && 'param' in e && 'code' in e ? e.message : null;
  },
  anthropic(b) {
    return b?.type === 'error' && typeof b.error?.type === 'string' && typeof b.error?.message === 'string'
      ? b.error.message : null;
  },
  llama(b, status) {
    const e = b?.error;
    return e && e.code === status && typeof e.message === 'string' && typeof e.type === 'string' ? e.message : null;
  },
};

const nest = (n) => '['.repeat(n) + ']'.repeat(n);
const big = (n) => 'x'.repeat(n);

async function send(method, path, body, headers = {}) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text };
}

async function healthy() {
  const res = await fetch(srv.url + '/health');
  assert.equal(res.status, 200, 'the server is healthy afterwards');
}

// [name, method, path, body (object, or raw string), status, shape, message pattern]
const cases = [
  // ---- Ollama ----
  ['ollama: truncated JSON', 'POST', '/api/generate', '{"model": "x", ', 400, 'ollama', /invalid JSON/],
  ['ollama: not an object', 'POST', '/api/chat', '"hello"', 400, 'ollama', /JSON/],
  ['ollama: NaN literal', 'POST', '/api/generate', `{"model":"${M}","prompt":"x","options":{"temperature":NaN}}`, 400, 'ollama', /invalid JSON/],
  ['ollama: nesting 65 deep', 'POST', '/api/generate', `{"model":"${M}","prompt":"x","options":{"stop":${nest(64)}}}`, 400, 'ollama', /deeper than 64/],
  ['ollama: nesting 5000 deep', 'POST', '/api/chat', `{"model":"${M}","messages":${nest(5000)}}`, 400, 'ollama', /deeper than 64/],
  ['ollama: missing model', 'POST', '/api/generate', { prompt: 'x' }, 400, 'ollama', /model/],
  ['ollama: model a number', 'POST', '/api/chat', { model: 7, messages: [] }, 400, 'ollama', /'model' must be a string/],
  ['ollama: model with ..', 'POST', '/api/generate', { model: '../../../etc/passwd', prompt: 'x' }, 400, 'ollama', /model|name/],
  ['ollama: absolute model path', 'POST', '/api/generate', { model: '/etc/passwd', prompt: 'x' }, 400, 'ollama', /model|name/],
  ['ollama: model name of 300 bytes', 'POST', '/api/generate', { model: big(300), prompt: 'x' }, 400, 'ollama', /name|long/],
  ['ollama: unknown model', 'POST', '/api/generate', { model: 'no-such-model', prompt: 'x' }, 404, 'ollama', /not found/],
  ['ollama: num_ctx INT32_MAX', 'POST', '/api/generate', { model: M, prompt: 'x', options: { num_ctx: 2147483647 } }, 400, 'ollama', /num_ctx/],
  ['ollama: num_ctx -1', 'POST', '/api/generate', { model: M, prompt: 'x', options: { num_ctx: -1 } }, 400, 'ollama', /num_ctx/],
  ['ollama: num_predict INT64_MAX', 'POST', '/api/generate', `{"model":"${M}","prompt":"x","options":{"num_predict":9223372036854775807}}`, 400, 'ollama', /num_predict/],
  ['ollama: num_predict 1e308', 'POST', '/api/generate', `{"model":"${M}","prompt":"x","options":{"num_predict":1e308}}`, 400, 'ollama', /num_predict/],
  ['ollama: num_predict -2', 'POST', '/api/generate', { model: M, prompt: 'x', options: { num_predict: -3 } }, 400, 'ollama', /num_predict/],
  ['ollama: temperature a string', 'POST', '/api/generate', { model: M, prompt: 'x', options: { temperature: '0.5' } }, 400, 'ollama', /temperature/],
  ['ollama: top_k a string', 'POST', '/api/generate', { model: M, prompt: 'x', options: { top_k: 'all' } }, 400, 'ollama', /top_k/],
  ['ollama: seed -2', 'POST', '/api/generate', { model: M, prompt: 'x', options: { seed: -2 } }, 400, 'ollama', /seed/],
  ['ollama: 33 stop strings', 'POST', '/api/generate', { model: M, prompt: 'x', options: { stop: Array(33).fill('a') } }, 413, 'ollama', /32/],
  ['ollama: stop string of 5000 bytes', 'POST', '/api/generate', { model: M, prompt: 'x', options: { stop: [big(5000)] } }, null, 'ollama', /stop/],
  ['ollama: 1025 logit_bias entries', 'POST', '/api/generate', { model: M, prompt: 'x', options: { logit_bias: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [i, 1])) } }, null, 'ollama', /logit_bias|1024/],
  ['ollama: context token -1', 'POST', '/api/generate', { model: M, prompt: 'x', context: [-1] }, 400, 'ollama', /outside the vocabulary|context/],
  ['ollama: context token INT32_MAX+1', 'POST', '/api/generate', { model: M, prompt: 'x', context: [2147483648] }, 400, 'ollama', /context|vocabulary/],
  ['ollama: top_logprobs 21', 'POST', '/api/generate', { model: M, prompt: 'x', logprobs: true, top_logprobs: 21 }, 400, 'ollama', /top_logprobs/],
  ['ollama: keep_alive nonsense', 'POST', '/api/generate', { model: M, prompt: 'x', keep_alive: 'forever' }, 400, 'ollama', /keep_alive/],
  ['ollama: 10001 messages', 'POST', '/api/chat', { model: C, messages: Array(10001).fill({ role: 'user', content: 'a' }) }, null, 'ollama', /messages|chat template/],
  ['ollama: embed input of numbers', 'POST', '/api/embed', { model: M, input: [1, 2] }, 400, 'ollama', /input/],
  ['ollama: embed 2049 inputs', 'POST', '/api/embed', { model: M, input: Array(2049).fill('a') }, null, 'ollama', /input|2048/],
  ['ollama: show without model', 'POST', '/api/show', {}, 400, 'ollama', /model/],
  ['ollama: show unknown model', 'POST', '/api/show', { model: 'nope' }, 404, 'ollama', /not found/],
  ['ollama: copy to ..', 'POST', '/api/copy', { source: M, destination: '../evil' }, 400, 'ollama', /name|destination/],
  ['ollama: delete unknown', 'DELETE', '/api/delete', { model: 'nope' }, 404, 'ollama', /not found/],
  ['ollama: pull of a traversal name', 'POST', '/api/pull', { model: '../../etc/x', stream: false }, 400, 'ollama', /name|model/],
  ['ollama: create FROM a server path', 'POST', '/api/create', { model: 'evil', from: '/etc/passwd', stream: false }, null, 'ollama', /./],
  ['ollama: blob digest not sha256', 'HEAD', '/api/blobs/sha256:zzz', undefined, 400, null, null],
  ['ollama: unknown route', 'GET', '/api/nope', undefined, 404, 'ollama', /no route/],
  ['ollama: wrong method', 'GET', '/api/generate', undefined, 405, 'ollama', /not allowed/],

  // ---- OpenAI ----
  ['openai: truncated JSON', 'POST', '/v1/chat/completions', '{"model":', 400, 'openai', /invalid JSON/],
  ['openai: nesting 65 deep', 'POST', '/v1/chat/completions', `{"model":"${C}","messages":${nest(65)}}`, 400, 'openai', /deeper than 64/],
  ['openai: empty messages', 'POST', '/v1/chat/completions', { model: C, messages: [] }, 400, 'openai', /messages/],
  ['openai: messages a string', 'POST', '/v1/chat/completions', { model: C, messages: 'hi' }, 400, 'openai', /messages/],
  ['openai: unknown role', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'wizard', content: 'x' }] }, 400, 'openai', /role/],
  ['openai: n 100', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'user', content: 'x' }], n: 100 }, 400, 'openai', /\bn\b/],
  ['openai: max_tokens -5', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'user', content: 'x' }], max_tokens: -5 }, 400, 'openai', /max_tokens/],
  ['openai: max_tokens 1e308', 'POST', '/v1/chat/completions', `{"model":"${C}","messages":[{"role":"user","content":"x"}],"max_tokens":1e308}`, 400, 'openai', /max_tokens/],
  ['openai: top_logprobs 21', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 21 }, 400, 'openai', /top_logprobs/],
  ['openai: logit_bias key not a token', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'user', content: 'x' }], logit_bias: { abc: 1 } }, 400, 'openai', /logit_bias/],
  ['openai: seed a string', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'user', content: 'x' }], seed: 'abc' }, 400, 'openai', /seed/],
  ['openai: temperature NaN-ish string', 'POST', '/v1/chat/completions', { model: C, messages: [{ role: 'user', content: 'x' }], temperature: 'NaN' }, 400, 'openai', /temperature/],
  ['openai: unknown model', 'POST', '/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }] }, 404, 'openai', /not found/],
  ['openai: completion token id -1', 'POST', '/v1/completions', { model: M, prompt: [-1] }, 400, 'openai', /vocabulary|token/],
  ['openai: completion token id INT64_MAX', 'POST', '/v1/completions', `{"model":"${M}","prompt":[9223372036854775807]}`, 400, 'openai', /vocabulary|token|prompt/],
  ['openai: completion prompt a number', 'POST', '/v1/completions', { model: M, prompt: 5 }, 400, 'openai', /prompt/],
  ['openai: embeddings input an object', 'POST', '/v1/embeddings', { model: M, input: {} }, 400, 'openai', /input/],
  ['openai: unknown model in /v1/models', 'GET', '/v1/models/nope', undefined, 404, 'openai', /not found|nope/],
  ['openai: responses without input', 'POST', '/v1/responses', { model: C }, 400, 'openai', /input/],

  // ---- Anthropic ----
  ['anthropic: truncated JSON', 'POST', '/v1/messages', '{"model"', 400, 'anthropic', /invalid JSON/],
  ['anthropic: nesting 65 deep', 'POST', '/v1/messages', `{"model":"${C}","max_tokens":5,"messages":${nest(65)}}`, 400, 'anthropic', /deeper than 64/],
  ['anthropic: no max_tokens', 'POST', '/v1/messages', { model: C, messages: [{ role: 'user', content: 'x' }] }, 400, 'anthropic', /max_tokens/],
  ['anthropic: max_tokens -1', 'POST', '/v1/messages', { model: C, max_tokens: -1, messages: [{ role: 'user', content: 'x' }] }, 400, 'anthropic', /max_tokens/],
  ['anthropic: max_tokens INT64_MAX', 'POST', '/v1/messages', `{"model":"${C}","max_tokens":9223372036854775807,"messages":[{"role":"user","content":"x"}]}`, 400, 'anthropic', /max_tokens/],
  ['anthropic: empty messages', 'POST', '/v1/messages', { model: C, max_tokens: 5, messages: [] }, 400, 'anthropic', /messages/],
  ['anthropic: unknown role', 'POST', '/v1/messages', { model: C, max_tokens: 5, messages: [{ role: 'wizard', content: 'x' }] }, 400, 'anthropic', /role/],
  ['anthropic: unknown block type', 'POST', '/v1/messages', { model: C, max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'video', url: 'x' }] }] }, 400, 'anthropic', /video|type|block/],
  ['anthropic: unknown model', 'POST', '/v1/messages', { model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, 404, 'anthropic', /not found/],
  ['anthropic: count_tokens without messages', 'POST', '/v1/messages/count_tokens', { model: C }, 400, 'anthropic', /messages/],

  // ---- llama-server ----
  ['llama: truncated JSON', 'POST', '/completion', '{"prompt":', 400, 'llama', /invalid JSON/],
  ['llama: nesting 65 deep', 'POST', '/completion', `{"model":"${M}","prompt":${nest(65)}}`, 400, 'llama', /deeper than 64/],
  ['llama: n_probs 21', 'POST', '/completion', { model: M, prompt: 'x', n_probs: 21 }, 400, 'llama', /n_probs/],
  ['llama: n_probs -1', 'POST', '/completion', { model: M, prompt: 'x', n_probs: -1 }, 400, 'llama', /n_probs/],
  ['llama: token prompt id -1', 'POST', '/completion', { model: M, prompt: [-1] }, 400, 'llama', /vocabulary|token/],
  ['llama: token prompt id INT32_MAX', 'POST', '/completion', { model: M, prompt: [2147483647] }, 400, 'llama', /vocabulary|token/],
  ['llama: n_predict a string', 'POST', '/completion', { model: M, prompt: 'x', n_predict: 'ten' }, 400, 'llama', /n_predict|num_predict/],
  ['llama: logit_bias token out of range', 'POST', '/completion', { model: M, prompt: 'x', logit_bias: [[999999, 1]] }, 400, 'llama', /vocabulary|logit_bias/],
  ['llama: tokenize content a number', 'POST', '/tokenize', { model: M, content: 5 }, 400, 'llama', /content/],
  ['llama: detokenize id -5', 'POST', '/detokenize', { model: M, tokens: [-5] }, 400, 'llama', /vocabulary|token/],
  ['llama: detokenize tokens a string', 'POST', '/detokenize', { model: M, tokens: 'x' }, 400, 'llama', /tokens/],
  ['llama: embedding content a number', 'POST', '/embedding', { model: M, content: 5 }, 400, 'llama', /content/],
  ['llama: rerank documents a number', 'POST', '/rerank', { model: M, query: 'x', documents: 5 }, 400, 'llama', /documents/],
  ['llama: apply-template messages a string', 'POST', '/apply-template', { model: C, messages: 'x' }, 400, 'llama', /messages/],
  ['llama: models/load without model', 'POST', '/models/load', {}, 400, 'llama', /model/],
  ['llama: models/load unknown', 'POST', '/models/load', { model: 'nope' }, 404, 'llama', /not found/],
  ['llama: unknown route', 'GET', '/no-such-route', undefined, 404, 'ollama', /no route/],
];

const home = homedir();
for (const [name, method, path, body, status, shape, pattern] of cases) {
  test(name, async () => {
    const r = await send(method, path, body);
    const where = `${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`;
    if (status === null) assert.ok([400, 413].includes(r.status), where);
    else assert.equal(r.status, status, where);
    if (shape) {
      const msg = shapes[shape](r.body, r.status);
      assert.ok(msg, `a ${shape}-shaped JSON error: ${where}`);
      if (pattern) assert.match(msg, pattern, where);
    }
    // No absolute path of this machine in any error.
    assert.ok(!r.text.includes(srv.dir), `no models path in: ${r.text}`);
    assert.ok(!r.text.includes(home + '/'), `no home directory in: ${r.text}`);
    await healthy();
  });
}

// Bodies over --max-body (1 MiB here): refused from Content-Length before they are read, and
// when chunked, once the cap is passed; each in its API's shape.
const overs = [
  ['/api/generate', 'ollama'], ['/v1/chat/completions', 'openai'], ['/v1/messages', 'anthropic'],
  ['/completion', 'llama'],
];
for (const [path, shape] of overs) {
  test(`a body over --max-body on ${path} is 413`, async () => {
    for (const chunked of [false, true]) {
      const n = 1100000;
      const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`;
      const req = chunked
        ? head + `Transfer-Encoding: chunked\r\n\r\n${n.toString(16)}\r\n${big(n)}\r\n0\r\n\r\n`
        : head + `Content-Length: ${n}\r\n\r\n`;
      const out = await rawRequest(srv.port, req);
      assert.match(out, /^HTTP\/1\.1 413/, `${path} chunked=${chunked}: ${out.slice(0, 200)}`);
      const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
      assert.match(shapes[shape](body, 413), /larger than 1048576 bytes/);
    }
    await healthy();
  });
}

// A request head over the caps: answered by hearth in each API's shape up to libmicrohttpd's
// per-connection buffer (128 KiB), by libmicrohttpd itself past it.
function parseRaw(raw) {
  const cut = raw.indexOf('\r\n\r\n');
  const status = Number(raw.slice(9, 12));
  const head = raw.slice(0, cut);
  let body = null;
  try { body = JSON.parse(raw.slice(cut + 4)); } catch { /* not JSON */ }
  return { status, head, body };
}

test('a URI over 8 KiB is a 414, headers over 32 KiB or 256 fields a 431, in each API\'s shape', async () => {
  const paths = [['/api/tags', 'ollama'], ['/v1/models', 'openai'], ['/v1/messages', 'anthropic'], ['/props', 'llama']];
  for (const [path, shape] of paths) {
    const u = parseRaw(await rawRequest(srv.port, `GET ${path}?q=${big(9000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    assert.equal(u.status, 414, `${path}: ${u.head}`);
    assert.match(u.head, /content-type: application\/json/i);
    assert.match(shapes[shape](u.body, 414) ?? '', /path and query are longer than 8192 bytes/, JSON.stringify(u.body));
    const h = parseRaw(await rawRequest(srv.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: ${big(40000)}\r\n\r\n`));
    assert.equal(h.status, 431, `${path}: ${h.head}`);
    assert.match(shapes[shape](h.body, 431) ?? '', /headers are over 32768 bytes or 256 fields/, JSON.stringify(h.body));
  }
  let many = '';
  for (let i = 0; i < 300; i++) many += `X-H${i}: 1\r\n`;
  const m = parseRaw(await rawRequest(srv.port, `GET /api/tags HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${many}\r\n`));
  assert.equal(m.status, 431);
  assert.match(m.body?.error ?? '', /256 fields/);
  // Just under the caps is served.
  const ok = parseRaw(await rawRequest(srv.port, `GET /api/tags?q=${big(8000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: ${big(30000)}\r\n\r\n`));
  assert.equal(ok.status, 200, ok.head);
  assert.ok(Array.isArray(ok.body?.models));
  await healthy();
});

test('a head past libmicrohttpd\'s buffer gets its own 431 or 414, and the server stays up', async () => {
  const h = await rawRequest(srv.port, `GET /api/tags HTTP/1.1\r\nHost: localhost\r\nX-Big: ${big(1 << 20)}\r\n\r\n`);
  assert.match(h, /^HTTP\/1\.1 431/, h.slice(0, 100));
  const u = await rawRequest(srv.port, `GET /api/tags?${big(1 << 20)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  assert.match(u, /^HTTP\/1\.1 414/, u.slice(0, 100));
  await healthy();
});

test('Content-Length beside Transfer-Encoding, and a bad chunk size, are refused', async () => {
  const both = await rawRequest(srv.port, 'POST /api/show HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.match(both, /^HTTP\/1\.1 400/, both.slice(0, 100));
  const chunk = await rawRequest(srv.port, 'POST /api/show HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n');
  assert.match(chunk, /^HTTP\/1\.1 400/, chunk.slice(0, 100));
  await healthy();
});

test('a client that sends half its headers and then nothing is cut off at the timeout', async () => {
  const s2 = await startServer({ args: ['--timeout', '1'] });
  try {
    const t0 = Date.now();
    const out = await rawRequest(s2.port, 'GET /api/tags HTTP/1.1\r\nHost: loc', 8000);
    const ms = Date.now() - t0;
    assert.ok(ms < 5000, `closed after ${ms} ms`);
    assert.ok(!/^HTTP\/1\.1 200/.test(out), out);
    const res = await fetch(s2.url + '/health');
    assert.equal(res.status, 200);
  } finally {
    await s2.stop();
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a client trickling its headers is cut off at --header-timeout; a kept-alive connection may idle past it', async () => {
  const s2 = await startServer({ args: ['--header-timeout', '2', '--timeout', '30'] });
  try {
    // A byte every 200 ms: never silent for --timeout, but its head is never done.
    const sock = net.connect(s2.port, '127.0.0.1');
    await once(sock, 'connect');
    let closed = false;
    sock.on('close', () => { closed = true; });
    sock.on('error', () => {});
    sock.on('data', () => {});
    const t0 = Date.now();
    sock.write('GET /api/tags HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    while (!closed && Date.now() - t0 < 10000) {
      if (!sock.destroyed) sock.write('x');
      await sleep(200);
    }
    const ms = Date.now() - t0;
    assert.ok(closed, 'the trickling connection was not closed in 10 s');
    assert.ok(ms >= 1800 && ms < 4500, `closed after ${ms} ms (header timeout 2 s)`);
    assert.match(await waitForLog(s2, /no whole request line and headers in time/), /no whole request line and headers in time/);
    // Between requests the idle timeout counts (30 s here), not the header timeout.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: s2.port, path: '/api/tags', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
      });
      req.on('error', reject);
    });
    assert.equal((await get()).status, 200);
    await sleep(3000);
    const second = await get();
    assert.equal(second.status, 200);
    assert.equal(second.reused, true, 'the kept-alive connection was closed after 3 s idle');
    agent.destroy();
  } finally {
    await s2.stop();
  }
});

test('a client that stops reading a streamed answer is cut off at --write-timeout and its slot freed', async () => {
  const s2 = await startServer({ args: ['--write-timeout', '2'] });
  try {
    // A tiny receive window (set before connecting) and no reads for 8 s: once the answer (20
    // top logprobs a token: megabytes) fills the socket buffers, the server's sends stall.
    const py = `
import socket, sys, time, json
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect(("127.0.0.1", int(sys.argv[1])))
body = json.dumps({"model": "${M}", "prompt": "Once upon a time", "logprobs": True, "top_logprobs": 20, "options": {"num_predict": 8000, "num_ctx": 8192, "ignore_eos": True}}).encode()
s.sendall(b"POST /api/generate HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
time.sleep(8)
got = b""
s.settimeout(5)
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except Exception as e:
    print("error", type(e).__name__)
print("bytes", len(got), "done", b'"done":true' in got)
`;
    const t0 = Date.now();
    const out = execFileSync('python3', ['-c', py, String(s2.port)], { encoding: 'utf8', timeout: 40000 });
    assert.match(out, /done False/, out);
    const log = await waitForLog(s2, /path="\/api\/generate" .*aborted=true/);
    const line = log.split('\n').find((l) => /path="\/api\/generate" .*aborted=true/.test(l));
    assert.ok(line, log.slice(-2000));
    const ms = Number(line.match(/ms=(\d+)/)[1]);
    assert.ok(ms >= 1800, `the stalled stream ended after ${ms} ms (write timeout 2 s): ${line}`);
    assert.ok(Date.now() - t0 < 30000);
    assert.ok(await slotsFree(s2.url), 'a slot still busy after the cut-off');
    const res = await fetch(s2.url + '/health');
    assert.equal(res.status, 200);
  } finally {
    await s2.stop();
  }
});
