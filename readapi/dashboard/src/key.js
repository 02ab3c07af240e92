// The read key: the read API asks for one on every data route. The
// dashboard asks the person for it, keeps it in sessionStorage (this tab
// only: it is gone when the tab closes, and never reaches localStorage or a
// cookie) and sends it as Authorization: Bearer on every request. A link
// with #key=<key> in its fragment (`fleetpulse dev` prints one) hands the
// key over without the prompt; the fragment never reaches the server, and
// the key is taken out of the address bar at once.
import { h } from './util.js';

const STORAGE = 'fleetpulse.readKey';
// Any data route answers whether a key is needed and whether it is good.
const PROBE = '/v1/alerts?limit=1';

export function readKey() {
  try {
    return sessionStorage.getItem(STORAGE) || '';
  } catch {
    return ''; // storage disabled: the key lives as long as the page
  }
}

let memoryKey = '';

function keep(key) {
  memoryKey = key;
  try {
    if (key) sessionStorage.setItem(STORAGE, key);
    else sessionStorage.removeItem(STORAGE);
  } catch {
    // storage disabled: memoryKey serves this page
  }
}

function currentKey() {
  return readKey() || memoryKey;
}

// authHeaders are the headers that carry the key, if there is one.
export function authHeaders() {
  const key = currentKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function takeKeyFromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const key = p.get('key');
  if (key === null) return;
  p.delete('key');
  const rest = p.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
  if (key) keep(key);
}

async function probe(key) {
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  try {
    const res = await fetch(PROBE, { headers, cache: 'no-store' });
    let message = '';
    try {
      message = (await res.json())?.error?.message || '';
    } catch {
      // not JSON
    }
    return { status: res.status, message };
  } catch {
    return { status: 0, message: 'the read API cannot be reached' };
  }
}

let dialog = null;
let waiting = null; // the promise of the prompt on screen

// ask shows the key form with a message and resolves once the read API
// accepts the key entered.
function ask(message) {
  if (waiting) {
    dialog.querySelector('.key-message').textContent = message;
    return waiting;
  }
  const input = h('input', {
    type: 'password', id: 'key-input', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: 'fpr_…', 'aria-describedby': 'key-message', 'data-testid': 'key-input',
  });
  const note = h('p', { class: 'key-message', id: 'key-message', role: 'status', 'data-testid': 'key-message' }, message);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'key-submit' }, 'Open the dashboard');
  const form = h('form', { class: 'key-form card' },
    h('h1', {}, 'Read key'),
    h('p', { class: 'hint' },
      'The read API needs a key to show this fleet\'s data. An operator creates one with ',
      h('code', {}, 'fleetpulse read-key create --name …'),
      ' (or POST /v1/read-keys on the command API). It is kept for this browser tab only.'),
    h('label', { for: 'key-input' }, 'Key'),
    input, note, submit);
  dialog = h('div', { class: 'key-overlay', id: 'key-dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'key-title', 'data-testid': 'key-dialog' }, form);
  form.querySelector('h1').id = 'key-title';
  document.body.append(dialog);
  document.body.dataset.key = 'asking';
  input.focus();
  waiting = new Promise((resolve) => {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const key = input.value.trim();
      submit.disabled = true;
      const res = await probe(key);
      submit.disabled = false;
      if (res.status === 200) {
        keep(key);
        dialog.remove();
        dialog = null;
        waiting = null;
        document.body.dataset.key = 'ok';
        resolve();
        return;
      }
      note.textContent = res.status === 403
        ? 'This key is scoped to some devices: the dashboard lists the whole fleet and needs a key for every device.'
        : res.status === 401
          ? (/revoked/.test(res.message) ? 'The read API refused this key: it was revoked.' : 'The read API refused this key: it is wrong, or was revoked.')
          : `The key could not be checked: ${res.message || 'HTTP ' + res.status}. Try again.`;
      input.select();
    });
  });
  return waiting;
}

// ensureKey resolves once the read API answers with the key held (or
// without one, when reads are open), asking the person for a key as long
// as it is refused. Other failures are left to the page's own error
// handling.
export async function ensureKey() {
  takeKeyFromHash();
  const res = await probe(currentKey());
  if (res.status === 200) {
    document.body.dataset.key = currentKey() ? 'ok' : 'open';
    return;
  }
  if (res.status !== 401 && res.status !== 403) return;
  const message = res.status === 403
    ? 'This key is scoped to some devices: the dashboard needs a key for every device.'
    : currentKey() ? 'The read API refused the key this tab held.' : 'Enter a read key.';
  keep('');
  await ask(message);
}

// keyRefused is called when the read API refuses the key mid-session (it
// was revoked): the key is dropped and the prompt shown; refreshes resume
// with the next key entered.
export function keyRefused() {
  if (!currentKey() && waiting) return;
  keep('');
  ask('The read API no longer accepts the key this tab held (revoked?). Enter another one.');
}
