// Recent requests: newest first, at most REQ_MAX rows, one per request id. A request event for
// an id already shown patches that row in place (the replay after a reconnection, or a later
// figure for the same request), so nothing is listed twice.
import { $, h, setText, setAttr, KeyedTable } from './dom.js';
import { fmtMs } from './fmt.js';
import { S, emit, effState, modelByName } from './state.js';
import { on, onState } from './events.js';

const REQ_MAX = 200;

const COLUMNS = [
  { key: 'time', label: 'Time' },
  { key: 'model', label: 'Model', class: 'ellip' },
  { key: 'path', label: 'Endpoint', class: 'ellip' },
  { key: 'status', label: 'Status' },
  { key: 'duration', label: 'Duration', class: 'num' },
  { key: 'queue', label: 'Queue', class: 'num t-queue' },
  { key: 'load', label: 'Load', class: 'num t-load' },
  { key: 'ttft', label: 'TTFT', class: 'num t-ttft' },
  { key: 'tps', label: 'Tok/s', class: 'num tps' },
];

let table, anon = 0;

function updateEmpty() {
  const n = table.size;
  $('req-empty').hidden = n > 0;
  setText($('req-count'), n ? `last ${n}` : '');
}

function fill(tr, r, t) {
  const c = tr.td;
  setAttr(c.time, 'title', t.toLocaleString());
  setText(c.time, t.toLocaleTimeString([], { hour12: false }));
  setAttr(c.model, 'title', r.model || '');
  if (!c.model.firstChild) c.model.append(h('code'));
  setText(c.model.firstChild, r.model || '—');
  setAttr(c.path, 'title', `${r.method || ''} ${r.path || ''}`.trim());
  setText(c.path, r.path || '');
  const ok = r.status >= 200 && r.status < 400;
  if (!c.status.firstChild) c.status.append(h('span'));
  c.status.firstChild.className = `status ${ok ? 'ok' : 'bad'}`;
  setText(c.status.firstChild, String(r.status ?? '—'));
  setText(c.duration, fmtMs(r.duration_ms));
  // Where the time went (absent from daemons that do not report it): waiting in line, waiting
  // for the model to start (0 when it was ready), and arrival to the first streamed token.
  timing(c.queue, r.queue_ms, 'request-queue', 'Waiting in line');
  timing(c.load, r.load_ms, 'request-load', 'Waiting for the model to start');
  timing(c.ttft, r.ttft_ms, 'request-ttft', 'Time to the first streamed token');
  c.tps.classList.toggle('has', r.tps != null);
  setText(c.tps, r.tps != null ? Number(r.tps).toFixed(1) : '—');
  setAttr(c.tps, 'title', r.tokens != null ? `${r.tokens} tokens` : null);
}

function timing(td, ms, testid, what) {
  if (!td.dataset.testid) td.dataset.testid = testid;
  const has = ms != null && isFinite(ms);
  setText(td, has ? fmtMs(ms) : '—');
  td.classList.toggle('muted', !has || ms < 1);
  setAttr(td, 'title', has ? `${what}: ${Number(ms).toFixed(1)} ms` : null);
}

function addRequest(r) {
  const key = r.id != null ? String(r.id) : `local-${++anon}`;
  const t = r.time ? new Date(r.time) : new Date();
  const { tr, fresh } = table.ensure(key);
  fill(tr, r, t);
  if (!fresh) return;
  // Newest first; replayed history arrives oldest first, so insert by time.
  const body = table.body;
  let before = body.firstElementChild;
  while (before && before._time > t.getTime()) before = before.nextElementSibling;
  tr._time = t.getTime();
  body.insertBefore(tr, before);
  while (table.size > REQ_MAX) table.remove(body.lastElementChild.dataset.id);
  updateEmpty();
  // The model was just used: its idle clock restarts (the daemon's model event may follow).
  const m = modelByName(r.model);
  if (m && effState(m) === 'ready' && m.ttl && !m.inflight) {
    S.deadlines.set(m.id, performance.now() + m.ttl * 1000);
    emit('model', m);
  }
}

export function init() {
  table = new KeyedTable($('req-body'), { columns: COLUMNS, attr: 'id', testid: 'request-row' });
  on('request', addRequest);
  // A new connection replays the daemon's recent requests: start from an empty table.
  onState((st, info) => { if (st === 'live' && info?.fresh) { table.clear(); updateEmpty(); } });
  updateEmpty();
}
