// llama-server's native routes against a real `hearth serve -m stories260K`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, assertHealthy, waitForLog, KNOWN_CONTINUATION } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer({ args: ['--model', 'stories260K'] });
  for (let i = 0; i < 100; i++) {
    const h = await fetch(srv.url + '/health');
    if (h.status === 200) break;
    assert.equal(h.status, 503, 'loading');
    await new Promise((r) => setTimeout(r, 50));
  }
});
after(async () => { await srv.stop(); });

test('health', async () => {
  const r = await fetch(srv.url + '/health');
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok' });
  const broken = await startServer({ args: ['--model', 'nope'] });
  try {
    let h;
    for (let i = 0; i < 100; i++) {
      h = await fetch(broken.url + '/health');
      if (h.status !== 503) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(h.status, 500);
    assert.match((await h.json()).error.message, /failed to load/);
  } finally {
    await broken.stop();
  }
});

test('/completion: the known story, timings, probabilities, stream', async () => {
  const r = await post(srv.url, '/completion', { prompt: 'Once upon a time', n_predict: 30, temperature: 0 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.content, KNOWN_CONTINUATION);
  assert.equal(r.body.stop, true);
  assert.equal(r.body.stop_type, 'limit');
  assert.equal(r.body.tokens_predicted, 30);
  assert.equal(r.body.tokens_evaluated, 5);
  assert.equal(r.body.timings.prompt_n, 5);
  assert.equal(r.body.timings.predicted_n, 30);
  assert.ok(r.body.timings.predicted_per_second > 0);
  const w = await post(srv.url, '/completion', { prompt: 'Once upon a time', n_predict: 30, temperature: 0, stop: ['Lily'] });
  assert.equal(w.body.stop_type, 'word');
  assert.equal(w.body.stopping_word, 'Lily');
  const p = await post(srv.url, '/completion', { prompt: 'Once upon a time', n_predict: 2, temperature: 0, n_probs: 2 });
  assert.equal(p.body.completion_probabilities.length, 2);
  assert.equal(p.body.completion_probabilities[0].token, ',');
  assert.equal(typeof p.body.completion_probabilities[0].id, 'number');
  assert.equal(p.body.completion_probabilities[0].top_logprobs.length, 2);
  const t = await post(srv.url, '/tokenize', { content: 'Once upon a time', add_special: true });
  const byIds = await post(srv.url, '/completion', { prompt: t.body.tokens, n_predict: 30, temperature: 0 });
  assert.equal(byIds.body.content, KNOWN_CONTINUATION, 'a prompt of token ids');
  const res = await fetch(srv.url + '/completion', { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', n_predict: 30, temperature: 0, stream: true }) });
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const events = (await res.text()).split('\n\n').filter(Boolean).map((l) => JSON.parse(l.replace(/^data: /, '')));
  assert.equal(events.map((e) => e.content).join(''), KNOWN_CONTINUATION);
  assert.equal(events.at(-1).stop, true);
  assert.equal(events.at(-1).timings.predicted_n, 30);
});

test('tokenize, detokenize, apply-template', async () => {
  const t = await post(srv.url, '/tokenize', { content: 'Once upon a time' });
  assert.deepEqual(t.body.tokens, [403, 407, 261, 378]);
  const withBos = await post(srv.url, '/tokenize', { content: 'Once upon a time', add_special: true });
  assert.deepEqual(withBos.body.tokens, [1, 403, 407, 261, 378]);
  const pieces = await post(srv.url, '/tokenize', { content: 'Once upon', with_pieces: true });
  assert.deepEqual(pieces.body.tokens, [{ id: 403, piece: ' Once' }, { id: 407, piece: ' upon' }]);
  const d = await post(srv.url, '/detokenize', { tokens: [403, 407, 261, 378] });
  assert.equal(d.body.content, ' Once upon a time');
  const a = await post(srv.url, '/apply-template', { model: 'chatty', messages: [{ role: 'user', content: 'hi' }] });
  // Qwen2's Jinja template adds its default system prompt when the chat has none.
  assert.equal(a.body.prompt, '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' +
    '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
});

test('embedding, props, slots, rerank', async () => {
  const e = await post(srv.url, '/embedding', { content: ['hello', 'world'] });
  assert.equal(e.status, 200);
  assert.equal(e.body.length, 2);
  assert.equal(e.body[1].index, 1);
  assert.equal(e.body[0].embedding.length, 64);
  const props = await (await fetch(srv.url + '/props')).json();
  assert.equal(props.model_alias, 'stories260K:latest');
  assert.equal(props.default_generation_settings.top_k, 40);
  const chattyProps = await (await fetch(srv.url + '/props?model=chatty')).json();
  assert.match(chattyProps.chat_template, /im_start/, 'GET routes pick the model with ?model=');
  const slots = await (await fetch(srv.url + '/slots')).json();
  assert.ok(slots.some((s) => s.model === 'stories260K:latest'));
  const rr = await post(srv.url, '/v1/rerank', { query: 'x', documents: ['a', 'b'] });
  assert.equal(rr.status, 400, 'stories260K is not a reranker');
  assert.match(rr.body.error.message, /not a reranker/);
  const docs = ['a cat sleeps', 'dogs bark at night', 'cats purr', 'the stock market fell'];
  const r = await post(srv.url, '/rerank', { model: 'reranker', query: 'cats', documents: docs, return_text: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.results.length, 4);
  const scores = r.body.results.map((x) => x.relevance_score);
  assert.deepEqual([...scores].sort((a, b) => b - a), scores, 'sorted by relevance');
  assert.deepEqual(r.body.results.map((x) => x.index).sort(), [0, 1, 2, 3]);
  r.body.results.forEach((x) => assert.equal(x.document, docs[x.index]));
  const top = await post(srv.url, '/v1/rerank', { model: 'reranker', query: 'cats', documents: docs, top_n: 2 });
  assert.deepEqual(top.body.results, r.body.results.slice(0, 2).map(({ index, relevance_score }) => ({ index, relevance_score })));
  assert.ok(top.body.usage.prompt_tokens > 8);
  const show = await post(srv.url, '/api/show', { model: 'reranker' });
  assert.deepEqual(show.body.capabilities, ['rerank']);
  const empty = await post(srv.url, '/rerank', { model: 'reranker', query: 'cats', documents: [] });
  assert.equal(empty.status, 400);
});

test('errors in llama-server shape', async () => {
  const bad = async (path, body, status, re) => {
    const r = await post(srv.url, path, body, { raw: typeof body === 'string' });
    assert.equal(r.status, status, r.text);
    assert.equal(r.body.error.code, status);
    assert.match(r.body.error.message, re);
    await assertHealthy(assert, srv.url);
  };
  await bad('/completion', '{', 400, /invalid JSON/);
  await bad('/completion', { n_predict: 3 }, 400, /prompt is required/);
  await bad('/completion', { prompt: 'x', model: 'nope' }, 404, /not found/);
  await bad('/completion', { prompt: 'x', temperature: 'warm' }, 400, /temperature/);
  await bad('/completion', { prompt: [1, 'a'] }, 400, /token ids/);
  await bad('/completion', { prompt: 'x', json_schema: { type: 'string', format: 'hostname' } }, 400, /json_schema: JSON schema: format 'hostname'/);
  await bad('/completion', { prompt: 'x', grammar: 'root ::= (' }, 400, /invalid grammar/);
  await bad('/tokenize', {}, 400, /content is required/);
  await bad('/detokenize', { tokens: ['a'] }, 400, /token ids/);
  await bad('/detokenize', { tokens: [999999] }, 400, /outside the vocabulary/);
  const plain = await post(srv.url, '/apply-template', { messages: [{ role: 'user', content: 'x' }] });
  assert.equal(plain.body.prompt, 'User: x\n\nAssistant:', 'no chat template: the plain format');
  await bad('/embedding', { content: 5 }, 400, /content/);
});

test('/metrics is scraped: requests, tokens, first-token times, models, restarts', async () => {
  await post(srv.url, '/completion', { prompt: 'Once upon a time', n_predict: 7, temperature: 0 });
  const text = await (await fetch(srv.url + '/metrics')).text();
  const value = (re) => {
    const m = text.match(re);
    assert.ok(m, `metrics have ${re}:\n${text}`);
    return Number(m[1]);
  };
  assert.ok(value(/^hearth_requests_total\{route="\/completion",status="200"\} (\d+)$/m) >= 5);
  assert.ok(value(/^hearth_requests_total\{route="\/completion",status="400"\} (\d+)$/m) >= 3);
  assert.ok(value(/^hearth_generated_tokens_total (\d+)$/m) >= 7);
  assert.ok(value(/^hearth_prompt_tokens_total (\d+)$/m) >= 5);
  assert.ok(value(/^hearth_time_to_first_token_seconds_count (\d+)$/m) >= 1);
  assert.ok(value(/^hearth_time_to_first_token_seconds_bucket\{le="\+Inf"\} (\d+)$/m) >= 1);
  assert.ok(value(/^hearth_generation_tokens_per_second ([\d.]+)$/m) > 0);
  assert.ok(value(/^hearth_models_loaded (\d+)$/m) >= 1);
  assert.equal(value(/^hearth_queue_depth (\d+)$/m), 0);
  assert.match(text, /^# TYPE hearth_time_to_first_token_seconds histogram$/m);
  // Unknown paths share one label: a client cannot grow the series.
  await fetch(srv.url + '/x' + Math.random());
  const again = await (await fetch(srv.url + '/metrics')).text();
  assert.match(again, /hearth_requests_total\{route="unmatched",status="404"\}/);
  assert.ok(!/route="\/x0/.test(again));

  const crashy = await startServer({ env: { HEARTH_TEST_FAULT: 'abort_after_tokens:1' }, args: ['--no-metrics'] });
  try {
    assert.equal((await fetch(crashy.url + '/metrics')).status, 404, '--no-metrics');
  } finally {
    await crashy.stop();
  }
  const crashy2 = await startServer({ env: { HEARTH_TEST_FAULT: 'abort_after_tokens:1' } });
  try {
    await post(crashy2.url, '/completion', { model: 'stories260K', prompt: 'Once', n_predict: 5 });
    const t = await (await fetch(crashy2.url + '/metrics')).text();
    assert.match(t, /^hearth_worker_restarts_total 1$/m);
  } finally {
    await crashy2.stop();
  }
});

test('the prompt cache survives an unload, and a damaged cache only costs recomputation', async () => {
  const { readdirSync, writeFileSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const s = await startServer();
  try {
    const prompt = 'Once upon a time '.repeat(40);
    const ask = () => post(s.url, '/completion', { model: 'stories260K', prompt, n_predict: 16, temperature: 0 });
    const first = await ask();
    assert.equal(first.body.timings.cache_n, 0);
    // Unload: the worker writes the prompt's keys and values before it goes.
    await post(s.url, '/api/generate', { model: 'stories260K', prompt: '', keep_alive: 0 });
    const files = readdirSync(join(s.dir, 'prompts')).filter((f) => f.endsWith('.kv'));
    assert.equal(files.length, 1, 'one saved prompt');
    const again = await ask();
    assert.ok(again.body.timings.cache_n >= 150, `restored after the reload: ${JSON.stringify(again.body.timings)}`);
    assert.equal(again.body.content, first.body.content, 'the restored cache gives the same text');
    // Damage the file: the next reload recomputes, warns, and removes it.
    await post(s.url, '/api/generate', { model: 'stories260K', prompt: '', keep_alive: 0 });
    for (const f of readdirSync(join(s.dir, 'prompts')).filter((x) => x.endsWith('.kv'))) {
      const p = join(s.dir, 'prompts', f);
      const b = readFileSync(p);
      b[b.length - 10] ^= 0xff;
      writeFileSync(p, b);
    }
    const damaged = await ask();
    assert.equal(damaged.body.content, first.body.content, 'a damaged file never changes the answer');
    assert.equal(damaged.body.timings.cache_n, 0);
    assert.match(await waitForLog(s, /prompt cache file is damaged/), /prompt cache file is damaged/);
  } finally {
    await s.stop();
  }
  // A cache with no room (a 0 MiB cap): nothing is kept, nothing goes wrong.
  const full = await startServer({ env: { HEARTH_PROMPT_CACHE_MAX_MB: '0' } });
  try {
    const { readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const prompt = 'Lily '.repeat(60);
    const a = await post(full.url, '/completion', { model: 'stories260K', prompt, n_predict: 8, temperature: 0 });
    await post(full.url, '/api/generate', { model: 'stories260K', prompt: '', keep_alive: 0 });
    assert.deepEqual(readdirSync(join(full.dir, 'prompts')).filter((f) => f.endsWith('.kv')), []);
    const b = await post(full.url, '/completion', { model: 'stories260K', prompt, n_predict: 8, temperature: 0 });
    assert.equal(b.body.content, a.body.content);
  } finally {
    await full.stop();
  }
  // A directory that cannot be written: the server works, it only recomputes.
  const ro = await startServer({ env: { HEARTH_PROMPT_CACHE_DIR: '/proc/hearth-nope' } });
  try {
    const prompt = 'Lily '.repeat(60);
    const a = await post(ro.url, '/completion', { model: 'stories260K', prompt, n_predict: 8, temperature: 0 });
    await post(ro.url, '/api/generate', { model: 'stories260K', prompt: '', keep_alive: 0 });
    const b = await post(ro.url, '/completion', { model: 'stories260K', prompt, n_predict: 8, temperature: 0 });
    assert.equal(b.body.content, a.body.content);
    assert.equal(b.body.timings.cache_n, 0);
  } finally {
    await ro.stop();
  }
});

test('a prompt pushed out of its slot comes back from the RAM tier of the prompt cache', async () => {
  // One slot, no directory: only the RAM tier can bring the first prompt back.
  const s = await startServer({ args: ['--parallel', '1'], env: { HEARTH_PROMPT_CACHE_DIR: 'off' } });
  try {
    const story = 'Once upon a time '.repeat(40), other = 'Lily went to the park. '.repeat(20);
    const ask = (prompt) => post(s.url, '/completion', { model: 'stories260K', prompt, n_predict: 16, temperature: 0 });
    const first = await ask(story);
    assert.equal(first.body.timings.cache_n, 0);
    const between = await ask(other); // takes the only slot
    assert.equal(between.body.timings.cache_n, 1, 'only the BOS is shared');
    const back = await ask(story);
    assert.ok(back.body.timings.cache_n >= 150, `restored from RAM: ${JSON.stringify(back.body.timings)}`);
    assert.equal(back.body.content, first.body.content, 'the restored prompt gives the same text');
    assert.match(await waitForLog(s, /prompt cache restored from RAM/), /prompt cache restored from RAM/);
  } finally {
    await s.stop();
  }
  // A budget that is not a number is named in a warning, and the default applies.
  const odd = await startServer({ args: ['--parallel', '1'],
    env: { HEARTH_PROMPT_CACHE_DIR: 'off', HEARTH_PROMPT_CACHE_RAM_MB: 'lots' } });
  try {
    const story = 'Once upon a time '.repeat(40);
    const ask = (prompt) => post(odd.url, '/completion', { model: 'stories260K', prompt, n_predict: 16, temperature: 0 });
    await ask(story);
    await ask('Lily went to the park. '.repeat(20));
    const back = await ask(story);
    assert.ok(back.body.timings.cache_n >= 150, 'the default RAM budget kept it');
    const warned = /not a size in MiB; the default is used" var=HEARTH_PROMPT_CACHE_RAM_MB value="lots"/;
    assert.match(await waitForLog(odd, warned), warned);
  } finally {
    await odd.stop();
  }
  // With no RAM either, the prompt is computed again.
  const none = await startServer({ args: ['--parallel', '1'],
    env: { HEARTH_PROMPT_CACHE_DIR: 'off', HEARTH_PROMPT_CACHE_RAM_MB: '0' } });
  try {
    const story = 'Once upon a time '.repeat(40);
    const ask = (prompt) => post(none.url, '/completion', { model: 'stories260K', prompt, n_predict: 16, temperature: 0 });
    const first = await ask(story);
    await ask('Lily went to the park. '.repeat(20));
    const back = await ask(story);
    assert.equal(back.body.timings.cache_n, 1, 'only the BOS that the slot holds');
    assert.equal(back.body.content, first.body.content);
  } finally {
    await none.stop();
  }
});
