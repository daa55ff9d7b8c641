// mock-ggswap: a small stand-in for the ggswap daemon, for developing and testing the page.
//
// It serves web/ under /ui/ and implements the endpoints the page uses, with the shapes of
// docs/API.md: GET /api/service, POST /api/service/{start,stop,restart,regenerate},
// POST /api/models/load/<id>, POST /api/models/unload[/<id>], GET /api/events (SSE),
// GET /api/requests, GET /v1/models, POST /v1/chat/completions (streaming or not).
// Models start, swap (one per group when the group is exclusive), fail and unload like the
// real daemon would, only faster. States that are hard to produce with real llama-server are
// one call away, for page tests:
//
//   import { startMock } from './lib/mock-ggswap.mjs';
//   const mock = await startMock({ scenario: 'empty' });   // mock.url = 'http://127.0.0.1:PORT'
//   mock.failNext('/api/service/stop', 500, 'cannot stop: busy');
//   mock.emit('log', { source: 'proxy', line: 'hello' });
//   mock.dropClients(); mock.refuseEvents(2000);            // test the page's reconnecting state
//   await mock.close();
//
// Or run it: node tests/js/lib/mock-ggswap.mjs [--port 8091] [--scenario NAME] [--demo] [--speed N]
// Scenarios: default, stopped, empty (no models found), no-server (no llama-server found).
// The same controls exist over HTTP under /mock/ (see `mockRoutes` below).
// Chat prompts containing "/error" fail mid-stream with an `error` SSE event; "/slow" streams slowly.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB_DIR = path.resolve(HERE, '../../../web');
const HOME = '/home/user/.clara';
const MODELS_DIR = `${HOME}/llama-models`;
const BUNDLED_DIR = '/opt/ggswap/models';
const LLAMA_SERVER = '/usr/local/bin/llama-server';

const MIME = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.json': 'application/json',
};

// The catalogue the mock "finds" in its model folders.
function catalogue() {
  const m = (id, o) => ({
    id, name: o.name || id, description: o.description || '', aliases: o.aliases || [],
    state: 'stopped', group: o.group || 'default_group', ttl: o.ttl ?? 300, ttl_left: null,
    inflight: 0, unlisted: false, port: o.port, kind: o.kind, parameters: o.parameters,
    quantization: o.quantization, file: `${o.dir || MODELS_DIR}/${o.file}`, size: o.size,
    context: o.context || 8192, _fail: o.fail || null,
  });
  return [
    m('llama3.2:1b-instruct', { name: 'Llama 3.2 1B Instruct', aliases: ['gpt-3.5-turbo'], port: 5800,
      kind: 'chat', parameters: '1B', quantization: 'Q4_K_M', file: 'llama-3.2-1b-instruct-q4_k_m.gguf',
      size: 807694464, context: 131072 }),
    m('qwen2.5:7b-instruct', { name: 'Qwen2.5 7B Instruct', aliases: ['gpt-4', 'text-davinci-003'], port: 5801,
      kind: 'chat', parameters: '7.6B', quantization: 'Q4_K_M', file: 'Qwen2.5-7B-Instruct-Q4_K_M.gguf',
      size: 4683073952, context: 32768 }),
    m('gemma3:4b-it', { name: 'Gemma 3 4B IT', port: 5802, kind: 'vision', parameters: '4B',
      quantization: 'Q4_K_M', file: 'gemma-3-4b-it-Q4_K_M.gguf', size: 2489894016, context: 131072 }),
    m('bartowski/mistral:7b-instruct', { name: 'Mistral 7B Instruct v0.3', port: 5803, kind: 'chat',
      parameters: '7B', quantization: 'Q5_K_M', file: 'bartowski/Mistral-7B-Instruct-v0.3-Q5_K_M.gguf',
      size: 5136175712, context: 32768, dir: BUNDLED_DIR }),
    m('tinyllama1.1:b-chat', { name: 'TinyLlama 1.1B Chat', port: 5804, kind: 'chat', parameters: '1.1B',
      quantization: 'Q4_K_S', file: 'tinyllama-1.1b-chat-v1.0.Q4_K_S.gguf', size: 643729120, context: 2048,
      fail: 'llama_model_load: error loading model: tensor \'blk.21.ffn_down.weight\' data is not within the file bounds, model is corrupted or incomplete\nllama_load_model_from_file: failed to load model\nmain: error: unable to load model' }),
    m('nomic-embed-text:v1.5', { name: 'Nomic Embed Text v1.5', aliases: ['text-embedding-ada-002'],
      group: 'embedding_group', port: 5805, kind: 'embedding', parameters: '137M', quantization: 'F16',
      file: 'nomic-embed-text-v1.5.f16.gguf', size: 274290560, context: 2048 }),
    m('bge-reranker:v2-m3', { name: 'BGE Reranker v2 M3', group: 'embedding_group', port: 5806,
      kind: 'reranker', parameters: '568M', quantization: 'Q8_0', file: 'bge-reranker-v2-m3-Q8_0.gguf',
      size: 635823648, context: 8192, ttl: 0 }),
  ];
}

