// A fake Hugging Face hub and a fake Ollama (Docker v2) registry on 127.0.0.1, serving real
// files from disk, with faults chosen per test. Offline: nothing here reaches the network.
//
//   HF:     GET /api/models/ORG/REPO/refs          {branches:[{name:"main", targetCommit}]}
//           GET /api/models/ORG/REPO/tree/COMMIT   [{type:"file", path, size, oid, lfs:{oid,size}}]
//           GET|HEAD /ORG/REPO/resolve/REV/FILE    the bytes (Range honoured), X-Repo-Commit,
//                                                  X-Linked-Etag, X-Linked-Size, ETag
//   Ollama: GET /v2/NS/NAME/manifests/TAG          the manifest (401 + Bearer challenge when the
//                                                  model is private)
//           GET /v2/NS/NAME/blobs/sha256:HEX       the blob (Range honoured)
//           GET /token                             {token} for private models
//
// reg.fault = { kind, ... } applies to file bodies (HF resolve and Ollama blobs):
//   drop      { after: N, times: K }  close the connection after N bytes, K times (default always)
//   norange   answer every Range request with 200 and the whole file
//   corrupt   flip a byte of the body (the digest will not match)
//   stall     { after: N }  send N bytes then nothing, the connection left open
//   trickle   { rate: BYTES_PER_S }  send slowly
//   huge      answer with a 10 GB generated body (never stored)
//   metadata  redirect to http://169.254.169.254/latest/meta-data/
//   huge-manifest / huge-error  a manifest answer (200 / 500) with an endless body
//   redirect  { host }  redirect to the same path on host (e.g. localhost:PORT, 127.0.0.2:PORT)
// reg.requests records every request: { method, url, range, auth, host }.
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const gitSha1 = (buf) => createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');

export class FakeRegistry {
  constructor() {
    this.hf = new Map(); // "org/repo" -> { commit, files: [{ path, file, size, sha }] }
    this.ollama = new Map(); // "ns/name:tag" -> { manifest (text), private }
    this.blobs = new Map(); // hex -> { file, size }
    this.fault = null;
    this.requests = [];
    this.bytesSent = 0;
    this.token = 'tok-' + randomBytes(8).toString('hex');
    this.faultCount = 0;
  }

  // Adds an HF repository: files is [{ path, file }] (file: a path on disk).
  addHfRepo(repo, files) {
    const commit = createHash('sha1').update(repo + Math.random()).digest('hex');
    const list = files.map(({ path, file }) => {
      const buf = readFileSync(file);
      return { path, file, size: buf.length, sha: sha256(buf), oid: gitSha1(buf) };
    });
    this.hf.set(repo, { commit, files: list });
    return { commit, files: list };
  }

  // Adds an Ollama model: layers is [{ mediaType, file }]; returns { manifest, digests }.
  addOllamaModel(name, layers, { isPrivate = false, manifest = null } = {}) {
    const desc = (mediaType, file) => {
      const buf = readFileSync(file);
      const hex = sha256(buf);
      this.blobs.set(hex, { file, size: buf.length });
      return { mediaType, digest: 'sha256:' + hex, size: buf.length };
    };
    const m = manifest || {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: desc('application/vnd.docker.container.image.v1+json', layers[0].file),
      layers: layers.slice(1).map((l) => desc(l.mediaType, l.file)),
    };
    const text = JSON.stringify(m);
    this.ollama.set(name, { manifest: text, isPrivate });
    return { manifest: m, text };
  }

