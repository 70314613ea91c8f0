// The official `openai` npm client, unmodified, against a real `hearth serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, KNOWN_CONTINUATION, assertHealthy, post } from './helpers.mjs';

let srv, client;
before(async () => {
  srv = await startServer();
  client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
});
after(async () => { await srv.stop(); });

test('models', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes('stories260K:latest'));
  const m = await client.models.retrieve('stories260K');
  assert.equal(m.id, 'stories260K:latest');
  assert.equal(m.object, 'model');
  await assert.rejects(client.models.retrieve('nope'), (e) => e.status === 404 && /not found/.test(e.message));
});

test('completions: the known story, whole and streamed', async () => {
  const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
  assert.equal(r.choices[0].text, KNOWN_CONTINUATION);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.prompt_tokens, 5);
  assert.equal(r.usage.completion_tokens, 30);
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, 0);
  const stream = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.text ?? '';
  assert.equal(text, KNOWN_CONTINUATION);
  const echo = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, temperature: 0, echo: true });
  assert.equal(echo.choices[0].text, 'Once upon a time' + KNOWN_CONTINUATION);
  const two = await client.completions.create({ model: 'stories260K', prompt: ['Once upon a time', 'Lily'], max_tokens: 30, temperature: 0 });
  assert.equal(two.choices.length, 2);
  assert.equal(two.choices[0].text, KNOWN_CONTINUATION);
  const lp = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 3, temperature: 0, logprobs: 2 });
  assert.deepEqual(lp.choices[0].logprobs.tokens, [',', ' there', ' was']);
  assert.equal(Object.keys(lp.choices[0].logprobs.top_logprobs[0]).length, 2);
});

test('chat completions, whole and streamed, n and usage', async () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hello!' }] }];
  const r = await client.chat.completions.create({ model: 'chatty', messages, max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.usage.completion_tokens, 8);
  assert.ok(r.usage.prompt_tokens > 10);
  const stream = await client.chat.completions.create({ model: 'chatty', messages, max_completion_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '', usage, role;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.role) role = c.choices[0].delta.role;
    text += c.choices[0]?.delta?.content ?? '';
    if (c.usage) usage = c.usage;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, r.choices[0].message.content);
  assert.equal(usage.completion_tokens, 8);
  // Sampling from the same logits with the same seed draws the same tokens. A prefix-cache hit
  // computes the last prompt token in a batch of its own, whose logits may differ in the last
  // bits, and this random model's flat distribution turns that into other words: ask for the
  // whole prompt each time, as llama-server's cache_prompt: false does.
  const n = await client.chat.completions.create({ model: 'chatty', messages, max_tokens: 6, n: 3, seed: 5, cache_prompt: false });
  assert.equal(n.choices.length, 3);
  assert.deepEqual(n.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(n.usage.completion_tokens, 18);
  const again = await client.chat.completions.create({ model: 'chatty', messages, max_tokens: 6, n: 3, seed: 5, cache_prompt: false });
  assert.deepEqual(again.choices.map((c) => c.message.content), n.choices.map((c) => c.message.content), 'same seed, same choices');
});

test('chat: logprobs, json_object, llama.cpp extras and num_ctx', async () => {
  const r = await client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2 });
  assert.equal(r.choices[0].logprobs.content.length, 4);
  assert.equal(r.choices[0].logprobs.content[0].top_logprobs.length, 2);
  const j = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 40, temperature: 0,
    response_format: { type: 'json_object' } });
  assert.match(j.choices[0].text, /^\{/);
  const x = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 8,
    top_k: 5, min_p: 0.1, mirostat: 2, dry_multiplier: 0.5, xtc_probability: 0.2, num_ctx: 128, seed: 1 });
  assert.equal(x.usage.completion_tokens, 8);
  const g = await client.completions.create({ model: 'stories260K', prompt: 'Is it?', max_tokens: 8, grammar: 'root ::= "yes" | "no"' });
  assert.ok(['yes', 'no'].includes(g.choices[0].text));
});

