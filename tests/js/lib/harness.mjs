// Black-box test harness: start ggswap (GGSWAP_BIN) or fake-upstream (FAKE_UPSTREAM) as real
// processes, write configs for them, read SSE streams with arrival times, and make sure no test
// leaves a process behind, whether it passes or fails.
//
//   import { startGgswap, fakeModelYaml, uniqueToken, registerCleanup } from './lib/harness.mjs';
//   registerCleanup();                       // once per test file: after() kills what is left
//   const token = uniqueToken();
//   const gg = await startGgswap({ config: fakeModelYaml({ token, models: { a: {}, b: { healthDelay: 300 } } }) });
//   ... fetch(`${gg.url}/v1/chat/completions`, ...) ...
//   await gg.stop();                         // SIGTERM, then SIGKILL after a timeout
//   assert.deepEqual(processesMatching(token), []);
//
// Every fake-upstream a config starts carries `--test-token <token>` on its command line (the
// fake ignores unknown arguments, like llama-server's own), so processesMatching(token) finds
// exactly the children of one test, even with tests running in parallel.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after } from 'node:test';

export { sleep };

const LOG_CAP = 8 * 1024 * 1024; // keep the tail of a process's output, never grow without bound

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name} (make js-test sets GGSWAP_BIN, FAKE_UPSTREAM and MKGGUF to build/asan/...)`);
  return v;
}

export function uniqueToken(prefix = 'gst') {
  return `${prefix}${process.pid}x${randomBytes(4).toString('hex')}`;
}

// ---- ports ----------------------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// `n` consecutive ports nothing listens on now, for a config's startPort (ggswap gives each
// model the next one). Random bases keep parallel test files apart. They stay below Linux's
// ephemeral range (32768 and up): a client socket of the test itself could otherwise hold a
// model's port when the model (re)starts, and the start would rightly fail.
export async function freePortRange(n) {
  for (let tries = 0; tries < 100; tries++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - n));
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no run of ${n} free ports found`);
}

// ---- cleanup registry -----------------------------------------------------------------------

const live = new Set();    // handles with a .kill9() whose process may still run
const tokens = new Set();  // command-line tokens of processes started by configs
const tmpDirs = new Set();
const cleanups = [];

export function onCleanup(fn) {
  cleanups.push(fn);
}

export function trackToken(token) {
  tokens.add(token);
  return token;
}

// Kill everything this file started and report what had to be killed. Safe to call twice.
export async function cleanupAll() {
  const leftovers = [];
  for (const fn of cleanups.splice(0).reverse()) {
    try { await fn(); } catch (e) { console.error('harness cleanup:', e); }
  }
  for (const h of [...live]) {
    if (h.running()) leftovers.push(`${h.label} (pid ${h.pid})`);
    await h.kill9();
  }
  for (const t of tokens) {
    for (const p of processesMatching(t)) {
      leftovers.push(`${p.cmdline} (pid ${p.pid})`);
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone already */ }
    }
  }
  tokens.clear();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
  if (leftovers.length) console.error(`harness: killed processes a test left behind:\n  ${leftovers.join('\n  ')}`);
  return leftovers;
}

let registered = false;
// Call once at the top of a test file: after all its tests, kill what is left.
export function registerCleanup() {
  if (registered) return;
  registered = true;
  after(cleanupAll);
}

// Last resort when the test runner itself dies: synchronous SIGKILL of what we started.
process.on('exit', () => {
  for (const h of live) if (h.running()) { try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const t of tokens) for (const p of processesMatching(t)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
});

export function tmpDir(prefix = 'ggswap-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

// ---- /proc ----------------------------------------------------------------------------------

function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: the fields after it start at the last ')'.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], ppid: Number(rest[1]), pgid: Number(rest[2]) };
  } catch {
    return null;
  }
}

function allPids() {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

export function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0').join(' ');
  } catch {
    return null;
  }
}

