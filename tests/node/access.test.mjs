// Who may talk to the server (#11): API keys on every API (with the official clients), the key
// file's permissions, the CLI sending HEARTH_API_KEY, the refusal of an open non-loopback bind,
// the Host check against DNS rebinding, CORS, and HTTPS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { startServer, HEARTH, rawRequest } from './helpers.mjs';

const KEY = 'k-7f3a9c1e-secret';
const KEY2 = 'second-key';
let srv;
let tmp;
before(async () => {
  tmp = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-access-'));
  srv = await startServer({ args: ['--api-key', `${KEY},${KEY2}`] });
});
after(async () => {
  await srv.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function get(url, path, headers = {}, method = 'GET', body) {
  const res = await fetch(url + path, { method, headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

// Runs `hearth serve ARGS` that is expected to exit at once; returns its status and stderr.
function serveOnce(args, env = {}) {
  const r = spawnSync(HEARTH, ['serve', ...args], {
    env: { ...process.env, HF_HUB_CACHE: join(tmp, 'hf'), OLLAMA_MODELS: join(tmp, 'ollama'),
      XDG_CONFIG_HOME: join(tmp, 'cfg'), HEARTH_PROMPT_CACHE_DIR: join(tmp, 'pc'), ...env },
    encoding: 'utf8', timeout: 20000,
  });
  return { code: r.status, stderr: r.stderr };
}

test('without a key every API answers 401 in its own shape; /, /health stay open', async () => {
  let r = await get(srv.url, '/api/tags');
  assert.equal(r.status, 401);
  assert.match(r.json.error, /API key is required/);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  r = await get(srv.url, '/v1/models');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.type, 'authentication_error');
  assert.equal(r.json.error.code, 'invalid_api_key');
  r = await get(srv.url, '/v1/chat/completions', {}, 'POST', '{}');
  assert.equal(r.status, 401);
  assert.ok('param' in r.json.error);
  r = await get(srv.url, '/v1/messages', {}, 'POST', '{}');
  assert.equal(r.status, 401);
  assert.equal(r.json.type, 'error');
  assert.equal(r.json.error.type, 'authentication_error');
  r = await get(srv.url, '/completion', {}, 'POST', '{}');
  assert.equal(r.status, 401);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'type']);
  assert.equal(r.json.error.code, 401);
  for (const p of ['/metrics', '/props', '/slots', '/models']) {
    assert.equal((await get(srv.url, p)).status, 401, p);
  }
  // A blob upload is refused before its body is read.
  r = await get(srv.url, '/api/blobs/sha256:' + '0'.repeat(64), {}, 'POST', 'x');
  assert.equal(r.status, 401);
  assert.equal((await get(srv.url, '/health')).status, 200);
  assert.equal((await get(srv.url, '/v1/health')).status, 200);
  assert.equal((await get(srv.url, '/')).status, 200);
});

test('a wrong key is 401; Bearer and X-Api-Key both work; either key works', async () => {
  let r = await get(srv.url, '/api/tags', { Authorization: 'Bearer wrong' });
  assert.equal(r.status, 401);
  assert.match(r.json.error, /invalid API key/);
  r = await get(srv.url, '/api/tags', { Authorization: `Bearer ${KEY}x` });
  assert.equal(r.status, 401);
  r = await get(srv.url, '/api/tags', { Authorization: `Bearer ${KEY.slice(0, -1)}` });
  assert.equal(r.status, 401);
  r = await get(srv.url, '/api/tags', { Authorization: `Bearer ${KEY}` });
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.json.models));
  r = await get(srv.url, '/api/tags', { Authorization: `bearer ${KEY2}` });
  assert.equal(r.status, 200);
  r = await get(srv.url, '/api/tags', { 'X-Api-Key': KEY });
  assert.equal(r.status, 200);
  r = await get(srv.url, '/api/tags', { 'X-Api-Key': 'nope' });
  assert.equal(r.status, 401);
});

