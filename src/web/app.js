// The page's entry: pages by URL hash (#/chat, #/models), the API key dialog, the narrow-screen
// sidebar.
import { apiKey, setApiKey, onUnauthorized } from '/ui/api.js';
import { showError, clearError } from '/ui/render.js';
import { initChat, refreshModels } from '/ui/chat.js';
import { initModels, refresh as refreshModelsPage } from '/ui/models.js';

const $ = (id) => document.getElementById(id);

function route() {
  const models = location.hash === '#/models';
  $('page-chat').hidden = models;
  $('page-models').hidden = !models;
  $('nav-chat').toggleAttribute('aria-current', !models);
  $('nav-models').toggleAttribute('aria-current', models);
  if (models) $('nav-models').setAttribute('aria-current', 'page');
  else $('nav-chat').setAttribute('aria-current', 'page');
  document.title = models ? 'Models · hearth' : 'Chat · hearth';
  if (models) refreshModelsPage();
}

function openKeyDialog(why) {
  const d = $('key-dialog');
  $('api-key').value = apiKey();
  $('key-why').textContent = why ||
    'When the server asks for a key, it is sent as Authorization: Bearer with every request. It is kept in this browser only.';
  if (!d.open) d.showModal();
  $('api-key').focus();
}

function init() {
  initChat();
  initModels();
  $('open-key').addEventListener('click', () => openKeyDialog());
  $('key-dialog').addEventListener('close', () => {
    if ($('key-dialog').returnValue !== 'save') return;
    setApiKey($('api-key').value.trim());
    clearError();
    refreshModels();
    if (location.hash === '#/models') refreshModelsPage();
  });
  onUnauthorized(() => {
    showError('The server needs an API key (401).', true);
    openKeyDialog(apiKey() ? 'The server refused this key (401). Enter another.'
      : 'The server needs an API key (401). It is sent as Authorization: Bearer and kept in this browser only.');
  });
  document.querySelector('.skip').addEventListener('click', (e) => {
    e.preventDefault();
    location.hash = '#/chat';
    $('prompt').focus();
  });
  const side = $('toggle-sidebar');
  side.addEventListener('click', () => {
    const open = document.body.classList.toggle('sidebar-open');
    side.setAttribute('aria-expanded', String(open));
  });
  window.addEventListener('hashchange', route);
  route();
  document.body.dataset.ready = 'true';
}

init();
