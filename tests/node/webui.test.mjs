// The web UI in a real browser: Debian's Chromium, headless, driven by playwright-core, against
// a real `hearth serve` with stories260K (a base model with no chat template: the page continues
// its text through /api/generate) and the fake registry for pulls. Screenshots of the pages go to
// build/test-tmp/webui-shots/. Every wait is on a condition, none on a fixed sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { FakeRegistry } from './fake_registry.mjs';
import { HEARTH, MODELS, MKMODEL, LLAMA_DATA, startServer, waitForLog, rawRequest, assertHealthy } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(process.env.TEST_TMP || tmpdir(), 'webui-shots');
const T = 60000; // a generous bound for any one condition on a slow, busy 2-core box

let srv, reg, browser, page, dir;
const problems = []; // page errors and CSP violations: none may happen

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium`);
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-webui-'));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(dir, 'stories260K.gguf'));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(dir, 'spare.gguf'));
  // A preset, so that one effective value the settings show comes from somewhere else than the
  // built-in defaults.
  mkdirSync(join(dir, 'config', 'hearth'), { recursive: true });
  writeFileSync(join(dir, 'config', 'hearth', 'presets.ini'), '[stories260K]\ntop-k = 17\n');
  reg = new FakeRegistry();
  reg.addHfRepo('org/tiny', [{ path: 'tiny-Q8_0.gguf', file: join(MODELS, 'TinyStories-656K-Q8_0.gguf') }]);
  await reg.start();
  srv = await startServer({ modelsDir: dir, env: { HF_ENDPOINT: reg.url, HEARTH_OLLAMA_REGISTRY: reg.url } });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  page = await ctx.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => problems.push(`unexpected dialog: ${d.message()}`));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const $text = (sel) => page.locator(sel).first().textContent();

async function openChat() {
  await page.goto(srv.url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#model option[value="stories260K:latest"]', { state: 'attached' });
}

async function newChat() {
  await page.click('#new-chat');
  await page.selectOption('#model', 'stories260K:latest');
  await page.waitForFunction(() => document.getElementById('model-mode').textContent.includes('no chat template'));
}

// Opens the settings, fills fields ({ id: value }), closes them again.
async function setSettings(fields) {
  if (await page.locator('#settings').isHidden()) await page.click('#toggle-settings');
  for (const [id, v] of Object.entries(fields)) await page.fill('#' + id, v);
  await page.locator('#s-system').focus(); // the last field's change event
  await page.click('#toggle-settings');
}

async function send(text) {
  await page.fill('#prompt', text);
  await page.click('#send');
}

const assistant = () => page.locator('#messages li.message.assistant').last();

test('GET / answers clients with text and browsers with the page, under a strict CSP', async () => {
  for (const accept of [undefined, 'application/json', '*/*']) {
    const res = await fetch(srv.url + '/', { headers: accept ? { accept } : {} });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hearth is running', `Accept: ${accept}`);
    assert.equal(res.headers.get('vary'), 'Accept');
  }
  const head = await fetch(srv.url + '/', { method: 'HEAD' });
  assert.equal(head.status, 200);
  const res = await fetch(srv.url + '/', { headers: { accept: 'text/html,application/xhtml+xml;q=0.9' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await res.text();
  assert.match(html, /<script type="module" src="\/ui\/app.js"><\/script>/);
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script in the page');
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('cache-control'), 'no-cache');

  const types = { '/ui/app.js': 'text/javascript; charset=utf-8', '/ui/app.css': 'text/css; charset=utf-8',
    '/ui/vendor/purify.js': 'text/javascript; charset=utf-8', '/ui/vendor/marked.js': 'text/javascript; charset=utf-8',
    '/ui/icon.svg': 'image/svg+xml', '/ui/index.html': 'text/html; charset=utf-8' };
  for (const [path, type] of Object.entries(types)) {
    const r = await fetch(srv.url + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), type, path);
    assert.ok(r.headers.get('content-security-policy'), path);
    const etag = r.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}"$/, path);
    assert.ok((await r.arrayBuffer()).byteLength > 100, path);
    // A browser that has the file gets 304 and no body.
    const again = await fetch(srv.url + path, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, path);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    const listed = await fetch(srv.url + path, { headers: { 'if-none-match': `"0000000000000000", W/${etag}` } });
    assert.equal(listed.status, 304, path);
    const stale = await fetch(srv.url + path, { headers: { 'if-none-match': `"0000000000000000", ${etag.slice(0, -2)}"` } });
    assert.equal(stale.status, 200, path);
  }
  // The npm libraries are the pinned ones.
  const pins = JSON.parse(readFileSync(new URL('../../src/web/package.json', import.meta.url))).dependencies;
  assert.match(await (await fetch(srv.url + '/ui/vendor/purify.js')).text(), new RegExp(`DOMPurify ${pins.dompurify.replace(/\./g, '\\.')}`));
  // Bad paths and methods: clear JSON errors, and the server is fine afterwards.
  const missing = await fetch(srv.url + '/ui/nope.js');
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).error, /no such file/);
  const post = await fetch(srv.url + '/ui/app.js', { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.match((await post.json()).error, /not allowed/);
  for (const path of ['/ui/../../etc/passwd', '/ui/%2e%2e/%2e%2e/etc/passwd', '/ui/', '/ui/app.js/']) {
    const raw = await rawRequest(srv.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 404/, path);
    assert.doesNotMatch(raw, /root:/, path);
  }
  await assertHealthy(assert, srv.url);

  // --no-webui: / is text for everyone and /ui/ is gone; the help says so.
  const off = await startServer({ args: ['--no-webui'], modelsDir: mkdtempSync(join(dir, 'off-')) });
  try {
    const r = await fetch(off.url + '/', { headers: { accept: 'text/html' } });
    assert.equal(await r.text(), 'hearth is running');
    assert.equal((await fetch(off.url + '/ui/app.js')).status, 404);
  } finally {
    await off.stop();
  }
  assert.match(execFileSync(HEARTH, ['serve', '--help']).toString(), /--no-webui +do not serve the web UI/);
});

