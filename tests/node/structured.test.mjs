// Structured output end to end: real models constrained by a JSON schema through each API (the
// official `ollama` and `openai` clients, llama-server's routes by fetch, `hearth run --format`),
// and bad schemas and grammars answered with a 400 in each API's shape while the server stays up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startServer, assertHealthy, post, HEARTH, MODELS } from './helpers.mjs';

const run = promisify(execFile);

// Bounded on every side, so that a tiny model's answer always completes within the token limit.
const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 12 },
    age: { type: 'integer', minimum: 1, maximum: 99 },
    mood: { enum: ['happy', 'sad', 'sleepy'] },
    pets: { type: 'array', items: { type: 'boolean' }, maxItems: 2 },
  },
  required: ['name', 'age', 'mood'],
  additionalProperties: false,
};

// What the schema says, checked on the parsed answer (a validator written for PERSON).
function assertPerson(text) {
  let v;
  assert.doesNotThrow(() => { v = JSON.parse(text); }, `not JSON: ${text}`);
  assert.equal(typeof v, 'object');
  assert.deepEqual(Object.keys(v).filter((k) => !['name', 'age', 'mood', 'pets'].includes(k)), [], text);
  assert.equal(typeof v.name, 'string', text);
  assert.ok([...v.name].length <= 12, text);
  assert.ok(Number.isInteger(v.age) && v.age >= 1 && v.age <= 99, text);
  assert.ok(['happy', 'sad', 'sleepy'].includes(v.mood), text);
  if ('pets' in v) assert.ok(Array.isArray(v.pets) && v.pets.length <= 2 && v.pets.every((p) => typeof p === 'boolean'), text);
  // required properties come first, in the schema's order
  assert.deepEqual(Object.keys(v).slice(0, 3), ['name', 'age', 'mood'], text);
  return v;
}

// 60,000 nested groups: the grammar that crashes llama-server's parser.
const DEEP_GRAMMAR = 'root ::= ' + '('.repeat(60000) + '"a"' + ')'.repeat(60000);

let srv, ollama, openai;
before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.url });
  openai = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0 });
});
after(async () => { await srv.stop(); });

test('ollama: format as a JSON schema on generate (whole and streamed) and chat', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time', format: PERSON,
      options: { seed, temperature: 1, num_predict: 300 } });
    assertPerson(r.response);
    assert.equal(r.done_reason, 'stop');
  }
  const stream = await ollama.generate({ model: 'stories260K', prompt: 'Lily', format: PERSON, stream: true,
    options: { seed: 4, num_predict: 300 } });
  let text = '';
  for await (const part of stream) text += part.response;
  assertPerson(text);
  const c = await ollama.chat({ model: 'chatty', messages: [{ role: 'user', content: 'who?' }], format: PERSON,
    options: { seed: 5, num_predict: 300 } });
  assertPerson(c.message.content);
  const j = await ollama.generate({ model: 'stories260K', prompt: 'Once', format: 'json',
    options: { seed: 1, num_predict: 300, temperature: 0.2 } });
  assert.match(j.response, /^\{/);
});

test('openai: response_format json_schema (strict) on chat and completions, json_schema top-level', async () => {
  const rf = { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } };
  const r = await openai.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'hi' }],
    response_format: rf, max_tokens: 300, seed: 1 });
  assertPerson(r.choices[0].message.content);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await openai.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'hi' }],
    response_format: rf, max_tokens: 300, seed: 2, stream: true });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content || '';
  assertPerson(text);
  const c = await openai.completions.create({ model: 'stories260K', prompt: 'Once', response_format: rf,
    max_tokens: 300, seed: 3 });
  assertPerson(c.choices[0].text);
  // llama-server's extension: json_schema beside the OpenAI fields
  const t = await openai.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'hi' }],
    json_schema: PERSON, max_tokens: 300, seed: 4 });
  assertPerson(t.choices[0].message.content);
});

test('llama-server routes: /completion json_schema and grammar', async () => {
  const r = await post(srv.url, '/completion', { model: 'stories260K', prompt: 'Once', json_schema: PERSON,
    n_predict: 300, seed: 1 });
  assert.equal(r.status, 200, r.text);
  assertPerson(r.body.content);
  const g = await post(srv.url, '/completion', { model: 'stories260K', prompt: 'Is it?',
    grammar: 'root ::= "yes" | "no"', n_predict: 8 });
  assert.ok(['yes', 'no'].includes(g.body.content), g.text);
});

