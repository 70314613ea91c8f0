// Remote engines (README "Remote engines"): a second real `hearth serve`, with an API key, plays
// the remote OpenAI-compatible server; the first has preset sections pointing model names at it.
// Through the official ollama, openai and anthropic clients: answers equal the remote's own,
// streams arrive token by token, a dead remote is a 502 in each API's shape, a wrong key is the
// remote's 401, and the key never shows in the first server's log or answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { startServer, assertHealthy, post, HEARTH, MODELS, MKMODEL, LLAMA_DATA, KNOWN_CONTINUATION } from './helpers.mjs';

const KEY = 'sk-remote-test-7f3a9c1e5b2d4680';
let remote, proxy, deadPort, dir, fake;
const fakeSeen = []; // what the fake remote received: {path, auth, body}

// A remote that misbehaves on purpose (a real hearth never does): the remote-model name picks
// how. Answers the real remote cannot be made to give are the inputs tested here.
function startFake() {
  const srv = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const body = JSON.parse(raw || '{}');
      fakeSeen.push({ path: req.url, auth: req.headers.authorization, body });
      const sse = () => res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (text) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`;
      switch (body.model) {
      case 'error500': res.writeHead(500, { 'content-type': 'application/json' }); res.end(JSON.stringify({ error: { message: 'engine exploded' } })); break;
      case 'echokey': res.writeHead(401, { 'content-type': 'application/json' }); res.end(JSON.stringify({ error: { message: `bad key ${req.headers.authorization}` } })); break;
      case 'notjson': sse(); res.end('data: {nope\n\n'); break;
      case 'longline': sse(); res.end('data: ' + 'x'.repeat(2 << 20) + '\n\n'); break;
      case 'stall': sse(); res.write(chunk('first')); break; // then nothing, ever
      case 'midfail': sse(); res.write(chunk('Hello')); setTimeout(() => req.socket.destroy(), 100); break;
      case 'tools': { // reasoning, then a tool call whose arguments come in pieces
        sse();
        const d = (delta, fr = null) => res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: fr }] })}\n\n`);
        d({ reasoning_content: 'The user wants ' });
        d({ reasoning_content: 'the weather.' });
        d({ tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] });
        d({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] });
        d({}, 'tool_calls');
        res.end('data: [DONE]\n\n');
        break;
      }
      case 'whole':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'a whole answer' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 4 } }));
        break;
      default:
        sse();
        res.write(chunk('Hi'));
        res.write(chunk(' there'));
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
        res.end('data: [DONE]\n\n');
      }
    });
  });
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)));
}
let seen = ''; // every answer the proxy gave, to look for the key in

// A port with nothing listening on it.
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

function modelsDir(prefix) {
  const d = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), prefix));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(d, 'stories260K.gguf'));
  return d;
}