// Processes whose parent is `pid` (recursive: all descendants), as [{pid, state, cmdline}].
export function childPids(pid, { recursive = false } = {}) {
  const byParent = new Map();
  for (const p of allPids()) {
    const st = procStat(p);
    if (!st) continue;
    if (!byParent.has(st.ppid)) byParent.set(st.ppid, []);
    byParent.get(st.ppid).push({ pid: p, state: st.state });
  }
  const out = [];
  const walk = (pp) => {
    for (const c of byParent.get(pp) || []) {
      out.push({ ...c, cmdline: cmdlineOf(c.pid) });
      if (recursive) walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

// Live processes (zombies excluded: they have no command line) whose command line contains
// `pattern` (a string) or matches it (a RegExp), as [{pid, ppid, state, cmdline}].
export function processesMatching(pattern) {
  const out = [];
  for (const p of allPids()) {
    if (p === process.pid) continue;
    const cmd = cmdlineOf(p);
    if (!cmd) continue;
    const hit = typeof pattern === 'string' ? cmd.includes(pattern) : pattern.test(cmd);
    if (!hit) continue;
    const st = procStat(p);
    if (!st || st.state === 'Z') continue;
    out.push({ pid: p, ppid: st.ppid, state: st.state, cmdline: cmd });
  }
  return out;
}

export function pidAlive(pid) {
  const st = procStat(pid);
  return !!st && st.state !== 'Z';
}

// Poll `fn` until it returns something truthy (returned) or `timeout` ms pass (throws, saying
// `what` and the last value).
export async function waitFor(fn, { timeout = 10000, interval = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(interval);
  }
}

// Wait until no live process matches `pattern`; throws naming the ones that stay.
export async function waitNoProcesses(pattern, timeout = 5000) {
  try {
    await waitFor(() => processesMatching(pattern).length === 0, { timeout, what: `no process matching ${pattern}` });
  } catch {
    const left = processesMatching(pattern).map((p) => `${p.pid} ${p.state} ${p.cmdline}`);
    throw new Error(`processes matching ${pattern} still running after ${timeout} ms:\n  ${left.join('\n  ')}`);
  }
}

// ---- processes ------------------------------------------------------------------------------

function sanitizerReports(text) {
  return text.split('\n').filter((l) => /ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/.test(l));
}

// Spawn `bin args`, capture its output, and give back a handle the cleanup registry knows.
function spawnTracked(label, bin, args, { env: extraEnv = {}, cwd } = {}) {
  const proc = spawn(bin, args, { cwd, env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const apart = { stdout: '', stderr: '' }; // each stream alone too (logToStdout tests)
  const listeners = new Set();
  const onData = (which) => (d) => {
    const t = d.toString();
    out += t;
    apart[which] += t;
    if (out.length > LOG_CAP) out = out.slice(out.length - LOG_CAP / 2);
    if (apart[which].length > LOG_CAP) apart[which] = apart[which].slice(apart[which].length - LOG_CAP / 2);
    for (const l of listeners) l();
  };
  proc.stdout.on('data', onData('stdout'));
  proc.stderr.on('data', onData('stderr'));
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
    });
    // 'close' comes after the output pipes are drained, so logs() is complete by then.
    proc.on('close', () => {
      live.delete(h);
      for (const l of listeners) l();
      resolve(exitInfo);
    });
    proc.on('error', (e) => {
      exitInfo = { code: null, signal: null, error: e };
      live.delete(h);
      resolve(exitInfo);
    });
  });
  const h = {
    label,
    proc,
    pid: proc.pid,
    exited,
    logs: () => out,
    stdout: () => apart.stdout,
    stderr: () => apart.stderr,
    sanitizerReports: () => sanitizerReports(out),
    running: () => exitInfo === null,
    exitInfo: () => exitInfo,
    // Resolves when the output contains `pattern` (string or RegExp); rejects on exit or timeout.
    waitLog(pattern, timeout = 10000) {
      const has = () => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
      return new Promise((resolve, reject) => {
        const done = () => { listeners.delete(check); clearTimeout(timer); };
        const check = () => {
          if (has()) { done(); resolve(out); } else if (exitInfo && proc.stdout.closed && proc.stderr.closed) {
            done(); reject(new Error(`${label} exited (${JSON.stringify(exitInfo)}) before logging ${pattern}; output:\n${out}`));
          }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`${label}: no ${pattern} in its output after ${timeout} ms; output:\n${out}`)); }, timeout);
        listeners.add(check);
        check();
      });
    },
    // Send `signal`, wait up to `timeout` ms, then SIGKILL. Resolves to {code, signal, killed}
    // once the process is gone.
    async stop(signal = 'SIGTERM', timeout = 10000) {
      if (exitInfo) { await exited; return { ...exitInfo, killed: false }; }
      try { proc.kill(signal); } catch { /* gone */ }
      const t = await Promise.race([exited, sleep(timeout, null, { ref: false })]);
      if (t) return { ...t, killed: false };
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return { ...(await exited), killed: true };
    },
    async kill9() {
      if (exitInfo) return exited;
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return exited;
    },
  };
  live.add(h);
  return h;
}

// ---- fake-upstream --------------------------------------------------------------------------

