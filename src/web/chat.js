// The chat page: conversations, streaming answers from POST /api/chat (NDJSON), stop,
// regenerate, edit, per-conversation settings, export.
import { request, stream } from '/ui/api.js';
import { el, renderMarkdown, showError, clearError } from '/ui/render.js';
import * as store from '/ui/store.js';

// The settings a conversation may set, as Ollama names them (the request's options).
const PARAMS = [
  ['temperature', 'Temperature', 'any'],
  ['top_k', 'Top K', '1'],
  ['top_p', 'Top P', 'any'],
  ['min_p', 'Min P', 'any'],
  ['repeat_penalty', 'Repeat penalty', 'any'],
  ['seed', 'Seed', '1'],
  ['num_predict', 'Max tokens', '1'],
  ['num_ctx', 'Context size', '1'],
  ['mirostat', 'Mirostat (0, 1, 2)', '1'],
  ['mirostat_tau', 'Mirostat tau', 'any'],
  ['mirostat_eta', 'Mirostat eta', 'any'],
];

const $ = (id) => document.getElementById(id);
let conv = null; // the conversation shown
let running = null; // { controller, conv, msg } while an answer streams
let defaults = {}; // the model's effective values: name -> { value, source }
// Whether the model has a chat template. Without one (a base model such as stories260K) the
// conversation is sent to /api/generate as one text that the model continues.
let hasTemplate = true;
let defaultsFor = null; // the model defaults and hasTemplate are of

function setRunning(r) {
  running = r;
  $('send').hidden = !!r;
  $('stop').hidden = !r;
  $('send').disabled = !!r;
  // Screen readers announce the answer once it is complete, not every streamed piece.
  $('messages').setAttribute('aria-busy', String(!!r));
  document.body.classList.toggle('generating', !!r);
}

// ---- the conversation list ----

function renderList() {
  const ul = $('conversations');
  ul.replaceChildren();
  for (const c of store.listConversations()) {
    const current = conv && c.id === conv.id;
    const open = el('button', { type: 'button', class: 'conv-open', 'aria-current': current ? 'true' : null,
      text: c.title, title: c.title, onclick: () => openConversation(c.id) });
    const del = el('button', { type: 'button', class: 'icon conv-delete', 'aria-label': `Delete conversation ${c.title}`,
      text: '\u00d7', onclick: () => {
        if (!confirm(`Delete the conversation "${c.title}"?`)) return;
        store.deleteConversation(c.id);
        if (conv && conv.id === c.id) startNew();
        else renderList();
      } });
    ul.append(el('li', { class: current ? 'current' : null }, open, del));
  }
}

export function startNew() {
  stop();
  conv = store.newConversation($('model').value);
  renderAll();
  $('prompt').focus();
}

function openConversation(id) {
  const c = store.loadConversation(id);
  if (!c) {
    showError('That conversation could not be read; it was removed.');
    store.deleteConversation(id);
    renderList();
    return;
  }
  stop();
  conv = c;
  localStorage.setItem('hearth.current', c.id);
  renderAll();
  document.body.classList.remove('sidebar-open');
}

function persist(c = conv) {
  if (!c || !c.messages.length) return;
  try {
    store.saveConversation(c);
    if (c === conv) localStorage.setItem('hearth.current', c.id);
  } catch (e) {
    showError(e.message);
  }
  renderList();
}

// ---- messages ----

function timingText(t) {
  const parts = [];
  const rate = (n, ns) => (ns > 0 ? ` at ${(n / (ns / 1e9)).toFixed(1)} tokens/s` : '');
  if (t.prompt_eval_count !== undefined) parts.push(`prompt ${t.prompt_eval_count} tokens${rate(t.prompt_eval_count, t.prompt_eval_duration)}`);
  if (t.eval_count !== undefined) parts.push(`generated ${t.eval_count} tokens${rate(t.eval_count, t.eval_duration)}`);
  if (t.ttft_ms !== undefined) parts.push(`first token after ${Math.round(t.ttft_ms)} ms`);
  if (t.stopped) parts.push('stopped');
  else if (t.done_reason && t.done_reason !== 'stop') parts.push(`ended: ${t.done_reason}`);
  return parts.join(' · ');
}