before(async () => {
  const rdir = modelsDir('hearth-remote-engine-');
  // A random-weight model big enough that generating a few hundred tokens takes a while: the
  // stream's timing shows whether the proxy passes tokens on as they come.
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
    '--n-embd', '128', '--n-layer', '4', '--n-ff', '384', '--n-ctx', '2048', '--out', join(rdir, 'slow.gguf')],
  { stdio: 'ignore' });
  // One thread: the test machine's cores are shared, and a worker spinning on several of them
  // slows everything down.
  writeFileSync(join(rdir, 'presets.ini'), '[*]\nt = 1\n');
  remote = await startServer({ modelsDir: rdir, args: ['--api-key', KEY, '--models-preset', join(rdir, 'presets.ini')] });
  deadPort = await freePort();
  fake = await startFake();
  const fakeUrl = `http://127.0.0.1:${fake.address().port}/v1`;
  const fakeSections = ['error500', 'echokey', 'notjson', 'longline', 'stall', 'midfail', 'whole', 'plain', 'tools'].map((m) =>
    `[fake-${m}]\nremote = ${fakeUrl}\nremote-model = ${m}\nremote-api-key-env = REMOTE_TEST_KEY\nremote-timeout = 2\n`).join('\n');
  dir = modelsDir('hearth-remote-proxy-');
  const ini = join(dir, 'presets.ini');
  writeFileSync(ini, `[far]
remote = ${remote.url}/v1
remote-model = stories260K
remote-api-key-env = REMOTE_TEST_KEY

[far-slow]
remote = ${remote.url}/v1/
remote-model = slow
remote-api-key-env = REMOTE_TEST_KEY
remote-timeout = 30

[far-tuned]
remote = ${remote.url}/v1
remote-model = stories260K
remote-api-key-env = REMOTE_TEST_KEY
temp = 0
num_predict = 9

[dead]
remote = http://127.0.0.1:${deadPort}/v1
remote-model = stories260K
remote-connect-timeout = 2

[wrong-key]
remote = ${remote.url}/v1
remote-model = stories260K
remote-api-key-env = REMOTE_WRONG_KEY

[no-key-var]
remote = ${remote.url}/v1
remote-model = stories260K
remote-api-key-env = REMOTE_UNSET_KEY_VAR

[missing-model]
remote = ${remote.url}/v1
remote-model = no-such-model
remote-api-key-env = REMOTE_TEST_KEY

${fakeSections}
[fake-params]
remote = ${fakeUrl}
remote-model = plain
top-k = 17
num_ctx = 4096
system = You are a remote.
`);
  proxy = await startServer({
    modelsDir: dir,
    args: ['--models-preset', ini],
    env: { REMOTE_TEST_KEY: KEY, REMOTE_WRONG_KEY: 'sk-wrong-key-0000', HEARTH_LOG_LEVEL: 'debug', REMOTE_UNSET_KEY_VAR: '' },
  });
});

after(async () => {
  await proxy?.stop();
  await remote?.stop();
  // Under the sanitizers, a report (a leak shows at exit) fails the run.
  assert.doesNotMatch(proxy?.log() || '', /Sanitizer|runtime error/);
  fake?.closeAllConnections();
  fake?.close();
});

const direct = () => new OpenAI({ baseURL: remote.url + '/v1', apiKey: KEY, maxRetries: 0 });
const viaOpenAI = () => new OpenAI({ baseURL: proxy.url + '/v1', apiKey: 'unused', maxRetries: 0 });
const viaAnthropic = () => new Anthropic({ baseURL: proxy.url, apiKey: 'unused', maxRetries: 0 });
const viaOllama = () => new Ollama({ host: proxy.url });
const messages = [{ role: 'user', content: 'Tell me a story' }];

function remember(x) {
  seen += typeof x === 'string' ? x : JSON.stringify(x);
  return x;
}

test('OpenAI chat and completions: whole and streamed answers equal the remote\'s own', async () => {
  const want = await direct().chat.completions.create({ model: 'stories260K', messages, max_tokens: 24, temperature: 0, seed: 42 });
  const got = remember(await viaOpenAI().chat.completions.create({ model: 'far', messages, max_tokens: 24, temperature: 0, seed: 42 }));
  assert.equal(got.choices[0].message.content, want.choices[0].message.content);
  assert.ok(want.choices[0].message.content.length > 10);
  assert.equal(got.model, 'far:latest');
  assert.equal(got.usage.completion_tokens, want.usage.completion_tokens);
  assert.equal(got.choices[0].finish_reason, 'length');

  const stream = await viaOpenAI().chat.completions.create({ model: 'far', messages, max_tokens: 24, temperature: 0, stream: true });
  let text = '', chunks = 0;
  for await (const c of stream) {
    remember(c);
    const d = c.choices[0]?.delta?.content;
    if (d) { text += d; chunks++; }
  }
  assert.equal(text, want.choices[0].message.content);
  assert.ok(chunks > 3, `${chunks} chunks`);

  const c = remember(await viaOpenAI().completions.create({ model: 'far', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 }));
  assert.ok(KNOWN_CONTINUATION.startsWith(c.choices[0].text), c.choices[0].text);
  assert.ok(c.choices[0].text.length > 20);
});

