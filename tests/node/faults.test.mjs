// Fault injection with the real parts: a disk that fills up and a folder that cannot be written,
// during a pull (the fake registry of pull.test.mjs) and during prompt-cache writes; kill -9 of
// the daemon during a pull and during a create; a worker that runs out of memory while it
// loads. Each time: a clear error in the API's shape, nothing half-written visible as a model,
// the daemon healthy, and the same operation succeeding once the fault is gone.
//
// "Disk full" is a real full file system (a tmpfs of a few MiB) where this process may mount
// one (root with CAP_SYS_ADMIN, as on a CI machine); everywhere, it is also a file size limit
// (RLIMIT_FSIZE with SIGXFSZ ignored: writes fail with EFBIG as they would with ENOSPC).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRegistry } from './fake_registry.mjs';
import { HEARTH, MKMODEL, LLAMA_DATA, MODELS, startServer, post, assertHealthy, waitForLog } from './helpers.mjs';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let work, reg, model; // model: the GGUF the registry serves
const mounts = [];

// A tmpfs of size bytes at dir (read-only with ro), or null when this process may not mount.
function mountTmpfs(dir, size, ro = false) {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${ro ? ',ro' : ''}`, 'tmpfs', dir],
      { stdio: 'ignore' });
  } catch {
    return null;
  }
  mounts.push(dir);
  return dir;
}
function umount(dir) {
  try { execFileSync('umount', [dir], { stdio: 'ignore' }); } catch { /* already gone */ }
  const i = mounts.indexOf(dir);
  if (i >= 0) mounts.splice(i, 1);
}
const CAN_MOUNT = (() => {
  if (process.getuid?.() !== 0) return false;
  const d = mkdtempSync(join(tmpdir(), 'hearth-mnt-'));
  const ok = mountTmpfs(d, 65536) !== null;
  if (ok) umount(d);
  rmSync(d, { recursive: true, force: true });
  return ok;
})();
const NO_MOUNT = 'cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the RLIMIT_FSIZE case runs instead';

// A folder the daemon cannot write: a read-only tmpfs where mounting is allowed, else (not root)
// a folder without write permission, else (root, no mount) a path below a regular file.
function unwritableDir(name) {
  const dir = join(work, name);
  if (CAN_MOUNT && mountTmpfs(dir, 65536, true)) return dir;
  if (process.getuid?.() !== 0) {
    mkdirSync(dir, { recursive: true, mode: 0o555 });
    return dir;
  }
  writeFileSync(dir, 'a file, not a folder\n');
  return join(dir, 'sub');
}

// A command line prefix that runs what follows with a file size limit of kb KiB and SIGXFSZ
// ignored (startServer's wrap).
const fsizeLimited = (kb) => ['bash', '-c', `ulimit -f ${kb}; trap '' XFSZ; exec "$@"`, 'fsize'];
// A server over modelsDir with env (in full), run under wrap; stop() keeps the folder.
const serverIn = (modelsDir, env, wrap = []) => startServer({ modelsDir, env, wrap, keep: true });

before(async () => {
  work = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-faults-'));
  // About 5 MB: larger than the small file systems below, quick to serve.
  model = join(work, 'm.gguf');
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
    '--type', 'f16', '--n-embd', '64', '--n-ff', '128', '--seed', '7', '--out', model], { stdio: 'ignore' });
  const cfg = join(work, 'config.json');
  writeFileSync(cfg, JSON.stringify({ model_format: 'gguf', model_family: 'llama' }));
  reg = new FakeRegistry();
  reg.addHfRepo('org/one', [{ path: 'one-F16.gguf', file: model }]);
  reg.addOllamaModel('library/tiny:latest', [{ file: cfg }, { mediaType: 'application/vnd.ollama.image.model', file: model }]);
  await reg.start();
});

after(async () => {
  await reg?.stop();
  for (const d of [...mounts]) umount(d);
  if (work) rmSync(work, { recursive: true, force: true });
});

// A fresh pair of stores under root and the environment pointing hearth at them.
function stores(root, extra = {}) {
  mkdirSync(root, { recursive: true });
  const env = {
    ...process.env, HF_ENDPOINT: reg.url, HEARTH_OLLAMA_REGISTRY: reg.url,
    HF_HUB_CACHE: join(root, 'hub'), OLLAMA_MODELS: join(root, 'ollama'),
    HEARTH_HOST: '127.0.0.1:1', HEARTH_PULL_STALL_S: '2', HEARTH_PULL_RETRIES: '2', ...extra,
  };
  for (const v of ['HF_HUB_OFFLINE', 'http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete env[v];
  return { root, env, hub: env.HF_HUB_CACHE, ollama: env.OLLAMA_MODELS };
}

function run(cmd, args, env) {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }));
  });
}
const pull = (name, env) => run(HEARTH, ['pull', name], env);

// Every file below dir, relative.
function tree(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

// Nothing in the stores looks like a model: no snapshot file, no refs, no manifest.
function assertNoModel(s) {
  const files = [...tree(s.hub).map((p) => join(s.hub, p)), ...tree(s.ollama).map((p) => join(s.ollama, p))];
  const visible = files.filter((p) => (/\/snapshots\/.+\.gguf$|\/refs\/main$/.test(p) ||
    (p.includes('/manifests/') && statSync(p).isFile())));
  assert.deepEqual(visible, [], 'nothing half-written looks like a model');
}

// The models a server lists (/api/tags), and what `hearth list` prints through it.
async function listed(url) {
  const tags = (await (await fetch(url + '/api/tags')).json()).models.map((m) => m.name);
  const cli = await run(HEARTH, ['list'], { ...process.env, HEARTH_HOST: url });
  assert.equal(cli.code, 0, cli.stderr);
  return { tags, cli: cli.stdout };
}

// ---- disk full and unwritable folders during a pull ----

// The pull fails with err naming the cause and no folder of the machine; nothing is a model;
// with the room back, the same pull completes and gives the registry's bytes.
async function pullFailsThenRecovers(s, failing, re, recover) {
  for (const name of ['org/one', 'tiny']) {
    reg.reset();
    const r = await failing(name);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, re, name);
    assert.doesNotMatch(r.stderr, /success/);
    assertNoModel(s);
  }
  await recover();
  for (const name of ['org/one', 'tiny']) {
    reg.reset();
    const r = await pull(name, s.env);
    assert.equal(r.code, 0, `${name} after the fault: ${r.stderr}`);
  }
  const snap = join(s.hub, 'models--org--one', 'snapshots', reg.hf.get('org/one').commit, 'one-F16.gguf');
  assert.equal(sha256(readFileSync(snap)), sha256(readFileSync(model)));
  assert.ok(existsSync(join(s.ollama, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest')));
  assert.deepEqual(tree(s.root).filter((p) => p.includes('.partial')), [], 'no partial left');
}

test('disk full during a pull (a 2 MiB tmpfs): a clear error, no model; with room, the pull completes',
  { skip: CAN_MOUNT ? false : NO_MOUNT }, async () => {
    const root = mountTmpfs(join(work, 'small-fs'), 2 << 20);
    const s = stores(root);
    await pullFailsThenRecovers(s, (name) => pull(name, s.env), /No space left on device/, async () => {
      execFileSync('mount', ['-o', 'remount,size=64m', root]);
    });
    umount(root);
  });

test('disk full during a pull (RLIMIT_FSIZE): a clear error, no model; without the limit it completes', async () => {
  const s = stores(join(work, 'fsize'));
  const [cmd, ...args] = fsizeLimited(1024);
  await pullFailsThenRecovers(s, (name) => run(cmd, [...args, HEARTH, 'pull', name], s.env), /File too large/,
    async () => {});
});

test('an unwritable store folder: the pull says so and writes nothing', async () => {
  const dir = unwritableDir('ro-store');
  const s = stores(join(work, 'ro-root'), { HF_HUB_CACHE: join(dir, 'hub'), OLLAMA_MODELS: join(dir, 'ollama') });
  for (const name of ['org/one', 'tiny']) {
    reg.reset();
    const r = await pull(name, s.env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Read-only file system|Permission denied|Not a directory/, name);
  }
  assert.deepEqual(tree(dir), []);
});

test('serve: disk full during /api/pull is an error in Ollama\'s shape; the server stays up', async () => {
  // A server whose files are limited to 1 MiB: the store is the only thing it writes.
  const s = stores(join(work, 'serve-fsize'), { HEARTH_HOST: '' });
  const modelsDir = mkdtempSync(join(work, 'models-'));
  const srv = await serverIn(modelsDir, s.env, fsizeLimited(1024));
  try {
    reg.reset();
    const r = await post(srv.url, '/api/pull', { model: 'org/one', stream: false });
    assert.equal(r.status, 500, r.text);
    assert.match(r.body.error, /File too large/);
    assert.doesNotMatch(r.body.error, new RegExp(work), 'no folder of the server in the error');
    // Streamed: the progress, then one error line.
    reg.reset();
    const res = await fetch(srv.url + '/api/pull', { method: 'POST', body: JSON.stringify({ model: 'tiny' }) });
    assert.equal(res.status, 200);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.match(lines.at(-1).error, /File too large/);
    assert.ok(!lines.some((l) => l.status === 'success'));
    assertNoModel(s);
    assert.ok(!(await listed(srv.url)).tags.some((n) => /org\/one|tiny/.test(n)));
    await assertHealthy(assert, srv.url);
  } finally {
    await srv.stop();
  }
});

// ---- the prompt cache ----

// A long prompt, the model unloaded (its worker writes the prompt cache as it goes), the same
// prompt again: the same text as the first time, computed again, and a warning in the log.
async function cacheFault(env, wrap, warn) {
  const modelsDir = mkdtempSync(join(work, 'pc-models-'));
  writeFileSync(join(modelsDir, 'stories260K.gguf'), readFileSync(join(MODELS, 'stories260K.gguf')));
  const srv = await serverIn(modelsDir, env, wrap || []);
  try {
    const prompt = 'Once upon a time '.repeat(40);
    const ask = () => post(srv.url, '/completion', { model: 'stories260K', prompt, n_predict: 16, temperature: 0 });
    const first = await ask();
    assert.equal(first.status, 200, first.text);
    const unload = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: '', keep_alive: 0 });
    assert.equal(unload.status, 200, unload.text);
    assert.match(await waitForLog(srv, /prompt cache not saved/), warn);
    const again = await ask();
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.content, first.body.content, 'the same text without the cache');
    assert.equal(again.body.timings.cache_n, 0, 'nothing was restored');
    await assertHealthy(assert, srv.url);
  } finally {
    await srv.stop();
  }
}

test('prompt cache on a full disk (a 64 KiB tmpfs): generation unchanged, a warning logged',
  { skip: CAN_MOUNT ? false : NO_MOUNT }, async () => {
    const dir = mountTmpfs(join(work, 'pc-full'), 65536);
    await cacheFault({ HEARTH_PROMPT_CACHE_DIR: dir }, null,
      /msg="prompt cache not saved" dir=\S+ err="No space left on device"/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
    umount(dir);
  });

test('prompt cache under a file size limit: generation unchanged, a warning logged', async () => {
  await cacheFault({ HEARTH_PROMPT_CACHE_DIR: join(work, 'pc-fsize') }, fsizeLimited(64),
    /msg="prompt cache not saved" dir=\S+ err="File too large"/);
  assert.deepEqual(readdirSync(join(work, 'pc-fsize')).filter((f) => f.includes('.tmp-')), []);
});

test('prompt cache in a folder that cannot be written: generation unchanged, a warning logged', async () => {
  await cacheFault({ HEARTH_PROMPT_CACHE_DIR: unwritableDir('pc-ro') }, null,
    /msg="prompt cache not saved" dir=\S+ err="(Read-only file system|Permission denied|Not a directory|No such file or directory)"/);
});

// ---- kill -9 of the daemon ----

// A server over the stores s and a models folder; the stores outlive it.
function serverOver(s, modelsDir, extra = {}) {
  return serverIn(modelsDir, { ...s.env, HEARTH_HOST: '', ...extra });
}

test('kill -9 of the daemon during /api/pull: a new daemon shows no model, and the pull then succeeds', async () => {
  for (const name of ['org/one', 'tiny']) {
    const s = stores(join(work, `kill-pull-${name.replace('/', '-')}`));
    const modelsDir = mkdtempSync(join(work, 'models-'));
    reg.reset();
    reg.fault = { kind: 'trickle', rate: 1 << 20 };
    const srv = await serverOver(s, modelsDir);
    const res = await fetch(srv.url + '/api/pull', { method: 'POST', body: JSON.stringify({ model: name }) });
    const reader = res.body.getReader();
    // Past 2 MiB of the model (at 1 MiB/s): the resume record has been saved at least once.
    let seen = '';
    const far = () => seen.split('\n').some((l) => { try { return JSON.parse(l).completed > 2 << 20; } catch { return false; } });
    while (!far()) {
      const r = await reader.read();
      assert.ok(!r.done, `the pull of ${name} ended before 2 MiB: ${seen.slice(-500)}`);
      seen += new TextDecoder().decode(r.value);
    }
    srv.child.kill('SIGKILL');
    assert.equal((await srv.exited).signal, 'SIGKILL');
    await reader.cancel().catch(() => {});
    assertNoModel(s);
    assert.ok(tree(s.root).some((p) => p.endsWith('.partial')), 'the partial is kept for a resume');

    reg.reset();
    const again = await serverOver(s, modelsDir);
    try {
      const l = await listed(again.url);
      assert.ok(!l.tags.some((n) => n.includes(name === 'tiny' ? 'library/tiny' : 'org/one')), JSON.stringify(l.tags));
      assert.doesNotMatch(l.cli, name === 'tiny' ? /library\/tiny/ : /org\/one/);
      const r = await post(again.url, '/api/pull', { model: name, stream: false });
      assert.equal(r.status, 200, r.text);
      assert.ok(reg.bytesSent < statSync(model).size, 'the resume fetched less than the whole file');
      const g = await post(again.url, '/api/generate', { model: name === 'tiny' ? 'registry.ollama.ai/library/tiny' : 'hf.co/org/one',
        prompt: 'Hello', raw: true, stream: false, options: { num_predict: 2 } });
      assert.equal(g.status, 200, g.text);
    } finally {
      await again.stop();
    }
  }
  reg.reset();
});

test('kill -9 of the daemon during /api/create (quantizing): no half-made model, no temporary file, create again works', async () => {
  const s = stores(join(work, 'kill-create'));
  const modelsDir = mkdtempSync(join(work, 'models-'));
  // An F16 model large enough for the quantize to take a while.
  const f16 = join(work, 'big-f16.gguf');
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
    '--type', 'f16', '--n-embd', '1024', '--n-ff', '4096', '--n-layer', '4', '--out', f16], { stdio: 'ignore' });
  const digest = 'sha256:' + sha256(readFileSync(f16));
  const body = { model: 'made', files: { 'model.gguf': digest }, quantize: 'Q4_K_M' };
  const blobs = join(s.ollama, 'blobs');
  const srv = await serverOver(s, modelsDir);
  const up = await fetch(`${srv.url}/api/blobs/${digest}`, { method: 'POST', body: readFileSync(f16) });
  assert.equal(up.status, 201);
  const res = await fetch(srv.url + '/api/create', { method: 'POST', body: JSON.stringify(body) });
  const reader = res.body.getReader();
  let seen = '';
  while (!/"completed":[1-9]/.test(seen)) {
    const r = await reader.read();
    assert.ok(!r.done, `the create ended before the quantize was under way: ${seen}`);
    seen += new TextDecoder().decode(r.value);
  }
  assert.match(seen, /quantizing F16 model to Q4_K_M/);
  srv.child.kill('SIGKILL');
  await srv.exited;
  await reader.cancel().catch(() => {});
  assert.equal(existsSync(join(s.ollama, 'manifests', 'registry.ollama.ai', 'library', 'made')), false);
  // The quantize child does not go on for nobody: it dies with its parent (PR_SET_PDEATHSIG).
  const quantizers = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1');
      return /\0quantize\0/.test(cmd) && cmd.includes(blobs);
    } catch { return false; }
  });
  for (let i = 0; i < 100 && quantizers().length; i++) await sleep(100);
  assert.deepEqual(quantizers(), [], 'the quantize child ended with its parent');

  const again = await serverOver(s, modelsDir);
  try {
    const l = await listed(again.url);
    assert.ok(!l.tags.some((n) => n.startsWith('made')), JSON.stringify(l.tags));
    assert.doesNotMatch(l.cli, /^made/m);
    // The quantize child stops when its parent is gone, and the new daemon sweeps what it left.
    let temps = [];
    for (let i = 0; i < 100; i++) {
      temps = readdirSync(blobs).filter((f) => f.startsWith('.'));
      if (!temps.length) break;
      await sleep(100);
    }
    assert.deepEqual(temps, [], 'no temporary file is left in blobs/');
    const r = await post(again.url, '/api/create', { ...body, stream: false });
    assert.equal(r.status, 200, r.text);
    const g = await post(again.url, '/api/generate', { model: 'made', prompt: 'Hello', raw: true, stream: false,
      options: { num_predict: 2 } });
    assert.equal(g.status, 200, g.text);
  } finally {
    await again.stop();
  }
});

// ---- a worker out of memory ----

// ASan and TSan reserve terabytes of address space for their shadow memory: no RLIMIT_AS there.
const SANITIZED = /__(asan|tsan)_init/.test(readFileSync(HEARTH, 'latin1'));

test('worker out of memory while loading (RLIMIT_AS): a clear error in each API\'s shape, the daemon stays up, the next request reloads',
  { skip: SANITIZED ? 'a sanitizer build cannot run under RLIMIT_AS (its shadow memory needs terabytes of address space)' : false }, async () => {
  const modelsDir = mkdtempSync(join(work, 'oom-models-'));
  writeFileSync(join(modelsDir, 'stories260K.gguf'), readFileSync(join(MODELS, 'stories260K.gguf')));
  // 1 GiB of address space for the daemon and so for its workers: a context of 4 M tokens
  // (about 2.5 GiB of KV cache) cannot be allocated, a default one can. The scheduler's estimate
  // (against MemAvailable) lets it through, as it would on a machine whose memory is taken by
  // others between the estimate and the load.
  const srv = await serverIn(modelsDir, {}, ['bash', '-c', 'ulimit -v 1048576; exec "$@"', 'as']);
  const HUGE = 1 << 22;
  const OOM = /llama\.cpp could not create a context of 4194304 tokens: .*failed to allocate/;
  try {
    const g = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'Once', stream: false,
      options: { num_ctx: HUGE, num_predict: 3 } });
    assert.equal(g.status, 422, g.text);
    assert.match(g.body.error, OOM);
    assert.doesNotMatch(g.text, new RegExp(modelsDir), 'no folder of the server in the error');
    // Streamed: the load fails before the stream starts, so it is the same HTTP error.
    const st = await post(srv.url, '/api/chat', { model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }],
      options: { num_ctx: HUGE, num_predict: 3 } });
    assert.equal(st.status, 422, st.text);
    assert.match(st.body.error, OOM);
    const o = await post(srv.url, '/v1/chat/completions', { model: 'stories260K', stream: true, max_tokens: 3,
      num_ctx: HUGE, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(o.status, 422, o.text);
    assert.match(o.body.error.message, OOM);
    assert.equal(o.body.error.type, 'invalid_request_error');
    await assertHealthy(assert, srv.url);
    assert.deepEqual((await (await fetch(srv.url + '/api/ps')).json()).models, [], 'nothing half-loaded');

    // The next request with a context that fits loads the model afresh and generates.
    const ok = await post(srv.url, '/api/generate', { model: 'stories260K', prompt: 'Once upon a time', stream: false,
      options: { num_predict: 8, temperature: 0 } });
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.body.response, /^, there was a little girl/);
    assert.equal((await (await fetch(srv.url + '/api/ps')).json()).models.length, 1);
  } finally {
    await srv.stop();
  }
});
