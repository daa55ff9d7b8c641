// ggswap management page. Plain JS, no framework, no build step. Everything live comes from one
// EventSource on /api/events (never polled): `service` replaces the whole state, `model` updates
// one row, `log` and `request` append. Timers only tick clocks (uptime, TTL countdowns) locally.
'use strict';

const $ = (id) => document.getElementById(id);
const LOG_MAX = 2000;
const REQ_MAX = 200;
const CHAT_KINDS = new Set(['chat', 'vision']);

const S = {
  svc: null,            // last /api/service object (models kept separately)
  models: [],           // model objects, in service order
  svcAt: 0,             // performance.now() when svc.uptime was received
  deadlines: new Map(), // model id -> performance.now() deadline of its TTL unload
  busy: null,           // service action in progress
  loading: new Map(),   // model id -> 'load' | 'unload' while that request is in flight
  connected: false,
  everConnected: false,
  freshConnection: false,
  reqIds: new Set(),
};

// ---- small helpers ----------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function fmtBytes(n) {
  if (n == null || !isFinite(n)) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

function fmtUptime(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), hr = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
  const p = (x) => String(x).padStart(2, '0');
  if (d) return `${d}d ${hr}h ${p(m)}m`;
  if (hr) return `${hr}h ${p(m)}m ${p(sec)}s`;
  if (m) return `${m}m ${p(sec)}s`;
  return `${sec}s`;
}

