// Pulling models, offline: `hearth pull` and POST /api/pull against our own fake Hugging Face hub
// and Ollama registry (fake_registry.mjs) on 127.0.0.1, with the faults a real network has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync,
  rmSync, statSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { FakeRegistry } from './fake_registry.mjs';
import { HEARTH, MKMODEL, LLAMA_DATA, startServer, post, assertHealthy, waitForLog } from './helpers.mjs';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const fileSha = (p) => sha256(readFileSync(p));

let work; // everything this file writes lives here
let reg;
const f = {}; // model files on disk

function mkmodel(out, extra) {
  execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
    '--out', out, ...extra], { stdio: 'ignore' });
  return out;
}

before(async () => {
  work = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-pull-'));
  const src = join(work, 'src');
  mkdirSync(src);
  f.a = mkmodel(join(src, 'a.gguf'), ['--type', 'q8_0', '--seed', '1']);
  f.b = mkmodel(join(src, 'b.gguf'), ['--type', 'q8_0', '--seed', '2']);
  f.c = mkmodel(join(src, 'c.gguf'), ['--type', 'q4_0', '--seed', '3']);
  f.mm = mkmodel(join(src, 'mm.gguf'), ['--type', 'f16', '--seed', '4', '--n-embd', '32']);
  // About 70 MB: large enough to be fetched in 4 parallel segments.
  f.big = mkmodel(join(src, 'big.gguf'), ['--type', 'f16', '--seed', '5', '--n-embd', '768',
    '--n-layer', '2', '--n-ff', '2048']);
  assert.ok(statSync(f.big).size >= 64 << 20, 'the big model is at least 64 MiB');
  // Split shards: three pieces of a model, named as gguf-split names them.
  const whole = readFileSync(f.b);
  const third = Math.ceil(whole.length / 3);
  f.shards = [0, 1, 2].map((i) => {
    const p = join(src, `shard${i}.gguf`);
    writeFileSync(p, whole.subarray(i * third, (i + 1) * third));
    return p;
  });
  f.cfg = join(src, 'config.json');
  writeFileSync(f.cfg, JSON.stringify({ model_format: 'gguf', model_family: 'llama' }));
  f.params = join(src, 'params.json');
  writeFileSync(f.params, JSON.stringify({ temperature: 0.5 }));

  reg = new FakeRegistry();
  reg.addHfRepo('org/multi', [
    { path: 'README.md', file: f.cfg },
    { path: 'model-Q4_K_M.gguf', file: f.a },
    { path: 'model-Q8_0.gguf', file: f.b },
    { path: 'mmproj-model-f16.gguf', file: f.mm },
    { path: 'sub/dir/deep-Q4_0.gguf', file: f.c },
  ]);
  reg.addHfRepo('org/split', f.shards.map((file, i) => ({ path: `m-Q8_0-0000${i + 1}-of-00003.gguf`, file })));
  reg.addHfRepo('org/ambig', [{ path: 'x-Q5_K_S.gguf', file: f.a }, { path: 'x-Q6_K.gguf', file: f.b }]);
  reg.addHfRepo('org/one', [{ path: 'only.gguf', file: f.c }]);
  reg.addHfRepo('org/big', [{ path: 'big-F16.gguf', file: f.big }]);
  const model = 'application/vnd.ollama.image.model';
  reg.addOllamaModel('library/tiny:latest', [{ file: f.cfg }, { mediaType: model, file: f.a },
    { mediaType: 'application/vnd.ollama.image.params', file: f.params }]);
  reg.addOllamaModel('library/big:latest', [{ file: f.cfg }, { mediaType: model, file: f.big }]);
  reg.addOllamaModel('team/private:v1', [{ file: f.cfg }, { mediaType: model, file: f.c }], { isPrivate: true });
  reg.addOllamaModel('library/leak:latest', [{ file: f.cfg }, { mediaType: model, file: f.c }],
    { isPrivate: 'other-host' });
  reg.addOllamaModel('library/evil:latest', [], { manifest: {
    schemaVersion: 2, config: { digest: 'sha256:' + sha256(readFileSync(f.cfg)), size: 10 },
    layers: [{ mediaType: model, digest: 'sha256:../../../../../../tmp/owned', size: 10 }] } });
  reg.addOllamaModel('library/nolayers:latest', [], { manifest: {
    schemaVersion: 2, config: { digest: 'sha256:' + 'a'.repeat(64), size: 10 }, layers: [] } });
  await reg.start();
});