test('embeddings: float and base64', async () => {
  const r = await client.embeddings.create({ model: 'stories260K', input: ['hello', 'world'] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[1].index, 1);
  assert.equal(r.data[0].embedding.length, 64);
  assert.ok(Math.abs(Math.hypot(...r.data[0].embedding) - 1) < 1e-4);
  const d = await client.embeddings.create({ model: 'stories260K', input: 'hello', dimensions: 16 });
  assert.equal(d.data[0].embedding.length, 16);
  // The client asks for base64 itself and decodes it: the values must match the float answer.
  const raw = await post(srv.url, '/v1/embeddings', { model: 'stories260K', input: 'hello', encoding_format: 'base64' });
  const buf = Buffer.from(raw.body.data[0].embedding, 'base64');
  const floats = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
  floats.forEach((v, i) => assert.ok(Math.abs(v - r.data[0].embedding[i]) < 1e-6));
});

test('errors in OpenAI shape', async () => {
  const bad = async (p, status, re) => {
    await assert.rejects(p, (e) => {
      assert.equal(e.status, status, e.message);
      assert.match(e.message, re);
      return true;
    });
    await assertHealthy(assert, srv.url);
  };
  await bad(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), 404, /not found/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [] }), 400, /messages/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'x' }], temperature: -1 }), 400, /temperature/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'x' }], max_tokens: 'many' }), 400, /max_tokens/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'x' }], n: 99 }), 400, /'n'/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'x' }],
    tools: [{ type: 'function', function: { name: 'no spaces allowed', parameters: {} } }] }), 400, /tools\[0\] needs a name/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'x' }],
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'integer', multipleOf: 3 } } } }), 400, /'multipleOf'/);
  await bad(client.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:' } }] }] }), 400, /image_url/);
  await bad(client.completions.create({ model: 'stories260K', prompt: 5 }), 400, /prompt/);
  await bad(client.completions.create({ prompt: 'x' }), 400, /model/);
  await bad(client.embeddings.create({ model: 'stories260K', input: [[1, 2]] }), 400, /token id/);
  await bad(client.embeddings.create({ model: 'stories260K', input: 'x', encoding_format: 'hex' }), 400, /encoding_format/);
  const raw = await post(srv.url, '/v1/chat/completions', '{nope', { raw: true });
  assert.equal(raw.status, 400);
  assert.equal(raw.body.error.type, 'invalid_request_error');
  assert.match(raw.body.error.message, /invalid JSON/);
});

test('responses: whole, streamed, and previous_response_id continues the conversation', async () => {
  const r1 = await client.responses.create({ model: 'chatty', input: 'Hello there', instructions: 'Be brief.',
    max_output_tokens: 6, temperature: 0 });
  assert.equal(r1.object, 'response');
  assert.match(r1.id, /^resp_/);
  assert.equal(r1.output[0].type, 'message');
  assert.equal(r1.output[0].content[0].type, 'output_text');
  assert.equal(typeof r1.output_text, 'string');
  assert.equal(r1.usage.output_tokens, 6);
  assert.equal(r1.status, 'incomplete', 'max_output_tokens reached');
  const got = await client.responses.retrieve(r1.id);
  assert.equal(got.output_text, r1.output_text);

  // The second turn sees the first: its prompt is longer than the same question alone.
  const r2 = await client.responses.create({ model: 'chatty', input: 'And again?', previous_response_id: r1.id,
    max_output_tokens: 4, temperature: 0 });
  const alone = await client.responses.create({ model: 'chatty', input: 'And again?', max_output_tokens: 4, temperature: 0 });
  assert.ok(r2.usage.input_tokens > alone.usage.input_tokens + 6, `${r2.usage.input_tokens} vs ${alone.usage.input_tokens}`);
  assert.equal(r2.previous_response_id, r1.id);

  const stream = await client.responses.create({ model: 'chatty', input: 'Hello there', instructions: 'Be brief.',
    max_output_tokens: 6, temperature: 0, stream: true });
  const types = [];
  let text = '', final;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') final = ev.response;
  }
  assert.equal(types[0], 'response.created');
  assert.ok(types.includes('response.output_text.done'));
  assert.equal(text, r1.output_text);
  assert.equal(final.output[0].content[0].text, text);

  const off = await client.responses.create({ model: 'chatty', input: 'x', store: false, max_output_tokens: 2 });
  await assert.rejects(client.responses.create({ model: 'chatty', input: 'y', previous_response_id: off.id }),
    (e) => e.status === 404 && /not found/.test(e.message));
  await assert.rejects(client.responses.create({ model: 'chatty', input: 'y', previous_response_id: 'resp_nope' }),
    (e) => e.status === 404);
  await client.responses.delete(r1.id);
  await assert.rejects(client.responses.retrieve(r1.id), (e) => e.status === 404);
  await assert.rejects(client.responses.create({ model: 'chatty', input: [{ type: 'file_search_call', id: 'x', queries: [] }] }),
    (e) => e.status === 400 && /message, function_call and function_call_output items/.test(e.message));
});