// Quote one word for ggswap's cmd splitter (shell-like, never run by a shell).
export function shellQuote(s) {
  s = String(s);
  if (/^[\w@%+=:,./${}-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// fake-upstream's own flags from options: {healthDelay, ignoreSigterm, exitAfterMs, exitCode,
// failStart, blackhole (listens, never accepts), args: [more words]}.
function fakeFlags(o = {}) {
  const a = [];
  if (o.healthDelay != null) a.push('--health-delay', String(o.healthDelay));
  if (o.ignoreSigterm) a.push('--ignore-sigterm');
  if (o.exitAfterMs != null) a.push('--exit-after-ms', String(o.exitAfterMs));
  if (o.exitCode != null) a.push('--exit-code', String(o.exitCode));
  if (o.failStart != null) a.push('--fail-start', String(o.failStart));
  if (o.blackhole) a.push('--blackhole');
  return a.concat(o.args || []);
}

// A `cmd` line that starts fake-upstream as model `name` on ggswap's ${PORT}.
export function fakeCmd(name, o = {}) {
  const words = [env('FAKE_UPSTREAM'), '--port', '${PORT}', '--model', name];
  if (o.token) words.push('--test-token', o.token);
  return words.concat(fakeFlags(o)).map(shellQuote).join(' ');
}

// Start fake-upstream directly (no ggswap). Resolves once it listens.
export async function startFake({ name = 'fake', port, token, ...o } = {}) {
  port = port || (await freePort());
  const args = ['--port', String(port), '--model', name];
  if (token) args.push('--test-token', trackToken(token));
  const h = spawnTracked(`fake-upstream ${name}`, env('FAKE_UPSTREAM'), args.concat(fakeFlags(o)));
  if (o.failStart == null) await h.waitLog(`fake-upstream ${name} listening on`);
  return Object.assign(h, { name, port, url: `http://127.0.0.1:${port}` });
}

// ---- YAML -----------------------------------------------------------------------------------

// Block YAML for plain data. Strings are double-quoted JSON, which YAML reads the same way.
export function toYaml(v, indent = '') {
  const scalar = (x) => (x === null ? 'null' : typeof x === 'string' ? JSON.stringify(x) : String(x));
  const isObj = (x) => x && typeof x === 'object' && !Array.isArray(x);
  if (Array.isArray(v)) {
    if (v.every((x) => !isObj(x) && !Array.isArray(x))) return `[${v.map(scalar).join(', ')}]`;
    return v.map((x) => `\n${indent}- ${toYaml(x, indent + '  ').replace(/^\n\s*/, '')}`).join('');
  }
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (!keys.length) return '{}';
    return keys.map((k) => {
      const val = v[k];
      const nested = (isObj(val) && Object.keys(val).length) || (Array.isArray(val) && val.some((x) => isObj(x) || Array.isArray(x)));
      return `\n${indent}${JSON.stringify(k)}:${nested ? toYaml(val, indent + '  ') : ' ' + toYaml(val, indent + '  ')}`;
    }).join('');
  }
  return scalar(v);
}

const FAKE_KEYS = new Set(['healthDelay', 'ignoreSigterm', 'exitAfterMs', 'exitCode', 'failStart', 'blackhole', 'args']);

// A llama-swap config whose models are fake-upstreams:
//   fakeModelYaml({ token, models: { a: { healthDelay: 200, ttl: 5, aliases: ['x'] } },
//                   groups: {...}, startPort, top: { healthCheckTimeout: 10 } })
// Per model, fake-upstream options (healthDelay, ignoreSigterm, exitAfterMs, exitCode,
// failStart, args) go into `cmd`; every other key (ttl, aliases, useModelName, filters, cmd
// overrides...) is copied into the model as is. `startPort` defaults to a free random range.
// Returns the YAML text; `token` (tracked for cleanup) is put on every fake's command line.
export async function fakeModelYaml({ token, models = {}, groups, startPort, top = {} } = {}) {
  if (token) trackToken(token);
  // unloadTimeout 5: the stop grace the tests were written for (llama-swap's default is 10 s).
  const cfg = { healthCheckTimeout: 15, unloadTimeout: 5, logLevel: 'debug', ...top };
  cfg.startPort = startPort || (await freePortRange(Math.max(1, Object.keys(models).length)));
  cfg.models = {};
  for (const [name, o] of Object.entries(models)) {
    const m = {};
    const fo = { token };
    for (const [k, v] of Object.entries(o || {})) (FAKE_KEYS.has(k) ? fo : m)[k] = v;
    cfg.models[name] = { cmd: fakeCmd(name, fo), proxy: 'http://127.0.0.1:${PORT}', ...m };
  }
  if (groups) cfg.groups = groups;
  return `# written by tests/js/lib/harness.mjs${toYaml(cfg)}\n`;
}

// ---- ggswap ---------------------------------------------------------------------------------

// Start ggswap serve. `config` is YAML text, or the path of an existing file (also `configPath`);
// without either, ggswap runs in integrated mode (pass --models-dir etc. in `args`).
// GGSWAP_HOME is a fresh temporary folder unless env says otherwise. Resolves once GET /health
// answers; rejects with ggswap's output if it exits first. `argv(port, configPath)`, when given,
// is the whole command line instead of `serve --config F --listen 127.0.0.1:PORT ...args`.
export async function startGgswap({ config, configPath, args = [], argv: rawArgv, env: extraEnv = {}, port, timeout = 20000, token } = {}) {
  const dir = tmpDir('ggswap-');
  if (config != null && configPath == null) {
    if (!config.includes('\n') && fs.existsSync(config)) configPath = config;
    else fs.writeFileSync((configPath = path.join(dir, 'config.yaml')), config);
  }
  if (token) trackToken(token);
  port = port || (await freePort());
  let argv = ['serve'];
  if (configPath) argv.push('--config', configPath);
  argv.push('--listen', `127.0.0.1:${port}`, ...args);
  if (rawArgv) argv = rawArgv(port, configPath);
  const h = spawnTracked('ggswap', env('GGSWAP_BIN'), argv, { env: { GGSWAP_HOME: path.join(dir, 'home'), ...extraEnv } });
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + timeout;
  for (;;) {
    if (!h.running()) {
      await h.exited;
      throw new Error(`ggswap exited (${JSON.stringify(h.exitInfo())}) before listening; output:\n${h.logs()}`);
    }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status < 500) break;
    } catch { /* not listening yet */ }
    if (Date.now() > end) {
      await h.kill9();
      throw new Error(`ggswap did not answer GET /health within ${timeout} ms; output:\n${h.logs()}`);
    }
    await sleep(20);
  }
  return Object.assign(h, { url, port, configPath, dir });
}

