// Continuous batching: several requests on one model share its slots and its decode steps, and
// each gets exactly the text it gets alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, assertHealthy, slotsFree } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--parallel', '4'] }); });
after(async () => { await srv?.stop(); });

const PROMPTS = ['Once upon a time', 'Lily', 'The dog', 'One day, Tom', 'Sue had a big',
  'The sun was', 'Mom said', 'A little bird'];

// cache_prompt: false computes every prompt whole, so the only difference between a request
// alone and in company is the batching.
const complete = (prompt, extra = {}) => post(srv.url, '/completion',
  { model: 'stories260K', prompt, n_predict: 48, temperature: 0, cache_prompt: false, ...extra });

// Polls /slots until stopped; returns the most slots seen busy at once.
function watchSlots() {
  let stop = false, most = 0, queuedSeen = 0;
  const done = (async () => {
    while (!stop) {
      const slots = await (await fetch(srv.url + '/slots')).json();
      most = Math.max(most, slots.filter((s) => s.is_processing).length);
      const m = await (await fetch(srv.url + '/metrics')).text();
      const q = Number((m.match(/^hearth_queue_depth (\d+)$/m) || [])[1] || 0);
      queuedSeen = Math.max(queuedSeen, q);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return async () => { stop = true; await done; return { most, queuedSeen }; };
}

test('K prompts at once give exactly the texts each gives alone (greedy), more than the slots queue', async () => {
  const alone = [];
  for (const p of PROMPTS) {
    const r = await complete(p);
    assert.equal(r.status, 200, r.text);
    alone.push(r.body.content);
  }
  assert.equal(new Set(alone).size, PROMPTS.length, 'different prompts, different texts');
  const slots = await (await fetch(srv.url + '/slots')).json();
  assert.equal(slots.length, 4, 'four slots');
  assert.ok(slots.every((s) => s.n_ctx > 0 && s.is_processing === false));

  const stopWatch = watchSlots();
  const together = await Promise.all(PROMPTS.map((p) => complete(p)));
  const seen = await stopWatch();
  together.forEach((r, i) => {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.content, alone[i], `prompt ${i} (${PROMPTS[i]}) in a batch`);
  });
  assert.ok(seen.most >= 2, `several slots worked at once (most seen: ${seen.most})`);
  const after = await (await fetch(srv.url + '/slots')).json();
  assert.ok(after.every((s) => !s.is_processing), 'every slot is free again');
  await assertHealthy(assert, srv.url);
});

test('streams in parallel with a prompt being read and an embedding', async () => {
  const long = 'Once upon a time, there was a little girl named Lily. '.repeat(20);
  const aloneLong = (await complete(long, { n_predict: 16 })).body.content;
  const aloneShort = (await complete('Lily', { n_predict: 64 })).body.content;
  const aloneEmb = (await post(srv.url, '/v1/embeddings', { model: 'stories260K', input: 'a cat' })).body;
  const [short, longer, emb] = await Promise.all([
    complete('Lily', { n_predict: 64 }),
    complete(long, { n_predict: 16 }),
    post(srv.url, '/v1/embeddings', { model: 'stories260K', input: 'a cat' }),
  ]);
  assert.equal(short.body.content, aloneShort);
  assert.equal(longer.body.content, aloneLong);
  assert.equal(emb.status, 200, emb.text);
  const a = aloneEmb.data[0].embedding, b = emb.body.data[0].embedding;
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-4, `embedding value ${i}`));
});

test('a queued request that is abandoned leaves, and the others finish', async () => {
  // Four long requests fill the slots; a fifth waits in the queue and is abandoned there.
  const opts = { n_predict: 200, ignore_eos: true };
  const running = PROMPTS.slice(0, 4).map((p) => complete(p, opts));
  let queued;
  for (let i = 0; i < 200; i++) {
    const slots = await (await fetch(srv.url + '/slots')).json();
    if (slots.filter((s) => s.is_processing).length === 4) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const ctl = new AbortController();
  queued = fetch(srv.url + '/completion', { method: 'POST', signal: ctl.signal,
    body: JSON.stringify({ model: 'stories260K', prompt: 'The cat', n_predict: 200 }) });
  await new Promise((r) => setTimeout(r, 50));
  ctl.abort();
  await assert.rejects(queued, /abort/i);
  const results = await Promise.all(running);
  for (const r of results) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.tokens_predicted, 200);
  }
  assert.ok(await slotsFree(srv.url), 'no slot still works for the abandoned request');
  const m = await (await fetch(srv.url + '/metrics')).text();
  assert.match(m, /^hearth_queue_depth 0$/m);
  await assertHealthy(assert, srv.url);
});

