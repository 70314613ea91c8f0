// Requests to the server this page came from: the API key on each, errors as Error objects with
// the server's message, and NDJSON streams read line by line as they arrive.

const KEY = 'hearth.apiKey';

export function apiKey() {
  return localStorage.getItem(KEY) || '';
}

export function setApiKey(k) {
  if (k) localStorage.setItem(KEY, k);
  else localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Listeners hear of every 401 (the page then asks for the key).
const unauthorized = new EventTarget();
export function onUnauthorized(fn) {
  unauthorized.addEventListener('unauthorized', fn);
}

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const k = apiKey();
  if (k) h.Authorization = 'Bearer ' + k;
  return h;
}

async function failure(res) {
  let msg = `${res.status} ${res.statusText}`;
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text);
      if (j && j.error) msg = typeof j.error === 'string' ? j.error : j.error.message || msg;
    } catch {
      if (text) msg = text.slice(0, 300);
    }
  } catch { /* the body is gone: keep the status */ }
  if (res.status === 401) unauthorized.dispatchEvent(new Event('unauthorized'));
  return new ApiError(res.status, msg);
}

// A JSON request; returns the parsed answer or throws ApiError.
export async function request(method, path, body, { signal } = {}) {
  const res = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal,
  });
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return text ? JSON.parse(text) : {};
}

// POSTs body and calls onLine(object) for each NDJSON line as it arrives. An {"error"} line
// throws. Aborting signal ends the request (the server cancels the work when the client goes).
export async function stream(path, body, onLine, { signal } = {}) {
  const res = await fetch(path, {
    method: 'POST', headers: headers(true), body: JSON.stringify(body), signal,
  });
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let pending = '';
  const handle = (line) => {
    if (!line.trim()) return;
    const obj = JSON.parse(line);
    if (obj.error) throw new ApiError(500, typeof obj.error === 'string' ? obj.error : JSON.stringify(obj.error));
    onLine(obj);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += dec.decode(value, { stream: true });
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      handle(line);
    }
  }
  handle(pending + dec.decode());
}