// ---- HTTP helpers ---------------------------------------------------------------------------

// POST JSON; resolves to {status, headers, text, json} (json null when the body is not JSON).
export async function postJson(url, body, { headers = {}, signal } = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

export async function getJson(url, { headers = {}, signal } = {}) {
  const r = await fetch(url, { headers, signal });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// Read an SSE body to its end: a fetch Response, or any async iterable of bytes (a node
// IncomingMessage). Resolves to {events, done, error, text}: events are
// {event, data, json, t} with t the arrival time in ms since sseRead was called; done says a
// `data: [DONE]` came; error is set when the stream broke off (the events so far are kept).
// `onEvent(ev)` is called as each event arrives (return false to stop reading).
export async function sseRead(source, { onEvent } = {}) {
  const t0 = performance.now();
  const events = [];
  let buf = '';
  let text = '';
  let done = false;
  let error = null;
  let stop = false;
  const dec = new TextDecoder();
  const flush = () => {
    for (;;) {
      const m = /\r?\n\r?\n/.exec(buf);
      if (!m) return;
      const block = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      const ev = { event: 'message', data: '', json: null, t: performance.now() - t0 };
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'event') ev.event = value;
        else if (field === 'id') ev.id = value;
      }
      if (!data.length && ev.event === 'message') continue;
      ev.data = data.join('\n');
      if (ev.data === '[DONE]') done = true;
      else try { ev.json = JSON.parse(ev.data); } catch { /* not JSON */ }
      events.push(ev);
      if (onEvent && onEvent(ev) === false) { stop = true; return; }
    }
  };
  const iterable = source && source.body && typeof source.body.getReader === 'function' ? source.body : source;
  try {
    for await (const chunk of iterable) {
      const s = typeof chunk === 'string' ? chunk : dec.decode(chunk, { stream: true });
      text += s;
      buf += s;
      flush();
      if (stop) break;
    }
  } catch (e) {
    error = e;
  }
  if (stop && iterable.cancel) { try { await iterable.cancel(); } catch { /* already closed */ } }
  return { events, done, error, text };
}

// Delta texts of OpenAI chat/completion chunks (or llama.cpp's native `content`).
export function sseContents(events) {
  return events
    .map((e) => e.json && (e.json.choices?.[0]?.delta?.content ?? e.json.choices?.[0]?.text ?? e.json.content))
    .filter((c) => typeof c === 'string' && c.length > 0);
}

// ---- resource use (tests/js/{chaos,load,shutdown}.test.mjs) -----------------------------------

// Open file descriptors of `pid` (entries in /proc/<pid>/fd), or -1 when it is gone.
export function fdCount(pid) {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; }
}

// Resident memory of `pid` in KiB (VmRSS in /proc/<pid>/status), or -1 when it is gone.
export function rssKb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch { return -1; }
}

// Environment for a ggswap whose memory use a test measures: ASan keeps freed memory in a
// quarantine (256 MiB by default) that looks like growth in VmRSS; a small one keeps RSS honest
// while use-after-free is still caught for recent frees. Leak checking stays on.
export function lowQuarantineEnv() {
  const prev = process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : '';
  return { ASAN_OPTIONS: `${prev}quarantine_size_mb=8:thread_local_quarantine_size_kb=64` };
}
