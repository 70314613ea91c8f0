// The llama-server routes compared field by field with llama-server itself, built from the same
// llama.cpp tree (scripts/deps.sh), serving the same model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { startServer, post, MODELS } from './helpers.mjs';

const LLAMA_SERVER = process.env.LLAMA_SERVER;
let hearth, ref, refUrl;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

before(async () => {
  assert.ok(LLAMA_SERVER && existsSync(LLAMA_SERVER), `llama-server missing at ${LLAMA_SERVER} (run scripts/deps.sh)`);
  hearth = await startServer({ args: ['--model', 'stories260K', '--parallel', '1'] }); // one slot, as -np 1
  const port = await freePort();
  ref = spawn(LLAMA_SERVER, ['-m', join(MODELS, 'stories260K.gguf'), '--host', '127.0.0.1', '--port', String(port),
    '-c', '2048', '-np', '1'], { stdio: 'ignore' });
  refUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(refUrl + '/health').then((r) => r.status === 200).catch(() => false);
    const ok2 = await fetch(hearth.url + '/health').then((r) => r.status === 200).catch(() => false);
    if (ok && ok2) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('llama-server did not become healthy');
});
after(async () => {
  ref?.kill('SIGTERM');
  await hearth?.stop();
});

async function both(path, body) {
  const [a, b] = await Promise.all([post(hearth.url, path, body), post(refUrl, path, body)]);
  return [a, b];
}

const SAME = ['content', 'stop', 'stop_type', 'stopping_word', 'tokens_predicted', 'tokens_evaluated', 'truncated', 'has_new_line'];

test('/completion: the same text and the same fields', async () => {
  for (const body of [
    { prompt: 'Once upon a time', n_predict: 30, temperature: 0 },
    { prompt: 'Once upon a time', n_predict: 60, temperature: 0, stop: ['Lily', 'park'] },
    { prompt: 'Lily went', n_predict: 20, temperature: 0, top_k: 1 },
    { prompt: [1, 403, 407, 261, 378], n_predict: 12, temperature: 0 },
    { prompt: 'The dog', n_predict: 40, temperature: 0, repeat_penalty: 1.3, repeat_last_n: 16 },
  ]) {
    const [h, r] = await both('/completion', body);
    assert.equal(h.status, 200, h.text);
    assert.equal(r.status, 200, r.text);
    for (const f of SAME) assert.deepEqual(h.body[f], r.body[f], `${f} for ${JSON.stringify(body)}`);
    // The same prefix cache: the same tokens computed and reused after the same requests.
    for (const f of ['prompt_n', 'cache_n', 'predicted_n'])
      assert.equal(h.body.timings[f], r.body.timings[f], `timings.${f} for ${JSON.stringify(body)}`);
    for (const f of Object.keys(r.body.timings)) assert.ok(f in h.body.timings, `timings.${f} is there`);
  }
});

test('/completion streamed: the same text and final event', async () => {
  const body = { prompt: 'Once upon a time', n_predict: 25, temperature: 0, stream: true };
  const read = async (url) => (await (await fetch(url + '/completion', { method: 'POST', body: JSON.stringify(body) })).text())
    .split('\n\n').filter((l) => l.startsWith('data: ') && !l.includes('[DONE]')).map((l) => JSON.parse(l.slice(6)));
  const [h, r] = await Promise.all([read(hearth.url), read(refUrl)]);
  assert.equal(h.map((e) => e.content).join(''), r.map((e) => e.content).join(''));
  for (const f of ['stop', 'stop_type', 'tokens_predicted', 'tokens_evaluated']) assert.deepEqual(h.at(-1)[f], r.at(-1)[f], f);
});

test('/completion n_probs: the same tokens and probabilities', async () => {
  const [h, r] = await both('/completion', { prompt: 'Once upon a time', n_predict: 5, temperature: 0, n_probs: 3 });
  const hp = h.body.completion_probabilities, rp = r.body.completion_probabilities;
  assert.equal(hp.length, rp.length);
  hp.forEach((p, i) => {
    assert.equal(p.token, rp[i].token);
    assert.equal(p.id, rp[i].id);
    assert.ok(Math.abs(p.logprob - rp[i].logprob) < 1e-3, `logprob ${p.logprob} vs ${rp[i].logprob}`);
    assert.deepEqual(p.top_logprobs.map((t) => t.token), rp[i].top_logprobs.map((t) => t.token));
  });
});

test('/tokenize and /detokenize: identical answers', async () => {
  for (const body of [{ content: 'Once upon a time, there was a girl.' }, { content: 'Once upon', add_special: true },
    { content: 'Once upon a time', with_pieces: true }, { content: 'héllo wörld 日本' }]) {
    const [h, r] = await both('/tokenize', body);
    assert.deepEqual(h.body, r.body, JSON.stringify(body));
  }
  const [h, r] = await both('/detokenize', { tokens: [403, 407, 261, 378, 286] });
  assert.deepEqual(h.body, r.body);
});

test('/health and errors agree on status', async () => {
  const [h, r] = await Promise.all([fetch(hearth.url + '/health'), fetch(refUrl + '/health')]);
  assert.deepEqual(await h.json(), await r.json());
  const [a, b] = await both('/detokenize', { tokens: 'x' });
  assert.equal(a.status >= 400, b.status >= 400, `hearth ${a.status}, llama-server ${b.status}`);
});