test('Ollama generate and chat through the official client, whole and streamed', async () => {
  const ollama = viaOllama();
  const raw = remember(await ollama.generate({ model: 'far', prompt: 'Once upon a time', raw: true, options: { temperature: 0, num_predict: 30 } }));
  assert.ok(KNOWN_CONTINUATION.startsWith(raw.response), raw.response);
  assert.ok(raw.response.length > 20);
  assert.equal(raw.done_reason, 'length');
  assert.ok(raw.eval_count > 0);

  let streamed = '', parts = 0;
  for await (const p of await ollama.generate({ model: 'far', prompt: 'Once upon a time', raw: true, stream: true, options: { temperature: 0, num_predict: 30 } })) {
    remember(p);
    streamed += p.response;
    if (p.response) parts++;
  }
  assert.equal(streamed, raw.response);
  assert.ok(parts > 3);

  const want = await direct().chat.completions.create({ model: 'stories260K', messages, max_tokens: 20, temperature: 0 });
  const chat = remember(await ollama.chat({ model: 'far', messages, options: { temperature: 0, num_predict: 20 } }));
  assert.equal(chat.message.content, want.choices[0].message.content);
  let sc = '';
  for await (const p of await ollama.chat({ model: 'far', messages, stream: true, options: { temperature: 0, num_predict: 20 } })) sc += remember(p).message.content;
  assert.equal(sc, want.choices[0].message.content);
});

test('Anthropic messages through the official client, whole and streamed', async () => {
  const want = await direct().chat.completions.create({ model: 'stories260K', messages, max_tokens: 16, temperature: 0 });
  const got = remember(await viaAnthropic().messages.create({ model: 'far', max_tokens: 16, messages, temperature: 0 }));
  assert.equal(got.content[0].text, want.choices[0].message.content);
  assert.equal(got.stop_reason, 'max_tokens');
  assert.equal(got.usage.output_tokens, want.usage.completion_tokens);
  const stream = await viaAnthropic().messages.create({ model: 'far', max_tokens: 16, messages, temperature: 0, stream: true });
  let text = '';
  for await (const ev of stream) {
    remember(ev);
    if (ev.type === 'content_block_delta') text += ev.delta.text;
  }
  assert.equal(text, want.choices[0].message.content);
});

test('a preset\'s parameters reach the remote; the request\'s beat them', async () => {
  const r = remember(await viaOpenAI().completions.create({ model: 'far-tuned', prompt: 'Once upon a time' }));
  assert.equal(r.usage.completion_tokens, 9, 'num_predict = 9 from the section');
  assert.ok(KNOWN_CONTINUATION.startsWith(r.choices[0].text), 'temp = 0 from the section');
  const r2 = remember(await viaOpenAI().completions.create({ model: 'far-tuned', prompt: 'Once upon a time', max_tokens: 4 }));
  assert.equal(r2.usage.completion_tokens, 4);
});

test('streaming is token by token: chunks arrive spread over the generation, not at its end', async () => {
  const t0 = Date.now();
  const times = [];
  const s = await viaOpenAI().completions.create({ model: 'far-slow', prompt: 'Once', max_tokens: 400, temperature: 0, ignore_eos: true, stream: true });
  for await (const c of s) if (c.choices[0]?.text) times.push(Date.now() - t0);
  const first = times[0], last = times[times.length - 1];
  assert.ok(times.length > 300, `${times.length} chunks`);
  // A proxy that buffered the remote's answer would deliver every chunk at the end.
  assert.ok(last > 100, `the remote generated too fast to tell (${last} ms)`);
  assert.ok(first < last / 2, `first chunk at ${first} ms, last at ${last} ms`);
  const mid = times[Math.floor(times.length / 2)];
  assert.ok(mid - first > (last - first) / 5 && last - mid > (last - first) / 5, `first ${first}, middle ${mid}, last ${last} ms`);
});

test('a client that goes away ends the upstream request', async () => {
  const lines = () => remote.log().split('\n').filter((l) => l.includes('path="/v1/completions"') && l.includes('model="slow:latest"'));
  const before = lines().length;
  const ac = new AbortController();
  const res = await fetch(proxy.url + '/v1/completions', {
    method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'far-slow', prompt: 'Once', max_tokens: 1800, ignore_eos: true, temperature: 0, stream: true }),
  });
  const reader = res.body.getReader();
  await reader.read();
  ac.abort();
  // The remote ends that request (its log line comes when it does) as aborted, long before
  // 1800 tokens.
  const aborted = () => lines().slice(before).find((l) => l.includes('aborted=true'));
  for (let i = 0; i < 100 && !aborted(); i++) await new Promise((r) => setTimeout(r, 100));
  const line = aborted();
  assert.ok(line, `the remote did not end the request: ${lines().slice(before).join('\n')}`);
  assert.ok(Number(line.match(/ms=(\d+)/)[1]) < 10000, line);
});

