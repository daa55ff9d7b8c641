// The service card: state badge, Start/Stop/Restart/Regenerate, the facts (listen address, API
// URL, uptime, config, llama-server, model folders) and the problems to fix.
import { $, h, setText, patch } from './dom.js';
import { fmtUptime } from './fmt.js';
import { api } from './api.js';
import { toast } from './toast.js';
import { S, watch, emit, running, effState } from './state.js';

const ACTIONS = {
  start: ['Start', 'Starting…', 'Service started'],
  stop: ['Stop', 'Stopping…', 'Service stopped'],
  restart: ['Restart', 'Restarting…', 'Service restarted'],
  regenerate: ['Regenerate Config', 'Regenerating…', 'Config regenerated'],
};

function renderActions() {
  const known = !!S.svc && S.connected;
  for (const [action, [label, progress]] of Object.entries(ACTIONS)) {
    const b = $(`btn-${action}`);
    b.disabled = !known || !!S.busy ||
      (action === 'start' && S.svc.state !== 'stopped') || ((action === 'stop' || action === 'restart') && !running());
    const mine = S.busy === action;
    b.classList.toggle('busy', mine);
    b.setAttribute('aria-busy', mine ? 'true' : 'false');
    setText(b, mine ? progress : label);
  }
  $('btn-unload-all').disabled = !known || !running() ||
    !S.models.some((m) => effState(m) !== 'stopped' && effState(m) !== 'failed');
}

export async function serviceAction(action) {
  if (S.busy) return;
  const [label, , done] = ACTIONS[action];
  S.busy = action;
  emit('busy');
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
      emit('service');
    }
  } catch (e) {
    toast('error', `${label} failed`, e.message);
  } finally {
    S.busy = null;
    emit('busy');
  }
}

function renderService() {
  const s = S.svc;
  const st = s ? s.state : 'unknown';
  $('service-state').dataset.state = S.connected ? st : (s ? 'stale' : 'unknown');
  setText($('service-state-text'), !s ? (S.everConnected ? 'unknown' : 'connecting…')
    : st === 'running' ? 'Running' : st === 'stopped' ? 'Stopped' : st);
  if (!s) { renderActions(); return; }
  const ver = String(s.version || '');
  setText($('version'), /^v?\d/.test(ver) ? `v${ver.replace(/^v/, '')}` : '');
  setText($('f-listen'), s.listen || '—');
  setText($('f-api'), s.api_url || '—');
  $('btn-copy').disabled = !s.api_url;
  setText($('f-config'), s.config || '—');
  const mode = $('f-mode');
  mode.hidden = !s.mode;
  setText(mode, s.mode === 'integrated' ? 'generated' : s.mode === 'config' ? 'hand-written' : (s.mode || ''));
  mode.title = s.mode === 'integrated' ? 'Generated from the model folders; Regenerate Config rewrites it' : 'Served as given (--config)';
  const dirs = s.models_dirs || [];
  patch($('f-dirs'), JSON.stringify([dirs, s.mode]), () => (dirs.length ? dirs.map((d) => h('li', null, h('code', { text: d })))
    : [h('li', { class: 'muted', text: s.mode === 'config' ? 'none (hand-written config)' : '—' })]));
  const srv = $('f-server');
  setText(srv, s.llama_server || (s.mode === 'config' ? "each model's cmd" : 'not found'));
  srv.classList.toggle('bad', !s.llama_server && s.mode !== 'config');
  const probs = Array.isArray(s.problems) ? s.problems : [];
  $('problems').hidden = !probs.length;
  patch($('problems-list'), JSON.stringify(probs), () => probs.map((p) => h('li', { 'data-testid': 'problem', text: p })));
  tickUptime();
  renderActions();
}

function tickUptime() {
  const s = S.svc;
  setText($('f-uptime'), s && s.state === 'running' && s.uptime != null
    ? fmtUptime(s.uptime + (performance.now() - S.svcAt) / 1000) : '—');
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

export function init() {
  for (const action of Object.keys(ACTIONS)) $(`btn-${action}`).addEventListener('click', () => serviceAction(action));
  $('btn-copy').addEventListener('click', copyApi);
  watch('service', renderService);
  watch('conn', renderService);
  watch('busy', renderActions);
  watch('model', renderActions);
  watch('loading', renderActions);
  renderService();
  setInterval(tickUptime, 1000);
}
