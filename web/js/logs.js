// Logs: the proxy's and every model's lines from the event stream, batched into the view (a
// chatty model must not freeze the page), at most LOG_MAX kept, filtered by source, following
// the end unless the reader scrolled up.
import { $, h } from './dom.js';
import { stripAnsi } from './fmt.js';
import { S, watch } from './state.js';
import { on, onState } from './events.js';

const LOG_MAX = 2000;
const logQ = [];
const knownSources = new Set();
let logTimer = null, stick = true;

export function addLog(source, line, cls) {
  source = String(source);
  logQ.push([source, stripAnsi(line), cls]);
  if (logQ.length > LOG_MAX) logQ.splice(0, logQ.length - LOG_MAX);
  if (!logTimer) logTimer = setTimeout(flushLogs, 40);
  if (source !== 'proxy' && !knownSources.has(source)) { knownSources.add(source); renderLogSources(); }
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
  jumpToEnd();
}

function jumpToEnd() {
  stick = true;
  const v = $('log-view');
  v.scrollTop = v.scrollHeight;
  $('log-jump').hidden = true;
}

function onLogScroll() {
  const v = $('log-view');
  stick = v.scrollTop + v.clientHeight >= v.scrollHeight - 24;
  if (stick) $('log-jump').hidden = true;
}

export function init() {
  $('log-filter').addEventListener('change', applyLogFilter);
  $('log-view').addEventListener('scroll', onLogScroll, { passive: true });
  $('log-jump').addEventListener('click', jumpToEnd);
  $('log-clear').addEventListener('click', () => { $('log-view').replaceChildren(); logQ.length = 0; jumpToEnd(); });
  on('log', (d) => addLog(d.source || 'proxy', d.line ?? ''));
  onState((st, info) => { if (info?.lost) addLog('proxy', '— connection to ggswap lost; reconnecting… —', 'meta'); });
  watch('service', renderLogSources);
}