const GROUPS = { default_group: { exclusive: true }, embedding_group: { exclusive: false } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startMock(opts = {}) {
  const speed = opts.speed ?? 1; // >1 is slower; 0.1 is ten times faster
  const t = (ms) => Math.round(ms * speed);
  const st = {
    state: 'running', startedAt: Date.now(), models: [], problems: [], llamaServer: LLAMA_SERVER,
    dirs: [MODELS_DIR, BUNDLED_DIR], requests: [], nextReq: 1, failures: [], refuseUntil: 0,
    regenerated: 0,
  };
  const clients = new Set();
  const timers = new Set();
  const later = (ms, fn) => { const h = setTimeout(() => { timers.delete(h); fn(); }, ms); timers.add(h); return h; };

  function setScenario(name = 'default') {
    st.models = catalogue();
    st.problems = [];
    st.llamaServer = LLAMA_SERVER;
    st.state = 'running';
    st.startedAt = Date.now() - 3 * 3600e3 - 754e3;
    if (name === 'default') {
      setReady(find('llama3.2:1b-instruct'), 190);
      setReady(find('nomic-embed-text:v1.5'), 41);
    } else if (name === 'stopped') {
      st.state = 'stopped';
    } else if (name === 'empty') {
      st.models = [];
      st.problems = [`No models found: scanned ${st.dirs.join(', ')} (recursively, for *.gguf). ` +
        `Put .gguf files there or set modelsDirs in ${HOME}/ggswap/settings.yaml, then press Regenerate Config.`];
    } else if (name === 'no-server') {
      st.llamaServer = null;
      st.problems = ['No llama-server found: looked in --llama-server, $GGSWAP_LLAMA_SERVER, ' +
        `/opt/ggswap/bin (beside ggswap) and $PATH. Install llama.cpp or set llamaServer in ${HOME}/ggswap/settings.yaml.`];
    } else {
      throw new Error(`unknown scenario ${name}`);
    }
    broadcast('service', service());
  }

  const find = (name) => st.models.find((m) => m.id === name) ||
    st.models.find((m) => m.aliases.includes(name));
  function setReady(m, usedAgo = 0) {
    m.state = 'ready';
    m.error = undefined;
    m._lastUsed = Date.now() - usedAgo * 1000;
    armTtl(m);
  }
  function armTtl(m) {
    if (m._ttlTimer) { clearTimeout(m._ttlTimer); timers.delete(m._ttlTimer); }
    m._ttlTimer = null;
    if (m.state !== 'ready' || !m.ttl || m.inflight) return;
    const left = m.ttl * 1000 - (Date.now() - m._lastUsed);
    m._ttlTimer = later(Math.max(0, left), () => {
      log('proxy', `[INFO] <${m.id}> idle for ${m.ttl}s (ttl), unloading`);
      stopModel(m);
    });
  }
  function modelJson(m) {
    const o = {};
    for (const [k, v] of Object.entries(m)) if (!k.startsWith('_') && v !== undefined) o[k] = v;
    o.ttl_left = m.state === 'ready' && m.ttl && !m.inflight
      ? Math.max(0, Math.round((m.ttl - (Date.now() - m._lastUsed) / 1000) * 10) / 10) : null;
    return o;
  }
  function service() {
    return {
      state: st.state, listen: `127.0.0.1:${port}`, api_url: `http://127.0.0.1:${port}/v1`,
      config: `${HOME}/ggswap/config.yaml`, mode: 'integrated', models_dirs: st.dirs,
      llama_server: st.llamaServer, problems: st.problems,
      uptime: st.state === 'running' ? (Date.now() - st.startedAt) / 1000 : 0,
      version: '0.1.0', models: st.models.map(modelJson),
    };
  }

  // ---- events --------------------------------------------------------------------------
  function send(res, name, data) { res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`); }
  function broadcast(name, data) { for (const c of clients) send(c, name, data); }
  const modelChanged = (m) => broadcast('model', modelJson(m));
  const log = (source, line) => broadcast('log', { source, line });
  function setState(m, s) {
    if (m.state === s) return;
    m.state = s;
    modelChanged(m);
  }

  // ---- model lifecycle -----------------------------------------------------------------
  async function startModel(m) {
    if (m.state === 'ready') return;
    if (m._starting) return m._starting;
    m._starting = (async () => {
      if (GROUPS[m.group]?.exclusive) {
        await Promise.all(st.models.filter((o) => o !== m && o.group === m.group && o.state !== 'stopped' &&
          o.state !== 'failed').map(stopModel));
      }
      m.error = undefined;
      setState(m, 'starting');
      const cmd = `${st.llamaServer || 'llama-server'} -m "${m.file}" --port ${m.port} --ctx-size 8192${m.kind === 'embedding' ? ' --embeddings --pooling mean' : m.kind === 'reranker' ? ' --reranking' : ' --jinja'}`;
      log('proxy', `[INFO] <${m.id}> starting: ${cmd}`);
      if (!st.llamaServer) {
        await sleep(t(150));
        m.error = 'cannot run llama-server: not found (set llamaServer in settings.yaml)';
        setState(m, 'failed');
        log('proxy', `[ERROR] <${m.id}> failed to start: ${m.error}`);
        throw Object.assign(new Error(`model ${m.id} failed to start: ${m.error}`), { status: 502 });
      }
      const boot = [
        'build: 4589 (a4417ddd) with cc (Debian 12.2.0-14) 12.2.0 for x86_64-linux-gnu',
        'system info: n_threads = 8, n_threads_batch = 8, total_threads = 16',
        'main: loading model',
        `llama_model_loader: loaded meta data with 30 key-value pairs and 255 tensors from ${m.file} (version GGUF V3 (latest))`,
        `print_info: file type   = ${m.quantization}`,
        `print_info: model params = ${m.parameters}`,
      ];
      for (const line of boot) { log(m.id, line); await sleep(t(90)); }
      if (m._fail) {
        for (const line of m._fail.split('\n')) log(m.id, line);
        m.error = m._fail;
        setState(m, 'failed');
        log('proxy', `[ERROR] <${m.id}> upstream exited with code 1 before it was ready`);
        throw Object.assign(new Error(`model ${m.id} failed to start: ${m._fail.split('\n')[0]}`), { status: 502 });
      }
      log(m.id, `load_tensors: CPU_Mapped model buffer size = ${Math.round(m.size / 1048576)} MiB`);
      await sleep(t(300));
      log(m.id, `main: server is listening on http://127.0.0.1:${m.port} - starting the main loop`);
      log(m.id, 'srv  update_slots: all slots are idle');
      m._lastUsed = Date.now();
      setReady(m);
      modelChanged(m);
      log('proxy', `[INFO] <${m.id}> ready in ${(t(900) / 1000).toFixed(1)}s`);
    })();
    try { await m._starting; } finally { m._starting = null; }
  }
  async function stopModel(m) {
    if (m.state === 'stopped') return;
    if (m.state === 'failed') { m.state = 'stopped'; modelChanged(m); return; }
    if (m._starting) await m._starting.catch(() => {});
    while (m.inflight) await sleep(20); // a swap waits for requests in flight
    setState(m, 'stopping');
    log('proxy', `[INFO] <${m.id}> stopping (SIGTERM to pid ${40000 + m.port})`);
    await sleep(t(250));
    log(m.id, 'srv    operator(): operator(): cleaning up before exit...');
    setState(m, 'stopped');
    armTtl(m);
  }

  // ---- service control -----------------------------------------------------------------
  async function svcStop() {
    if (st.state === 'stopped') return { ok: true, state: 'stopped', message: 'The service is already stopped.' };
    log('proxy', '[INFO] stopping the service: unloading every model');
    await Promise.all(st.models.map(stopModel));
    for (const m of st.models) if (m.state !== 'stopped') { m.state = 'stopped'; m.error = undefined; }
    await sleep(t(200));
    st.state = 'stopped';
    log('proxy', '[INFO] service stopped; inference answers 503 until started');
    broadcast('service', service());
    return { ok: true, state: 'stopped', message: 'Service stopped; every model was unloaded.' };
  }
  async function svcStart() {
    if (st.state === 'running') return { ok: true, state: 'running', message: 'The service is already running.' };
    await sleep(t(400));
    st.state = 'running';
    st.startedAt = Date.now();
    log('proxy', `[INFO] service started with ${st.models.length} models from ${HOME}/ggswap/config.yaml`);
    broadcast('service', service());
    return { ok: true, state: 'running', message: `Service started with ${st.models.length} models.` };
  }
  async function svcRegenerate() {
    await sleep(t(500));
    const added = [];
    if (!st.models.some((m) => m.id === 'smollm2:360m-instruct') && st.models.length) {
      st.models.push({ ...catalogue()[0], id: 'smollm2:360m-instruct', name: 'SmolLM2 360M Instruct',
        aliases: [], parameters: '360M', quantization: 'Q8_0', port: 5807, size: 386404992,
        file: `${MODELS_DIR}/SmolLM2-360M-Instruct-Q8_0.gguf` });
      added.push('smollm2:360m-instruct');
    }
    log('proxy', `[INFO] config regenerated: ${HOME}/ggswap/config.yaml (${added.length} added, 0 removed, 0 changed)`);
    broadcast('service', service());
    return { ok: true, state: st.state, added, removed: [], changed: [],
      message: `Config regenerated: ${st.models.length} models (${added.length} added, 0 removed, 0 changed).` };
  }

  // ---- HTTP ----------------------------------------------------------------------------
  function json(res, status, body) {
    const s = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
    res.end(s);
  }
  const oaiError = (res, status, message, type = 'invalid_request_error') =>
    json(res, status, { error: { message, type, code: status } });
  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }
  function takeFailure(p) {
    const i = st.failures.findIndex((f) => p === f.path || p.startsWith(f.path + '/'));
    return i < 0 ? null : st.failures.splice(i, 1)[0];
  }
  function recordRequest(r) {
    const e = { id: st.nextReq++, time: Date.now(), ...r };
    st.requests.push(e);
    if (st.requests.length > 200) st.requests.shift();
    broadcast('request', e);
  }

  function serveStatic(res, rel) {
    if (rel === '' || rel === '/') rel = 'index.html';
    if (rel.includes('/') || rel.startsWith('.')) return oaiError(res, 404, 'not found');
    const file = path.join(WEB_DIR, rel);
    fs.readFile(file, (err, data) => {
      if (err) return oaiError(res, 404, `no such file: /ui/${rel}`);
      res.writeHead(200, { 'Content-Type': MIME[path.extname(rel)] || 'application/octet-stream',
        'Cache-Control': 'no-cache' });
      res.end(data);
    });
  }

  function events(req, res) {
    if (Date.now() < st.refuseUntil) { req.socket.destroy(); return; }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no', Connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    send(res, 'service', service());
    for (const r of st.requests) send(res, 'request', r);
    clients.add(res);
    const ping = setInterval(() => res.write(': ping\n\n'), 15000);
    req.on('close', () => { clearInterval(ping); clients.delete(res); });
  }

  const ANSWERS = [
    'Sure. ggswap starts the model you ask for, waits until its health check answers, and then streams the reply back chunk by chunk, so you see each token as soon as llama-server produces it.',
    'Models in the same exclusive group swap: asking for another one stops the current one first. Embedding models live in their own group, so one can stay loaded beside a chat model.',
    'After a model has been idle for its ttl, ggswap unloads it and frees the memory. The countdown in the models table shows how long is left.',
  ];

  async function chat(req, res) {
    const started = Date.now();
    let body;
    try { body = JSON.parse(await readBody(req)); } catch { return oaiError(res, 400, 'request body is not JSON'); }
    if (!body || typeof body.model !== 'string') return oaiError(res, 400, 'missing "model" in the request body');
    if (st.state !== 'running') return oaiError(res, 503, 'ggswap is stopped; start it from the page or with `ggswap ctl start`', 'unavailable');
    const m = find(body.model);
    if (!m) return oaiError(res, 404, `model "${body.model}" not found; known: ${st.models.map((x) => x.id).join(', ')}`, 'not_found');
    try { await startModel(m); } catch (e) {
      recordRequest({ model: m.id, method: 'POST', path: '/v1/chat/completions', status: 502,
        duration_ms: Date.now() - started, tokens: null, tps: null });
      return oaiError(res, 502, e.message, 'upstream_error');
    }
    if (m.kind === 'embedding' || m.kind === 'reranker') {
      return oaiError(res, 400, `model "${m.id}" is an ${m.kind} model; it does not chat`);
    }
    const last = [...(body.messages || [])].reverse().find((x) => x.role === 'user');
    const prompt = typeof last?.content === 'string' ? last.content : '';
    const turn = (body.messages || []).filter((x) => x.role === 'user').length;
    const text = `${turn === 1 ? `Hello! This is ${m.id} answering through ggswap. ` : ''}${ANSWERS[(turn - 1) % ANSWERS.length]}`;
    const pieces = text.match(/\S+\s*/g);
    const delay = prompt.includes('/slow') ? t(250) : t(35);
    const failAt = prompt.includes('/error') ? 6 : -1;
    const id = `chatcmpl-${Math.random().toString(36).slice(2, 10)}`;
    const created = Math.floor(Date.now() / 1000);
    m.inflight++;
    armTtl(m);
    let aborted = false;
    res.on('close', () => { if (!res.writableFinished) aborted = true; });
    const finish = (status) => {
      m.inflight--;
      m._lastUsed = Date.now();
      armTtl(m);
      modelChanged(m);
      const dur = Date.now() - started;
      const n = status === 200 ? pieces.length : null;
      recordRequest({ model: m.id, method: 'POST', path: '/v1/chat/completions', status, duration_ms: dur,
        tokens: n, tps: n ? Math.round((n / (dur / 1000)) * 10) / 10 : null });
    };
    if (!body.stream) {
      await sleep(delay * pieces.length);
      json(res, 200, { id, object: 'chat.completion', created, model: m.id,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 12, completion_tokens: pieces.length, total_tokens: 12 + pieces.length } });
      return finish(200);
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const chunk = (delta, finish_reason = null, extra = {}) => res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: m.id, choices: [{ index: 0, delta, finish_reason }], ...extra })}\n\n`);
    chunk({ role: 'assistant', content: '' });
    const t0 = Date.now();
    for (let i = 0; i < pieces.length; i++) {
      if (aborted) { log(m.id, 'srv  cancel_tasks: cancel task, id_task = 37'); return finish(499); }
      if (i === failAt) {
        res.write(`event: error\ndata: ${JSON.stringify({ error: { message: `upstream ${m.id} closed the connection mid-stream (llama-server exited)`, type: 'upstream_error', code: 502 } })}\n\n`);
        res.end();
        return finish(502);
      }
      await sleep(delay);
      chunk({ content: pieces[i] });
    }
    const secs = (Date.now() - t0) / 1000;
    chunk({}, 'stop', { usage: { prompt_tokens: 12, completion_tokens: pieces.length, total_tokens: 12 + pieces.length },
      timings: { predicted_n: pieces.length, predicted_ms: secs * 1000, predicted_per_second: pieces.length / secs } });
    res.write('data: [DONE]\n\n');
    res.end();
    finish(200);
  }

  // Test controls. POST /mock/scenario/<name>, /mock/fail-next {path,status,message},
  // /mock/emit {event,data}, /mock/drop, /mock/refuse {ms}.
  async function mockRoutes(req, res, p) {
    const body = req.method === 'POST' ? await readBody(req) : '';
    const o = body ? JSON.parse(body) : {};
    if (p.startsWith('/mock/scenario/')) setScenario(p.slice(15));
    else if (p === '/mock/fail-next') api.failNext(o.path, o.status, o.message);
    else if (p === '/mock/emit') broadcast(o.event, o.data);
    else if (p === '/mock/drop') api.dropClients();
    else if (p === '/mock/refuse') api.refuseEvents(o.ms ?? 3000);
    else return oaiError(res, 404, 'unknown mock control');
    json(res, 200, { ok: true });
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    if (req.method === 'GET' && (p === '/' || p === '/ui')) { res.writeHead(302, { Location: '/ui/' }); return res.end(); }
    if (req.method === 'GET' && p.startsWith('/ui/')) return serveStatic(res, decodeURIComponent(p.slice(4)));
    if (p.startsWith('/mock/')) return mockRoutes(req, res, p);
    const f = takeFailure(p);
    if (f) { await sleep(t(300)); return oaiError(res, f.status || 500, f.message || 'injected failure', 'server_error'); }
    if (req.method === 'GET' && p === '/api/service') return json(res, 200, service());
    if (req.method === 'GET' && p === '/api/events') return events(req, res);
    if (req.method === 'GET' && p === '/api/requests') return json(res, 200, { requests: st.requests });
    if (req.method === 'GET' && p === '/health') { res.writeHead(200); return res.end('OK'); }
    if (req.method === 'GET' && p === '/v1/models') {
      return json(res, 200, { object: 'list', data: st.models.flatMap((m) => [m.id, ...m.aliases].map((id) => ({
        id, object: 'model', created: 1764144000, owned_by: 'ggswap', meta: { ggswap: modelJson(m) } }))) });
    }
    if (req.method === 'POST' && p.startsWith('/api/service/')) {
      const action = p.slice(13);
      const fn = { start: svcStart, stop: svcStop, regenerate: svcRegenerate,
        restart: async () => { await svcStop(); const r = await svcStart(); return { ...r, message: 'Service restarted.' }; } }[action];
      if (!fn) return oaiError(res, 404, `unknown service action "${action}"`);
      return json(res, 200, await fn());
    }
    if (req.method === 'POST' && p.startsWith('/api/models/load/')) {
      const id = decodeURIComponent(p.slice(17));
      if (st.state !== 'running') return oaiError(res, 503, 'ggswap is stopped; start the service first', 'unavailable');
      const m = find(id);
      if (!m) return oaiError(res, 404, `model "${id}" not found; known: ${st.models.map((x) => x.id).join(', ')}`, 'not_found');
      try { await startModel(m); } catch (e) { return oaiError(res, e.status || 500, e.message, 'upstream_error'); }
      return json(res, 200, { ok: true, model: m.id, state: m.state });
    }
    if (req.method === 'POST' && (p === '/api/models/unload' || p.startsWith('/api/models/unload/'))) {
      const id = p.length > 19 ? decodeURIComponent(p.slice(19)) : null;
      if (id) {
        const m = find(id);
        if (!m) return oaiError(res, 404, `model "${id}" not found`, 'not_found');
        await stopModel(m);
      } else await Promise.all(st.models.map(stopModel));
      return json(res, 200, { ok: true });
    }
    if (req.method === 'POST' && p === '/v1/chat/completions') return chat(req, res);
    return oaiError(res, 404, `no route for ${req.method} ${p}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => { if (!res.headersSent) oaiError(res, 500, String(e?.message || e)); else res.end(); });
  });
  await new Promise((r) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', r));
  const port = server.address().port;
  setScenario(opts.scenario || 'default');

  let demo = null;
  if (opts.demo) {
    // Some traffic, so a screenshot or a look at the page has something to show.
    const seed = [['llama3.2:1b-instruct', 200, 812, 42, 51.7], ['nomic-embed-text:v1.5', 200, 38, null, null],
      ['qwen2.5:7b-instruct', 502, 4210, null, null], ['llama3.2:1b-instruct', 200, 1430, 96, 67.1],
      ['nomic-embed-text:v1.5', 200, 41, null, null], ['llama3.2:1b-instruct', 200, 655, 31, 47.3]];
    seed.forEach(([model, status, duration_ms, tokens, tps], i) => {
      st.requests.push({ id: st.nextReq++, time: Date.now() - (seed.length - i) * 47000, model, method: 'POST',
        path: model.startsWith('nomic') ? '/v1/embeddings' : '/v1/chat/completions', status, duration_ms, tokens, tps });
    });
    demo = setInterval(() => {
      if (st.state !== 'running') return;
      const m = find('nomic-embed-text:v1.5');
      if (m.state !== 'ready') return;
      m._lastUsed = Date.now(); armTtl(m); modelChanged(m);
      log(m.id, 'srv  log_server_r: request: POST /v1/embeddings 127.0.0.1 200');
      recordRequest({ model: m.id, method: 'POST', path: '/v1/embeddings', status: 200,
        duration_ms: 30 + Math.round(Math.random() * 30), tokens: null, tps: null });
    }, 7000);
  }

  const api = {
    url: `http://127.0.0.1:${port}`, port, server, state: st,
    service, setScenario, emit: broadcast,
    failNext(p, status = 500, message = 'injected failure') { st.failures.push({ path: p, status, message }); },
    dropClients() { for (const c of clients) c.destroy(); clients.clear(); },
    refuseEvents(ms) { st.refuseUntil = Date.now() + ms; api.dropClients(); },
    async close() {
      if (demo) clearInterval(demo);
      for (const h of timers) clearTimeout(h);
      for (const m of st.models) if (m._ttlTimer) clearTimeout(m._ttlTimer);
      api.dropClients();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
  return api;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const arg = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
  const mock = await startMock({ port: Number(arg('--port', 8091)), scenario: arg('--scenario', 'default'),
    demo: args.includes('--demo'), speed: Number(arg('--speed', 1)) });
  console.log(`mock ggswap on ${mock.url}/ui/`);
  const bye = () => mock.close().then(() => process.exit(0));
  process.on('SIGINT', bye);
  process.on('SIGTERM', bye);
}