test('the official clients pass their key and see 401 without the right one', async () => {
  const ok = new OpenAI({ baseURL: srv.url + '/v1', apiKey: KEY, maxRetries: 0 });
  const list = await ok.models.list();
  assert.ok(list.data.some((m) => m.id.startsWith('stories260K')));
  const bad = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401 && /invalid API key/.test(e.message));

  const a = new Anthropic({ baseURL: srv.url, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(
    a.messages.create({ model: 'stories260K', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 401 && e.error?.error?.type === 'authentication_error');
  const a2 = new Anthropic({ baseURL: srv.url, apiKey: KEY, maxRetries: 0 });
  const n = await a2.messages.countTokens({ model: 'chatty', messages: [{ role: 'user', content: 'hello' }] })
    .catch((e) => e);
  assert.notEqual(n.status, 401, 'the Anthropic client sends x-api-key');

  const o = new Ollama({ host: srv.url, headers: { Authorization: `Bearer ${KEY}` } });
  const tags = await o.list();
  assert.ok(tags.models.length > 0);
  const o2 = new Ollama({ host: srv.url });
  await assert.rejects(o2.list(), (e) => e.status_code === 401 && /API key/.test(e.error));
});

test('the CLI sends HEARTH_API_KEY', async () => {
  const env = { ...process.env, HEARTH_HOST: `127.0.0.1:${srv.port}` };
  const out = execFileSync(HEARTH, ['ps'], { env: { ...env, HEARTH_API_KEY: KEY }, encoding: 'utf8' });
  assert.match(out, /NAME/);
  const r = spawnSync(HEARTH, ['ps'], { env: { ...env, HEARTH_API_KEY: '' }, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /API key/);
  const w = spawnSync(HEARTH, ['ps'], { env: { ...env, HEARTH_API_KEY: 'wrong' }, encoding: 'utf8' });
  assert.notEqual(w.status, 0);
  assert.match(w.stderr, /invalid API key/);
});

test('a key file: one key per line, refused when others may read it', async () => {
  const file = join(tmp, 'keys');
  writeFileSync(file, '# keys\nfile-key-1\n\n  file-key-2  \r\n');
  chmodSync(file, 0o644);
  const r = serveOnce(['--host', '127.0.0.1:0', '--api-key-file', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /may be read by other users .*chmod 600/);
  chmodSync(file, 0o600);
  const s = await startServer({ args: ['--api-key-file', file] });
  try {
    assert.equal((await get(s.url, '/api/tags', { Authorization: 'Bearer file-key-1' })).status, 200);
    assert.equal((await get(s.url, '/api/tags', { 'X-Api-Key': 'file-key-2' })).status, 200);
    assert.equal((await get(s.url, '/api/tags', { 'X-Api-Key': '# keys' })).status, 401);
    assert.equal((await get(s.url, '/api/tags')).status, 401);
  } finally {
    await s.stop();
  }
  writeFileSync(file, '\n# nothing\n');
  assert.match(serveOnce(['--host', '127.0.0.1:0', '--api-key-file', file]).stderr, /has no key/);
});

test('HEARTH_API_KEY protects a server started without flags', async () => {
  const s = await startServer({ env: { HEARTH_API_KEY: 'env-key' } });
  try {
    assert.equal((await get(s.url, '/api/version')).status, 401);
    assert.equal((await get(s.url, '/api/version', { Authorization: 'Bearer env-key' })).status, 200);
  } finally {
    await s.stop();
  }
});

test('a non-loopback address without a key is refused; --insecure-no-auth serves it with a warning', async () => {
  const r = serveOnce(['--host', '0.0.0.0:0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without an API key.*--api-key/);
  const s = await startServer({ args: ['--host', '0.0.0.0:0', '--insecure-no-auth'] });
  try {
    assert.match(s.log(), /WARNING: serving 0\.0\.0\.0 WITHOUT AUTHENTICATION/);
    assert.equal((await get(s.url, '/api/version')).status, 200);
    // Not bound to loopback: any Host name is served.
    assert.equal((await get(s.url, '/api/version', { Host: 'my-box.example' })).status, 200);
  } finally {
    await s.stop();
  }
  const k = await startServer({ args: ['--host', '0.0.0.0:0', '--api-key', KEY] });
  try {
    assert.equal((await get(k.url, '/api/version')).status, 401);
  } finally {
    await k.stop();
  }
});

test('on loopback, a Host name that is not ours is 403 (DNS rebinding)', async () => {
  const s = await startServer({ env: { HEARTH_ALLOWED_HOSTS: 'myproxy.test,.corp.test' } });
  try {
    const host = async (h) => {
      const out = await rawRequest(s.port, `GET /api/version HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`);
      return { status: Number(out.slice(9, 12)), body: out.slice(out.indexOf('\r\n\r\n') + 4) };
    };
    const evil = await host('evil.example');
    assert.equal(evil.status, 403);
    assert.match(JSON.parse(evil.body).error, /host 'evil.example' is not allowed/);
    assert.equal((await host(`evil.example:${s.port}`)).status, 403);
    assert.equal((await host('localhost.evil.example')).status, 403);
    for (const ok of ['localhost', `localhost:${s.port}`, '127.0.0.1', `127.0.0.1:${s.port}`, '[::1]',
      `[::1]:${s.port}`, 'app.localhost', 'myproxy.test', 'a.corp.test:8080', 'LOCALHOST']) {
      assert.equal((await host(ok)).status, 200, ok);
    }
    // The OpenAI routes refuse in OpenAI's shape.
    const out = await rawRequest(s.port, 'GET /v1/models HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    assert.equal(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)).error.type, 'permission_error');
  } finally {
    await s.stop();
  }
});

test('CORS: localhost origins by default, HEARTH_ORIGINS adds, never credentials', async () => {
  const s = await startServer({ env: { HEARTH_ORIGINS: 'https://app.example.org', OLLAMA_ORIGINS: 'chrome-extension://*' } });
  try {
    let r = await get(s.url, '/api/version', { Origin: 'http://localhost:3000' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
    r = await get(s.url, '/api/version', { Origin: 'https://evil.example' });
    assert.equal(r.status, 403);
    assert.match(r.json.error, /origin 'https:\/\/evil.example' is not allowed/);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    r = await get(s.url, '/api/version', { Origin: 'https://app.example.org' });
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.org');
    r = await get(s.url, '/api/version', { Origin: 'chrome-extension://abcdef' });
    assert.equal(r.status, 200);
    // A page served by this server under its own Host is same-origin.
    r = await get(s.url, '/api/version', { Origin: `http://127.0.0.1:${s.port}` });
    assert.equal(r.status, 200);
    // Preflight: answered 204 without a key, with the methods and the asked-for headers.
    r = await get(s.url, '/v1/chat/completions', { Origin: 'https://app.example.org',
      'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' }, 'OPTIONS');
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.org');
    assert.match(r.headers.get('access-control-allow-methods'), /POST/);
    assert.equal(r.headers.get('access-control-allow-headers'), 'authorization, content-type');
    r = await get(s.url, '/v1/chat/completions', { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' }, 'OPTIONS');
    assert.equal(r.status, 403);
  } finally {
    await s.stop();
  }
  const any = await startServer({ env: { HEARTH_ORIGINS: '*' }, args: ['--api-key', KEY] });
  try {
    const r = await get(any.url, '/api/version', { Origin: 'https://anything.example', 'X-Api-Key': KEY });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
    const pre = await get(any.url, '/api/chat', { Origin: 'https://anything.example', 'Access-Control-Request-Method': 'POST' }, 'OPTIONS');
    assert.equal(pre.status, 204, 'preflights need no key');
  } finally {
    await any.stop();
  }
});

test('HTTPS with --ssl-cert-file and --ssl-key-file', async () => {
  const cert = join(tmp, 'cert.pem');
  const key = join(tmp, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const s = await startServer({ args: ['--ssl-cert-file', cert, '--ssl-key-file', key, '--api-key', KEY] });
  try {
    const ca = readFileSync(cert);
    const call = (path, headers) => new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: s.port, path, ca, headers }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body, encrypted: res.socket?.encrypted }));
      });
      req.on('error', reject);
      req.end();
    });
    const r = await call('/api/tags', { Authorization: `Bearer ${KEY}` });
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(JSON.parse(r.body).models));
    assert.equal((await call('/api/tags', {})).status, 401);
    // A client that does not trust the certificate is refused by TLS itself.
    await assert.rejects(new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: s.port, path: '/health' }, resolve).on('error', reject);
    }), /self[- ]signed|certificate/);
    // The CLI: with HEARTH_CA_FILE naming the certificate it talks to the server; without it
    // it says how to trust the certificate.
    const env = { ...process.env, HEARTH_HOST: `https://127.0.0.1:${s.port}`, HEARTH_API_KEY: KEY };
    const ps = spawnSync(HEARTH, ['ps'], { env: { ...env, HEARTH_CA_FILE: cert }, encoding: 'utf8' });
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /NAME/);
    const untrusted = spawnSync(HEARTH, ['ps'], { env: { ...env, HEARTH_CA_FILE: '' }, encoding: 'utf8' });
    assert.notEqual(untrusted.status, 0);
    assert.match(untrusted.stderr, /not trusted.*HEARTH_CA_FILE/);
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    const plain = await rawRequest(s.port, 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n', 3000);
    assert.ok(!/^HTTP\/1\.1 200/.test(plain));
  } finally {
    await s.stop();
  }
  const half = serveOnce(['--host', '127.0.0.1:0', '--ssl-cert-file', cert]);
  assert.equal(half.code, 1);
  assert.match(half.stderr, /both --ssl-cert-file and --ssl-key-file/);
  const wrong = serveOnce(['--host', '127.0.0.1:0', '--ssl-cert-file', cert, '--ssl-key-file', cert]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /TLS certificate or key invalid/);
});

test('bad values of the new flags are refused at start', () => {
  let r = serveOnce(['--max-body', 'lots']);
  assert.equal(r.code, 2, 'a bad value is a usage error, as an unknown flag is');
  assert.match(r.stderr, /invalid max-body 'lots'/);
  r = serveOnce(['--timeout', '0']);
  assert.match(r.stderr, /invalid timeout '0'/);
  r = serveOnce(['--api-key', ',']);
  assert.match(r.stderr, /--api-key is empty/);
  r = serveOnce(['--api-key-file', join(tmp, 'missing')]);
  assert.match(r.stderr, /cannot open the API key file/);
});
