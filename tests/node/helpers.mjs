// Starts a real `hearth serve` on a free port over a private folder of models, and stops it.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export const HEARTH = process.env.HEARTH;
export const MODELS = process.env.MODELS;
export const MKMODEL = process.env.MKMODEL;
export const LLAMA_DATA = process.env.LLAMA_DATA;
export const KNOWN_CONTINUATION =
  ', there was a little girl named Lily. She loved to play outside in the park. One day,';

if (!HEARTH || !MODELS) throw new Error('HEARTH and MODELS must be set (ctest sets them)');

// A folder with copies of the shared models (tests delete and copy models in it) and, when
// mkmodel is available, a small random-weight qwen2 model that has a chat template.
export function makeModelsDir() {
  const dir = mkdtempSync(join(process.env.TEST_TMP || tmpdir(), 'hearth-models-'));
  copyFileSync(join(MODELS, 'stories260K.gguf'), join(dir, 'stories260K.gguf'));
  copyFileSync(join(MODELS, 'TinyStories-656K-Q8_0.gguf'), join(dir, 'tiny.gguf'));
  if (MKMODEL && LLAMA_DATA && existsSync(join(LLAMA_DATA, 'ggml-vocab-qwen2.gguf'))) {
    execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-qwen2.gguf'), '--arch', 'qwen2',
      '--n-embd', '64', '--n-ff', '128', '--type', 'q8_0', '--fim', '100,101,102',
      '--out', join(dir, 'chatty.gguf')], { stdio: 'ignore' });
    // A BERT encoder with mean pooling, over the real bge vocabulary: an embedding model.
    execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-bert-bge.gguf'), '--arch', 'bert',
      '--n-embd', '64', '--n-head', '4', '--n-ff', '128', '--n-ctx', '512', '--out', join(dir, 'bert.gguf')],
      { stdio: 'ignore' });
    // The same with a classification head: a reranker.
    execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-bert-bge.gguf'), '--arch', 'bert', '--rank', '1',
      '--n-embd', '64', '--n-head', '4', '--n-ff', '128', '--n-ctx', '512', '--out', join(dir, 'reranker.gguf')],
      { stdio: 'ignore' });
    // A model whose chat template llama.cpp's built-in renderer does not know.
    writeFileSync(join(dir, 'odd.jinja'), '{% for m in messages %}<<{{ m.content }}>>{% endfor %}');
    execFileSync(MKMODEL, ['--vocab', join(LLAMA_DATA, 'ggml-vocab-llama-spm.gguf'), '--arch', 'llama',
      '--template', join(dir, 'odd.jinja'), '--out', join(dir, 'odd.gguf')], { stdio: 'ignore' });
  }
  return dir;
}

// wrap: a command line the server runs under (['bash', '-c', 'ulimit ...; exec "$@"', 'x']);
// keep: stop() leaves the models folder in place.
export async function startServer({ env = {}, args = [], modelsDir, wrap = [], keep = false } = {}) {
  const dir = modelsDir || makeModelsDir();
  const argv = [...wrap, HEARTH, 'serve', '--host', '127.0.0.1:0', '--models-dir', dir, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    // The user's own Hugging Face cache and Ollama store stay out of tests: empty ones in dir.
    env: { ...process.env, HEARTH_LOG_LEVEL: 'info', HEARTH_PROMPT_CACHE_DIR: join(dir, 'prompts'),
      HF_HUB_CACHE: join(dir, 'hf-hub'), OLLAMA_MODELS: join(dir, 'ollama'),
      XDG_CONFIG_HOME: join(dir, 'config'), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hearth serve did not start: ' + log)), 15000);
    child.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/listening on [^\s]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => reject(new Error(`hearth serve exited ${code}: ${log}`)));
  });
  // The listener above goes on collecting the log after the port is found.
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    port, dir, child, exited,
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const r = await exited;
      if (!keep) rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

// Waits (up to 5 s) for the server's log to match re: stderr arrives on its own pipe, so a line
// the server wrote before an answer can still be on its way when the answer is read.
export async function waitForLog(srv, re) {
  for (let i = 0; i < 100 && !re.test(srv.log()); i++) await new Promise((r) => setTimeout(r, 50));
  return srv.log();
}

// Waits (up to about `tries` × 20 ms) until no slot of the server works on a request; returns
// whether they all became free.
export async function slotsFree(url, tries = 100) {
  for (let i = 0; i < tries; i++) {
    const slots = await (await fetch(url + '/slots')).json();
    if (!slots.some((s) => s.is_processing)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

// POST JSON (or raw text) and return { status, body (parsed when JSON), text }.
export async function post(url, path, body, { method = 'POST', raw = false, headers = {} } = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

// NDJSON lines of a streamed response.
export async function streamLines(url, path, body) {
  const res = await fetch(url + path, { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

// A raw HTTP/1.1 exchange over a socket, for requests fetch will not send.
export function rawRequest(port, data, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { sock.destroy(); resolve(out); }, timeoutMs);
    sock.on('connect', () => sock.write(data));
    sock.on('data', (d) => { out += d.toString(); });
    sock.on('end', () => { clearTimeout(timer); resolve(out); });
    sock.on('error', (e) => { clearTimeout(timer); out ? resolve(out) : reject(e); });
  });
}

// The server still answers after whatever a test did to it.
export async function assertHealthy(assert, url) {
  const res = await fetch(url + '/');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hearth is running');
}
