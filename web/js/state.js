// The page's state, as the daemon last described it, and a tiny publish/subscribe so panels
// stay independent: a panel watches topics and re-renders its own part.
//
// Topics: 'service' (S.svc and S.models replaced), 'model' (one model changed; the model),
// 'conn' (connected or not), 'busy' (a service action started or ended), 'loading' (a model's
// Load/Unload request started or ended; its id).

export const CHAT_KINDS = new Set(['chat', 'vision']);

export const S = {
  svc: null,            // last /api/service object (models kept separately)
  models: [],           // model objects, in service order
  svcAt: 0,             // performance.now() when svc.uptime was received
  deadlines: new Map(), // model id -> performance.now() deadline of its TTL unload
  busy: null,           // service action in progress
  loading: new Map(),   // model id -> 'load' | 'unload' while that request is in flight
  connected: false,
  everConnected: false,
};

const subs = new Map();

export function watch(topic, fn) {
  if (!subs.has(topic)) subs.set(topic, []);
  subs.get(topic).push(fn);
}

export function emit(topic, arg) {
  for (const fn of subs.get(topic) || []) fn(arg);
}

export const running = () => S.svc?.state === 'running';

// When the service is stopped every model is unloaded, whatever an old event said.
export function effState(m) {
  if (S.svc && S.svc.state !== 'running') return m.state === 'stopping' ? 'stopping' : 'stopped';
  // An unload answers only once the model's processes are gone (as llama-swap's): until then
  // the model is on its way out, even before the server's own 'stopping' event arrives.
  if (S.loading.get(m.id) === 'unload' && (m.state === 'ready' || m.state === 'starting')) return 'stopping';
  return m.state || 'stopped';
}

export const findModel = (id) => S.models.find((x) => x.id === id);

// A model by its id or one of its aliases.
export const modelByName = (name) => S.models.find((x) => x.id === name || x.aliases?.includes(name));

export function setDeadline(m) {
  if (m.ttl_left != null && effState(m) === 'ready') S.deadlines.set(m.id, performance.now() + m.ttl_left * 1000);
  else S.deadlines.delete(m.id);
}

export function setService(s) {
  S.svc = { ...s };
  delete S.svc.models;
  S.svcAt = performance.now();
  if (Array.isArray(s.models)) S.models = s.models;
  S.deadlines.clear();
  for (const m of S.models) setDeadline(m);
  emit('service');
}

// One model's new state; a model not seen before re-renders like a new service.
export function applyModel(m) {
  const i = S.models.findIndex((x) => x.id === m.id);
  if (i >= 0) S.models[i] = m; else S.models.push(m);
  setDeadline(m);
  if (i < 0) emit('service'); else emit('model', m);
}

export function setConnected(on) {
  S.connected = on;
  if (on) S.everConnected = true;
  emit('conn');
}