test('a dead remote is a clear 502 in each API\'s shape, within the timeout', async () => {
  const t0 = Date.now();
  const o = await post(proxy.url, '/api/generate', { model: 'dead', prompt: 'hi', stream: false });
  remember(o.text);
  assert.equal(o.status, 502);
  assert.match(o.body.error, /model 'dead:latest'.*127\.0\.0\.1:\d+.*cannot be reached/);
  const s = await post(proxy.url, '/api/chat', { model: 'dead', messages });
  assert.equal(s.status, 502, 'a stream that cannot start is a 502, not a 200 with an error');
  await assert.rejects(viaOpenAI().chat.completions.create({ model: 'dead', messages }), (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.type, 'server_error');
    assert.match(e.message, /dead:latest/);
    return true;
  });
  await assert.rejects(viaOpenAI().chat.completions.create({ model: 'dead', messages, stream: true }), (e) => e.status === 502);
  await assert.rejects(viaAnthropic().messages.create({ model: 'dead', max_tokens: 5, messages }), (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.type, 'error');
    assert.equal(e.error.error.type, 'api_error');
    return true;
  });
  assert.ok(Date.now() - t0 < 20000, `${Date.now() - t0} ms`);
  assert.match(proxy.log(), /remote connect failed, retrying/);
  await assertHealthy(assert, proxy.url);
});

test('the remote\'s 4xx pass through with its message: a wrong key is a 401, an unknown model a 404', async () => {
  await assert.rejects(viaOpenAI().chat.completions.create({ model: 'wrong-key', messages }), (e) => {
    assert.equal(e.status, 401);
    assert.match(e.message, /remote server answered 401/);
    return true;
  });
  const o = await post(proxy.url, '/api/chat', { model: 'wrong-key', messages, stream: false });
  remember(o.text);
  assert.equal(o.status, 401);
  await assert.rejects(viaAnthropic().messages.create({ model: 'wrong-key', max_tokens: 5, messages }), (e) => {
    assert.equal(e.status, 401);
    assert.equal(e.error.error.type, 'authentication_error');
    return true;
  });
  const nf = await post(proxy.url, '/v1/chat/completions', { model: 'missing-model', messages });
  remember(nf.text);
  assert.equal(nf.status, 404);
  assert.match(nf.body.error.message, /no-such-model/);
});

test('an unset key variable is a clear error naming the variable, not the value', async () => {
  const o = await post(proxy.url, '/api/generate', { model: 'no-key-var', prompt: 'hi', stream: false });
  assert.equal(o.status, 422);
  assert.match(o.body.error, /remote-api-key-env names REMOTE_UNSET_KEY_VAR, which is not set/);
});

test('/api/tags, /v1/models and hearth show: remote, size 0, where it points, never the key', async () => {
  const tags = remember(await fetch(proxy.url + '/api/tags').then((r) => r.json()));
  const far = tags.models.find((m) => m.name === 'far:latest');
  assert.ok(far, JSON.stringify(tags));
  assert.equal(far.size, 0);
  assert.equal(far.source, 'remote');
  assert.equal(far.details.format, 'remote');
  assert.deepEqual(far.remote, { url: remote.url + '/v1', model: 'stories260K', api_key_env: 'REMOTE_TEST_KEY' });
  const models = remember(await fetch(proxy.url + '/v1/models').then((r) => r.json()));
  assert.equal(models.data.find((m) => m.id === 'far-slow:latest').remote.url, remote.url + '/v1');
  const show = remember(await post(proxy.url, '/api/show', { model: 'far-tuned' }));
  assert.equal(show.status, 200);
  assert.equal(show.body.remote.model, 'stories260K');
  assert.match(show.body.parameters, /num_predict\s+9/);
  const env = { ...process.env, HEARTH_HOST: `127.0.0.1:${proxy.port}` };
  const cli = remember(execFileSync(HEARTH, ['show', 'far'], { env, encoding: 'utf8' }));
  assert.match(cli, new RegExp(`url\\s+${remote.url}/v1`));
  assert.match(cli, /\$REMOTE_TEST_KEY/);
  const list = remember(execFileSync(HEARTH, ['list'], { env, encoding: 'utf8' }));
  assert.match(list, /far:latest\s+\S+\s+0 B\s+-\s+remote/);
  const config = remember(execFileSync(HEARTH, ['config'], { env: { ...env, REMOTE_TEST_KEY: KEY }, encoding: 'utf8' }));
  assert.ok(config.length > 0);
  // No worker was started for any of it.
  const ps = await fetch(proxy.url + '/api/ps').then((r) => r.json());
  assert.deepEqual(ps.models, []);
});

