// The official `ollama` npm client, unmodified, against a real `hearth serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startServer, KNOWN_CONTINUATION, assertHealthy, slotsFree } from './helpers.mjs';

let srv, ollama;
before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.url });
});
after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, 'hearth serve exits 0 on SIGTERM');
});

const greedy = { temperature: 0, num_predict: 30 };

test('version and list', async () => {
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+/);
  const list = await ollama.list();
  const names = list.models.map((m) => m.name).sort();
  assert.ok(names.includes('stories260K:latest'));
  assert.ok(names.includes('tiny:latest'));
  const s = list.models.find((m) => m.name === 'stories260K:latest');
  assert.equal(s.size, 1185376);
  assert.equal(s.details.format, 'gguf');
  assert.equal(s.details.family, 'llama');
  assert.equal(s.details.quantization_level, 'F32');
  assert.match(s.digest, /^[0-9a-f]{64}$/);
  const t = list.models.find((m) => m.name === 'tiny:latest');
  assert.equal(t.details.quantization_level, 'Q8_0');
});

test('show', async () => {
  const s = await ollama.show({ model: 'stories260K' });
  assert.equal(s.details.family, 'llama');
  assert.equal(s.model_info['general.architecture'], 'llama');
  assert.equal(s.model_info['llama.block_count'], 5);
  assert.equal(s.model_info['tokenizer.ggml.tokens'], null, 'the vocabulary is left out');
  assert.ok(s.capabilities.includes('completion'));
  assert.match(s.modelfile, /FROM .*stories260K\.gguf/);
  const v = await ollama.show({ model: 'stories260K', verbose: true });
  assert.equal(v.model_info['tokenizer.ggml.tokens'].length, 512, 'verbose includes it');
  const c = await ollama.show({ model: 'chatty' });
  assert.match(c.template, /im_start/);
});

test('generate, not streamed: the known story under greedy sampling', async () => {
  const r = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time', options: greedy });
  assert.equal(r.response, KNOWN_CONTINUATION);
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'length');
  assert.equal(r.eval_count, 30);
  assert.equal(r.prompt_eval_count, 5);
  assert.ok(r.total_duration > 0 && r.eval_duration > 0 && r.prompt_eval_duration > 0);
  assert.ok(Array.isArray(r.context) && r.context.length === 35);
  // The context continues the text.
  const more = await ollama.generate({ model: 'stories260K', prompt: '', context: r.context,
    options: { temperature: 0, num_predict: 5 } });
  assert.equal(more.done_reason, 'load', 'an empty prompt only loads, even with a context');
  const next = await ollama.generate({ model: 'stories260K', prompt: ' She', context: r.context,
    options: { temperature: 0, num_predict: 6 } });
  assert.ok(next.response.length > 0);
  assert.ok(next.prompt_eval_count > 35, 'the earlier context was evaluated again');
});

test('generate, streamed', async () => {
  const stream = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time',
    options: greedy, stream: true });
  let text = '', chunks = 0, last;
  for await (const part of stream) {
    text += part.response;
    chunks++;
    last = part;
  }
  assert.equal(text, KNOWN_CONTINUATION);
  assert.ok(chunks > 10, 'one chunk per token');
  assert.equal(last.done, true);
  assert.equal(last.eval_count, 30);
});

test('stop strings and seeds through options', async () => {
  const r = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time',
    options: { ...greedy, stop: ['Lily'] } });
  assert.equal(r.response, ', there was a little girl named ');
  assert.equal(r.done_reason, 'stop');
  const a = await ollama.generate({ model: 'stories260K', prompt: 'Once', options: { seed: 7, temperature: 1, num_predict: 20 } });
  const b = await ollama.generate({ model: 'stories260K', prompt: 'Once', options: { seed: 7, temperature: 1, num_predict: 20 } });
  assert.equal(a.response, b.response);
});

test('llama.cpp samplers Ollama dropped are accepted', async () => {
  const r = await ollama.generate({ model: 'stories260K', prompt: 'Once', options: {
    seed: 3, num_predict: 10, mirostat: 2, mirostat_tau: 4, mirostat_eta: 0.2 } });
  assert.equal(r.eval_count, 10);
  const d = await ollama.generate({ model: 'stories260K', prompt: 'Once', options: {
    seed: 3, num_predict: 10, dry_multiplier: 0.8, xtc_probability: 0.5, top_n_sigma: 1.5,
    logit_bias: { 2: -100 }, grammar: 'root ::= "yes" | "no"' } });
  assert.ok(['yes', 'no'].includes(d.response));
});