function messageNode(m, i) {
  const li = el('li', { class: `message ${m.role}`, 'data-index': String(i) });
  li.append(el('div', { class: 'role', text: m.role === 'user' ? 'You' : 'Assistant' }));
  if (m.thinking) {
    const d = el('details', { class: 'thinking' }, el('summary', { text: 'Thinking' }));
    d.append(el('div', { class: 'thinking-text', text: m.thinking }));
    li.append(d);
  }
  const body = el('div', { class: 'content' });
  if (m.role === 'user') body.textContent = m.content;
  else renderMarkdown(body, m.content);
  li.append(body);
  if (Array.isArray(m.tool_calls) && m.tool_calls.length) {
    const d = el('details', { class: 'tool-calls', open: true }, el('summary', { text: `Tool calls (${m.tool_calls.length})` }));
    for (const tc of m.tool_calls) {
      const f = tc.function || {};
      d.append(el('div', { class: 'tool-call' }, el('code', { text: String(f.name || '?') }),
        el('pre', { text: JSON.stringify(f.arguments ?? {}, null, 2) })));
    }
    li.append(d);
  }
  if (m.error) li.append(el('p', { class: 'error', text: m.error }));
  if (m.timings) li.append(el('p', { class: 'timings', text: timingText(m.timings) }));
  const actions = el('div', { class: 'actions' });
  if (m.role === 'user') {
    actions.append(el('button', { type: 'button', class: 'edit', text: 'Edit', onclick: () => editMessage(li, i) }));
  } else if (i === conv.messages.length - 1) {
    actions.append(el('button', { type: 'button', class: 'regenerate', text: 'Regenerate', onclick: regenerate }));
  }
  li.append(actions);
  return li;
}

function renderMessages() {
  const ol = $('messages');
  ol.replaceChildren(...conv.messages.map(messageNode));
  ol.scrollTop = ol.scrollHeight;
}

// Re-renders the streaming message, at most once a frame.
let frame = 0;
function updateStreaming() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!running || running.conv !== conv) return;
    const ol = $('messages');
    const i = conv.messages.indexOf(running.msg);
    const old = ol.querySelector(`li[data-index="${i}"]`);
    const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    const node = messageNode(running.msg, i);
    node.classList.add('streaming');
    if (old) old.replaceWith(node);
    else ol.append(node);
    if (atBottom) ol.scrollTop = ol.scrollHeight;
  });
}

function editMessage(li, i) {
  if (running) return;
  const m = conv.messages[i];
  const box = el('textarea', { class: 'edit-box', rows: '3', 'aria-label': 'Edit the message' });
  box.value = m.content;
  const save = el('button', { type: 'button', class: 'primary', text: 'Save and send', onclick: () => {
    if (!box.value.trim()) return;
    conv.messages.splice(i);
    conv.messages.push({ role: 'user', content: box.value });
    generate();
  } });
  const cancel = el('button', { type: 'button', text: 'Cancel', onclick: renderMessages });
  li.querySelector('.content').replaceWith(box);
  li.querySelector('.actions').replaceChildren(save, cancel);
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') renderMessages();
  });
  box.focus();
}

function regenerate() {
  if (running) return;
  while (conv.messages.length && conv.messages[conv.messages.length - 1].role === 'assistant') conv.messages.pop();
  if (conv.messages.length) generate();
}

// ---- settings ----

function readSettings() {
  const s = {};
  const err = $('settings-error');
  err.textContent = '';
  for (const [name] of PARAMS) {
    const v = $('s-' + name).value.trim();
    if (v === '') continue;
    const n = Number(v);
    if (!Number.isFinite(n)) {
      err.textContent = `${name} must be a number`;
      return null;
    }
    s[name] = n;
  }
  if ($('s-think').value) s.think = $('s-think').value === 'true';
  const sys = $('s-system').value;
  if (sys.trim()) s.system = sys;
  const fmt = $('s-format').value.trim();
  if (fmt) {
    try {
      s.format = JSON.parse(fmt);
    } catch (e) {
      err.textContent = `The JSON schema is not valid JSON: ${e.message}`;
      return null;
    }
  }
  const g = $('s-grammar').value;
  if (g.trim()) s.grammar = g;
  const extra = $('s-extra').value.trim();
  if (extra) {
    let o;
    try {
      o = JSON.parse(extra);
    } catch (e) {
      err.textContent = `More options is not valid JSON: ${e.message}`;
      return null;
    }
    if (!o || typeof o !== 'object' || Array.isArray(o)) {
      err.textContent = 'More options must be a JSON object';
      return null;
    }
    s.extra = o;
  }
  return s;
}