test('embeddings and a load request for a remote model', async () => {
  const load = await post(proxy.url, '/api/generate', { model: 'far' });
  assert.equal(load.status, 200);
  assert.equal(load.body.done_reason, 'load');
  // stories260K is not an embedding model: the remote refuses, and its refusal comes back.
  const emb = await post(proxy.url, '/v1/embeddings', { model: 'far', input: 'hello' });
  remember(emb.text);
  const direct = await post(remote.url, '/v1/embeddings', { model: 'stories260K', input: 'hello' }, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(emb.status === 200, direct.status === 200, `${emb.status} ${emb.text} vs ${direct.status}`);
  if (direct.status === 200)
    assert.deepEqual(emb.body.data[0].embedding.length, direct.body.data[0].embedding.length);
});

test('bad answers from a remote: 5xx, not JSON, a line too long, a stall, a cut stream', async () => {
  const chat = (model, extra = {}) => post(proxy.url, '/v1/chat/completions', { model, messages, ...extra });
  let r = remember(await chat('fake-error500'));
  assert.equal(r.status, 502);
  assert.match(r.body.error.message, /fake-error500:latest.*answered 500: engine exploded/);
  r = remember(await chat('fake-notjson'));
  assert.equal(r.status, 502);
  assert.match(r.body.error.message, /a stream that is not JSON/);
  r = remember(await chat('fake-longline'));
  assert.equal(r.status, 502);
  assert.match(r.body.error.message, /a line longer than 1048576 bytes/);
  const t0 = Date.now();
  r = remember(await post(proxy.url, '/api/chat', { model: 'fake-stall', messages }));
  const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(r.status, 200, 'the stream had started');
  assert.equal(lines[0].message.content, 'first');
  assert.match(lines[lines.length - 1].error, /sent nothing for 2 s/);
  assert.ok(Date.now() - t0 < 10000);
  r = remember(await chat('fake-midfail', { stream: true }));
  assert.equal(r.status, 200);
  assert.match(r.text, /Hello/);
  assert.match(r.text, /"error"/);
  // A remote that does not stream: its whole answer is taken.
  const w = remember(await viaOpenAI().chat.completions.create({ model: 'fake-whole', messages }));
  assert.equal(w.choices[0].message.content, 'a whole answer');
  assert.equal(w.usage.completion_tokens, 4);
  // The remote quoting the key back: masked.
  r = remember(await chat('fake-echokey'));
  assert.equal(r.status, 401);
  assert.match(r.body.error.message, /bad key Bearer \*{8}/);
  await assertHealthy(assert, proxy.url);
});

test('what a remote receives: the key as a Bearer token, the section\'s system prompt and sampling settings, no load settings', async () => {
  fakeSeen.length = 0;
  const r = await viaOpenAI().chat.completions.create({ model: 'fake-params', messages, temperature: 0.5, max_tokens: 7 });
  assert.equal(r.choices[0].message.content, 'Hi there');
  const got = fakeSeen[0];
  assert.equal(got.path, '/v1/chat/completions');
  assert.equal(got.auth, undefined, 'fake-params has no key');
  assert.deepEqual(got.body.messages, [{ role: 'system', content: 'You are a remote.' }, ...messages]);
  assert.equal(got.body.model, 'plain');
  assert.equal(got.body.stream, true);
  assert.equal(got.body.max_tokens, 7);
  assert.equal(got.body.temperature, 0.5);
  assert.equal(got.body.top_k, 17);
  assert.equal(got.body.num_ctx, undefined);
  assert.equal(got.body.top_p, undefined, 'hearth\'s defaults are not sent');
  fakeSeen.length = 0;
  await viaOpenAI().completions.create({ model: 'fake-plain', prompt: 'Once' });
  assert.equal(fakeSeen[0].path, '/v1/completions');
  assert.equal(fakeSeen[0].auth, `Bearer ${KEY}`);
  assert.equal(fakeSeen[0].body.prompt, 'Once');
});

test('tools go to the remote; its reasoning and tool calls come back in each API\'s shape', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  fakeSeen.length = 0;
  const o = remember(await viaOpenAI().chat.completions.create({ model: 'fake-tools', messages, tools, tool_choice: 'required' }));
  assert.deepEqual(fakeSeen[0].body.tools, tools);
  assert.equal(fakeSeen[0].body.tool_choice, 'required');
  const call = o.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  assert.equal(o.choices[0].finish_reason, 'tool_calls');
  assert.equal(o.choices[0].message.reasoning_content, 'The user wants the weather.');

  let streamedArgs = '', name = '';
  for await (const c of await viaOpenAI().chat.completions.create({ model: 'fake-tools', messages, tools, stream: true })) {
    const tc = remember(c).choices[0]?.delta?.tool_calls?.[0];
    if (tc?.function?.name) name = tc.function.name;
    if (tc?.function?.arguments) streamedArgs += tc.function.arguments;
  }
  assert.equal(name, 'get_weather');
  assert.deepEqual(JSON.parse(streamedArgs), { city: 'Paris' });

  const ol = remember(await viaOllama().chat({ model: 'fake-tools', messages, tools, think: true }));
  assert.equal(ol.message.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(ol.message.tool_calls[0].function.arguments, { city: 'Paris' });
  assert.equal(ol.message.thinking, 'The user wants the weather.');

  const an = remember(await viaAnthropic().messages.create({ model: 'fake-tools', max_tokens: 50, messages,
    tools: [{ name: 'get_weather', description: 'Weather of a city', input_schema: tools[0].function.parameters }] }));
  const use = an.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(use.input, { city: 'Paris' });
  assert.equal(an.stop_reason, 'tool_use');
  // A tool result goes back to the remote in OpenAI's shape, arguments as JSON text.
  fakeSeen.length = 0;
  await viaOpenAI().chat.completions.create({ model: 'fake-plain', messages: [...messages,
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }], tools });
  const sent = fakeSeen[0].body.messages;
  assert.equal(sent[1].tool_calls[0].function.arguments, '{"city":"Paris"}');
  assert.equal(sent[2].role, 'tool');
  assert.equal(sent[2].tool_call_id, 'call_1');
  assert.equal(sent[2].content, 'sunny');
});

