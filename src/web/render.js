// Model output is untrusted. Markdown goes through marked, then DOMPurify (no script, no event
// handlers, no forms or frames), then into the DOM; everything else is set as textContent. The
// page's Content-Security-Policy (no inline script) is the second fence.
import { marked } from '/ui/vendor/marked.js';
import DOMPurify from '/ui/vendor/purify.js';

const escapeHtml = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;');

// HTML that the model writes is shown as text, not interpreted: a chat answer about HTML means
// the code, and nothing the model writes becomes an element.
marked.use({ gfm: true, breaks: true, renderer: { html: (token) => escapeHtml(token.text || '') } });

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
  FORBID_ATTR: ['style'],
};

// Links from the model open in a new tab with no access to this page.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// Renders Markdown into target (replacing its content), sanitized; code blocks get a copy button.
export function renderMarkdown(target, text) {
  const html = DOMPurify.sanitize(marked.parse(text || ''), PURIFY);
  target.replaceChildren();
  const tpl = document.createElement('template');
  tpl.innerHTML = html; // sanitized above; a <template> runs nothing while it is built
  for (const pre of tpl.content.querySelectorAll('pre')) {
    const wrap = el('div', { class: 'code' });
    pre.replaceWith(wrap);
    const copy = el('button', { type: 'button', class: 'copy', text: 'Copy', 'aria-label': 'Copy code' });
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(pre.textContent);
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed';
      }
      setTimeout(() => { copy.textContent = 'Copy'; }, 1500);
    });
    wrap.append(copy, pre);
  }
  target.append(tpl.content);
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

// The banner at the top: errors; auth: a 401, so it offers the API key field.
export function showError(msg, auth = false) {
  const b = document.getElementById('banner');
  b.replaceChildren(el('span', { text: msg }));
  if (auth) {
    b.append(' ', el('button', { type: 'button', text: 'Enter the API key',
      onclick: () => document.getElementById('open-key').click() }));
  }
  b.append(' ', el('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', text: '\u00d7', onclick: clearError }));
  b.hidden = false;
}

export function clearError() {
  const b = document.getElementById('banner');
  b.hidden = true;
  b.replaceChildren();
}