  async start() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((r) => this.server.close(r));
  }

  reset() {
    this.fault = null;
    this.requests = [];
    this.bytesSent = 0;
    this.faultCount = 0;
  }

  json(res, status, obj, headers = {}) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  handle(req, res) {
    const u = new URL(req.url, 'http://x');
    this.requests.push({ method: req.method, url: req.url, range: req.headers.range,
      auth: req.headers.authorization, host: req.headers.host });
    const p = decodeURIComponent(u.pathname);
    let m;
    // Another host's token endpoint: anything arriving here is a leak the test looks for.
    if (p === '/evil-token') return this.json(res, 200, { token: 'stolen' });
    if (p === '/token') {
      return this.json(res, 200, { token: this.token });
    }
    if ((m = p.match(/^\/api\/models\/([^/]+\/[^/]+)\/refs$/))) {
      const repo = this.hf.get(m[1]);
      if (!repo) return this.json(res, 404, { error: 'Repository not found' });
      return this.json(res, 200, { branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: repo.commit }], tags: [] });
    }
    if ((m = p.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/))) {
      const repo = this.hf.get(m[1]);
      if (!repo || (m[2] !== repo.commit && m[2] !== 'main')) return this.json(res, 404, { error: 'not found' });
      return this.json(res, 200, repo.files.map((f) => ({ type: 'file', path: f.path, size: f.size, oid: f.oid,
        lfs: { oid: f.sha, size: f.size, pointerSize: 134 } })));
    }
    if ((m = p.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/))) {
      const repo = this.hf.get(m[1]);
      const f = repo && (m[2] === repo.commit || m[2] === 'main') && repo.files.find((x) => x.path === m[3]);
      if (!f) return this.json(res, 404, { error: 'Entry not found' });
      return this.sendFile(req, res, f.file, f.size, {
        'x-repo-commit': repo.commit, 'x-linked-etag': `"${f.sha}"`, 'x-linked-size': String(f.size), etag: `"${f.sha}"` });
    }
    if ((m = p.match(/^\/v2\/([^/]+)\/([^/]+)\/manifests\/([^/]+)$/))) {
      if (this.fault?.kind === 'huge-manifest' || this.fault?.kind === 'huge-error') {
        // An endless answer: a manifest, or an error body, that never ends.
        res.writeHead(this.fault.kind === 'huge-error' ? 500 : 200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1 << 16, 0x20);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) this.bytesSent += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        return pump();
      }
      const model = this.ollama.get(`${m[1]}/${m[2]}:${m[3]}`);
      if (!model) return this.json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      if (model.isPrivate && req.headers.authorization !== `Bearer ${this.token}`) {
        const realm = model.isPrivate === 'other-host'
          ? `http://localhost:${this.port}/evil-token` : `http://127.0.0.1:${this.port}/token`;
        return this.json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }, {
          'www-authenticate': `Bearer realm="${realm}",service="fake",scope="repository:${m[1]}/${m[2]}:pull"` });
      }
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' });
      return res.end(model.manifest);
    }
    if ((m = p.match(/^\/v2\/([^/]+)\/([^/]+)\/blobs\/sha256:([0-9a-f]{64})$/))) {
      const b = this.blobs.get(m[3]);
      if (!b) return this.json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN' }] });
      return this.sendFile(req, res, b.file, b.size, {});
    }
    return this.json(res, 404, { error: 'no route ' + p });
  }

  sendFile(req, res, file, size, headers) {
    const f = this.fault;
    if (f?.kind === 'redirect' && req.headers.host !== f.host) {
      // Elsewhere: another name for this server (a different host), or another address.
      res.writeHead(302, { location: `http://${f.host}${req.url}` });
      return res.end();
    }
    if (f?.kind === 'metadata') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      return res.end();
    }
    if (f?.kind === 'huge') {
      // 10 GB announced and generated on the fly until the client goes away.
      res.writeHead(200, { 'content-length': String(10 * 1024 ** 3), ...headers });
      const chunk = Buffer.alloc(1 << 20, 7);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) this.bytesSent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => {});
      return pump();
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
    if (range && f?.kind !== 'norange') {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start > end) {
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        return res.end();
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    res.writeHead(status, { 'content-length': String(end - start + 1), 'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream', ...headers });
    if (req.method === 'HEAD') return res.end();
    const faulty = f && (f.times === undefined || this.faultCount < f.times);
    if (faulty) this.faultCount++;
    const fd = openSync(file, 'r');
    let pos = start;
    let sentHere = 0;
    const rate = faulty && f.kind === 'trickle' ? f.rate : 0;
    const step = rate ? Math.max(1, Math.floor(rate / 20)) : 1 << 20;
    const pump = () => {
      while (pos <= end && !res.destroyed) {
        let n = Math.min(step, end - pos + 1);
        if (faulty && (f.kind === 'drop' || f.kind === 'stall')) {
          const left = f.after - sentHere;
          if (left <= 0) {
            closeSync(fd);
            if (f.kind === 'drop') res.socket?.destroy();
            return; // stall: nothing more, the connection stays open
          }
          n = Math.min(n, left);
        }
        const buf = Buffer.alloc(n);
        readSync(fd, buf, 0, n, pos);
        if (faulty && f.kind === 'corrupt' && pos === start) buf[0] ^= 0xff;
        pos += n;
        sentHere += n;
        this.bytesSent += n;
        const ok = res.write(buf);
        if (rate) return setTimeout(pump, 50);
        if (!ok) return res.once('drain', pump);
      }
      closeSync(fd);
      if (!res.destroyed) res.end();
    };
    res.on('close', () => { pos = end + 1; });
    pump();
  }
}

// Run alone for manual tests: node fake_registry.mjs FILE... serves each file as
// test/repo/FILE on HF and as library/NAME:latest on the registry.
if (import.meta.url === `file://${process.argv[1]}`) {
  const reg = new FakeRegistry();
  const files = process.argv.slice(2);
  reg.addHfRepo('test/repo', files.map((f) => ({ path: f.split('/').pop(), file: f })));
  await reg.start();
  console.log(reg.url);
  void statSync;
}
