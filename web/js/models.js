// The models table: one row per model, kept in service order, patched in place. Each cell is
// addressed by its column's key and rebuilt only when what it shows changed, so an opened
// "Why it failed" stays open while the row's other cells (the TTL countdown, the state) move.
import { $, h, setText, setAttr, patch, KeyedTable } from './dom.js';
import { fmtBytes, fmtClock, stripAnsi, modelPath } from './fmt.js';
import { api } from './api.js';
import { toast } from './toast.js';
import { S, watch, emit, running, effState, findModel } from './state.js';
import { serviceAction } from './service.js';

const COLUMNS = [
  { key: 'name', label: 'Model', class: 'c-name' },
  { key: 'aliases', label: 'Aliases', class: 'c-aliases' },
  { key: 'kind', label: 'Kind' },
  { key: 'params', label: 'Params' },
  { key: 'quant', label: 'Quant' },
  { key: 'size', label: 'Size', class: 'num' },
  { key: 'state', label: 'State' },
  { key: 'ttl', label: 'Unloads in', class: 'c-ttl' },
  { key: 'actions', label: null, class: 'c-actions' },
];

const STATE_LABEL = { ready: 'ready', starting: 'starting', stopping: 'stopping', stopped: 'stopped', failed: 'failed' };

let table;

// A row's parts that live as long as the row: filled by fill(), never rebuilt.
function build(tr) {
  const c = tr.td;
  tr._info = h('div', { class: 'info' });
  c.name.append(tr._info);
  tr._dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  tr._stateText = document.createTextNode('');
  tr._badge = h('span', { class: 'badge', 'data-testid': 'model-state' }, tr._dot, tr._stateText);
  c.state.append(tr._badge);
  c.ttl.dataset.testid = 'model-ttl';
  tr._load = h('button', { type: 'button', class: 'btn small', 'data-testid': 'btn-load', text: 'Load',
    onclick: () => modelAction(tr.dataset.model, 'load') });
  tr._unload = h('button', { type: 'button', class: 'btn small', 'data-testid': 'btn-unload', text: 'Unload',
    onclick: () => modelAction(tr.dataset.model, 'unload') });
  c.actions.append(h('div', { class: 'row-actions' }, tr._load, tr._unload));
}

// "Why it failed": made on the first failure, then only hidden and shown, so a reader who
// opened it keeps it open while the model stays failed.
function renderWhy(tr, st, m) {
  const failed = st === 'failed' && !!m.error;
  if (failed && !tr._why) {
    tr._whyText = h('pre', { 'data-testid': 'model-error' });
    tr._why = h('details', { class: 'err-details', 'data-testid': 'model-why' }, h('summary', { text: 'Why it failed' }), tr._whyText);
    tr.td.name.append(tr._why);
  }
  if (!tr._why) return;
  if (failed) setText(tr._whyText, stripAnsi(m.error));
  else if (tr._why.open) tr._why.open = false;
  tr._why.hidden = !failed;
}

function fill(tr, m) {
  const c = tr.td;
  const st = effState(m);
  tr.dataset.state = st;
  const sub = m.name && m.name !== m.id ? m.name : m.description;
  patch(tr._info, JSON.stringify([m.id, m.unlisted, sub, m.file]), () => {
    const kids = [h('div', { class: 'name-line' }, h('code', { class: 'mid', text: m.id }),
      m.unlisted ? h('span', { class: 'tag', text: 'unlisted' }) : null)];
    if (sub) kids.push(h('div', { class: 'muted small ellip', title: m.file || '', text: sub }));
    else if (m.file) kids.push(h('div', { class: 'muted small ellip', title: m.file, text: m.file.split('/').pop() }));
    return kids;
  });
  renderWhy(tr, st, m);
  const aliases = m.aliases || [];
  c.aliases.classList.toggle('none', !aliases.length);
  patch(c.aliases, JSON.stringify(aliases), () => (aliases.length ? aliases.map((a) => h('span', { class: 'chip', text: a }))
    : h('span', { class: 'muted', text: '—' })));
  patch(c.kind, String(m.kind || ''), () => (m.kind ? h('span', { class: `kind k-${m.kind}`, 'data-testid': 'model-kind', text: m.kind })
    : h('span', { class: 'muted', text: '—' })));
  setText(c.params, m.parameters || '—');
  setText(c.quant, m.quantization ? String(m.quantization).toUpperCase() : '—');
  setText(c.size, fmtBytes(m.size));
  tr._badge.className = `badge s-${st}`;
  tr._badge.dataset.state = st;
  tr._stateText.data = STATE_LABEL[st] || st;
  const pending = S.loading.get(m.id);
  const live = S.connected && running();
  button(tr._load, m.id, 'Load', pending === 'load' ? 'Loading…' : null,
    !!pending || !live || st === 'ready' || st === 'starting' || st === 'stopping');
  button(tr._unload, m.id, 'Unload', pending === 'unload' ? 'Unloading…' : null,
    !!pending || !live || st === 'stopped' || st === 'stopping' || st === 'failed');
  tickTtl(tr, m);
}