test('bad schemas: a 400 in each API shape, naming the keyword and where it is', async () => {
  const bad = { type: 'object', properties: { n: { type: 'integer', multipleOf: 3 } } };
  // Ollama: {error}
  let r = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'x', format: bad, stream: false });
  assert.equal(r.status, 400);
  assert.match(r.body.error, /'multipleOf'.*#\/properties\/n/);
  await assert.rejects(ollama.generate({ model: 'stories260K', prompt: 'x', format: { type: 'string', pattern: '^(?=a)' } }),
    (e) => e.status_code === 400 && /pattern at #/.test(e.error));
  r = await post(srv.url, '/api/chat', { model: 'chatty', messages: [{ role: 'user', content: 'x' }],
    format: { type: 'array', minItems: 1000000 } });
  assert.equal(r.status, 400);
  assert.match(r.body.error, /minItems 1000000 .*limit/);
  r = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'x', format: 42 });
  assert.equal(r.status, 400);
  // OpenAI: {error: {message, type, ...}}; the client raises BadRequestError
  await assert.rejects(openai.chat.completions.create({ model: 'chatty', messages: [{ role: 'user', content: 'x' }],
    response_format: { type: 'json_schema', json_schema: { name: 'b', schema: bad } } }),
  (e) => e.status === 400 && /'multipleOf'/.test(e.message) && /#\/properties\/n/.test(e.message));
  r = await post(srv.url, '/v1/chat/completions', { model: 'chatty', messages: [{ role: 'user', content: 'x' }],
    response_format: { type: 'json_schema', json_schema: { name: 'b' } } });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /schema is required/);
  r = await post(srv.url, '/v1/chat/completions', { model: 'chatty', messages: [{ role: 'user', content: 'x' }],
    response_format: { type: 'json_schema', json_schema: { name: 'b', schema: { $ref: '#' } } } });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /left-recursive/);
  // llama-server: {error: {code, message, type}}
  r = await post(srv.url, '/completion', { model: 'stories260K', prompt: 'x',
    json_schema: { type: 'string', format: 'hostname' } });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 400);
  assert.equal(r.body.error.type, 'invalid_request_error');
  assert.match(r.body.error.message, /format 'hostname'/);
  await assertHealthy(assert, srv.url);
});

test('bad grammars: checked before libllama on every API, the server stays up', async () => {
  let r = await post(srv.url, '/completion', { model: 'stories260K', prompt: 'x', grammar: DEEP_GRAMMAR });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /nested more than/);
  r = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'x', stream: false,
    options: { grammar: 'root ::= root "a" | "b"' } });
  assert.equal(r.status, 400);
  assert.match(r.body.error, /left-recursive/);
  await assert.rejects(openai.completions.create({ model: 'stories260K', prompt: 'x', grammar: 'root ::= item' }),
    (e) => e.status === 400 && /'item' is used but never defined/.test(e.message));
  r = await post(srv.url, '/v1/messages', { model: 'chatty', max_tokens: 8, grammar: 'root ::= [a',
    messages: [{ role: 'user', content: 'x' }] });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, 'error');
  assert.match(r.body.error.message, /unterminated character class/);
  r = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'x', stream: false,
    options: { grammar: 'root ::= "a"{0,99999}' } });
  assert.equal(r.status, 400);
  await assertHealthy(assert, srv.url);
  // and generation still works, grammar or not
  const ok = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time', options: { temperature: 0, num_predict: 5 } });
  assert.ok(ok.response.length > 0);
});

test('a grammar and a format together: a clear 400 on each API', async () => {
  let r = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'x', format: PERSON,
    options: { grammar: 'root ::= "a"' } });
  assert.equal(r.status, 400);
  assert.match(r.body.error, /format and grammar cannot be combined/);
  r = await post(srv.url, '/v1/completions', { model: 'stories260K', prompt: 'x', grammar: 'root ::= "a"',
    response_format: { type: 'json_object' } });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /cannot be combined/);
  r = await post(srv.url, '/completion', { model: 'stories260K', prompt: 'x', grammar: 'root ::= "a"', json_schema: PERSON });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /json_schema and grammar cannot be combined/);
});

test('hearth run --format: without a server and through one', async () => {
  const schemaFile = join(srv.dir, 'person.json');
  writeFileSync(schemaFile, JSON.stringify(PERSON));
  const local = await run(HEARTH, ['run', join(MODELS, 'stories260K.gguf'), 'Once upon a time', '--format', '@' + schemaFile,
    '--seed', '3', '-n', '300']);
  assertPerson(local.stdout.trim());
  const inline = await run(HEARTH, ['run', join(MODELS, 'stories260K.gguf'), 'Once', '--format', JSON.stringify(PERSON),
    '--seed', '4', '-n', '300']);
  assertPerson(inline.stdout.trim());
  const remote = await run(HEARTH, ['run', 'stories260K', 'Once upon a time', '--format', JSON.stringify(PERSON),
    '--seed', '5', '-n', '300'], { env: { ...process.env, HEARTH_HOST: srv.url } });
  assertPerson(remote.stdout.trim());
  await assert.rejects(run(HEARTH, ['run', 'stories260K', 'x', '--format', '{"type":"integer","multipleOf":2}'],
    { env: { ...process.env, HEARTH_HOST: srv.url } }), (e) => /multipleOf/.test(e.stderr));
  await assert.rejects(run(HEARTH, ['run', join(MODELS, 'stories260K.gguf'), 'x', '--format', 'yaml']),
    (e) => e.code === 2 && /--format must be json, a JSON schema object, or @FILE/.test(e.stderr));
  await assert.rejects(run(HEARTH, ['run', join(MODELS, 'stories260K.gguf'), 'x', '--format', 'json', '--grammar', 'root ::= "a"']),
    (e) => e.code === 2 && /--format and a grammar cannot be combined/.test(e.stderr));
  await assert.rejects(run(HEARTH, ['run', join(MODELS, 'stories260K.gguf'), 'x', '--grammar', DEEP_GRAMMAR]),
    (e) => e.code === 2 && /nested more than 64 deep/.test(e.stderr));
});