test('the key never appears in the proxy\'s log or answers', async () => {
  assert.ok(seen.length > 1000);
  assert.ok(!seen.includes(KEY), 'an answer holds the key');
  assert.ok(!proxy.log().includes(KEY), 'the log holds the key');
  assert.match(proxy.log(), /level=debug/, 'the log was at debug level');
  await assertHealthy(assert, proxy.url);
  await assertHealthy(assert, remote.url);
});

test('bad remote values in a presets file stop startup with the line and a clear message', () => {
  const cases = [
    ['[x]\nremote = ftp://h/v1\nremote-model = m\n', /bad\.ini:2: remote must be an http:\/\/ or https:\/\/ URL/],
    ['[x]\nremote = http://h/v1\n', /bad\.ini:1: \[x:latest\] has remote but no remote-model/],
    ['[x]\nremote = http://h/v1\nremote-model = m\nremote-api-key-env = sk-123\n', /remote-api-key-env must name an environment variable/],
    ['[x]\nremote = https://me:pw@h/v1\nremote-model = m\n', /remote must not hold credentials/],
  ];
  for (const [text, re] of cases) {
    const ini = join(dir, 'bad.ini');
    writeFileSync(ini, text);
    const r = spawnSync(HEARTH, ['serve', '--host', '127.0.0.1:0', '--models-preset', ini], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, re);
  }
});
