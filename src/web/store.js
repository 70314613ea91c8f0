// Conversations, kept in this browser's localStorage (one key per conversation and an index), so
// a reload finds them. A conversation: { id, title, model, settings, messages, updated }; a
// message: { role, content, thinking?, tool_calls?, timings?, error? }.

const INDEX = 'hearth.conversations';
const PREFIX = 'hearth.conv.';
export const MAX_CONVERSATIONS = 500;

function readIndex() {
  try {
    const v = JSON.parse(localStorage.getItem(INDEX) || '[]');
    return Array.isArray(v) ? v.filter((x) => x && typeof x.id === 'string') : [];
  } catch {
    return [];
  }
}

// [{ id, title, updated }], newest first.
export function listConversations() {
  return readIndex().sort((a, b) => b.updated - a.updated);
}

export function loadConversation(id) {
  try {
    const c = JSON.parse(localStorage.getItem(PREFIX + id) || 'null');
    if (!c || !Array.isArray(c.messages)) return null;
    c.settings = c.settings && typeof c.settings === 'object' ? c.settings : {};
    return c;
  } catch {
    return null;
  }
}

export function newConversation(model) {
  const id = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  return { id, title: 'New chat', model: model || '', settings: {}, messages: [], updated: Date.now() };
}

// Saves c; throws (a full storage) with a message the page shows.
export function saveConversation(c) {
  c.updated = Date.now();
  if (c.title === 'New chat') {
    const first = c.messages.find((m) => m.role === 'user');
    if (first) c.title = first.content.replace(/\s+/g, ' ').trim().slice(0, 60) || 'New chat';
  }
  try {
    localStorage.setItem(PREFIX + c.id, JSON.stringify(c));
  } catch (e) {
    throw new Error('the browser\'s storage is full: delete some conversations (' + e.name + ')');
  }
  const idx = readIndex().filter((x) => x.id !== c.id);
  idx.push({ id: c.id, title: c.title, updated: c.updated });
  idx.sort((a, b) => b.updated - a.updated);
  // The oldest go when there are too many.
  for (const old of idx.splice(MAX_CONVERSATIONS)) localStorage.removeItem(PREFIX + old.id);
  localStorage.setItem(INDEX, JSON.stringify(idx));
}

export function deleteConversation(id) {
  localStorage.removeItem(PREFIX + id);
  localStorage.setItem(INDEX, JSON.stringify(readIndex().filter((x) => x.id !== id)));
}

export function toMarkdown(c) {
  const out = [`# ${c.title}`, '', `Model: ${c.model}`, ''];
  if (c.settings.system) out.push(`**System:** ${c.settings.system}`, '');
  for (const m of c.messages) {
    out.push(`## ${m.role === 'user' ? 'User' : 'Assistant'}`, '');
    if (m.thinking) out.push('<details><summary>Thinking</summary>', '', m.thinking, '', '</details>', '');
    out.push(m.content || '', '');
    if (m.tool_calls) out.push('```json', JSON.stringify(m.tool_calls, null, 2), '```', '');
  }
  return out.join('\n');
}
