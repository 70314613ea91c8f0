// The models page: what the server can load (/api/tags), what is loaded (/api/ps), load, unload,
// pull with a live progress bar (/api/pull, NDJSON), delete (DELETE /api/delete).
import { request, stream } from '/ui/api.js';
import { el, formatBytes, showError, clearError } from '/ui/render.js';
import { refreshModels as refreshChatModels } from '/ui/chat.js';

const $ = (id) => document.getElementById(id);
let pulling = null; // the AbortController of the pull in progress

function expiry(ts) {
  const t = Date.parse(ts);
  if (!Number.isFinite(t)) return '';
  if (new Date(t).getUTCFullYear() >= 9999) return 'never';
  const s = Math.round((t - Date.now()) / 1000);
  if (s <= 0) return 'now';
  return s < 120 ? `in ${s} s` : `in ${Math.round(s / 60)} min`;
}

async function act(button, what, fn) {
  button.disabled = true;
  const old = button.textContent;
  button.textContent = what + '\u2026';
  clearError();
  try {
    await fn();
  } catch (e) {
    showError(`${what} failed: ${e.message}`, e.status === 401);
  }
  button.textContent = old;
  button.disabled = false;
  await refresh();
}

const load = (name) => request('POST', '/api/generate', { model: name, prompt: '', stream: false });
const unload = (name) => request('POST', '/api/generate', { model: name, prompt: '', keep_alive: 0, stream: false });

export async function refresh() {
  let tags, ps;
  try {
    [tags, ps] = await Promise.all([request('GET', '/api/tags'), request('GET', '/api/ps')]);
  } catch (e) {
    showError(`Could not list the models: ${e.message}`, e.status === 401);
    return;
  }
  const loaded = new Set((ps.models || []).map((m) => m.name));
  const rb = $('running').tBodies[0];
  rb.replaceChildren();
  for (const m of ps.models || []) {
    const b = el('button', { type: 'button', text: 'Unload', 'aria-label': `Unload ${m.name}` });
    b.addEventListener('click', () => act(b, 'Unload', () => unload(m.name)));
    rb.append(el('tr', { 'data-model': m.name },
      el('th', { scope: 'row', text: m.name }),
      el('td', { text: formatBytes(m.size) }),
      el('td', { text: m.context_length ? String(m.context_length) : '' }),
      el('td', { text: m.slots_total ? `${m.slots_busy} of ${m.slots_total}` : '' }),
      el('td', { text: expiry(m.expires_at) }),
      el('td', {}, b)));
  }
  $('running-empty').hidden = (ps.models || []).length > 0;

  const mb = $('models').tBodies[0];
  mb.replaceChildren();
  for (const m of tags.models || []) {
    const d = m.details || {};
    const loadB = el('button', { type: 'button', text: loaded.has(m.name) ? 'Loaded' : 'Load',
      disabled: loaded.has(m.name), 'aria-label': `Load ${m.name}` });
    loadB.addEventListener('click', () => act(loadB, 'Load', () => load(m.name)));
    const delB = el('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${m.name}` });
    delB.addEventListener('click', () => {
      if (!confirm(`Delete the model ${m.name}? Its files are removed from disk.`)) return;
      act(delB, 'Delete', () => request('DELETE', '/api/delete', { model: m.name }));
    });
    mb.append(el('tr', { 'data-model': m.name },
      el('th', { scope: 'row', text: m.name }),
      el('td', { text: m.source || '' }),
      el('td', { text: formatBytes(m.size) }),
      el('td', { text: d.quantization_level || '' }),
      el('td', { text: d.parameter_size || '' }),
      el('td', { class: 'row-actions' }, loadB, delB)));
  }
  $('models-empty').hidden = (tags.models || []).length > 0;
  refreshChatModels();
}

async function pull(e) {
  e.preventDefault();
  if (pulling) {
    pulling.abort();
    return;
  }
  const name = $('pull-name').value.trim();
  if (!name) return;
  const bar = $('pull-progress');
  const status = $('pull-status');
  const button = $('pull-button');
  $('pull-state').hidden = false;
  bar.removeAttribute('value'); // indeterminate until sizes are known
  status.textContent = `Pulling ${name}\u2026`;
  pulling = new AbortController();
  button.textContent = 'Cancel';
  clearError();
  let ok = false;
  try {
    await stream('/api/pull', { model: name, stream: true }, (o) => {
      if (o.total > 0) {
        bar.max = o.total;
        bar.value = Math.min(o.completed || 0, o.total);
        status.textContent = `${o.status}: ${formatBytes(o.completed || 0)} of ${formatBytes(o.total)}`;
      } else if (o.status) {
        status.textContent = o.status;
      }
      if (o.status === 'success') ok = true;
    }, { signal: pulling.signal });
    if (ok) {
      bar.max = 1;
      bar.value = 1;
      status.textContent = `Pulled ${name}.`;
      $('pull-state').classList.add('done');
    } else {
      status.textContent = `The pull of ${name} ended without success.`;
    }
  } catch (err) {
    status.textContent = err.name === 'AbortError' ? 'Cancelled.' : `Pull failed: ${err.message}`;
    if (err.name !== 'AbortError') showError(`Pull failed: ${err.message}`, err.status === 401);
  }
  pulling = null;
  button.textContent = 'Pull';
  await refresh();
}

export function initModels() {
  $('pull-form').addEventListener('submit', pull);
  $('pull-name').addEventListener('input', () => $('pull-state').classList.remove('done'));
}