test('chat, streamed and not, with a model that has a chat template', async () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }];
  const r = await ollama.chat({ model: 'chatty', messages, options: { temperature: 0, num_predict: 8 } });
  assert.equal(r.message.role, 'assistant');
  assert.equal(typeof r.message.content, 'string');
  assert.equal(r.done, true);
  assert.equal(r.eval_count, 8);
  assert.ok(r.prompt_eval_count > 10, 'the template wrapped the messages');
  const stream = await ollama.chat({ model: 'chatty', messages, stream: true, options: { temperature: 0, num_predict: 8 } });
  let text = '';
  for await (const part of stream) text += part.message.content;
  assert.equal(text, r.message.content, 'streamed and whole answers agree');
});

test('embed and the legacy embeddings route', async () => {
  const r = await ollama.embed({ model: 'stories260K', input: ['hello', 'world'] });
  assert.equal(r.embeddings.length, 2);
  assert.equal(r.embeddings[0].length, 64);
  const norm = Math.hypot(...r.embeddings[0]);
  assert.ok(Math.abs(norm - 1) < 1e-4, 'normalised');
  assert.notDeepEqual(r.embeddings[0], r.embeddings[1]);
  const again = await ollama.embed({ model: 'stories260K', input: 'hello' });
  assert.deepEqual(again.embeddings[0], r.embeddings[0], 'deterministic');
  const cut = await ollama.embed({ model: 'stories260K', input: 'hello', dimensions: 8 });
  assert.equal(cut.embeddings[0].length, 8);
  const legacy = await ollama.embeddings({ model: 'stories260K', prompt: 'hello' });
  assert.equal(legacy.embedding.length, 64);
});

test('ps, keep_alive and unload', async () => {
  await ollama.generate({ model: 'tiny', prompt: 'Once', options: { num_predict: 2 }, keep_alive: '10m' });
  let ps = await ollama.ps();
  const m = ps.models.find((x) => x.name === 'tiny:latest');
  assert.ok(m, 'tiny is loaded');
  const left = (Date.parse(m.expires_at) - Date.now()) / 1000;
  assert.ok(left > 500 && left <= 601, `expires in about 10 minutes, not ${left}s`);
  assert.equal(m.context_length, 512);
  const r = await ollama.generate({ model: 'tiny', prompt: '', keep_alive: 0 });
  assert.equal(r.done_reason, 'unload');
  ps = await ollama.ps();
  assert.ok(!ps.models.find((x) => x.name === 'tiny:latest'), 'keep_alive 0 unloaded it');
  // A load with an empty prompt.
  const l = await ollama.generate({ model: 'tiny', prompt: '' });
  assert.equal(l.done_reason, 'load');
  ps = await ollama.ps();
  assert.ok(ps.models.find((x) => x.name === 'tiny:latest'));
});

test('copy and delete', async () => {
  await ollama.copy({ source: 'tiny', destination: 'tiny-copy:v2' });
  let list = await ollama.list();
  assert.ok(list.models.find((m) => m.name === 'tiny-copy:v2'));
  const r = await ollama.generate({ model: 'tiny-copy:v2', prompt: 'Once', options: { temperature: 0, num_predict: 3 } });
  assert.equal(r.eval_count, 3);
  await ollama.delete({ model: 'tiny-copy:v2' });
  list = await ollama.list();
  assert.ok(!list.models.find((m) => m.name === 'tiny-copy:v2'));
  await assert.rejects(ollama.delete({ model: 'tiny-copy:v2' }), /not found/);
});

test('abort of a stream stops the generation', async () => {
  const stream = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time',
    stream: true, options: { num_predict: 1000000, num_ctx: 100000, ignore_eos: true } });
  let n = 0;
  const t0 = Date.now();
  await assert.rejects((async () => {
    for await (const part of stream) {
      if (++n === 3) stream.abort();
    }
  })(), /abort/i);
  // The slot is free again within a step or two: /slots and /metrics say so.
  assert.ok(await slotsFree(srv.url, 50), 'the aborted request no longer holds the model');
  const metrics = await (await fetch(srv.url + '/metrics')).text();
  assert.match(metrics, /^hearth_queue_depth 0$/m);
  // The worker is free again at once: a short request is not stuck behind the long one.
  const r = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time',
    options: { temperature: 0, num_predict: 30, num_ctx: 100000, ignore_eos: true } });
  assert.equal(r.response, KNOWN_CONTINUATION);
  assert.ok(Date.now() - t0 < 20000, 'the aborted generation did not run on');
  await assertHealthy(assert, srv.url);
});

test('two clients on one model are both served, never mixed up', async () => {
  const ask = (prompt) => ollama.generate({ model: 'stories260K', prompt, options: greedy });
  const [a, b, c] = await Promise.all([ask('Once upon a time'), ask('Lily'), ask('Once upon a time')]);
  assert.equal(a.response, KNOWN_CONTINUATION);
  assert.equal(c.response, KNOWN_CONTINUATION);
  assert.notEqual(b.response, KNOWN_CONTINUATION);
  const b2 = await ask('Lily');
  assert.equal(b.response, b2.response);
});
