// Chat templates through the Jinja engine, end to end: which template a chat uses, the BOS/EOS
// texts it gets, the fallback for models without one, and template failures as clean 400s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, post, assertHealthy, MODELS, MKMODEL, LLAMA_DATA } from './helpers.mjs';

let srv, dir;

function mk(name, template, vocab = 'ggml-vocab-llama-spm.gguf') {
  writeFileSync(join(dir, name + '.jinja'), template);
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, vocab), '--arch', 'llama',
    '--template', join(dir, name + '.jinja'), '--out', join(dir, name + '.gguf')], { stdio: 'ignore' });
}

before(async () => {
  dir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-jinja-'));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(dir, 'stories260K.gguf'));
  // Jinja that llama.cpp's built-in renderer never knew: namespaces, loops, filters, tojson.
  mk('fancy', `{%- set ns = namespace(n=0) -%}{{ bos_token }}
{%- for m in messages -%}{%- set ns.n = ns.n + 1 -%}
[{{ loop.index }}/{{ messages|length }} {{ m.role|upper }}] {{ m.content|trim }}
{% endfor -%}
{%- if tools is defined %}tools={{ tools|map(attribute='function.name')|list }}{% endif -%}
{%- if add_generation_prompt %}[{{ ns.n + 1 }} ASSISTANT]{% endif %}{{ eos_token }}`);
  mk('refuses', `{%- for m in messages -%}
{%- if m.role == 'system' -%}
{{ raise_exception('System role not supported') }}
{%- endif -%}{{ m.content }}{%- endfor -%}`);
  mk('spins', '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}');
  mk('broken', 'line one\n{% if messages %}never closed');
  // stories260K claiming to be a gemma (same-length architecture string): no template, but an
  // architecture with one chat format in llama.cpp. /apply-template only reads its metadata.
  const g = readFileSync(join(MODELS, 'stories260K.gguf'));
  const key = Buffer.from('general.architecture');
  const at = g.indexOf(key) + key.length + 4 + 8; // the type (u32) and the length (u64)
  assert.equal(g.toString('latin1', at, at + 5), 'llama');
  g.write('gemma', at, 'latin1');
  writeFileSync(join(dir, 'gemmaish.gguf'), g);
  srv = await startServer({ modelsDir: dir });
});

after(async () => {
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
});

const user = [{ role: 'user', content: '  hi there ' }];

test('a GGUF Jinja template renders with bos/eos texts from the vocabulary', async () => {
  const r = await post(srv.url, '/apply-template', { model: 'fancy', messages: user });
  assert.equal(r.status, 200, r.text);
  // llama-spm's BOS is <s> and EOS </s>; trim and upper ran; the namespace counted.
  assert.equal(r.body.prompt, '<s>[1/1 USER] hi there\n[2 ASSISTANT]</s>');
  const c = await post(srv.url, '/api/chat', { model: 'fancy', messages: user, stream: false,
    options: { num_predict: 2, temperature: 0 } });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.body.warnings, undefined, 'a real template: no fallback warning');
});

test('a model without a template: the plain format, and a warning in the response', async () => {
  const r = await post(srv.url, '/apply-template', { model: 'stories260K',
    messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'hi' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.prompt, 'System: Be kind.\n\nUser: hi\n\nAssistant:');
  const c = await post(srv.url, '/api/chat', { model: 'stories260K', messages: user, stream: false,
    options: { num_predict: 2 } });
  assert.equal(c.status, 200, c.text);
  assert.ok(c.body.warnings.some((w) => /no chat template/.test(w)), JSON.stringify(c.body));
  const o = await post(srv.url, '/v1/chat/completions', { model: 'stories260K', messages: user, max_tokens: 2 });
  assert.equal(o.status, 200, o.text);
  assert.ok(o.body.warnings.some((w) => /plain 'Role: text' format/.test(w)), JSON.stringify(o.body));
});

test('no template but an architecture with one format: llama.cpp\'s built-in', async () => {
  const r = await post(srv.url, '/apply-template', { model: 'gemmaish', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.prompt, '<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n');
});

test('template failures are 400s naming the line, and the server stays up', async () => {
  const sys = [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }];
  let r = await post(srv.url, '/api/chat', { model: 'refuses', messages: sys, stream: false });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error, /line 3: System role not supported/);
  r = await post(srv.url, '/v1/chat/completions', { model: 'refuses', messages: sys });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error.message, /System role not supported/);
  r = await post(srv.url, '/api/chat', { model: 'refuses', messages: user, stream: false,
    options: { num_predict: 1 } });
  assert.equal(r.status, 200, 'without a system message the same template renders');
  r = await post(srv.url, '/api/chat', { model: 'spins', messages: user, stream: false });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error, /line 1: loops ran more than 1000000 iterations/);
  r = await post(srv.url, '/apply-template', { model: 'broken', messages: user });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error.message, /line 2: unexpected end of template, expected 'elif'/);
  await assertHealthy(assert, srv.url);
});

test('/api/show says where the template came from', async () => {
  const s = await post(srv.url, '/api/show', { model: 'fancy' });
  assert.equal(s.body.template_source, 'gguf');
  assert.match(s.body.template, /namespace\(n=0\)/);
  const none = await post(srv.url, '/api/show', { model: 'stories260K' });
  assert.equal(none.body.template_source, null);
});