// The model's values beside the fields (placeholders and hints); the fields keep what they hold.
function showDefaults() {
  for (const [name] of PARAMS) {
    const d = defaults[name];
    $('s-' + name).placeholder = d ? `${d.value ?? ''}` : '';
    $('d-' + name).textContent = d ? `model: ${d.value ?? 'unset'} (${d.source})` : '';
  }
  $('s-system').placeholder = defaults.system ? String(defaults.system.value) : '';
}

// The conversation's settings into the fields.
function showSettings() {
  const s = conv.settings || {};
  for (const [name] of PARAMS) $('s-' + name).value = s[name] !== undefined ? String(s[name]) : '';
  $('s-think').value = s.think === undefined ? '' : String(s.think);
  $('s-system').value = s.system || '';
  $('s-format').value = s.format ? JSON.stringify(s.format, null, 2) : '';
  $('s-grammar').value = s.grammar || '';
  $('s-extra').value = s.extra ? JSON.stringify(s.extra) : '';
  $('settings-error').textContent = '';
  showDefaults();
}

function onSettingsChange() {
  const s = readSettings();
  if (!s) return;
  conv.settings = s;
  persist();
}

async function loadDefaults(model) {
  defaults = {};
  hasTemplate = true;
  defaultsFor = null;
  $('model-mode').textContent = '';
  if (!model) return showDefaults();
  const d = {};
  let tmpl = true;
  try {
    const show = await request('POST', '/api/show', { model });
    for (const p of show.hearth_parameters || []) d[p.name] = { value: p.value, source: p.source };
    if (show.system) d.system = { value: show.system, source: 'model' };
    tmpl = !!show.template || !!show.template_source;
  } catch (e) {
    showError(`Could not read the model's settings: ${e.message}`, e.status === 401);
  }
  if (conv.model !== model) return;
  defaults = d;
  hasTemplate = tmpl;
  defaultsFor = model;
  $('model-mode').textContent = tmpl ? '' : 'no chat template: the model continues the text';
  showDefaults();
}

function buildSettingsForm() {
  const grid = $('settings-grid');
  for (const [name, label, step] of PARAMS) {
    const input = el('input', { id: 's-' + name, type: 'number', step, inputmode: 'decimal', 'aria-describedby': 'd-' + name });
    grid.append(el('div', { class: 'field' }, el('label', { for: 's-' + name, text: label }), input,
      el('span', { class: 'default', id: 'd-' + name })));
  }
  $('settings').addEventListener('change', onSettingsChange);
  $('settings').addEventListener('submit', (e) => e.preventDefault());
  $('reset-settings').addEventListener('click', () => {
    conv.settings = {};
    showSettings();
    persist();
  });
  $('toggle-settings').addEventListener('click', () => {
    const f = $('settings');
    f.hidden = !f.hidden;
    $('toggle-settings').setAttribute('aria-expanded', String(!f.hidden));
    if (!f.hidden) $('s-system').focus();
  });
}

// ---- sending ----

// Joins the conversation into one text for a model with no chat template.
function joinText(parts) {
  let out = '';
  for (const p of parts) {
    if (out && p && !/\s$/.test(out) && !/^[\s,.;:!?]/.test(p)) out += ' ';
    out += p;
  }
  return out;
}

function requestBody() {
  const s = conv.settings || {};
  const options = { ...(s.extra || {}) };
  for (const [name] of PARAMS) if (s[name] !== undefined) options[name] = s[name];
  if (s.grammar) options.grammar = s.grammar;
  if (!hasTemplate) {
    const parts = [];
    if (s.system) parts.push(s.system);
    for (const m of conv.messages) if (m !== running?.msg) parts.push(m.content);
    const body = { model: conv.model, prompt: joinText(parts), raw: true, stream: true, options };
    if (s.format) body.format = s.format;
    if (s.think !== undefined) body.think = s.think;
    return ['/api/generate', body];
  }
  const messages = [];
  if (s.system) messages.push({ role: 'system', content: s.system });
  for (const m of conv.messages) {
    if (m === running?.msg) continue;
    const out = { role: m.role, content: m.content };
    if (m.tool_calls) out.tool_calls = m.tool_calls;
    messages.push(out);
  }
  const body = { model: conv.model, messages, stream: true, options };
  if (s.format) body.format = s.format;
  if (s.think !== undefined) body.think = s.think;
  return ['/api/chat', body];
}

