// Tool calls and reasoning end to end through the three official clients, against a real
// `hearth serve` and real libllama. The test models have random weights, a real Qwen vocabulary
// and Qwen's real chat templates (Qwen2.5's writes <tool_call>, Qwen3's <think>); a GBNF grammar
// in the request forces what the model writes, so the output parsers run on real generations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { startServer, assertHealthy, post, streamLines, MKMODEL, LLAMA_DATA } from './helpers.mjs';

let srv, openai, anthropic, ollama;
const skip = !MKMODEL || !LLAMA_DATA ? 'mkmodel and the llama.cpp models folder are needed' : false;

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-tools-'));
  const make = (name, template, vocab = 'qwen2', arch = 'qwen2') => execFileSync(MKMODEL, ['--vocab',
    join(LLAMA_DATA, `ggml-vocab-${vocab}.gguf`), '--arch', arch, '--n-embd', '64', '--n-ff', '128', '--type', 'q8_0',
    '--template', join(LLAMA_DATA, 'templates', template), '--out', join(dir, name + '.gguf')], { stdio: 'ignore' });
  make('toolq', 'Qwen-Qwen2.5-7B-Instruct.jinja');
  make('thinkq', 'Qwen-Qwen3-0.6B.jinja');
  // Llama 3.1: <|python_tag|> is a control token, rendered into the text only for the parser.
  make('llama31', 'meta-llama-Llama-3.1-8B-Instruct.jinja', 'llama-bpe', 'llama');
  // A ChatML template that knows nothing of tools.
  writeFileSync(join(dir, 'plain.jinja'), "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n");
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-qwen2.gguf'), '--arch', 'qwen2', '--n-embd', '64',
    '--n-ff', '128', '--type', 'q8_0', '--template', join(dir, 'plain.jinja'), '--out', join(dir, 'notools.gguf')], { stdio: 'ignore' });
  srv = await startServer({ modelsDir: dir });
  openai = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});
after(async () => { if (srv) await srv.stop(); });

const weather = { type: 'function', function: { name: 'get_weather', description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const time = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };
const weatherAnthropic = { name: 'get_weather', description: 'The weather in a city',
  input_schema: weather.function.parameters };

// GBNF for exactly `text`.
const exactly = (text) => 'root ::= ' + JSON.stringify(text);
const CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
const TWO_CALLS = CALL + '\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>';
const BROKEN = '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>';
const THINK = '<think>\nI reason.\n</think>\n\nHello';
const user = [{ role: 'user', content: 'What is the weather in Paris?' }];

test('OpenAI: a forced call comes back as tool_calls, whole and streamed', { skip }, async () => {
  const r = await openai.chat.completions.create({ model: 'toolq', messages: user, tools: [weather],
    max_tokens: 80, grammar: exactly(CALL) });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.content, null);
  assert.equal(c.message.tool_calls.length, 1);
  const call = c.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof call.function.arguments, 'string');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

  const stream = await openai.chat.completions.create({ model: 'toolq', messages: user, tools: [weather],
    max_tokens: 200, grammar: exactly(TWO_CALLS), stream: true });
  const calls = [];
  let finish, content = '';
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta ?? {};
    content += d.content ?? '';
    for (const tc of d.tool_calls ?? []) {
      calls[tc.index] ??= { id: '', name: '', arguments: '' };
      calls[tc.index].id += tc.id ?? '';
      calls[tc.index].name += tc.function?.name ?? '';
      calls[tc.index].arguments += tc.function?.arguments ?? '';
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(content, '', 'the newline between the calls is no content');
  assert.deepEqual(calls.map((x) => x.name), ['get_weather', 'get_time']);
  assert.deepEqual(calls.map((x) => JSON.parse(x.arguments)), [{ city: 'Paris' }, {}]);
  assert.notEqual(calls[0].id, calls[1].id);
});

