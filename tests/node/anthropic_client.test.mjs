// The official `@anthropic-ai/sdk` client, unmodified, against a real `hearth serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, assertHealthy, post } from './helpers.mjs';

let srv, client;
before(async () => {
  srv = await startServer();
  client = new Anthropic({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0 });
});
after(async () => { await srv.stop(); });

const messages = [{ role: 'user', content: 'Hello there' }];

test('messages, whole', async () => {
  const r = await client.messages.create({ model: 'chatty', max_tokens: 8, messages, system: 'Be brief.', temperature: 0 });
  assert.equal(r.type, 'message');
  assert.equal(r.role, 'assistant');
  assert.match(r.id, /^msg_/);
  assert.equal(r.content[0].type, 'text');
  assert.equal(r.stop_reason, 'max_tokens');
  assert.equal(r.usage.output_tokens, 8);
  assert.ok(r.usage.input_tokens > 5);
  const blocks = await client.messages.create({ model: 'chatty', max_tokens: 8, temperature: 0,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }], system: [{ type: 'text', text: 'Be brief.' }] });
  assert.equal(blocks.content[0].text, r.content[0].text, 'blocks and strings are the same prompt');
});

test('messages, streamed: the event sequence', async () => {
  const whole = await client.messages.create({ model: 'chatty', max_tokens: 8, messages, temperature: 0 });
  const stream = await client.messages.create({ model: 'chatty', max_tokens: 8, messages, temperature: 0, stream: true });
  const types = [];
  let text = '', usage;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'content_block_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') usage = ev.usage;
  }
  assert.equal(types[0], 'message_start');
  assert.equal(types[1], 'content_block_start');
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.equal(text, whole.content[0].text);
  assert.equal(usage.output_tokens, 8);
  // The SDK's helper assembles the same message.
  const helper = client.messages.stream({ model: 'chatty', max_tokens: 8, messages, temperature: 0 });
  const final = await helper.finalMessage();
  assert.equal(final.content[0].text, whole.content[0].text);
});

test('stop_sequences and count_tokens', async () => {
  // Longer than the default system prompt Qwen's template adds when there is none.
  const SYSTEM = 'Be brief: answer in one short sentence of plain English, without lists or code.';
  const r = await client.messages.create({ model: 'chatty', max_tokens: 50, messages, temperature: 0 });
  const text = r.content[0].text;
  if (text.length > 4) {
    const stop = text.slice(2, 4);
    const s = await client.messages.create({ model: 'chatty', max_tokens: 50, messages, temperature: 0, stop_sequences: [stop] });
    assert.equal(s.stop_reason, 'stop_sequence');
    assert.equal(s.stop_sequence, stop);
    assert.equal(s.content[0].text, text.slice(0, text.indexOf(stop)));
  }
  const c = await client.messages.countTokens({ model: 'chatty', messages, system: SYSTEM });
  assert.ok(c.input_tokens > r.usage.input_tokens, 'the system prompt adds tokens');
  const w = await client.messages.create({ model: 'chatty', max_tokens: 1, messages, system: SYSTEM });
  assert.equal(c.input_tokens, w.usage.input_tokens, 'count_tokens counts what messages evaluates');
});

test('errors in Anthropic shape', async () => {
  const bad = async (p, status, re) => {
    await assert.rejects(p, (e) => {
      assert.equal(e.status, status, e.message);
      assert.match(e.message, re);
      return true;
    });
    await assertHealthy(assert, srv.url);
  };
  await bad(client.messages.create({ model: 'nope', max_tokens: 5, messages }), 404, /not found/);
  await bad(client.messages.create({ model: 'chatty', messages }), 400, /max_tokens/);
  await bad(client.messages.create({ model: 'chatty', max_tokens: 5, messages: [] }), 400, /messages/);
  await bad(client.messages.create({ model: 'chatty', max_tokens: 5, messages: [{ role: 'robot', content: 'x' }] }), 400, /role/);
  await bad(client.messages.create({ model: 'chatty', max_tokens: 5, messages, temperature: 7e9 }), 400, /temperature/);
  await bad(client.messages.create({ model: 'chatty', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }), 400, /image blocks/);
  await bad(client.messages.create({ model: 'chatty', max_tokens: 5, messages, tools: [{ name: 't' }] }), 400, /tools\[0\]\.input_schema is required/);
  const raw = await post(srv.url, '/v1/messages', '{', { raw: true });
  assert.equal(raw.status, 400);
  assert.equal(raw.body.type, 'error');
  assert.equal(raw.body.error.type, 'invalid_request_error');
});