test('chat: pick the model, send, the answer streams in with its timings, and survives a reload', async () => {
  await openChat();
  await newChat();
  // The settings show the model's effective values and where they come from.
  await page.click('#toggle-settings');
  const show = await (await fetch(srv.url + '/api/show', { method: 'POST', body: JSON.stringify({ model: 'stories260K' }) })).json();
  const hp = Object.fromEntries(show.hearth_parameters.map((p) => [p.name, p]));
  assert.equal(hp.top_k.value, 17);
  assert.notEqual(hp.top_k.source, 'default');
  await page.waitForFunction(() => document.getElementById('d-top_k').textContent !== '');
  assert.equal(await $text('#d-top_k'), `model: 17 (${hp.top_k.source})`);
  assert.equal(await $text('#d-temperature'), `model: ${hp.temperature.value} (default)`);
  assert.equal(await page.getAttribute('#s-temperature', 'placeholder'), String(hp.temperature.value));
  // A bad JSON schema is refused in the page, with the reason.
  await page.fill('#s-format', '{"type": ');
  await page.locator('#s-system').focus();
  await page.waitForFunction(() => /not valid JSON/.test(document.getElementById('settings-error').textContent));
  await page.fill('#s-format', '');
  await page.locator('#s-system').focus();
  await page.click('#toggle-settings');
  await setSettings({ 's-temperature': '0', 's-num_predict': '60' });

  await send('Once upon a time');
  await assistant().locator('.timings').waitFor();
  const answer = await assistant().locator('.content').textContent();
  assert.match(answer, /there was a little girl named Lily/, 'greedy stories260K continues the known story');
  const timings = await assistant().locator('.timings').textContent();
  assert.match(timings, /prompt \d+ tokens/);
  assert.match(timings, /generated 60 tokens at [\d.]+ tokens\/s/);
  assert.match(timings, /first token after \d+ ms/);
  assert.match(timings, /ended: length/);
  await page.screenshot({ path: join(SHOTS, 'chat.png'), fullPage: true });

  // A reload finds the conversation in the list and shows it again.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.locator('#conversations li', { hasText: 'Once upon a time' }).first().waitFor();
  assert.equal(await assistant().locator('.content').textContent(), answer);
  assert.equal(await page.locator('#messages li.message.user .content').textContent(), 'Once upon a time');
  assert.match(await assistant().locator('.timings').textContent(), /generated 60 tokens/);
});