test('Ollama: a forced call comes back as message.tool_calls with object arguments', { skip }, async () => {
  const r = await ollama.chat({ model: 'toolq', messages: user, tools: [weather], stream: false,
    options: { grammar: exactly(CALL), num_predict: 80 } });
  assert.equal(r.done_reason, 'stop');
  assert.equal(r.message.content, '');
  assert.equal(r.message.tool_calls.length, 1);
  assert.equal(r.message.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(r.message.tool_calls[0].function.arguments, { city: 'Paris' });

  const stream = await ollama.chat({ model: 'toolq', messages: user, tools: [weather, time], stream: true,
    options: { grammar: exactly(TWO_CALLS), num_predict: 200 } });
  const calls = [];
  let last;
  for await (const part of stream) {
    calls.push(...(part.message.tool_calls ?? []));
    last = part;
  }
  assert.equal(last.done, true);
  assert.deepEqual(calls.map((c) => [c.function.name, c.function.arguments]),
    [['get_weather', { city: 'Paris' }], ['get_time', {}]]);
});

test('Anthropic: a forced call comes back as a tool_use block, whole and streamed', { skip }, async () => {
  const r = await anthropic.messages.create({ model: 'toolq', max_tokens: 80, messages: user,
    tools: [weatherAnthropic], grammar: exactly(CALL) });
  assert.equal(r.stop_reason, 'tool_use');
  assert.equal(r.content.length, 1);
  assert.equal(r.content[0].type, 'tool_use');
  assert.equal(r.content[0].name, 'get_weather');
  assert.deepEqual(r.content[0].input, { city: 'Paris' });
  assert.ok(r.content[0].id);

  const events = [];
  const stream = anthropic.messages.stream({ model: 'toolq', max_tokens: 80, messages: user,
    tools: [weatherAnthropic], grammar: exactly(CALL) });
  stream.on('streamEvent', (e) => events.push(e.type + (e.delta ? ':' + e.delta.type : '')));
  const m = await stream.finalMessage();
  assert.ok(events.includes('content_block_delta:input_json_delta'));
  assert.equal(m.stop_reason, 'tool_use');
  assert.equal(m.content[0].type, 'tool_use');
  assert.deepEqual(m.content[0].input, { city: 'Paris' });
});

test('Llama 3.1: <|python_tag|> (a special token) and bare JSON calls', { skip }, async () => {
  const tag = await openai.chat.completions.create({ model: 'llama31', messages: user, tools: [weather], max_tokens: 60,
    grammar: exactly('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}') });
  assert.equal(tag.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(JSON.parse(tag.choices[0].message.tool_calls[0].function.arguments), { city: 'Paris' });
  const bare = await ollama.chat({ model: 'llama31', messages: user, tools: [weather], stream: false,
    options: { num_predict: 60, grammar: exactly('{"name": "get_weather", "parameters": {"city": "Rome"}}') } });
  assert.deepEqual(bare.message.tool_calls[0].function.arguments, { city: 'Rome' });
  // Without tools nothing is parsed as a call.
  const plain = await openai.chat.completions.create({ model: 'llama31', messages: user, max_tokens: 60,
    grammar: exactly('<|python_tag|>{"name": "get_weather", "parameters": {}}') });
  assert.ok(plain.choices[0].message.content.endsWith('{"name": "get_weather", "parameters": {}}'));
  assert.equal(plain.choices[0].message.tool_calls, undefined);
  // Forced: the grammar follows Llama's format.
  const forced = await openai.chat.completions.create({ model: 'llama31', messages: user, tools: [weather],
    tool_choice: 'required', max_tokens: 32 });
  const m = forced.choices[0].message;
  assert.ok(m.tool_calls?.[0]?.function.name === 'get_weather' || m.content.startsWith('{"name": "get_weather", "parameters":'),
    JSON.stringify(m));
});

test('OpenAI Responses: function tools in, function_call items out, whole and streamed', { skip }, async () => {
  const tool = { type: 'function', name: 'get_weather', parameters: weather.function.parameters };
  const r = await openai.responses.create({ model: 'toolq', input: 'Weather in Paris?', tools: [tool],
    max_output_tokens: 80, grammar: exactly(CALL) });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
  const types = [];
  let done;
  for await (const ev of await openai.responses.create({ model: 'toolq', input: 'Weather in Paris?', tools: [tool],
    max_output_tokens: 80, grammar: exactly(CALL), stream: true })) {
    types.push(ev.type);
    if (ev.type === 'response.function_call_arguments.done') done = ev;
  }
  assert.ok(types.includes('response.output_item.added'));
  assert.deepEqual(JSON.parse(done.arguments), { city: 'Paris' });
  // The result goes back as a function_call_output item and costs prompt tokens.
  const next = (output) => openai.responses.create({ model: 'toolq', tools: [tool], max_output_tokens: 1,
    input: [{ role: 'user', content: 'Weather in Paris?' },
      { type: 'function_call', call_id: call.call_id, name: 'get_weather', arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output }] });
  assert.ok((await next('Sunny and 22 degrees in Paris')).usage.input_tokens > (await next('')).usage.input_tokens + 5);
  const bad = await post(srv.url, '/v1/responses', { model: 'toolq', input: 'x', tools: [{ type: 'function' }] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /tools\[0\] needs a name/);
});

test('tool results sent back reach the prompt', { skip }, async () => {
  const result = 'Sunny and 22 degrees in Paris';
  // OpenAI: the assistant's call (string arguments) and the tool's answer.
  const history = [...user,
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: result }];
  const p = await post(srv.url, '/apply-template', { model: 'toolq', messages: history, tools: [weather] });
  assert.equal(p.status, 200);
  assert.ok(p.body.prompt.includes(result), p.body.prompt);
  const r = await openai.chat.completions.create({ model: 'toolq', messages: history, tools: [weather],
    max_tokens: 30, grammar: exactly('It is sunny.') });
  assert.equal(r.choices[0].message.content, 'It is sunny.');
  assert.equal(r.choices[0].finish_reason, 'stop');
  // Ollama: object arguments and tool_name; the answer costs prompt tokens.
  const base = await ollama.chat({ model: 'toolq', messages: user, tools: [weather], stream: false,
    options: { num_predict: 1 } });
  const o = await ollama.chat({ model: 'toolq', tools: [weather], stream: false, options: { num_predict: 1 },
    messages: [...user, { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', tool_name: 'get_weather', content: result }] });
  assert.ok(o.prompt_eval_count > base.prompt_eval_count + 5);
  // Anthropic: tool_use and tool_result blocks.
  const count = async (content) => (await anthropic.messages.countTokens({ model: 'toolq', tools: [weatherAnthropic],
    messages: [...user, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content }] }] })).input_tokens;
  assert.ok(await count(result) > await count('') + 5);
});

test('the tools themselves reach the prompt', { skip }, async () => {
  const p = await post(srv.url, '/apply-template', { model: 'toolq', messages: user, tools: [weather] });
  assert.ok(p.body.prompt.includes('get_weather'));
  assert.ok(p.body.prompt.includes('The weather in a city'));
});

test('tool_choice: required and a named function force a call; none leaves the text alone', { skip }, async () => {
  // Random weights wander inside the arguments, so the call may not finish in max_tokens; it
  // must start as one all the same.
  const startsWithCall = (m, name) => {
    if (m.tool_calls?.length) return m.tool_calls[0].function.name === name;
    return m.content.startsWith(`<tool_call>\n{"name": "${name}", "arguments":`);
  };
  const r = await openai.chat.completions.create({ model: 'toolq', messages: user, tools: [weather, time],
    tool_choice: 'required', max_tokens: 32, seed: 1 });
  assert.ok(startsWithCall(r.choices[0].message, 'get_weather') || startsWithCall(r.choices[0].message, 'get_time'),
    JSON.stringify(r.choices[0].message));
  for (const name of ['get_weather', 'get_time']) {
    const n = await openai.chat.completions.create({ model: 'toolq', messages: user, tools: [weather, time],
      tool_choice: { type: 'function', function: { name } }, max_tokens: 32 });
    assert.ok(startsWithCall(n.choices[0].message, name), JSON.stringify(n.choices[0].message));
  }
  const a = await anthropic.messages.create({ model: 'toolq', max_tokens: 32, messages: user,
    tools: [weatherAnthropic], tool_choice: { type: 'any' } });
  const first = a.content[0];
  assert.ok(first.type === 'tool_use' ? first.name === 'get_weather'
    : first.text.startsWith('<tool_call>\n{"name": "get_weather", "arguments":'), JSON.stringify(a.content));
  // none: the tools are hidden and the output is not parsed as calls.
  const none = await openai.chat.completions.create({ model: 'toolq', messages: user, tools: [weather],
    tool_choice: 'none', max_tokens: 80, grammar: exactly(CALL) });
  assert.equal(none.choices[0].message.content, CALL);
  assert.equal(none.choices[0].message.tool_calls, undefined);
  assert.equal(none.choices[0].finish_reason, 'stop');
});

test('a malformed call comes back as text with a warning', { skip }, async () => {
  const r = await post(srv.url, '/v1/chat/completions', { model: 'toolq', messages: user, tools: [weather],
    max_tokens: 80, grammar: exactly(BROKEN) });
  assert.equal(r.status, 200);
  assert.equal(r.body.choices[0].message.content, BROKEN);
  assert.equal(r.body.choices[0].message.tool_calls, undefined);
  assert.equal(r.body.choices[0].finish_reason, 'stop');
  assert.ok(r.body.warnings.some((w) => /malformed tool call/.test(w)), JSON.stringify(r.body.warnings));
  const o = await streamLines(srv.url, '/api/chat', { model: 'toolq', messages: user, tools: [weather],
    options: { grammar: exactly(BROKEN), num_predict: 80 } });
  assert.equal(o.status, 200);
  assert.equal(o.lines.map((l) => l.message.content).join(''), BROKEN);
  assert.ok(o.lines.at(-1).warnings.some((w) => /malformed tool call/.test(w)));
  const a = await anthropic.messages.create({ model: 'toolq', max_tokens: 80, messages: user,
    tools: [weatherAnthropic], grammar: exactly(BROKEN) });
  assert.deepEqual(a.content.map((b) => b.type), ['text']);
  assert.equal(a.content[0].text, BROKEN);
  assert.equal(a.stop_reason, 'end_turn');
});

test('<think> output comes back as reasoning on every API', { skip }, async () => {
  const r = await openai.chat.completions.create({ model: 'thinkq', messages: user, max_tokens: 40,
    grammar: exactly(THINK) });
  assert.equal(r.choices[0].message.reasoning_content, 'I reason.');
  assert.equal(r.choices[0].message.content, 'Hello');
  const stream = await openai.chat.completions.create({ model: 'thinkq', messages: user, max_tokens: 40,
    grammar: exactly(THINK), stream: true, reasoning_effort: 'high' });
  let reasoning = '', content = '';
  for await (const c of stream) {
    reasoning += c.choices[0]?.delta?.reasoning_content ?? '';
    content += c.choices[0]?.delta?.content ?? '';
  }
  assert.equal(reasoning, 'I reason.');
  assert.equal(content, 'Hello');

  const o = await ollama.chat({ model: 'thinkq', messages: user, think: true, stream: false,
    options: { grammar: exactly(THINK), num_predict: 40 } });
  assert.equal(o.message.thinking, 'I reason.');
  assert.equal(o.message.content, 'Hello');
  let thinking = '', text = '';
  for await (const part of await ollama.chat({ model: 'thinkq', messages: user, think: 'low', stream: true,
    options: { grammar: exactly(THINK), num_predict: 40 } })) {
    thinking += part.message.thinking ?? '';
    text += part.message.content;
  }
  assert.equal(thinking, 'I reason.');
  assert.equal(text, 'Hello');
  const gen = await ollama.generate({ model: 'thinkq', prompt: 'hi', think: true, stream: false,
    options: { grammar: exactly(THINK), num_predict: 40 } });
  assert.equal(gen.thinking, 'I reason.');
  assert.equal(gen.response, 'Hello');

  const a = await anthropic.messages.create({ model: 'thinkq', max_tokens: 40, messages: user,
    thinking: { type: 'enabled', budget_tokens: 1024 }, grammar: exactly(THINK) });
  assert.deepEqual(a.content.map((b) => b.type), ['thinking', 'text']);
  assert.equal(a.content[0].thinking, 'I reason.');
  assert.equal(a.content[1].text, 'Hello');
  const s = await anthropic.messages.stream({ model: 'thinkq', max_tokens: 40, messages: user,
    thinking: { type: 'enabled', budget_tokens: 1024 }, grammar: exactly(THINK) }).finalMessage();
  assert.deepEqual(s.content.map((b) => b.type), ['thinking', 'text']);
  assert.equal(s.content[0].thinking, 'I reason.');
  assert.equal(s.content[1].text, 'Hello');
});

test('a preset overrides the detected format with tool-call-format', { skip }, async () => {
  mkdirSync(join(srv.dir, 'config', 'hearth'), { recursive: true });
  writeFileSync(join(srv.dir, 'config', 'hearth', 'presets.ini'),
    '[toolq-mistral]\nmodel = toolq\ntool-call-format = mistral\n\n[toolq-bad]\nmodel = toolq\ntool-call-format = klingon\n');
  const r = await openai.chat.completions.create({ model: 'toolq-mistral', messages: user, tools: [weather],
    max_tokens: 80, grammar: exactly('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]') });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { city: 'Oslo' });
  const bad = await post(srv.url, '/v1/chat/completions', { model: 'toolq-bad', messages: user, tools: [weather] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /tool-call-format 'klingon'/);
  await assertHealthy(assert, srv.url);
});

test('bad tools, tool_choice, tool messages and think settings: 400 in each API\'s shape', { skip }, async () => {
  const oa = async (extra, re) => {
    const r = await post(srv.url, '/v1/chat/completions', { model: 'toolq', messages: user, max_tokens: 4, ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra) + ' ' + r.text);
    assert.equal(r.body.error.type, 'invalid_request_error');
    assert.match(r.body.error.message, re);
  };
  await oa({ tools: 'x' }, /tools must be a list/);
  await oa({ tools: [{ type: 'function', function: { name: 'has space' } }] }, /tools\[0\] needs a name/);
  await oa({ tools: [{ type: 'retrieval' }] }, /tools\[0\]\.type must be "function"/);
  await oa({ tools: [weather, weather] }, /used twice/);
  await oa({ tools: [{ type: 'function', function: { name: 'f', parameters: 3 } }] }, /parameters must be a JSON schema/);
  await oa({ tools: [weather], tool_choice: 'sometimes' }, /tool_choice must be/);
  await oa({ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }, /not among the tools/);
  await oa({ tool_choice: 'required' }, /no tools are given/);
  await oa({ tools: [weather], tool_choice: 'required', grammar: 'root ::= "x"' }, /cannot be combined with a grammar/);
  await oa({ tools: [weather], tool_choice: 'required', response_format: { type: 'json_object' } }, /cannot be combined/);
  await oa({ tools: [weather], parallel_tool_calls: 'yes' }, /parallel_tool_calls/);
  await oa({ reasoning_effort: 'extreme' }, /reasoning_effort/);
  await oa({ chat_template_kwargs: [1] }, /chat_template_kwargs must be an object/);
  await oa({ messages: [...user, { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'get_weather', arguments: '{not json' } }] }] }, /arguments must be a JSON object/);
  await oa({ messages: [...user, { role: 'tool', content: 'x' }] }, /tool_call_id is required/);
  const nt = await post(srv.url, '/v1/chat/completions', { model: 'notools', messages: user, tools: [weather] });
  assert.equal(nt.status, 400);
  assert.match(nt.body.error.message, /does not support tools/);
  assert.equal((await post(srv.url, '/v1/chat/completions', { model: 'notools', messages: user, max_tokens: 2 })).status, 200);
  const many = Array.from({ length: 129 }, (_, i) => ({ type: 'function', function: { name: 'f' + i } }));
  const big = await post(srv.url, '/v1/chat/completions', { model: 'toolq', messages: user, tools: many });
  assert.equal(big.status, 413);
  assert.match(big.body.error.message, /at most 128 tools/);

  const an = async (extra, re) => {
    const r = await post(srv.url, '/v1/messages', { model: 'toolq', messages: user, max_tokens: 4, ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra) + ' ' + r.text);
    assert.equal(r.body.type, 'error');
    assert.equal(r.body.error.type, 'invalid_request_error');
    assert.match(r.body.error.message, re);
  };
  await an({ tools: [{ name: 'get_weather' }] }, /input_schema is required/);
  await an({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, /server tools/);
  await an({ tools: [weatherAnthropic], tool_choice: { type: 'sometimes' } }, /tool_choice.type/);
  await an({ tools: [weatherAnthropic], tool_choice: { type: 'tool' } }, /tool_choice.name/);
  await an({ tools: [weatherAnthropic], tool_choice: { type: 'tool', name: 'nope' } }, /not among the tools/);
  await an({ thinking: { type: 'maybe' } }, /thinking.type/);
  await an({ thinking: { type: 'enabled', budget_tokens: -5 } }, /budget_tokens/);
  await an({ messages: [...user, { role: 'assistant', content: [{ type: 'tool_use', name: 'get_weather' }] }] }, /tool_use block needs id/);
  await an({ messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }] }, /tool_use_id/);
  await an({ messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'a', name: 'b', input: {} }] }] }, /not supported in user messages/);

  const ol = async (extra, re) => {
    const r = await post(srv.url, '/api/chat', { model: 'toolq', messages: user, stream: false, ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra) + ' ' + r.text);
    assert.equal(typeof r.body.error, 'string');
    assert.match(r.body.error, re);
  };
  await ol({ tools: [{ function: { name: 'f' } }] }, /type must be "function"/);
  await ol({ think: 'extreme' }, /think must be/);
  await ol({ think: 3 }, /think must be/);
  await ol({ messages: [...user, { role: 'assistant', content: '', tool_calls: [{ function: { arguments: {} } }] }] }, /needs a valid name/);
  await ol({ messages: [...user, { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: [1] } }] }] }, /arguments must be a JSON object/);

  await assertHealthy(assert, srv.url);
  const ok = await openai.chat.completions.create({ model: 'toolq', messages: user, tools: [weather],
    max_tokens: 80, grammar: exactly(CALL) });
  assert.equal(ok.choices[0].message.tool_calls[0].function.name, 'get_weather');
});
