// The "Get models" panel: search the Hub (through the daemon's /api/hub/*), list a repo's GGUF
// files with their size and whether they fit this machine, pull one (POST /api/models/pull),
// follow downloads live (`download` events on /api/events) with progress bars and Cancel, and
// delete a model's file after a confirmation. A panel module (main.js lists it); its events come
// from the page's one event stream (events.js).
import { on } from './events.js';
import { watch } from './state.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};
const size = (n) => {
  if (n == null || n < 0) return '?';
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
};
const api = async (method, url, body) => {
  const r = await fetch(url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  let j = null;
  try { j = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new Error(j?.error?.message || `${method} ${url}: HTTP ${r.status}`);
  return j;
};
const downloads = new Map(); // id -> download object

function say(text, bad = false) {
  const m = $('dl-msg');
  m.textContent = text;
  m.dataset.bad = bad ? '1' : '';
  m.hidden = !text;
}

async function search(ev) {
  ev.preventDefault();
  const q = $('hub-q').value.trim();
  if (!q) return;
  say('Searching…');
  $('hub-results').replaceChildren();
  $('hub-files').replaceChildren();
  try {
    const r = await api('GET', `/api/hub/search?q=${encodeURIComponent(q)}`);
    say(r.models.length ? '' : `No GGUF repositories match "${q}".`);
    for (const m of r.models) {
      const b = el('button', { type: 'button', className: 'btn tiny', textContent: 'Files', dataset: { testid: 'hub-repo-files' } });
      b.addEventListener('click', () => files(m.id));
      $('hub-results').append(el('li', { dataset: { testid: 'hub-repo', repo: m.id } },
        el('code', { textContent: m.id }), ' ', el('span', { className: 'muted small', textContent: `${m.downloads} downloads` }), ' ', b));
    }
  } catch (e) { say(e.message, true); }
}

async function files(repo) {
  say(`Listing ${repo}…`);
  const box = $('hub-files');
  box.replaceChildren();
  try {
    const r = await api('GET', `/api/hub/files?repo=${encodeURIComponent(repo)}`);
    say('');
    box.append(el('h3', { textContent: repo }));
    const tb = el('tbody');
    for (const f of r.files) {
      const fit = f.fits === undefined ? '?' : f.fits ? 'fits' : 'too big';
      const pull = el('button', { type: 'button', className: 'btn tiny primary', textContent: f.local ? 'Pulled' : 'Pull', disabled: f.local, dataset: { testid: 'hub-file-pull' } });
      pull.addEventListener('click', () => start(`${repo}/${f.path}`));
      tb.append(el('tr', { dataset: { testid: 'hub-file', file: f.file } },
        el('td', {}, el('code', { textContent: f.path })),
        el('td', { textContent: f.mmproj ? 'projector' : (f.quant || '') }),
        el('td', { className: 'num', textContent: size(f.size) }),
        el('td', { textContent: fit, title: `needs about ${size(f.need)}; ${r.memory.how}`, dataset: { testid: 'hub-file-fits', fits: String(f.fits) } }),
        el('td', {}, pull)));
    }
    box.append(el('div', { className: 'table-wrap' }, el('table', { className: 'models' },
      el('thead', {}, el('tr', {}, ...['File', 'Quant', 'Size', 'This machine', ''].map((t) => el('th', { scope: 'col', textContent: t })))), tb)));
  } catch (e) { say(e.message, true); }
}

async function start(ref) {
  try {
    const d = await api('POST', '/api/models/pull', { ref });
    update(d);
  } catch (e) { say(e.message, true); }
}

function update(d) {
  downloads.set(d.id, d);
  render();
}

function render() {
  const list = $('dl-list');
  const all = [...downloads.values()].sort((a, b) => Number(b.id) - Number(a.id));
  $('dl-empty').hidden = all.length > 0;
  list.replaceChildren(...all.map((d) => {
    const pct = d.total > 0 ? Math.floor((d.done * 100) / d.total) : 0;
    const live = ['queued', 'downloading', 'verifying'].includes(d.state);
    const cancel = el('button', { type: 'button', className: 'btn tiny', textContent: 'Cancel', hidden: !live, dataset: { testid: 'dl-cancel' } });
    cancel.addEventListener('click', async () => {
      try { await api('DELETE', `/api/downloads/${d.id}`); } catch (e) { say(e.message, true); }
    });
    const note = d.error || d.files?.find((f) => f.note)?.note || '';
    return el('li', { className: 'dl', dataset: { testid: 'download', id: d.id, state: d.state } },
      el('div', { className: 'dl-head' }, el('code', { textContent: d.file }), ' ',
        el('span', { className: 'tag', textContent: d.state, dataset: { testid: 'dl-state' } }), ' ',
        el('span', { className: 'muted small', textContent: `${size(d.done)} / ${size(d.total)}${d.speed > 0 ? ` · ${size(d.speed)}/s` : ''}` }), ' ', cancel),
      el('progress', { max: 100, value: d.state === 'done' ? 100 : pct, dataset: { testid: 'dl-progress' } }),
      note ? el('div', { className: 'small', textContent: note, dataset: { testid: 'dl-note', bad: d.error ? '1' : '' } }) : null);
  }));
}

async function models() {
  try {
    const s = await api('GET', '/api/service');
    const ul = $('dl-models');
    ul.replaceChildren(...(s.models || []).filter((m) => m.file).map((m) => {
      const b = el('button', { type: 'button', className: 'btn tiny', textContent: 'Delete file', dataset: { testid: 'model-delete-file' } });
      b.addEventListener('click', async () => {
        if (!window.confirm(`Delete ${m.file} from disk? The model ${m.id} is stopped and removed.`)) return;
        try {
          const r = await api('DELETE', `/api/models/file/${encodeURIComponent(m.id)}`);
          say(`Deleted ${r.deleted.join(', ')}`);
          setTimeout(models, 1500);
        } catch (e) { say(e.message, true); }
      });
      return el('li', { dataset: { testid: 'local-model', model: m.id } }, el('code', { textContent: m.id }), ' ',
        el('span', { className: 'muted small', textContent: m.file }), ' ', b);
    }));
  } catch { /* the main page shows connection trouble */ }
}

export async function init() {
  if (!$('dl-card')) return;
  $('hub-form').addEventListener('submit', search);
  on('download', update);
  watch('service', models);
  try {
    for (const d of (await api('GET', '/api/downloads')).downloads) downloads.set(d.id, d);
  } catch { /* not this ggswap's API */ }
  render();
}
