// The memory panel: a bar per device from GET /api/memory (its budget, what the models use,
// each running model's share), each model's estimate beside what it was measured to use, and
// the daemon's recent memory decisions ("stopped X to make room for Y: needs …, … free").
// Fetched again (at most every 500 ms) when the service or a model changes.
import { $, h, patch, setText } from './dom.js';
import { fmtMem } from './fmt.js';
import { watch } from './state.js';

let timer = null;

function schedule() {
  if (!timer) timer = setTimeout(() => { timer = null; load(); }, 500);
}

async function load() {
  let m;
  try {
    const r = await fetch('/api/memory', { headers: { Accept: 'application/json' } });
    if (!r.ok) { $('mem-card').hidden = true; return; }
    m = await r.json();
  } catch { return; /* the connection badge tells */ }
  render(m);
}

function share(x, dev) {
  const by = x.byDevice || {};
  return (by.measured?.[dev] || 0) || (by.estimate?.[dev] || 0);
}

function render(m) {
  const card = $('mem-card');
  const devs = Array.isArray(m?.devices) ? m.devices : [];
  const models = Array.isArray(m?.models) ? m.models : [];
  card.hidden = devs.length === 0;
  if (card.hidden) return;
  setText($('mem-mode'), m.enabled ? 'memory-aware scheduling on' : 'memory-aware scheduling off (figures only)');
  patch($('mem-devices'), JSON.stringify([devs, models.map((x) => [x.model, x.state, x.byDevice])]), () => devs.map((d) => {
    const budget = d.budget || d.total || 0;
    const bar = h('div', { class: 'mem-bar', role: 'img', 'aria-label': `${d.name}: ${fmtMem(d.used)} used of ${fmtMem(budget)}` });
    for (const x of models) {
      if (x.state === 'stopped' || x.state === 'failed') continue;
      const b = share(x, d.name);
      if (!b || !budget) continue;
      const seg = h('span', { class: 'mem-seg', title: `${x.model}: ${fmtMem(b)}`, 'data-testid': 'mem-seg', 'data-model': x.model });
      seg.style.width = `${Math.min(100, (b * 100) / budget).toFixed(2)}%`; // CSSOM: allowed by the CSP
      bar.append(seg);
    }
    return h('div', { class: 'mem-dev', 'data-testid': 'mem-device', 'data-device': d.name },
      h('div', { class: 'mem-dev-head' }, h('strong', { text: d.name }), d.desc ? h('span', { class: 'muted small', text: ` ${d.desc}` }) : null,
        h('span', { class: 'muted small mem-figs', 'data-testid': 'mem-figures', text: `${fmtMem(d.used)} used · ${fmtMem(d.free)} free · budget ${fmtMem(budget)}` })),
      bar);
  }));
  patch($('mem-models'), JSON.stringify(models.map((x) => [x.model, x.estimate, x.measured, x.source])), () => models.map((x) =>
    h('li', { 'data-testid': 'mem-model', 'data-model': x.model }, h('code', { text: x.model }), ' ',
      h('span', { class: 'muted small', text: `estimate ${x.estimate ? fmtMem(x.estimate) : "—"} · measured ${x.measured != null ? fmtMem(x.measured) : '—'}${x.source ? ` · plans with the ${x.source === 'config' ? 'configured' : x.source} figure` : ''}` }))));
  const ev = Array.isArray(m.events) ? m.events.slice(-8).reverse() : [];
  $('mem-events-h').hidden = ev.length === 0;
  patch($('mem-events'), JSON.stringify(ev), () => ev.map((e) => h('li', { 'data-testid': 'mem-event' },
    h('span', { class: 'muted small', text: `${String(e.time || '').replace('T', ' ').replace('Z', '')} ` }), e.message || '')));
}

export function init() {
  if (!$('mem-card')) return;
  watch('service', schedule);
  watch('model', schedule);
}