async function generate() {
  const model = $('model').value;
  if (!model) {
    showError('Pick a model first (the Models page pulls one).');
    return;
  }
  if (readSettings() === null) {
    showError('Fix the settings first.');
    return;
  }
  conv.model = model;
  if (defaultsFor !== model) await loadDefaults(model);
  const msg = { role: 'assistant', content: '' };
  conv.messages.push(msg);
  persist();
  renderMessages();
  const controller = new AbortController();
  const r = { controller, conv, msg };
  setRunning(r);
  clearError();
  const t0 = performance.now();
  let ttft;
  try {
    const [path, body] = requestBody();
    await stream(path, body, (o) => {
      const m = o.message || { content: o.response, thinking: o.thinking, tool_calls: o.tool_calls };
      if (m.content) msg.content += m.content;
      if (m.thinking) msg.thinking = (msg.thinking || '') + m.thinking;
      if (Array.isArray(m.tool_calls) && m.tool_calls.length) msg.tool_calls = (msg.tool_calls || []).concat(m.tool_calls);
      if (ttft === undefined && (m.content || m.thinking || m.tool_calls)) ttft = performance.now() - t0;
      if (o.done) {
        msg.timings = { prompt_eval_count: o.prompt_eval_count, prompt_eval_duration: o.prompt_eval_duration,
          eval_count: o.eval_count, eval_duration: o.eval_duration, done_reason: o.done_reason, ttft_ms: ttft };
      }
      updateStreaming();
    }, { signal: controller.signal });
  } catch (e) {
    if (e.name === 'AbortError') {
      msg.timings = { ...(msg.timings || {}), ttft_ms: ttft, stopped: true };
    } else {
      msg.error = e.message;
      showError(e.message, e.status === 401);
    }
  }
  if (running === r) setRunning(null);
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  persist(r.conv);
  if (conv === r.conv) {
    renderMessages();
    $('prompt').focus();
  }
}

export function stop() {
  if (running) running.controller.abort();
}

function send(e) {
  e.preventDefault();
  if (running) return;
  const text = $('prompt').value;
  if (!text.trim()) return;
  conv.messages.push({ role: 'user', content: text });
  $('prompt').value = '';
  renderMessages();
  generate();
}

// ---- export ----

function download(name, type, text) {
  const a = el('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function safeName() {
  return (conv.title || 'chat').replace(/[^\w.-]+/g, '_').slice(0, 50) || 'chat';
}

// ---- models ----

export async function refreshModels() {
  const sel = $('model');
  let list = [];
  try {
    list = (await request('GET', '/api/tags')).models || [];
  } catch (e) {
    showError(`Could not list the models: ${e.message}`, e.status === 401);
  }
  const want = conv?.model || sel.value || localStorage.getItem('hearth.model') || '';
  sel.replaceChildren(el('option', { value: '', text: list.length ? 'Pick a model' : 'No models' }));
  for (const m of list) sel.append(el('option', { value: m.name, text: m.name }));
  if (want && !list.some((m) => m.name === want)) sel.append(el('option', { value: want, text: `${want} (not found)` }));
  sel.value = want;
  if (sel.value) loadDefaults(sel.value);
}

function renderAll() {
  $('model').value = conv.model || $('model').value;
  if (!conv.model) conv.model = $('model').value;
  renderList();
  renderMessages();
  showSettings();
  loadDefaults(conv.model);
}

export function initChat() {
  buildSettingsForm();
  $('composer').addEventListener('submit', send);
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
  });
  $('stop').addEventListener('click', stop);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && running) stop();
  });
  $('new-chat').addEventListener('click', startNew);
  $('model').addEventListener('change', () => {
    conv.model = $('model').value;
    localStorage.setItem('hearth.model', conv.model);
    persist();
    loadDefaults(conv.model);
  });
  $('export-json').addEventListener('click', () => download(`${safeName()}.json`, 'application/json', JSON.stringify(conv, null, 2)));
  $('export-md').addEventListener('click', () => download(`${safeName()}.md`, 'text/markdown', store.toMarkdown(conv)));
  const cur = localStorage.getItem('hearth.current');
  conv = (cur && store.loadConversation(cur)) || store.newConversation(localStorage.getItem('hearth.model') || '');
  renderList();
  renderMessages();
  showSettings();
  refreshModels();
}