function fmtClock(s) {
  s = Math.max(0, Math.ceil(s));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m` : `${m}:${String(s % 60).padStart(2, '0')}`;
}

function fmtMs(ms) {
  if (ms == null) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

const stripAnsi = (s) => String(s).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

// Model ids contain ':' and '/': '/' stays a path separator, everything else is encoded.
const modelPath = (id) => id.split('/').map(encodeURIComponent).join('/');

// ---- API ----------------------------------------------------------------------------------
async function api(method, url) {
  let res;
  try {
    res = await fetch(url, { method, headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new Error(`cannot reach ggswap (${e.message || e})`);
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const msg = body?.error?.message || body?.message || (typeof body?.error === 'string' ? body.error : '') ||
      text.trim().slice(0, 300) || res.statusText;
    throw new Error(`${msg} (HTTP ${res.status})`);
  }
  if (body && body.ok === false) throw new Error(body.error?.message || body.message || 'failed');
  return body || {};
}

// ---- toasts -------------------------------------------------------------------------------
function toast(kind, title, detail) {
  const box = $('toasts');
  const t = h('div', { class: `toast ${kind}`, 'data-testid': 'toast', 'data-kind': kind,
    role: kind === 'error' ? 'alert' : 'status' },
  h('div', { class: 'toast-body' }, h('strong', { text: title }), detail ? h('span', { text: detail }) : null),
  h('button', { type: 'button', class: 'toast-x', 'aria-label': 'Dismiss', text: '×', onclick: () => t.remove() }));
  box.append(t);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 15000 : 5000);
}

// ---- service card -------------------------------------------------------------------------
const ACTIONS = {
  start: ['Start', 'Starting…', 'Service started'],
  stop: ['Stop', 'Stopping…', 'Service stopped'],
  restart: ['Restart', 'Restarting…', 'Service restarted'],
  regenerate: ['Regenerate Config', 'Regenerating…', 'Config regenerated'],
};

const running = () => S.svc?.state === 'running';

function renderActions() {
  const known = !!S.svc && S.connected;
  for (const [action, [label, progress]] of Object.entries(ACTIONS)) {
    const b = $(`btn-${action}`);
    const off = !known || !!S.busy ||
      (action === 'start' && S.svc.state !== 'stopped') || ((action === 'stop' || action === 'restart') && !running());
    b.disabled = off;
    const mine = S.busy === action;
    b.classList.toggle('busy', mine);
    b.setAttribute('aria-busy', mine ? 'true' : 'false');
    b.textContent = mine ? progress : label;
  }
  $('btn-unload-all').disabled = !known || !running() || !S.models.some((m) => effState(m) !== 'stopped' && effState(m) !== 'failed');
}

async function serviceAction(action) {
  if (S.busy) return;
  const [label, , done] = ACTIONS[action];
  S.busy = action;
  renderActions();
  try {
    const r = await api('POST', `/api/service/${action}`);
    let detail = r.message || '';
    if (action === 'regenerate' && !r.message && (r.added || r.removed || r.changed)) {
      detail = `${(r.added || []).length} added, ${(r.removed || []).length} removed, ${(r.changed || []).length} changed`;
    }
    if (action === 'regenerate' && r.added?.length) detail += ` New: ${r.added.join(', ')}.`;
    const same = (a, b) => a.toLowerCase().replace(/[.!\s]+$/, '') === b.toLowerCase();
    toast('ok', done, same(detail.trim(), done) ? '' : detail.trim());
    if (r.state && S.svc && r.state !== S.svc.state) {
      S.svc.state = r.state;
      if (r.state === 'running') { S.svc.uptime = 0; S.svcAt = performance.now(); }
      renderService();
      renderModels();
    }
  } catch (e) {
    toast('error', `${label} failed`, e.message);
  } finally {
    S.busy = null;
    renderActions();
  }
}

function renderService() {
  const s = S.svc;
  const st = s ? s.state : 'unknown';
  const badge = $('service-state');
  badge.dataset.state = S.connected ? st : (s ? 'stale' : 'unknown');
  $('service-state-text').textContent = !s ? (S.everConnected ? 'unknown' : 'connecting…')
    : st === 'running' ? 'Running' : st === 'stopped' ? 'Stopped' : st;
  if (!s) { renderActions(); return; }
  const ver = String(s.version || '');
  $('version').textContent = /^v?\d/.test(ver) ? `v${ver.replace(/^v/, '')}` : '';
  $('f-listen').textContent = s.listen || '—';
  $('f-api').textContent = s.api_url || '—';
  $('btn-copy').disabled = !s.api_url;
  $('f-config').textContent = s.config || '—';
  const mode = $('f-mode');
  mode.hidden = !s.mode;
  mode.textContent = s.mode === 'integrated' ? 'generated' : s.mode === 'config' ? 'hand-written' : (s.mode || '');
  mode.title = s.mode === 'integrated' ? 'Generated from the model folders; Regenerate Config rewrites it' : 'Served as given (--config)';
  const dirs = $('f-dirs');
  dirs.replaceChildren(...(s.models_dirs?.length ? s.models_dirs.map((d) => h('li', null, h('code', { text: d })))
    : [h('li', { class: 'muted', text: s.mode === 'config' ? 'none (hand-written config)' : '—' })]));
  const srv = $('f-server');
  srv.textContent = s.llama_server || (s.mode === 'config' ? "each model's cmd" : 'not found');
  srv.classList.toggle('bad', !s.llama_server && s.mode !== 'config');
  const probs = Array.isArray(s.problems) ? s.problems : [];
  $('problems').hidden = !probs.length;
  $('problems-list').replaceChildren(...probs.map((p) => h('li', { 'data-testid': 'problem', text: p })));
  tickUptime();
  renderActions();
}

function tickUptime() {
  const s = S.svc;
  $('f-uptime').textContent = s && s.state === 'running' && s.uptime != null
    ? fmtUptime(s.uptime + (performance.now() - S.svcAt) / 1000) : '—';
}

async function copyApi() {
  const text = $('f-api').textContent;
  const b = $('btn-copy');
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {
      const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      const ok = document.execCommand('copy');
      ta.remove();
      if (!ok) throw new Error('the browser refused');
    }
    b.textContent = 'Copied';
    setTimeout(() => { b.textContent = 'Copy'; }, 1500);
  } catch (e) {
    toast('error', 'Copy failed', `${e.message || e}. Select the URL and copy it by hand.`);
  }
}

// ---- models -------------------------------------------------------------------------------
// When the service is stopped every model is unloaded, whatever an old event said.
function effState(m) {
  if (S.svc && S.svc.state !== 'running') return m.state === 'stopping' ? 'stopping' : 'stopped';
  return m.state || 'stopped';
}

const STATE_LABEL = { ready: 'ready', starting: 'starting', stopping: 'stopping', stopped: 'stopped', failed: 'failed' };

function setDeadline(m) {
  if (m.ttl_left != null && effState(m) === 'ready') S.deadlines.set(m.id, performance.now() + m.ttl_left * 1000);
  else S.deadlines.delete(m.id);
}

function rowFor(id) {
  for (const tr of $('models-body').children) if (tr.dataset.model === id) return tr;
  return null;
}

function buildRow(id) {
  const tr = h('tr', { class: 'model-row', 'data-testid': 'model-row', 'data-model': id });
  const cell = (label, cls) => h('td', { 'data-label': label, class: cls });
  const load = h('button', { type: 'button', class: 'btn small', 'data-testid': 'btn-load', text: 'Load',
    onclick: () => modelAction(tr.dataset.model, 'load') });
  const unload = h('button', { type: 'button', class: 'btn small', 'data-testid': 'btn-unload', text: 'Unload',
    onclick: () => modelAction(tr.dataset.model, 'unload') });
  tr.append(cell('Model', 'c-name'), cell('Aliases', 'c-aliases'), cell('Kind'), cell('Params'), cell('Quant'),
    cell('Size', 'num'), cell('State'), cell('Unloads in', 'c-ttl'),
    h('td', { class: 'c-actions' }, h('div', { class: 'row-actions' }, load, unload)));
  tr._load = load;
  tr._unload = unload;
  return tr;
}

function fillRow(tr, m) {
  const c = tr.children;
  const st = effState(m);
  tr.dataset.state = st;
  const name = [h('code', { class: 'mid', text: m.id })];
  if (m.unlisted) name.push(h('span', { class: 'tag', text: 'unlisted' }));
  const sub = m.name && m.name !== m.id ? m.name : m.description;
  const info = [h('div', { class: 'name-line' }, ...name)];
  if (sub) info.push(h('div', { class: 'muted small ellip', title: m.file || '', text: sub }));
  else if (m.file) info.push(h('div', { class: 'muted small ellip', title: m.file, text: m.file.split('/').pop() }));
  if (st === 'failed' && m.error) {
    info.push(h('details', { class: 'err-details' }, h('summary', { text: 'Why it failed' }),
      h('pre', { 'data-testid': 'model-error', text: stripAnsi(m.error) })));
  }
  c[0].replaceChildren(...info);
  c[1].classList.toggle('none', !m.aliases?.length);
  c[1].replaceChildren(...(m.aliases?.length ? m.aliases.map((a) => h('span', { class: 'chip', text: a }))
    : [h('span', { class: 'muted', text: '—' })]));
  c[2].replaceChildren(m.kind ? h('span', { class: `kind k-${m.kind}`, 'data-testid': 'model-kind', text: m.kind })
    : h('span', { class: 'muted', text: '—' }));
  c[3].textContent = m.parameters || '—';
  c[4].textContent = m.quantization ? String(m.quantization).toUpperCase() : '—';
  c[5].textContent = fmtBytes(m.size);
  c[6].replaceChildren(h('span', { class: `badge s-${st}`, 'data-testid': 'model-state', 'data-state': st },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), STATE_LABEL[st] || st));
  c[7].dataset.testid = 'model-ttl';
  const pending = S.loading.get(m.id);
  const live = S.connected && running();
  tr._load.disabled = !!pending || !live || st === 'ready' || st === 'starting' || st === 'stopping';
  tr._unload.disabled = !!pending || !live || st === 'stopped' || st === 'stopping' || st === 'failed';
  const loadingNow = pending === 'load';
  tr._load.classList.toggle('busy', loadingNow);
  tr._load.textContent = loadingNow ? 'Loading…' : 'Load';
  const unloadingNow = pending === 'unload';
  tr._unload.classList.toggle('busy', unloadingNow);
  tr._unload.textContent = unloadingNow ? 'Unloading…' : 'Unload';
  tr._load.setAttribute('aria-label', `Load ${m.id}`);
  tr._unload.setAttribute('aria-label', `Unload ${m.id}`);
  tickTtl(tr, m);
}

function tickTtl(tr, m) {
  const cell = tr.children[7];
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
  if (cell.textContent !== text) cell.textContent = text;
  cell.className = `c-ttl ${cls}`;
}

function renderModels() {
  const body = $('models-body');
  const want = new Set(S.models.map((m) => m.id));
  for (const tr of [...body.children]) if (!want.has(tr.dataset.model)) tr.remove();
  let prev = null;
  for (const m of S.models) {
    let tr = rowFor(m.id);
    if (!tr) tr = buildRow(m.id);
    fillRow(tr, m);
    const at = prev ? prev.nextSibling : body.firstChild;
    if (at !== tr) body.insertBefore(tr, at);
    prev = tr;
  }
  const n = S.models.length;
  const loaded = S.models.filter((m) => effState(m) === 'ready').length;
  $('models-count').textContent = S.svc ? `${n} model${n === 1 ? '' : 's'}${loaded ? ` · ${loaded} loaded` : ''}` : '';
  $('models-table').hidden = n === 0;
  renderEmpty();
  renderActions();
  renderPlaygroundModels();
  renderLogSources();
}

function renderEmpty() {
  const box = $('models-empty');
  const s = S.svc;
  box.hidden = !s || S.models.length > 0;
  if (box.hidden) return;
  const dirs = s.models_dirs || [];
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
  box.replaceChildren(...kids);
}

function applyModel(m) {
  const i = S.models.findIndex((x) => x.id === m.id);
  if (i >= 0) S.models[i] = m; else S.models.push(m);
  setDeadline(m);
  if (i < 0) { renderModels(); return; }
  const tr = rowFor(m.id);
  if (tr) fillRow(tr, m);
  const loaded = S.models.filter((x) => effState(x) === 'ready').length;
  const n = S.models.length;
  $('models-count').textContent = `${n} model${n === 1 ? '' : 's'}${loaded ? ` · ${loaded} loaded` : ''}`;
  renderActions();
  markPlaygroundStates();
}

async function modelAction(id, action) {
  if (S.loading.has(id)) return;
  S.loading.set(id, action);
  const m = S.models.find((x) => x.id === id);
  const tr = rowFor(id);
  if (tr && m) fillRow(tr, m);
  try {
    await api('POST', `/api/models/${action}/${modelPath(id)}`);
    toast('ok', action === 'load' ? `Loaded ${id}` : `Unloaded ${id}`);
  } catch (e) {
    toast('error', `${action === 'load' ? 'Load' : 'Unload'} ${id} failed`, e.message);
  } finally {
    S.loading.delete(id);
    const m2 = S.models.find((x) => x.id === id);
    const tr2 = rowFor(id);
    if (tr2 && m2) fillRow(tr2, m2);
    renderActions();
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
    renderActions();
  }
}

// ---- the event stream ---------------------------------------------------------------------
function setService(s) {
  S.svc = { ...s };
  delete S.svc.models;
  S.svcAt = performance.now();
  if (Array.isArray(s.models)) S.models = s.models;
  S.deadlines.clear();
  for (const m of S.models) setDeadline(m);
  renderService();
  renderModels();
}

function setConn(state) {
  const c = $('conn');
  c.dataset.state = state;
  $('conn-text').textContent = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…' }[state] || state;
  document.body.classList.toggle('stale', state !== 'live' && S.everConnected);
  renderService();
  if (S.svc) renderModels();
}

let es = null, retryTimer = null, retries = 0;
function connect() {
  clearTimeout(retryTimer);
  if (es) es.close();
  es = new EventSource('/api/events');
  es.addEventListener('open', () => {
    S.connected = true;
    S.everConnected = true;
    S.freshConnection = true;
    retries = 0;
    setConn('live');
  });
  es.addEventListener('error', () => {
    const wasConnected = S.connected;
    S.connected = false;
    if (wasConnected) addLog('proxy', '— connection to ggswap lost; reconnecting… —', 'meta');
    setConn(S.everConnected ? 'reconnecting' : 'connecting');
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error, not a network drop): retry ourselves, backing off.
      retries++;
      retryTimer = setTimeout(connect, Math.min(5000, 500 * 2 ** Math.min(retries, 4)));
    }
  });
  const on = (name, fn) => es.addEventListener(name, (e) => {
    let d;
    try { d = JSON.parse(e.data); } catch { return; }
    if (d && typeof d === 'object') fn(d);
  });
  on('service', (d) => {
    if (S.freshConnection) { S.freshConnection = false; clearRequests(); }
    setService(d);
  });
  on('model', (d) => { if (d.id) applyModel(d); });
  on('log', (d) => addLog(d.source || 'proxy', d.line ?? ''));
  on('request', addRequest);
}

// ---- logs ---------------------------------------------------------------------------------
const logQ = [];
let logTimer = null, stick = true;

function addLog(source, line, cls) {
  logQ.push([String(source), stripAnsi(line), cls]);
  if (logQ.length > LOG_MAX) logQ.splice(0, logQ.length - LOG_MAX);
  if (!logTimer) logTimer = setTimeout(flushLogs, 40); // batch: a chatty model must not freeze the page
  if (source !== 'proxy' && !knownSources.has(String(source))) { knownSources.add(String(source)); renderLogSources(); }
}

function flushLogs() {
  logTimer = null;
  const view = $('log-view');
  const filter = $('log-filter').value;
  const frag = document.createDocumentFragment();
  for (const [src, line, cls] of logQ) {
    const d = h('div', { class: `ln${cls ? ` ${cls}` : ''}`, 'data-source': src },
      h('span', { class: `src${src === 'proxy' ? ' proxy' : ''}`, text: src }), h('span', { class: 'tx', text: line }));
    if (filter && src !== filter) d.hidden = true;
    frag.append(d);
  }
  logQ.length = 0;
  view.append(frag);
  let extra = view.childElementCount - LOG_MAX;
  while (extra-- > 0) view.firstElementChild.remove();
  if (stick) view.scrollTop = view.scrollHeight;
  else $('log-jump').hidden = false;
}

const knownSources = new Set();
function renderLogSources() {
  const sel = $('log-filter');
  const ids = new Set(S.models.map((m) => m.id));
  for (const s of knownSources) ids.add(s);
  const cur = sel.value;
  const want = ['', 'proxy', ...[...ids].filter((x) => x !== 'proxy')];
  const have = [...sel.options].map((o) => o.value);
  if (want.join('\n') === have.join('\n')) return;
  sel.replaceChildren(...want.map((v) => h('option', { value: v, text: v === '' ? 'All sources' : v })));
  sel.value = want.includes(cur) ? cur : '';
}

function applyLogFilter() {
  const f = $('log-filter').value;
  for (const d of $('log-view').children) d.hidden = !!f && d.dataset.source !== f;
  stick = true;
  $('log-view').scrollTop = $('log-view').scrollHeight;
  $('log-jump').hidden = true;
}

function onLogScroll() {
  const v = $('log-view');
  stick = v.scrollTop + v.clientHeight >= v.scrollHeight - 24;
  if (stick) $('log-jump').hidden = true;
}

// ---- requests -----------------------------------------------------------------------------
function clearRequests() {
  $('req-body').replaceChildren();
  S.reqIds.clear();
  updateReqEmpty();
}

function updateReqEmpty() {
  const n = $('req-body').childElementCount;
  $('req-empty').hidden = n > 0;
  $('req-count').textContent = n ? `last ${n}` : '';
}

function addRequest(r) {
  if (r.id != null) {
    if (S.reqIds.has(r.id)) return;
    S.reqIds.add(r.id);
  }
  const t = r.time ? new Date(r.time) : new Date();
  const ok = r.status >= 200 && r.status < 400;
  const tr = h('tr', { 'data-testid': 'request-row', 'data-id': r.id ?? '' },
    h('td', { 'data-label': 'Time', title: t.toLocaleString(), text: t.toLocaleTimeString([], { hour12: false }) }),
    h('td', { 'data-label': 'Model', class: 'ellip', title: r.model || '' }, h('code', { text: r.model || '—' })),
    h('td', { 'data-label': 'Endpoint', class: 'ellip', title: `${r.method || ''} ${r.path || ''}`.trim(), text: r.path || '' }),
    h('td', { 'data-label': 'Status' }, h('span', { class: `status ${ok ? 'ok' : 'bad'}`, text: String(r.status ?? '—') })),
    h('td', { 'data-label': 'Duration', class: 'num', text: fmtMs(r.duration_ms) }),
    h('td', { 'data-label': 'Tok/s', class: `num tps${r.tps != null ? ' has' : ''}`, text: r.tps != null ? Number(r.tps).toFixed(1) : '—',
      title: r.tokens != null ? `${r.tokens} tokens` : null }));
  const body = $('req-body');
  // Newest first; replayed history arrives oldest first, so insert by time.
  let before = body.firstElementChild;
  while (before && Number(before._time) > t.getTime()) before = before.nextElementSibling;
  tr._time = t.getTime();
  body.insertBefore(tr, before);
  while (body.childElementCount > REQ_MAX) {
    const last = body.lastElementChild;
    S.reqIds.delete(Number(last.dataset.id));
    last.remove();
  }
  updateReqEmpty();
  // The model was just used: its idle clock restarts (the daemon's model event may follow).
  const m = S.models.find((x) => x.id === r.model || x.aliases?.includes(r.model));
  if (m && effState(m) === 'ready' && m.ttl && !m.inflight) {
    S.deadlines.set(m.id, performance.now() + m.ttl * 1000);
    const row = rowFor(m.id);
    if (row) tickTtl(row, m);
  }
}

// ---- playground ---------------------------------------------------------------------------
const PG = { history: [], ctrl: null };

function renderPlaygroundModels() {
  const sel = $('pg-model');
  const cur = sel.value;
  const chat = S.models.filter((m) => !m.kind || CHAT_KINDS.has(m.kind));
  const other = S.models.filter((m) => m.kind && !CHAT_KINDS.has(m.kind));
  const key = S.models.map((m) => `${m.id}|${m.kind}`).join('\n');
  if (sel._key !== key) {
    sel._key = key;
    const opt = (m) => h('option', { value: m.id, text: m.id });
    const kids = [];
    if (chat.length) kids.push(h('optgroup', { label: 'Chat' }, ...chat.map(opt)));
    if (other.length) kids.push(h('optgroup', { label: 'Not for chat' }, ...other.map(opt)));
    if (!kids.length) kids.push(h('option', { value: '', text: 'no models' }));
    sel.replaceChildren(...kids);
    const ids = S.models.map((m) => m.id);
    const best = chat.find((m) => effState(m) === 'ready') || chat[0] || other[0];
    sel.value = ids.includes(cur) ? cur : best ? best.id : '';
  }
  markPlaygroundStates();
}

function markPlaygroundStates() {
  for (const o of $('pg-model').querySelectorAll('option[value]')) {
    const m = S.models.find((x) => x.id === o.value);
    if (!m) continue;
    const st = effState(m);
    const label = st === 'ready' ? `${m.id} (loaded)` : m.id;
    if (o.textContent !== label) o.textContent = label;
  }
}

function pgBubble(role, text) {
  const out = $('pg-out');
  $('pg-hint')?.remove();
  const b = h('div', { class: `msg ${role}`, 'data-role': role },
    h('div', { class: 'who', text: role === 'user' ? 'You' : role === 'assistant' ? $('pg-model').value : 'Error' }),
    h('div', { class: 'text', text: text || '' }));
  out.append(b);
  out.scrollTop = out.scrollHeight;
  return b;
}

function pgBusy(on) {
  $('pg-send').disabled = on;
  $('pg-send').textContent = on ? 'Sending…' : 'Send';
  $('pg-stop').disabled = !on;
  $('pg-model').disabled = on;
}

async function pgSend() {
  const input = $('pg-input');
  const text = input.value.trim();
  const model = $('pg-model').value;
  if (!text || PG.ctrl) return;
  if (!model) { toast('error', 'No model to talk to', 'Add a model first (see Models).'); return; }
  input.value = '';
  pgBubble('user', text);
  PG.history.push({ role: 'user', content: text });
  const bubble = pgBubble('assistant', '');
  bubble.classList.add('streaming');
  const textEl = bubble.querySelector('.text');
  let thinkEl = null;
  const ctrl = new AbortController();
  PG.ctrl = ctrl;
  pgBusy(true);
  $('pg-stats').textContent = 'Waiting for the model (it is loaded on first use)…';
  const t0 = performance.now();
  let first = 0, chunks = 0, answer = '', timings = null, usage = null;
  const out = $('pg-out');
  const append = (s) => {
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 30;
    textEl.append(s);
    if (atEnd) out.scrollTop = out.scrollHeight;
  };
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST', signal: ctrl.signal,
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ model, messages: PG.history, stream: true }),
    });
    if (!res.ok) {
      const t = await res.text();
      let msg = t.trim().slice(0, 500) || res.statusText;
      try { const j = JSON.parse(t); msg = j.error?.message || j.message || msg; } catch { /* keep text */ }
      throw new Error(`${msg} (HTTP ${res.status})`);
    }
    const ctype = res.headers.get('content-type') || '';
    if (!ctype.includes('text/event-stream')) {
      // A server that ignored stream:true answers whole.
      const j = await res.json();
      if (j.error) throw new Error(j.error.message || 'error');
      answer = j.choices?.[0]?.message?.content || '';
      append(answer);
      usage = j.usage;
    } else {
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '', evName = '', data = [], done = false;
      const dispatch = () => {
        const payload = data.join('\n');
        const name = evName;
        evName = '';
        data = [];
        if (!payload) return;
        if (payload.trim() === '[DONE]') { done = true; return; }
        let j;
        try { j = JSON.parse(payload); } catch {
          if (name === 'error') throw new Error(payload);
          return;
        }
        if (name === 'error' || j.error) {
          const e = j.error;
          throw new Error((typeof e === 'string' ? e : e?.message) || j.message || 'the model reported an error');
        }
        if (j.timings) timings = j.timings;
        if (j.usage) usage = j.usage;
        const delta = j.choices?.[0]?.delta || {};
        const reasoning = delta.reasoning_content || delta.reasoning;
        if (reasoning) {
          if (!thinkEl) {
            thinkEl = h('details', { class: 'think' }, h('summary', { text: 'Thinking' }), h('div', { class: 'think-text' }));
            bubble.insertBefore(thinkEl, textEl);
          }
          thinkEl.lastElementChild.append(reasoning);
        }
        if (delta.content) {
          if (!first) first = performance.now();
          chunks++;
          answer += delta.content;
          append(delta.content);
          $('pg-stats').textContent = `${chunks} chunks…`;
        }
      };
      while (!done) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while (!done && (i = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') { dispatch(); continue; }
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') evName = val;
          else if (field === 'data') data.push(val);
        }
      }
      if (!done) { buf += dec.decode(); if (buf.trim()) { for (const l of buf.split(/\r?\n/)) if (l.startsWith('data:')) data.push(l.slice(5).trim()); } dispatch(); }
      if (done) reader.cancel().catch(() => {});
    }
    PG.history.push({ role: 'assistant', content: answer });
    const secs = (performance.now() - t0) / 1000;
    const n = timings?.predicted_n ?? usage?.completion_tokens ?? chunks;
    const tps = timings?.predicted_per_second ?? (first && chunks > 1 ? chunks / ((performance.now() - first) / 1000) : null);
    $('pg-stats').textContent = `${n} tokens in ${secs.toFixed(1)} s${tps ? ` · ${tps.toFixed(1)} tok/s` : ''}${first ? ` · first token after ${((first - t0) / 1000).toFixed(1)} s` : ''}`;
    if (!answer) textEl.append(h('span', { class: 'muted', text: '(empty answer)' }));
  } catch (e) {
    if (e.name === 'AbortError') {
      textEl.append(h('span', { class: 'muted', text: answer ? ' [stopped]' : '[stopped]' }));
      if (answer) PG.history.push({ role: 'assistant', content: answer });
      else PG.history.pop();
      $('pg-stats').textContent = 'Stopped.';
    } else {
      if (answer) PG.history.push({ role: 'assistant', content: answer });
      else { PG.history.pop(); bubble.remove(); }
      const eb = pgBubble('error', e.message || String(e));
      eb.setAttribute('data-testid', 'playground-error');
      $('pg-stats').textContent = '';
    }
  } finally {
    bubble.classList.remove('streaming');
    PG.ctrl = null;
    pgBusy(false);
    input.focus();
  }
}

// ---- clocks (local only; nothing here talks to the server) ----------------------------------
function tick() {
  tickUptime();
  for (const m of S.models) {
    if (effState(m) !== 'ready') continue;
    const tr = rowFor(m.id);
    if (tr) tickTtl(tr, m);
  }
}

// ---- wiring -------------------------------------------------------------------------------
function init() {
  for (const action of Object.keys(ACTIONS)) $(`btn-${action}`).addEventListener('click', () => serviceAction(action));
  $('btn-copy').addEventListener('click', copyApi);
  $('btn-unload-all').addEventListener('click', unloadAll);
  $('log-filter').addEventListener('change', applyLogFilter);
  $('log-view').addEventListener('scroll', onLogScroll, { passive: true });
  $('log-jump').addEventListener('click', () => { stick = true; const v = $('log-view'); v.scrollTop = v.scrollHeight; $('log-jump').hidden = true; });
  $('log-clear').addEventListener('click', () => { $('log-view').replaceChildren(); logQ.length = 0; stick = true; $('log-jump').hidden = true; });
  $('pg-form').addEventListener('submit', (e) => { e.preventDefault(); pgSend(); });
  $('pg-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); pgSend(); }
  });
  $('pg-stop').addEventListener('click', () => PG.ctrl?.abort());
  $('pg-clear').addEventListener('click', () => {
    PG.ctrl?.abort();
    PG.history = [];
    $('pg-out').replaceChildren();
    $('pg-stats').textContent = '';
  });
  updateReqEmpty();
  renderService();
  connect();
  setInterval(tick, 1000);
}

document.addEventListener('DOMContentLoaded', init);