after(async () => {
  await reg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// A fresh pair of stores and the environment that points hearth at them and at the registry.
function stores(extra = {}) {
  const root = mkdtempSync(join(work, 'store-'));
  const env = {
    ...process.env,
    HF_ENDPOINT: reg.url,
    HEARTH_OLLAMA_REGISTRY: reg.url,
    HF_HUB_CACHE: join(root, 'hub'),
    OLLAMA_MODELS: join(root, 'ollama'),
    HEARTH_HOST: '127.0.0.1:1', // no server there: pulls run in-process
    HEARTH_PULL_STALL_S: '2',
    HEARTH_PULL_RETRIES: '3',
    HF_TOKEN: 'hf_secret_token',
    ...extra,
  };
  delete env.HF_HUB_OFFLINE;
  for (const v of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete env[v];
  if (extra.HF_HUB_OFFLINE) env.HF_HUB_OFFLINE = extra.HF_HUB_OFFLINE;
  return { root, env, hub: env.HF_HUB_CACHE, ollama: env.OLLAMA_MODELS };
}

function pull(name, env, args = []) {
  return new Promise((resolve) => {
    execFile(HEARTH, ['pull', ...args, name], { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

// A pull under /usr/bin/time: its result and its peak RSS in bytes.
function pullRss(name, env) {
  return new Promise((resolve) => {
    execFile('/usr/bin/time', ['-f', 'RSS %M', HEARTH, 'pull', name], { env, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        const m = stderr.match(/RSS (\d+)\s*$/);
        resolve({ code: err ? err.code : 0, stderr, rss: m ? Number(m[1]) * 1024 : NaN });
      });
  });
}

// Every file under dir (relative paths), symlinks included.
function tree(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    out.push(join(e.parentPath ?? e.path, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

// Nothing was written outside the two stores, and nothing half-done looks like a model.
function assertNoModel(s, repo) {
  assert.deepEqual(readdirSync(s.root).filter((n) => n !== 'hub' && n !== 'ollama'), []);
  if (repo) {
    const dir = join(s.hub, `models--${repo.replace('/', '--')}`);
    assert.deepEqual(tree(join(dir, 'snapshots')).filter((p) => p.endsWith('.gguf')), [], 'no snapshot file');
    assert.equal(existsSync(join(dir, 'refs', 'main')), false, 'no refs/main');
  }
  assert.deepEqual(tree(join(s.ollama, 'manifests')).filter((p) => statSync(join(s.ollama, 'manifests', p)).isFile()), []);
}

test('hf: ORG/REPO pulls the Q4_K_M GGUF and its mmproj into exactly huggingface_hub\'s layout', async () => {
  const s = stores();
  reg.reset();
  const r = await pull('org/multi', s.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /pulling manifest/);
  assert.match(r.stderr, /success/);
  const repo = reg.hf.get('org/multi');
  const dir = join(s.hub, 'models--org--multi');
  const q4 = repo.files.find((x) => x.path === 'model-Q4_K_M.gguf');
  const mm = repo.files.find((x) => x.path === 'mmproj-model-f16.gguf');
  assert.deepEqual(tree(dir), [
    'blobs', `blobs/${q4.sha}`, `blobs/${mm.sha}`, 'refs', 'refs/main', 'snapshots',
    `snapshots/${repo.commit}`, `snapshots/${repo.commit}/mmproj-model-f16.gguf`,
    `snapshots/${repo.commit}/model-Q4_K_M.gguf`,
  ].sort());
  assert.equal(readFileSync(join(dir, 'refs', 'main'), 'utf8'), repo.commit);
  const link = join(dir, 'snapshots', repo.commit, 'model-Q4_K_M.gguf');
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), `../../blobs/${q4.sha}`);
  assert.equal(fileSha(link), q4.sha);
  assert.equal(fileSha(join(dir, 'blobs', q4.sha)), sha256(readFileSync(f.a)));
  // HF_TOKEN went to the endpoint (its own host), as a Bearer token.
  assert.ok(reg.requests.every((q) => q.auth === 'Bearer hf_secret_token'));
  // The Q8_0 file was not fetched.
  assert.ok(!reg.requests.some((q) => q.url.includes('model-Q8_0')));

  // :QUANT picks another file into the same snapshot; refs/main is unchanged.
  const r2 = await pull('hf.co/org/multi:q8_0', s.env);
  assert.equal(r2.code, 0, r2.stderr);
  const q8 = repo.files.find((x) => x.path === 'model-Q8_0.gguf');
  assert.equal(readlinkSync(join(dir, 'snapshots', repo.commit, 'model-Q8_0.gguf')), `../../blobs/${q8.sha}`);

  // A file deeper in the repository gets one more ../ per directory.
  const r3 = await pull('hf.co/org/multi/sub/dir/deep-Q4_0.gguf', s.env);
  assert.equal(r3.code, 0, r3.stderr);
  const deep = repo.files.find((x) => x.path === 'sub/dir/deep-Q4_0.gguf');
  const dl = join(dir, 'snapshots', repo.commit, 'sub', 'dir', 'deep-Q4_0.gguf');
  assert.equal(readlinkSync(dl), `../../../../blobs/${deep.sha}`);
  assert.equal(realpathSync(dl), realpathSync(join(dir, 'blobs', deep.sha)));
  assert.deepEqual(tree(join(dir, 'blobs')).filter((n) => n.includes('.partial')), []);
});

test('hf: split shards are all fetched; a repository with one GGUF needs no quant', async () => {
  const s = stores();
  const r = await pull('org/split', s.env);
  assert.equal(r.code, 0, r.stderr);
  const repo = reg.hf.get('org/split');
  const snap = join(s.hub, 'models--org--split', 'snapshots', repo.commit);
  assert.deepEqual(readdirSync(snap).sort(), repo.files.map((x) => x.path).sort());
  const joined = Buffer.concat(repo.files.map((x) => readFileSync(join(snap, x.path))));
  assert.equal(sha256(joined), sha256(readFileSync(f.b)));

  const r2 = await pull('org/one', s.env);
  assert.equal(r2.code, 0, r2.stderr);
  assert.ok(existsSync(join(s.hub, 'models--org--one', 'snapshots', reg.hf.get('org/one').commit, 'only.gguf')));
});

test('hf: no default quant, a missing quant or repository, HF_HUB_OFFLINE are clear errors', async () => {
  const s = stores();
  let r = await pull('org/ambig', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /several GGUF files.*x-Q5_K_S\.gguf, x-Q6_K\.gguf/);
  r = await pull('org/multi:IQ2_XXS', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no GGUF file for quant IQ2_XXS.*model-Q4_K_M\.gguf/);
  r = await pull('org/nothere', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HTTP 404.*Repository not found/);
  r = await pull('hf.co/org/multi/missing.gguf', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no file missing\.gguf/);
  reg.reset();
  r = await pull('org/multi', { ...s.env, HF_HUB_OFFLINE: '1' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HF_HUB_OFFLINE/);
  assert.equal(reg.requests.length, 0, 'offline touched no network');
  r = await pull('./local.gguf', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is a path/);
  r = await pull('bad name!', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid model name/);
  assertNoModel(s, 'org/ambig');
});

test('ollama: manifest and blobs land in Ollama\'s store; a second pull fetches no blob', async () => {
  const s = stores();
  reg.reset();
  const r = await pull('tiny', s.env);
  assert.equal(r.code, 0, r.stderr);
  const mpath = join(s.ollama, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest');
  const text = readFileSync(mpath, 'utf8');
  assert.equal(text, reg.ollama.get('library/tiny:latest').manifest);
  const m = JSON.parse(text);
  for (const l of [m.config, ...m.layers]) {
    const blob = join(s.ollama, 'blobs', l.digest.replace(':', '-'));
    assert.equal('sha256:' + fileSha(blob), l.digest);
    assert.equal(statSync(blob).size, l.size);
  }
  assert.equal(readdirSync(join(s.ollama, 'blobs')).length, 3);
  // The registry's host never saw the Hugging Face token.
  assert.ok(reg.requests.every((q) => !q.auth));
  reg.reset();
  const r2 = await pull('registry.ollama.ai/library/tiny:latest', s.env);
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(reg.requests.map((q) => q.url), ['/v2/library/tiny/manifests/latest']);
  // A damaged blob is noticed and fetched again.
  const modelBlob = join(s.ollama, 'blobs', m.layers[0].digest.replace(':', '-'));
  const bytes = readFileSync(modelBlob);
  bytes[100] ^= 1;
  writeFileSync(modelBlob, bytes);
  const r3 = await pull('tiny', s.env);
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal('sha256:' + fileSha(modelBlob), m.layers[0].digest);
});

test('ollama: a 401 is answered with a token from the registry\'s realm; a realm elsewhere is refused', async () => {
  const s = stores();
  reg.reset();
  let r = await pull('team/private:v1', { ...s.env, HEARTH_OLLAMA_REGISTRY: reg.url }, []);
  // team/private:v1 names Hugging Face (ORG/REPO:QUANT); the registry needs its host.
  assert.equal(r.code, 1);
  const host = `127.0.0.1:${reg.port}`;
  r = await pull(`${host}/team/private:v1`, s.env, ['--insecure']);
  assert.equal(r.code, 0, r.stderr);
  const blobReqs = reg.requests.filter((q) => q.url.includes('/blobs/'));
  assert.ok(blobReqs.length >= 2);
  assert.ok(blobReqs.every((q) => q.auth === `Bearer ${reg.token}`));
  assert.ok(existsSync(join(s.ollama, 'manifests', host, 'team', 'private', 'v1')));

  reg.reset();
  const s2 = stores();
  r = await pull('leak', s2.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refused the registry's auth realm on another host \(localhost/);
  assert.ok(!reg.requests.some((q) => q.url.startsWith('/evil-token')), 'nothing reached the other realm');
  assertNoModel(s2);
});

test('ollama: a manifest with a ../ digest or no layers is refused before anything is written', async () => {
  const s = stores();
  let r = await pull('evil', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid digest 'sha256:\.\.\//);
  assert.equal(existsSync('/tmp/owned'), false);
  r = await pull('nolayers', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no layers/);
  r = await pull('absent', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /does not exist/);
  assertNoModel(s);
  assert.deepEqual(tree(join(s.ollama, 'blobs')), []);
});

test('faults: an endless manifest or error body is read within its cap', async () => {
  const s = stores();
  reg.reset();
  const base = await pullRss('absent', s.env); // the same process failing on a small answer
  assert.equal(base.code, 1);
  reg.fault = { kind: 'huge-manifest' };
  let r = await pullRss('tiny', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is larger than 4194304 bytes/);
  assert.ok(r.rss < base.rss + (32 << 20), `peak RSS ${r.rss} vs ${base.rss}`);
  assert.ok(reg.bytesSent < 64 << 20, `sent ${reg.bytesSent}`);
  reg.reset();
  reg.fault = { kind: 'huge-error' };
  r = await pull('tiny', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /answered HTTP 500/);
  assert.ok(reg.bytesSent < 16 << 20, `sent ${reg.bytesSent}`);
  assertNoModel(s);
  reg.reset();
});

test('faults: a wrong digest deletes the partial; a redirect to 169.254.169.254 is refused', async () => {
  const s = stores();
  reg.reset();
  reg.fault = { kind: 'corrupt' };
  let r = await pull('org/one', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has sha256 [0-9a-f]{64}, expected [0-9a-f]{64}: the partial file was deleted/);
  assertNoModel(s, 'org/one');
  assert.deepEqual(tree(join(s.hub, 'models--org--one', 'blobs')), []);

  reg.reset();
  reg.fault = { kind: 'metadata' };
  r = await pull('tiny', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refused to connect to 169\.254\.169\.254/);
  assertNoModel(s);

  // Loopback that is not the endpoint's own address is refused too.
  reg.reset();
  reg.fault = { kind: 'redirect', host: `127.0.0.2:${reg.port}` };
  r = await pull('tiny', s.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refused to connect to 127\.0\.0\.2/);
  assertNoModel(s);
});

test('credentials: HF_TOKEN is not sent along a redirect to another host', async () => {
  const s = stores();
  reg.reset();
  reg.fault = { kind: 'redirect', host: `localhost:${reg.port}` };
  const r = await pull('org/one', s.env);
  assert.equal(r.code, 0, r.stderr);
  const first = reg.requests.filter((q) => q.url.includes('/resolve/') && q.host === `127.0.0.1:${reg.port}`);
  const moved = reg.requests.filter((q) => q.url.includes('/resolve/') && q.host === `localhost:${reg.port}`);
  assert.ok(first.length >= 1 && moved.length >= 1);
  assert.ok(first.every((q) => q.auth === 'Bearer hf_secret_token'), 'the endpoint got the token');
  assert.ok(moved.every((q) => q.auth === undefined), 'the other host did not');
});

test('faults: a 10 GB body stops at the expected size; a stall and dropped connections are retried', async () => {
  const s = stores();
  reg.reset();
  const base = await pullRss('org/nothere', s.env);
  reg.fault = { kind: 'huge' };
  const t0 = Date.now();
  let r = await pullRss('org/one', s.env);
  assert.equal(r.code, 1);
  assert.ok(r.rss < base.rss + (32 << 20), `peak RSS ${r.rss} vs ${base.rss}`);
  assert.match(r.stderr, /sent more than the expected \d+ bytes: the partial file was deleted/);
  assert.ok(reg.bytesSent < 256 << 20, `sent ${reg.bytesSent} bytes`);
  assert.ok(Date.now() - t0 < 20000);
  assertNoModel(s, 'org/one');
  assert.deepEqual(tree(join(s.hub, 'models--org--one', 'blobs')), []);

  // Two dropped connections mid-file: the download goes on from where each stopped.
  reg.reset();
  reg.fault = { kind: 'drop', after: 1 << 20, times: 2 };
  r = await pull('org/one', s.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /retrying/);
  const repo = reg.hf.get('org/one');
  assert.equal(fileSha(join(s.hub, 'models--org--one', 'snapshots', repo.commit, 'only.gguf')), repo.files[0].sha);
  const ranges = reg.requests.filter((q) => q.url.includes('/resolve/')).map((q) => q.range);
  assert.deepEqual(ranges.slice(0, 3), [undefined, `bytes=${1 << 20}-${repo.files[0].size - 1}`,
    `bytes=${2 << 20}-${repo.files[0].size - 1}`]);

  // A connection that always stalls: retried a bounded number of times, then a clear error.
  const s2 = stores();
  reg.reset();
  reg.fault = { kind: 'stall', after: 0 };
  r = await pull('org/one', s2.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /3 attempts/);
  assert.equal(reg.requests.filter((q) => q.url.includes('/resolve/')).length, 3);
  assertNoModel(s2, 'org/one');
});

test('a large file comes in parallel segments; a server that ignores Range gets one stream', async () => {
  const s = stores();
  reg.reset();
  let r = await pull('org/big', s.env);
  assert.equal(r.code, 0, r.stderr);
  const ranges = reg.requests.filter((q) => q.url.includes('/resolve/')).map((q) => q.range);
  assert.equal(ranges.length, 4, 'four segments');
  assert.ok(ranges.every((x) => /^bytes=\d+-\d+$/.test(x)));
  const repo = reg.hf.get('org/big');
  const link = join(s.hub, 'models--org--big', 'snapshots', repo.commit, 'big-F16.gguf');
  assert.equal(fileSha(link), repo.files[0].sha);

  const s2 = stores();
  reg.reset();
  reg.fault = { kind: 'norange' };
  r = await pull('org/big', s2.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /ignored a Range request/);
  const link2 = join(s2.hub, 'models--org--big', 'snapshots', repo.commit, 'big-F16.gguf');
  assert.equal(fileSha(link2), repo.files[0].sha);
});

test('kill -9 at several points, then a resume: the right file, and less than all of it again', async () => {
  const s = stores();
  const repo = reg.hf.get('org/big');
  const size = repo.files[0].size;
  const blob = join(s.hub, 'models--org--big', 'blobs', repo.files[0].sha);
  const record = blob + '.partial.ranges';
  const done = () => {
    if (!existsSync(record)) return 0;
    return readFileSync(record, 'utf8').split('\n').filter((l) => l.startsWith('range '))
      .map((l) => l.split(' ').map(Number)).reduce((n, [, a, b]) => n + (b - a), 0);
  };
  for (const at of [8 << 20, 24 << 20]) {
    reg.reset();
    reg.fault = { kind: 'trickle', rate: 4 << 20 };
    const child = spawn(HEARTH, ['pull', 'org/big'], { env: s.env, stdio: 'ignore' });
    const t0 = Date.now();
    while (done() < at && Date.now() - t0 < 60000 && child.exitCode === null) {
      await new Promise((res) => setTimeout(res, 50));
    }
    child.kill('SIGKILL');
    await new Promise((res) => child.on('exit', res));
    assert.ok(done() >= at, `recorded ${done()} bytes before the kill`);
    assert.ok(existsSync(blob + '.partial'));
    assertNoModel(s, 'org/big');
  }
  const before = done();
  reg.reset();
  const r = await pull('org/big', s.env);
  assert.equal(r.code, 0, r.stderr);
  const link = join(s.hub, 'models--org--big', 'snapshots', repo.commit, 'big-F16.gguf');
  assert.equal(fileSha(link), repo.files[0].sha);
  assert.ok(reg.bytesSent <= size - before, `re-downloaded ${reg.bytesSent} of ${size} (had ${before})`);
  assert.ok(!existsSync(blob + '.partial') && !existsSync(record));
});

test('Ctrl-C stops hearth pull cleanly and keeps the partial for a resume', async () => {
  const s = stores();
  reg.reset();
  reg.fault = { kind: 'trickle', rate: 2 << 20 };
  const child = spawn(HEARTH, ['pull', 'big'], { env: s.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const blobs = join(s.ollama, 'blobs');
  const partial = () => existsSync(blobs) && readdirSync(blobs).some((n) => n.endsWith('.partial'));
  for (let i = 0; i < 400 && !(partial() && /pulling [0-9a-f]{12} +[1-9]/.test(err)); i++) {
    await new Promise((res) => setTimeout(res, 50));
  }
  child.kill('SIGINT');
  const code = await new Promise((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 130, err);
  assert.match(err, /interrupted: run the same pull again to resume it/);
  assert.ok(readdirSync(join(s.ollama, 'blobs')).some((n) => n.endsWith('.partial')));
  assertNoModel(s);
});

test('on a terminal: a progress bar with size, speed and ETA; Ctrl-C there stops cleanly', async () => {
  const s = stores();
  reg.reset();
  reg.fault = { kind: 'trickle', rate: 2 << 20 };
  const out = join(s.root, '..', `pty-${process.pid}.out`);
  const script = 'wait pulling manifest\nsleep 2\ninterrupt\n';
  const code = await new Promise((resolve) => {
    const child = execFile('python3', [join(process.env.SRC, 'tests', 'cli', 'pty_run.py'), '60', out, '--',
      HEARTH, 'pull', 'org/big'], { env: s.env }, (err) => resolve(err ? err.code : 0));
    child.stdin.end(script);
  });
  const text = readFileSync(out, 'utf8');
  rmSync(out);
  assert.equal(code, 130, text);
  // Redrawn in place: carriage returns, a bar, the sizes, a speed and a time left.
  assert.match(text, /\rpulling [0-9a-f]{12} +\d+% \[#* *\] [\d.]+ [kMG]?B\/[\d.]+ MB [\d.]+ [kMG]?B\/s \d+s/);
  assert.ok((text.match(/\r/g) || []).length >= 3, 'the bar is redrawn');
  assert.match(text, /interrupted: run the same pull again to resume it/);
  assertNoModel(s, 'org/big');
  reg.reset();
});

test('serve: /api/pull streams Ollama\'s progress to the ollama client; bad input is a 400', async () => {
  const s = stores();
  const srv = await startServer({ env: { ...s.env, HEARTH_HOST: '' } });
  try {
    const ollama = new Ollama({ host: srv.url });
    const statuses = [];
    const progress = [];
    for await (const p of await ollama.pull({ model: 'tiny', stream: true })) {
      statuses.push(p.status);
      if (p.digest) progress.push(p);
    }
    assert.equal(statuses[0], 'pulling manifest');
    assert.deepEqual(statuses.slice(-3), ['verifying sha256 digest', 'writing manifest', 'success']);
    const m = JSON.parse(reg.ollama.get('library/tiny:latest').manifest);
    for (const l of [m.config, ...m.layers]) {
      const last = progress.filter((p) => p.digest === l.digest).pop();
      assert.ok(last, `progress for ${l.digest}`);
      assert.equal(last.status, `pulling ${l.digest.slice(7, 19)}`);
      assert.equal(last.total, l.size);
      assert.equal(last.completed, l.size);
    }
    assert.ok(existsSync(join(s.ollama, 'manifests', 'registry.ollama.ai', 'library', 'tiny', 'latest')));

    // stream:false answers once; the legacy `name` field works.
    const whole = await post(srv.url, '/api/pull', { name: 'org/one', stream: false });
    assert.equal(whole.status, 200);
    assert.deepEqual(whole.body, { status: 'success' });

    // What was pulled is a model at once: listed with its source, and it generates.
    const tags = await (await fetch(srv.url + '/api/tags')).json();
    const by = Object.fromEntries(tags.models.map((t) => [t.name, t]));
    // (the test folder has a tiny.gguf of its own, so the pulled one shows its full name)
    assert.equal(by['registry.ollama.ai/library/tiny:latest']?.source, 'ollama', JSON.stringify(tags));
    assert.equal(by['hf.co/org/one/only.gguf']?.source, 'hf', JSON.stringify(tags));
    for (const model of ['registry.ollama.ai/library/tiny', 'hf.co/org/one']) {
      const g = await post(srv.url, '/api/generate', { model, prompt: 'hello', raw: true, stream: false,
        options: { num_predict: 3, temperature: 0 } });
      assert.equal(g.status, 200, `${model}: ${g.text}`);
      assert.equal(g.body.done, true);
    }

    // Errors known before streaming are HTTP statuses with a JSON error.
    for (const [body, status, re] of [
      [{}, 400, /missing field 'model'/],
      [{ model: 5 }, 400, /model/],
      [{ model: 'bad name!' }, 400, /invalid model name/],
      [{ model: '/etc/passwd' }, 400, /path cannot be pulled/],
      [{ model: 'tiny', stream: 'yes' }, 400, /stream/],
      [{ model: 'absent' }, 404, /does not exist/],
      [{ model: 'evil' }, 400, /invalid digest/],
      [{ model: 'org/ambig' }, 400, /several GGUF files/],
    ]) {
      const r = await post(srv.url, '/api/pull', body);
      assert.equal(r.status, status, JSON.stringify(body) + ' ' + r.text);
      assert.match(r.body.error, re);
    }
    const bad = await post(srv.url, '/api/pull', '{"model":', { raw: true });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.error);

    // llama-server's router download: {"success": true}, the file arrives in the HF cache.
    const lr = await post(srv.url, '/models', { model: 'org/split' });
    assert.equal(lr.status, 200, lr.text);
    assert.deepEqual(lr.body, { success: true });
    const ref = join(s.hub, 'models--org--split', 'refs', 'main');
    for (let i = 0; i < 100 && !existsSync(ref); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(readFileSync(ref, 'utf8'), reg.hf.get('org/split').commit);
    const lbad = await post(srv.url, '/models', { model: '' });
    assert.equal(lbad.status, 400);
    assert.equal(lbad.body.error.type, 'invalid_request_error');
    const lmiss = await post(srv.url, '/models', { model: 'org/nothere' });
    assert.equal(lmiss.status, 404);

    // `hearth pull` goes through the server when one answers.
    const viaServer = await pull('hf.co/org/multi:Q8_0', { ...s.env, HEARTH_HOST: srv.url });
    assert.equal(viaServer.code, 0, viaServer.stderr);
    assert.match(await waitForLog(srv, /pulled.*org\/multi:Q8_0/), /pulled.*org\/multi:Q8_0/);

    // A client that goes away cancels the pull; the partial stays for a resume.
    reg.reset();
    reg.fault = { kind: 'trickle', rate: 2 << 20 };
    const ac = new AbortController();
    const res = await fetch(srv.url + '/api/pull', { method: 'POST', body: JSON.stringify({ model: 'big' }), signal: ac.signal });
    const reader = res.body.getReader();
    let seen = '';
    while (!/"completed":[1-9]/.test(seen)) seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    assert.match(await waitForLog(srv, /pull cancelled/), /pull cancelled/);
    assert.ok(readdirSync(join(s.ollama, 'blobs')).some((n) => n.endsWith('.partial')));
    assert.equal(existsSync(join(s.ollama, 'manifests', 'registry.ollama.ai', 'library', 'big')), false);
    reg.reset();
    await assertHealthy(assert, srv.url);
  } finally {
    await srv.stop();
  }
});

test('hearth pull --help tells the truth; usage errors exit 2', async () => {
  const help = execFileSync(HEARTH, ['pull', '--help'], { encoding: 'utf8' });
  assert.match(help, /Usage: hearth pull \[--insecure\] MODEL/);
  for (const v of ['HF_HUB_CACHE', 'OLLAMA_MODELS', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_OFFLINE',
    'HEARTH_OLLAMA_REGISTRY', 'HEARTH_PULL_STALL_S']) assert.ok(help.includes(v), v);
  assert.match(execFileSync(HEARTH, ['--help'], { encoding: 'utf8' }), /pull MODEL/);
  const s = stores();
  for (const args of [[], ['a', 'b'], ['--bogus', 'x']]) {
    const r = await new Promise((resolve) => execFile(HEARTH, ['pull', ...args], { env: s.env },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stderr })));
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /hearth: error: .*see hearth pull --help/);
  }
  // Plain progress lines (stderr is not a terminal here): file, percent, size, speed.
  const r = await pull('org/one', s.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^pulling [0-9a-f]{12} 100% [\d.]+ MB\/[\d.]+ MB [\d.]+ [kMG]?B\/s/m);
});