test('stop: a long answer stops midway and the server ends its generation', async () => {
  await newChat();
  // ignore_eos and context_shift: without Stop this answer would never end.
  await setSettings({ 's-extra': '{"ignore_eos": true, "context_shift": true, "num_predict": -1}' });
  await send('Once upon a time');
  // The text appears while it streams: the answer grows on the page before it is done.
  const streamed = (n) => page.waitForFunction((min) => {
    const c = document.querySelector('#messages li.assistant.streaming .content');
    return c && c.textContent.length > min && c.textContent.length;
  }, n);
  const first = await (await streamed(50)).jsonValue();
  await streamed(first + 150);
  // The server is generating now.
  const busy = await (await fetch(srv.url + '/api/ps')).json();
  assert.equal(busy.models.find((m) => m.name === 'stories260K:latest')?.slots_busy, 1);
  await page.click('#stop');
  await assistant().locator('.timings', { hasText: 'stopped' }).waitFor();
  assert.ok(await page.locator('#send').isVisible());
  assert.ok(await page.locator('#stop').isHidden());
  // The server saw the client go and freed the slot.
  let ps;
  for (let i = 0; i < 200; i++) {
    ps = await (await fetch(srv.url + '/api/ps')).json();
    if (ps.models.every((m) => m.slots_busy === 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(ps.models.every((m) => m.slots_busy === 0), `the generation ended: ${JSON.stringify(ps.models)}`);
  const log = await waitForLog(srv, /path="?\/api\/generate"? model=\S+ status=200 .*aborted=true/);
  assert.match(log, /path="?\/api\/generate"? model=\S+ status=200 .*aborted=true/);
  // What was shown is what was kept.
  const shown = await assistant().locator('.content').textContent();
  assert.ok(shown.length > 200);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await assistant().locator('.content').textContent(), shown);
  assert.match(await assistant().locator('.timings').textContent(), /stopped/);
  assert.deepEqual(await page.locator('#conversations li').allTextContents(),
    ['Once upon a time\u00d7', 'Once upon a time\u00d7'], 'both conversations are in the list');
});

test('model output with <script> and an onerror attribute is shown as text and runs nothing', async () => {
  await newChat();
  const evil = '<img src=x onerror=window.pwned=1> <script>window.pwned=2</script> '
    + '<a href="javascript:window.pwned=3">a</a> [b](javascript:window.pwned=4) <svg onload=window.pwned=5> '
    + '<img src="x" onerror="window.pwned=6">';
  // A grammar forces stories260K to write exactly this: the real path from settings to output.
  const gbnf = `root ::= "${evil.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  await setSettings({ 's-grammar': gbnf, 's-num_predict': '400' });
  await send('Write HTML');
  await assistant().locator('.timings').waitFor();
  const content = assistant().locator('.content');
  const text = await content.textContent();
  assert.ok(text.includes('<img src=x onerror=window.pwned=1>'), text);
  assert.ok(text.includes('<script>window.pwned=2</script>'), text);
  assert.ok(text.includes('<svg onload=window.pwned=5>'), text);
  assert.ok(text.includes('<img src="x" onerror="window.pwned=6">'), text);
  const found = await page.evaluate(() => ({
    script: document.querySelectorAll('#messages script, #messages img, #messages svg, #messages iframe').length,
    handlers: [...document.querySelectorAll('#messages *')].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
    jsLinks: [...document.querySelectorAll('#messages a')].filter((a) => /^\s*javascript:/i.test(a.getAttribute('href') || '')).length,
    pwned: window.pwned,
  }));
  assert.deepEqual(found, { script: 0, handlers: 0, jsLinks: 0, pwned: undefined });
  // The link the Markdown made is there, but harmless: clicking it runs nothing.
  const link = content.locator('a', { hasText: 'b' });
  if (await link.count()) await link.click();
  // Shown again from storage after a reload: still nothing runs.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.ok((await assistant().locator('.content').textContent()).includes('<script>window.pwned=2</script>'));
  assert.equal(await page.evaluate(() => window.pwned), undefined);
});

test('a setting the server refuses is shown under the answer, and the server is fine', async () => {
  await newChat();
  await setSettings({ 's-temperature': '-5' });
  await send('Once upon a time');
  const error = assistant().locator('p.error');
  await error.waitFor();
  assert.match(await error.textContent(), /temperature/);
  await page.locator('#banner', { hasText: 'temperature' }).waitFor();
  assert.ok(await page.locator('#send').isVisible());
  await page.click('#banner button[aria-label="Dismiss"]');
  await assertHealthy(assert, srv.url);
});

test('thinking is shown collapsed and tool calls are shown, both as text', async () => {
  // A conversation as the page keeps it after a model that thinks and calls tools has answered
  // (message.thinking and message.tool_calls of /api/chat), read back from storage.
  await page.evaluate(() => {
    const id = 'thinker1';
    const c = { id, title: 'Tools', model: 'stories260K:latest', settings: {}, updated: Date.now(), messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: 'Let me look.', thinking: 'The user wants <b onclick=alert(1)>weather</b>.',
        tool_calls: [{ function: { name: 'get_weather', arguments: { city: '<script>alert(1)</script>' } } }] },
    ] };
    localStorage.setItem('hearth.conv.' + id, JSON.stringify(c));
    const idx = JSON.parse(localStorage.getItem('hearth.conversations'));
    idx.push({ id, title: c.title, updated: c.updated });
    localStorage.setItem('hearth.conversations', JSON.stringify(idx));
    localStorage.setItem('hearth.current', id);
  });
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  const thinking = assistant().locator('details.thinking');
  assert.equal(await thinking.getAttribute('open'), null, 'thinking starts collapsed');
  assert.ok(await thinking.locator('.thinking-text').isHidden());
  await thinking.locator('summary').click();
  assert.equal(await thinking.locator('.thinking-text').textContent(), 'The user wants <b onclick=alert(1)>weather</b>.');
  const tools = assistant().locator('details.tool-calls');
  assert.match(await tools.locator('summary').textContent(), /Tool calls \(1\)/);
  assert.equal(await tools.locator('code').textContent(), 'get_weather');
  assert.deepEqual(JSON.parse(await tools.locator('pre').textContent()), { city: '<script>alert(1)</script>' });
  assert.equal(await page.locator('#messages b, #messages script').count(), 0);
  // The conversation is deleted from the list, after a confirmation.
  page.removeAllListeners('dialog');
  page.once('dialog', (d) => d.accept());
  await page.click('#conversations li:has-text("Tools") button.conv-delete');
  await page.locator('#conversations li:has-text("Tools")').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => localStorage.getItem('hearth.conv.thinker1')), null);
  page.on('dialog', (d) => problems.push(`unexpected dialog: ${d.message()}`));
});

test('a model with a chat template is asked through /api/chat, with the system prompt', async (t) => {
  if (!MKMODEL || !LLAMA_DATA) return t.skip('mkmodel or the llama.cpp test data is missing');
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-qwen2.gguf'), '--arch', 'qwen2',
    '--n-embd', '64', '--n-ff', '128', '--type', 'q8_0', '--out', join(dir, 'chatty.gguf')], { stdio: 'ignore' });
  await openChat();
  await page.click('#new-chat');
  await page.waitForSelector('#model option[value="chatty:latest"]', { state: 'attached' });
  await page.selectOption('#model', 'chatty:latest');
  await page.click('#toggle-settings');
  await page.selectOption('#s-think', 'false');
  await page.click('#toggle-settings');
  await setSettings({ 's-system': 'You are terse.', 's-num_predict': '8', 's-seed': '7' });
  const req = page.waitForRequest((r) => r.url().endsWith('/api/chat'));
  await send('Hello there');
  const body = JSON.parse((await req).postData());
  assert.deepEqual(body.messages, [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello there' }]);
  assert.deepEqual(body.options, { seed: 7, num_predict: 8 });
  assert.equal(body.stream, true);
  assert.equal(body.think, false);
  await assistant().locator('.timings').waitFor();
  assert.match(await assistant().locator('.timings').textContent(), /generated 8 tokens/);
  assert.equal(await page.locator('#model-mode').textContent(), '');
});

test('edit a past message, regenerate, export as JSON and Markdown', async () => {
  await newChat();
  await setSettings({ 's-temperature': '0', 's-num_predict': '12' });
  await send('Once upon a time');
  await assistant().locator('.timings').waitFor();
  const first = await assistant().locator('.content').textContent();
  // Regenerate: the answer is replaced (greedy: the same text again), not added.
  const again = page.waitForRequest((r) => r.url().endsWith('/api/generate'));
  await assistant().locator('button.regenerate').click();
  assert.equal(JSON.parse((await again).postData()).prompt, 'Once upon a time', 'the same question is asked again');
  await assistant().locator('.timings').waitFor();
  assert.equal(await page.locator('#messages li.message').count(), 2);
  assert.equal(await assistant().locator('.content').textContent(), first);
  // Edit the question: the conversation is cut there and answered anew.
  await page.locator('#messages li.message.user button.edit').click();
  await page.fill('#messages .edit-box', 'Lily went to the park');
  const edited = page.waitForRequest((r) => r.url().endsWith('/api/generate'));
  await page.click('#messages button:has-text("Save and send")');
  assert.equal(JSON.parse((await edited).postData()).prompt, 'Lily went to the park', 'the answer after the edit is gone');
  await assistant().locator('.timings').waitFor();
  assert.equal(await page.locator('#messages li.message').count(), 2);
  assert.equal(await page.locator('#messages li.message.user .content').textContent(), 'Lily went to the park');
  const second = await assistant().locator('.content').textContent();
  assert.ok(second.length > 0);
  // Exports carry what the page shows.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const json = JSON.parse(readFileSync(await dl.path(), 'utf8'));
  assert.equal(json.model, 'stories260K:latest');
  // (The page shows the Markdown rendered: the raw answer may end in a newline the page drops.)
  assert.deepEqual(json.messages.map((m) => [m.role, m.content.trim()]), [['user', 'Lily went to the park'], ['assistant', second.trim()]]);
  assert.equal(json.settings.temperature, 0);
  const [md] = await Promise.all([page.waitForEvent('download'), page.click('#export-md')]);
  const mdText = readFileSync(await md.path(), 'utf8');
  assert.match(mdText, /## User\n\nLily went to the park/);
  assert.ok(mdText.includes(second.trim().slice(0, 20)));
});

test('models page: list, load, unload, pull with a moving progress bar, delete with confirmation', async () => {
  for (const m of (await (await fetch(srv.url + '/api/ps')).json()).models) {
    await fetch(srv.url + '/api/generate', { method: 'POST', body: JSON.stringify({ model: m.name, keep_alive: 0 }) });
  }
  await page.goto(srv.url + '/#/models');
  await page.waitForSelector('body[data-ready="true"]');
  const row = page.locator('#models tbody tr[data-model="stories260K:latest"]');
  await row.waitFor();
  assert.deepEqual(await row.locator('td').allTextContents(), ['folder', '1.2 MB', 'F32', '292.8K', 'LoadDelete']);
  await page.locator('#running-empty').waitFor();
  // Load, then unload.
  await page.click('#models tbody tr[data-model="stories260K:latest"] button:has-text("Load")');
  await page.locator('#running tbody tr[data-model="stories260K:latest"]').waitFor();
  let ps = await (await fetch(srv.url + '/api/ps')).json();
  assert.ok(ps.models.some((m) => m.name === 'stories260K:latest'));
  await page.click('#running tbody tr[data-model="stories260K:latest"] button:has-text("Unload")');
  await page.locator('#running-empty').waitFor();
  ps = await (await fetch(srv.url + '/api/ps')).json();
  assert.equal(ps.models.length, 0);

  // Pull, slowly enough to watch the bar move.
  reg.fault = { kind: 'trickle', rate: 150000 };
  await page.evaluate(() => {
    window.__progress = [];
    const bar = document.getElementById('pull-progress');
    new MutationObserver(() => window.__progress.push([bar.value, bar.max, bar.hasAttribute('value')]))
      .observe(bar, { attributes: true });
  });
  await page.fill('#pull-name', 'org/tiny');
  await page.click('#pull-button');
  await page.locator('#pull-state.done').waitFor();
  reg.fault = null;
  assert.match(await $text('#pull-status'), /Pulled org\/tiny/);
  const seen = await page.evaluate(() => window.__progress);
  const size = readFileSync(join(MODELS, 'TinyStories-656K-Q8_0.gguf')).length;
  const partial = seen.filter(([v, max, set]) => set && max === size && v > 0 && v < max);
  assert.ok(partial.length >= 2, `the bar moved through partial values: ${JSON.stringify(seen)}`);
  assert.equal(await page.$eval('#pull-progress', (b) => b.value / b.max), 1);
  const pulled = page.locator('#models tbody tr', { hasText: 'org/tiny' });
  await pulled.waitFor();
  await page.screenshot({ path: join(SHOTS, 'models.png'), fullPage: true });
  // A pull can be cancelled midway: the button turns into Cancel while it runs.
  reg.fault = { kind: 'trickle', rate: 20000 };
  reg.addHfRepo('org/slow', [{ path: 'slow-Q8_0.gguf', file: join(MODELS, 'TinyStories-656K-Q8_0.gguf') }]);
  await page.fill('#pull-name', 'org/slow');
  await page.click('#pull-button');
  await page.waitForFunction(() => document.getElementById('pull-progress').value > 0);
  assert.equal(await $text('#pull-button'), 'Cancel');
  await page.click('#pull-button');
  await page.locator('#pull-status', { hasText: 'Cancelled.' }).waitFor();
  reg.fault = null;
  assert.equal(await $text('#pull-button'), 'Pull');
  const pullAborted = /path="?\/api\/pull"?[^\n]* status=200 [^\n]*aborted=true/;
  assert.match(await waitForLog(srv, pullAborted), pullAborted);
  assert.equal(await page.locator('#models tbody tr', { hasText: 'org/slow' }).count(), 0);
  // A failed pull says why.
  await page.fill('#pull-name', 'org/absent');
  await page.click('#pull-button');
  await page.locator('#banner', { hasText: 'Pull failed' }).waitFor();
  await page.click('#banner button[aria-label="Dismiss"]');

  // Delete asks first: Cancel keeps the model, OK deletes it.
  const spare = page.locator('#models tbody tr[data-model="spare:latest"]');
  page.removeAllListeners('dialog');
  page.once('dialog', (d) => d.dismiss());
  await spare.locator('button:has-text("Delete")').click();
  assert.ok(existsSync(join(dir, 'spare.gguf')));
  page.once('dialog', (d) => { assert.match(d.message(), /Delete the model spare:latest/); d.accept(); });
  await spare.locator('button:has-text("Delete")').click();
  await spare.waitFor({ state: 'detached' });
  assert.ok(!existsSync(join(dir, 'spare.gguf')));
  page.on('dialog', (d) => problems.push(`unexpected dialog: ${d.message()}`));
});

test('API key: saved in the browser and sent as a Bearer token on every request', async () => {
  await page.goto(srv.url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#open-key');
  await page.fill('#api-key', 'sk-test-123');
  const req = page.waitForRequest((r) => r.url().endsWith('/api/tags'));
  await page.click('#key-save');
  assert.equal((await req).headers().authorization, 'Bearer sk-test-123');
  const after = page.waitForRequest((r) => r.url().endsWith('/api/tags'));
  await page.reload();
  assert.equal((await after).headers().authorization, 'Bearer sk-test-123');
  await page.click('#open-key');
  await page.fill('#api-key', '');
  await page.click('#key-save');
});

test('a server that needs a key: the page loads, a 401 asks for the key, the right key works', async () => {
  const kdir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-webui-key-'));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(kdir, 'stories260K.gguf'));
  const keyed = await startServer({ modelsDir: kdir, args: ['--api-key', 'sk-right'] }); // stop() removes kdir
  const ctx = await browser.newContext(); // a browser with no key saved
  const p = await ctx.newPage();
  p.setDefaultTimeout(T);
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  try {
    await p.goto(keyed.url + '/'); // the page and its files need no key
    await p.waitForSelector('body[data-ready="true"]');
    await p.locator('#key-dialog[open]').waitFor();
    assert.match(await p.locator('#key-why').textContent(), /needs an API key \(401\)/);
    // A wrong key: refused, and asked again.
    await p.fill('#api-key', 'sk-wrong');
    await p.click('#key-save');
    await p.locator('#key-why', { hasText: 'refused this key' }).waitFor();
    // The right one: the models come.
    await p.fill('#api-key', 'sk-right');
    await p.click('#key-save');
    await p.waitForSelector('#model option[value="stories260K:latest"]', { state: 'attached' });
    assert.equal(await p.locator('#key-dialog[open]').count(), 0);
  } finally {
    await ctx.close();
    await keyed.stop();
  }
});

test('phone width: nothing overflows sideways, the conversation list opens from a button', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(srv.url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await assistant().waitFor();
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(await overflow() <= 0, 'no sideways scroll on the chat page');
  assert.ok(await page.locator('#sidebar').isHidden());
  await page.click('#toggle-sidebar');
  await page.locator('#sidebar').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left === 0);
  assert.equal(await page.getAttribute('#toggle-sidebar', 'aria-expanded'), 'true');
  await page.screenshot({ path: join(SHOTS, 'phone-chat.png') });
  await page.goto(srv.url + '/#/models');
  await page.locator('#models tbody tr').first().waitFor();
  assert.ok(await overflow() <= 0, 'no sideways scroll on the models page');
  await page.screenshot({ path: join(SHOTS, 'phone-models.png'), fullPage: true });
  // Every control has a name a screen reader can say.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, []);
  // Keyboard: Tab from the top reaches the skip link, then the page's controls.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(srv.url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  await page.keyboard.type('typed');
  assert.equal(await page.inputValue('#prompt'), 'typed');
});

test('no page errors and no CSP violations happened', () => {
  assert.deepEqual(problems, []);
});