function button(b, id, label, busyLabel, disabled) {
  b.disabled = disabled;
  b.classList.toggle('busy', !!busyLabel);
  setText(b, busyLabel || label);
  setAttr(b, 'aria-label', `${label} ${id}`);
}

function tickTtl(tr, m) {
  const cell = tr.td.ttl;
  const st = effState(m);
  let text = '—', cls = 'muted';
  if (st === 'ready') {
    const dl = S.deadlines.get(m.id);
    if (m.inflight > 0) { text = 'in use'; cls = ''; }
    else if (dl != null) {
      const left = (dl - performance.now()) / 1000;
      text = left > 0 ? fmtClock(left) : 'unloading…';
      cls = left < 30 ? 'soon' : '';
    } else if (!m.ttl) { text = 'never'; }
  }
  setText(cell, text);
  const want = `c-ttl ${cls}`;
  if (cell.className !== want) cell.className = want;
}

function renderCount() {
  const n = S.models.length;
  const loaded = S.models.filter((m) => effState(m) === 'ready').length;
  setText($('models-count'), S.svc ? `${n} model${n === 1 ? '' : 's'}${loaded ? ` · ${loaded} loaded` : ''}` : '');
}

function renderModels() {
  for (const m of S.models) {
    const { tr, fresh } = table.ensure(m.id);
    if (fresh) build(tr);
    fill(tr, m);
  }
  table.order(S.models.map((m) => m.id));
  renderCount();
  $('models-table').hidden = S.models.length === 0;
  renderEmpty();
}

function renderEmpty() {
  const box = $('models-empty');
  const s = S.svc;
  box.hidden = !s || S.models.length > 0;
  if (box.hidden) return;
  const dirs = s.models_dirs || [];
  patch(box, JSON.stringify([s.state, s.mode, s.config, dirs, !!S.busy, S.connected]), () => {
    const kids = [h('p', { class: 'empty-title', text: s.state === 'running' ? 'No models yet' : 'No models (the service is stopped)' })];
    if (s.state !== 'running') {
      kids.push(h('p', { text: 'Press Start: ggswap reads its config and lists the models it defines.' }));
    } else if (s.mode === 'config') {
      kids.push(h('p', { text: `The config file ${s.config || ''} defines no models. Add some under "models:" and press Restart.` }));
    } else {
      kids.push(h('p', { text: 'Put .gguf model files in one of these folders (subfolders are scanned too):' }),
        h('ul', { class: 'plain dirs' }, ...(dirs.length ? dirs.map((d) => h('li', null, h('code', { text: d })))
          : [h('li', { class: 'muted', text: 'no folders configured: set modelsDirs in settings.yaml' })])),
        h('p', null, 'Then press ', h('button', { type: 'button', class: 'btn small primary', 'data-testid': 'btn-empty-regenerate',
          disabled: !!S.busy || !S.connected, onclick: () => serviceAction('regenerate'), text: 'Regenerate Config' }),
        ' to find them. Or choose other folders with ', h('code', { text: '--models-dir' }), ' or ',
        h('code', { text: 'modelsDirs' }), ' in settings.yaml.'));
    }
    return kids;
  });
}

function renderOne(m) {
  const tr = table.get(m.id);
  if (tr) fill(tr, m);
  renderCount();
}

async function modelAction(id, action) {
  if (S.loading.has(id)) return;
  S.loading.set(id, action);
  emit('loading', id);
  try {
    await api('POST', `/api/models/${action}/${modelPath(id)}`);
    toast('ok', action === 'load' ? `Loaded ${id}` : `Unloaded ${id}`);
  } catch (e) {
    toast('error', `${action === 'load' ? 'Load' : 'Unload'} ${id} failed`, e.message);
  } finally {
    S.loading.delete(id);
    emit('loading', id);
  }
}

async function unloadAll() {
  const b = $('btn-unload-all');
  b.disabled = true;
  b.classList.add('busy');
  b.textContent = 'Unloading…';
  try {
    await api('POST', '/api/models/unload');
    toast('ok', 'Unloaded every model');
  } catch (e) {
    toast('error', 'Unload all failed', e.message);
  } finally {
    b.classList.remove('busy');
    b.textContent = 'Unload all';
    emit('busy');
  }
}

// The clocks tick locally; nothing here talks to the server.
function tick() {
  for (const m of S.models) {
    if (effState(m) !== 'ready') continue;
    const tr = table.get(m.id);
    if (tr) tickTtl(tr, m);
  }
}

export function init() {
  table = new KeyedTable($('models-body'), { columns: COLUMNS, attr: 'model', testid: 'model-row', rowClass: 'model-row' });
  $('btn-unload-all').addEventListener('click', unloadAll);
  watch('service', renderModels);
  watch('conn', () => { if (S.svc) renderModels(); });
  watch('busy', renderEmpty);
  watch('model', renderOne);
  watch('loading', (id) => { const m = findModel(id); if (m) renderOne(m); });
  setInterval(tick, 1000);
}
