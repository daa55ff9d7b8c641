// The live event stream: GET /api/events read with fetch and readSSE (never polled). The daemon
// sends `service` (the whole state) first, then the recent `request`s, then live `model`,
// `log` and `request` events. Panels subscribe by event name with on(); the connection's
// state goes to onState() listeners: 'connecting' (never connected yet), 'live', 'reconnecting'.
// After a drop, or an HTTP error, it reconnects by itself, backing off up to 5 s.
import { readSSE } from './sse.js';

const handlers = new Map();
const stateFns = [];
let state = 'connecting';

export function on(name, fn) {
  if (!handlers.has(name)) handlers.set(name, []);
  handlers.get(name).push(fn);
}

export function onState(fn) { stateFns.push(fn); }

export const connState = () => state;

function setState(st, info) {
  state = st;
  for (const fn of stateFns) fn(st, info);
}

function dispatch(ev) {
  const fns = handlers.get(ev.event);
  if (!fns) return;
  let d;
  try { d = JSON.parse(ev.data); } catch { return; }
  if (!d || typeof d !== 'object') return;
  for (const fn of fns) {
    try { fn(d); } catch (e) { console.error(`ggswap page: the ${ev.event} handler failed:`, e); }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function start(url = '/api/events') {
  const meta = {};
  let retries = 0, ever = false;
  for (;;) {
    let opened = false;
    try {
      const res = await fetch(url, { headers: { Accept: 'text/event-stream' }, cache: 'no-store' });
      const ctype = res.headers.get('content-type') || '';
      if (!res.ok || !ctype.includes('text/event-stream')) {
        res.body?.cancel().catch(() => {});
        throw new Error(`HTTP ${res.status}`);
      }
      opened = ever = true;
      retries = 0;
      setState('live', { fresh: true });
      for await (const ev of readSSE(res.body, meta)) dispatch(ev);
    } catch { /* a refused connection, a drop, an HTTP error: all mean "try again" */ }
    setState(ever ? 'reconnecting' : 'connecting', { lost: opened });
    retries++;
    await sleep(Math.min(meta.retry ?? 5000, 5000, 250 * 2 ** Math.min(retries, 5)));
  }
}
