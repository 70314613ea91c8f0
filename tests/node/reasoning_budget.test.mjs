// The reasoning budget: after reasoning_budget tokens of thinking the worker writes the template's
// closing text itself, so the answer starts. A random-weight model never closes its reasoning on
// its own, which makes the budget's effect plain: without it every token is thinking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { startServer, assertHealthy, post, MKMODEL, LLAMA_DATA } from './helpers.mjs';

let srv, ollama, anthropic;
const skip = !MKMODEL || !LLAMA_DATA ? 'mkmodel and the llama.cpp models folder are needed' : false;

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-budget-'));
  // ChatML whose generation prompt opens <think>, as DeepSeek-R1's and QwQ's do.
  writeFileSync(join(dir, 'think.jinja'), "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}");
  writeFileSync(join(dir, 'plain.jinja'), "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n");
  for (const [name, tmpl] of [['thinker', 'think.jinja'], ['plain', 'plain.jinja']])
    execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-qwen2.gguf'), '--arch', 'qwen2', '--n-embd', '64',
      '--n-ff', '128', '--type', 'q8_0', '--template', join(dir, tmpl), '--out', join(dir, name + '.gguf')], { stdio: 'ignore' });
  srv = await startServer({ modelsDir: dir });
  ollama = new Ollama({ host: srv.url });
  anthropic = new Anthropic({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0 });
});
after(async () => { if (srv) await srv.stop(); });

const user = [{ role: 'user', content: 'Why is the sky blue?' }];
const tokens = async (text) => (await post(srv.url, '/tokenize', { model: 'thinker', content: text })).body.tokens.length;

test('without a budget every token is thinking; with one the answer starts after it', { skip }, async () => {
  const free = await ollama.chat({ model: 'thinker', messages: user, think: true, stream: false,
    options: { temperature: 0, num_predict: 30 } });
  assert.ok(free.message.thinking.length > 0);
  assert.equal(free.message.content, '', 'a random model never closes its reasoning by itself');

  const r = await ollama.chat({ model: 'thinker', messages: user, think: true, stream: false,
    options: { temperature: 0, num_predict: 30, reasoning_budget: 6 } });
  assert.ok(r.message.thinking.length > 0, JSON.stringify(r.message));
  assert.ok(r.message.content.length > 0, 'the answer follows the closed reasoning');
  assert.ok(!r.message.content.includes('</think>'), 'the closing tag is not part of the answer');
  assert.ok(await tokens(r.message.thinking) <= 8, `thinking within the budget: ${r.message.thinking}`);
  // The thinking is the unconstrained run's first tokens: greedy decoding, the same prompt.
  assert.ok(free.message.thinking.startsWith(r.message.thinking.trim().slice(0, 8)));
  assert.equal(r.eval_count, 30, 'the forced tokens count as generated');
});

test('a budget of 0 closes the reasoning at once', { skip }, async () => {
  const r = await ollama.chat({ model: 'thinker', messages: user, think: true, stream: false,
    options: { temperature: 0, num_predict: 12, reasoning_budget: 0 } });
  assert.equal(r.message.thinking ?? '', '');
  assert.ok(r.message.content.length > 0);
});

test('streamed: thinking deltas, then content deltas', { skip }, async () => {
  let thinking = '', content = '', order = [];
  for await (const part of await ollama.chat({ model: 'thinker', messages: user, think: true, stream: true,
    options: { temperature: 0, num_predict: 24, reasoning_budget: 5 } })) {
    if (part.message.thinking) { thinking += part.message.thinking; order.push('t'); }
    if (part.message.content) { content += part.message.content; order.push('c'); }
  }
  assert.ok(thinking && content);
  assert.ok(order.lastIndexOf('t') < order.indexOf('c'), 'no thinking after the answer began');
});

test('Anthropic: thinking.budget_tokens is the budget', { skip }, async () => {
  const a = await anthropic.messages.create({ model: 'thinker', max_tokens: 24, messages: user,
    thinking: { type: 'enabled', budget_tokens: 5 }, temperature: 0 });
  assert.deepEqual(a.content.map((b) => b.type), ['thinking', 'text']);
  assert.ok(a.content[1].text.length > 0);
});

test('a budget the model cannot use is reported, not ignored silently', { skip }, async () => {
  const r = await post(srv.url, '/api/chat', { model: 'plain', messages: user, stream: false,
    options: { num_predict: 4, reasoning_budget: 3 } });
  assert.equal(r.status, 200);
  assert.ok(r.body.warnings.some((w) => /reasoning_budget was not applied/.test(w)), JSON.stringify(r.body));
  const off = await post(srv.url, '/api/chat', { model: 'thinker', messages: user, stream: false, think: false,
    options: { num_predict: 4, reasoning_budget: 3 } });
  assert.ok(off.body.warnings.some((w) => /thinking is off/.test(w)), JSON.stringify(off.body));
  const bad = await post(srv.url, '/api/chat', { model: 'thinker', messages: user, stream: false,
    options: { reasoning_budget: -2 } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /reasoning_budget/);
  await assertHealthy(assert, srv.url);
});