test('num_parallel per request is a load option: one slot serves requests one at a time', async () => {
  const one = { options: { num_parallel: 1, temperature: 0, num_predict: 8 } };
  const r = await post(srv.url, '/api/generate', { model: 'tiny', prompt: 'Lily', stream: false, ...one });
  assert.equal(r.status, 200, r.text);
  const slots = await (await fetch(srv.url + '/slots')).json();
  assert.equal(slots.filter((s) => s.model === 'tiny:latest').length, 1);
  const bad = await post(srv.url, '/api/generate', { model: 'tiny', prompt: 'Lily', stream: false,
    options: { num_parallel: 1000 } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /num_parallel/);
  for (const path of ['/completion', '/v1/completions']) {
    const r2 = await post(srv.url, path, { model: 'stories260K', prompt: 'Lily', cache_prompt: 'yes' });
    assert.equal(r2.status, 400, `${path}: ${r2.text}`);
    assert.match(r2.text, /cache_prompt must be true or false/);
  }
  const huge = await post(srv.url, '/api/generate', { model: 'tiny', prompt: 'Lily', stream: false,
    options: { num_parallel: 256, num_ctx: 1 << 20 } });
  assert.equal(huge.status, 400, huge.text);
  assert.match(huge.body.error, /num_ctx/);
  await assertHealthy(assert, srv.url);
});

test('a long prompt is read in small chunks while another request keeps generating', async () => {
  // num_batch 32: a step holds at most 32 tokens, the generating slot's among them (prompt tokens
  // this cheap would otherwise fill a whole batch per step), so the long prompt below spans many
  // steps, and the generating slot gains a token in each of them.
  const load = { num_ctx: 8192, num_ubatch: 32, num_batch: 32 };
  // It would run for 4000 tokens; it is abandoned once the long prompt is done.
  const ctl = new AbortController();
  const gen = fetch(srv.url + '/completion', { method: 'POST', signal: ctl.signal,
    body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', n_predict: 4000,
      ignore_eos: true, temperature: 0, ...load }) });
  let slots = [];
  for (let i = 0; i < 500; i++) { // wait until it generates
    slots = await (await fetch(srv.url + '/slots')).json();
    if (slots.some((s) => s.state === 'generating')) break;
  }
  const long = post(srv.url, '/completion', { model: 'stories260K',
    prompt: 'Lily went to the park with her mom. '.repeat(500), n_predict: 4, temperature: 0, ...load });
  // Watch the slots while the long prompt is read: the generating slot must advance between
  // two looks that both see the other slot still reading its prompt.
  let advanced = false, seenReading = 0, last = null;
  for (let i = 0; i < 2000 && !advanced; i++) {
    slots = await (await fetch(srv.url + '/slots')).json();
    const reading = slots.find((s) => s.state === 'prompt');
    const generating = slots.find((s) => s.state === 'generating' && s.n_prompt_tokens < 50);
    if (!reading || !generating) { last = null; continue; }
    seenReading++;
    if (last !== null && generating.next_token.n_decoded > last) advanced = true;
    last = generating.next_token.n_decoded;
  }
  assert.ok(seenReading > 0, 'the long prompt was seen being read');
  assert.ok(advanced, 'the other request generated while the prompt was read');
  const r = await long;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.tokens_predicted, 4);
  ctl.abort();
  await assert.rejects(gen, /abort/i);
  assert.ok(await slotsFree(srv.url), 'the abandoned generation left its slot');
  await assertHealthy(assert, srv.url);
});