test('embeddings from a BERT encoder: pooling, normalisation, determinism, batches', async () => {
  const inputs = ['the cat sat on the mat', 'a different sentence entirely', 'the cat sat on the mat'];
  const r = await client.embeddings.create({ model: 'bert', input: inputs });
  assert.equal(r.data.length, 3);
  for (const d of r.data) {
    assert.equal(d.embedding.length, 64);
    assert.ok(Math.abs(Math.hypot(...d.embedding) - 1) < 1e-4, 'L2-normalised');
  }
  assert.deepEqual(r.data[0].embedding, r.data[2].embedding, 'same input, same vector, in one batch');
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
  const single = await client.embeddings.create({ model: 'bert', input: inputs[1] });
  single.data[0].embedding.forEach((v, i) => assert.ok(Math.abs(v - r.data[1].embedding[i]) < 1e-5, 'batching does not change a vector'));
  assert.ok(r.usage.prompt_tokens > 12);
  const ol = await post(srv.url, '/api/embed', { model: 'bert', input: inputs[0], dimensions: 32 });
  assert.equal(ol.body.embeddings[0].length, 32);
  assert.ok(Math.abs(Math.hypot(...ol.body.embeddings[0]) - 1) < 1e-4, 'normalised again after cutting');
  const show = await post(srv.url, '/api/show', { model: 'bert' });
  assert.deepEqual(show.body.capabilities, ['embedding']);
  await assert.rejects(client.completions.create({ model: 'bert', prompt: 'x', max_tokens: 2 }),
    (e) => e.status === 400 && /embedding model/.test(e.message));
});

test('prefix cache: a hit gives the text of a miss, and usage reports the reused tokens', async () => {
  const ask = (c, prompt) => c.completions.create({ model: 'stories260K', prompt, max_tokens: 20, temperature: 0 });
  const fresh = await startServer();
  try {
    const cold = new OpenAI({ baseURL: fresh.url + '/v1', apiKey: 'unused', maxRetries: 0 });
    const alone = await ask(cold, 'Once upon a time there was a dog');
    assert.equal(alone.usage.prompt_tokens_details.cached_tokens, 0);
    await ask(client, 'Once upon a time there was a cat');
    const hit = await ask(client, 'Once upon a time there was a dog');
    assert.ok(hit.usage.prompt_tokens_details.cached_tokens >= 6, JSON.stringify(hit.usage));
    assert.equal(hit.choices[0].text, alone.choices[0].text, 'same text with and without the cache');
    // Embeddings use the same context and wipe it: what is reused after them (from the prompt
    // cache on disk, if anything) must still give the same text.
    await client.embeddings.create({ model: 'stories260K', input: 'something else' });
    const after = await ask(client, 'Once upon a time there was a dog');
    assert.equal(after.choices[0].text, alone.choices[0].text);
  } finally {
    await fresh.stop();
  }
});
