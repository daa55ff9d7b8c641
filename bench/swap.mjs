// Issue 13's benchmark, one run, ratios within it: a 110 MB model and a ~1,500-token
// conversation swapped away and back through ggswap (release build) with real llama-servers:
//   1. resumed prompt time with the slot cache / without it / cold;
//   2. swap request-to-first-byte through ggswap against doing the same swap by hand;
//   3. load time with a cold page cache, with and without prefetch: the model file alone is
//      dropped from the page cache (posix_fadvise DONTNEED through GNU dd, checked with
//      util-linux fincore; no root needed), else every cache (/proc/sys/vm/drop_caches, root);
//      says so when neither works. It also says how long the prefetch read took against how
//      long the swap waited before the start, i.e. whether it began early enough.
// Usage: node bench/swap.mjs [--rounds N] [--only 1,2,3]   (GGSWAP_LLAMA_SERVER, else .deps/llama-server)
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LS = process.env.GGSWAP_LLAMA_SERVER || path.join(ROOT, '.deps/llama-server/bin/llama-server');
const GG = path.join(ROOT, 'build/ggswap');
const MK = path.join(ROOT, 'build/ggswap-mkgguf');
const ROUNDS = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',').map(Number) : [1, 2, 3];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ggswap-bench-swap-'));
const fileA = path.join(dir, 'a.gguf');
const fileB = path.join(dir, 'b.gguf');
execFileSync(MK, ['tiny', fileA, '--seed', '1', '--embd', '512', '--layers', '8', '--ff', '1536']);
execFileSync(MK, ['tiny', fileB, '--seed', '2']);
const sizeMB = (fs.statSync(fileA).size / 1e6).toFixed(0);

const words = 'the quick brown fox jumps over a lazy dog while seven cats sing ';
// Each round's conversation differs from its first token, so no round finds another's prefix.
const history = (i) => [{ role: 'system', content: `Round ${i}. You are a patient assistant.` }, { role: 'user', content: words.repeat(23) }];
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function post(url, body) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json(), headers: r.headers };
}

function startGg(slotCache, port, env = {}, logLevel = 'warn') {
  const home = fs.mkdtempSync(path.join(dir, 'home-'));
  const cfg = path.join(home, 'config.yaml');
  const cmd = (f) => `${LS} -m ${f} --port \${PORT} -np 1 -c 4096 --jinja`;
  fs.writeFileSync(cfg, `slotCache: ${slotCache}\nhealthCheckTimeout: 60\nstartPort: ${port + 1}\nlogLevel: ${logLevel}\nmodels:\n  a: {cmd: "${cmd(fileA)}"}\n  b: {cmd: "${cmd(fileB)}"}\n`);
  const p = spawn(GG, ['serve', '--config', cfg, '--listen', `127.0.0.1:${port}`], { env: { ...process.env, GGSWAP_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Only the prefetch lines are kept: at debug the models' own output is long.
  let log = '', part = '';
  const keep = (d) => {
    const all = (part + d.toString()).split('\n');
    part = all.pop();
    for (const l of all) if (l.includes('prefetch of ')) log += l + '\n';
  };
  p.stdout.on('data', keep);
  p.stderr.on('data', keep);
  return { p, url: `http://127.0.0.1:${port}`, log: () => log };
}

async function up(url) {
  for (let i = 0; i < 500; i++) {
    try { if ((await fetch(`${url}/health`)).status < 500) return; } catch { /* not yet */ }
    await sleep(20);
  }
  throw new Error(`${url} never answered`);
}

async function stopGg(g) {
  g.p.kill('SIGTERM');
  await new Promise((r) => g.p.once('exit', r));
}

// 1. resumed prompt time
async function resumed(slotCache, port) {
  const g = startGg(slotCache, port);
  await up(g.url);
  const ask = (m) => post(`${g.url}/v1/chat/completions`, { model: 'a', messages: m, max_tokens: 8, temperature: 0 });
  const out = { cold: [], resumed: [], tokens: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    const h = history(i + (slotCache ? 0 : 100));
    await post(`${g.url}/v1/chat/completions`, { model: 'b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    const c = await ask(h); // a starts again: a fresh conversation is cold
    out.cold.push(c.json.timings.prompt_ms);
    out.tokens = c.json.usage.prompt_tokens;
    await post(`${g.url}/v1/chat/completions`, { model: 'b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    const back = await ask([...h, { role: 'assistant', content: c.json.choices[0].message.content }, { role: 'user', content: 'and then?' }]);
    out.resumed.push(back.json.timings.prompt_ms);
  }
  await stopGg(g);
  return out;
}

// 2. swap request-to-first-byte: ggswap (a running, request for b) vs by hand (stop a, start b,
// poll /health, send the request).
async function firstByte(url, body) {
  const t0 = performance.now();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  // The first token, not the first byte: ggswap sends a waiting stream's head and progress
  // comments at once, which a client's first-byte timer sees but its user does not.
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  let t = NaN;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    if (Number.isNaN(t) && /"content":"[^"]/.test(text)) t = performance.now() - t0;
  }
  return t;
}

async function swapTtfb(port) {
  const g = startGg(false, port);
  await up(g.url);
  const via = [];
  const body = (m) => ({ model: m, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true });
  await firstByte(`${g.url}/v1/chat/completions`, body('a'));
  for (let i = 0; i < ROUNDS; i++) {
    via.push(await firstByte(`${g.url}/v1/chat/completions`, body('b')));
    await firstByte(`${g.url}/v1/chat/completions`, body('a'));
  }
  await stopGg(g);
  const hand = [];
  const run = (f, p) => spawn(LS, ['-m', f, '--port', String(p), '-np', '1', '-c', '4096', '--jinja'], { stdio: 'ignore' });
  let a = run(fileA, port + 10);
  await up(`http://127.0.0.1:${port + 10}`);
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    a.kill('SIGTERM');
    await new Promise((r) => a.once('exit', r));
    const b = run(fileB, port + 11);
    await up(`http://127.0.0.1:${port + 11}`);
    const t1 = performance.now();
    const t = await firstByte(`http://127.0.0.1:${port + 11}/v1/chat/completions`, body('b'));
    hand.push(t1 - t0 + t); // the whole manual sequence to the first token
    b.kill('SIGTERM');
    await new Promise((r) => b.once('exit', r));
    a = run(fileA, port + 10);
    await up(`http://127.0.0.1:${port + 10}`);
  }
  a.kill('SIGTERM');
  return { via, hand };
}

// 3. cold page cache load, with and without prefetch: b busy with a long stream while a is
// requested (the swap waits for it; prefetch reads a's file meanwhile).
function residency(file) {
  try {
    const [res, size] = execFileSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', file])
      .toString().trim().split(/\s+/).map(Number);
    return size > 0 ? res / size : null;
  } catch { return null; }
}

// The model file alone out of the page cache (what prefetch is about; the binary and its
// libraries stay warm, as they are on a machine that swaps all day), else every cache.
let dropHow = null;
function dropCaches(file) {
  try {
    execFileSync('sync', [file]);
    execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    const r = residency(file);
    if (r !== null && r < 0.05) { dropHow = 'the model file dropped with posix_fadvise DONTNEED (fincore: 0 % resident)'; return true; }
  } catch { /* try the big hammer */ }
  try {
    execFileSync('sh', ['-c', 'sync; echo 1 > /proc/sys/vm/drop_caches']);
    dropHow = 'every page cache dropped (/proc/sys/vm/drop_caches)';
    return true;
  } catch { return false; }
}

async function coldLoad(prefetch, port) {
  const g = startGg(false, port, prefetch ? {} : { GGSWAP_NO_PREFETCH: '1' }, 'debug');
  await up(g.url);
  const loads = [], waits = [], reads = [];
  for (let i = 0; i < ROUNDS; i++) {
    await post(`${g.url}/v1/chat/completions`, { model: 'b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    if (!dropCaches(fileA)) return null;
    const busy = post(`${g.url}/v1/chat/completions`, { model: 'b', messages: [{ role: 'user', content: 'count' }], max_tokens: 600 });
    await sleep(50);
    const r = await post(`${g.url}/v1/chat/completions`, { model: 'a', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    await busy;
    const st = r.headers.get('server-timing') || '';
    if (r.status !== 200) throw new Error(`a answered ${r.status}: ${JSON.stringify(r.json)}`);
    const m = /load;dur=([\d.]+)/.exec(st);
    const q = /queue;dur=([\d.]+)/.exec(st);
    loads.push(m ? Number(m[1]) : NaN);
    waits.push(q ? Number(q[1]) : NaN); // the wait before a's start: b's request draining
  }
  const esc = fileA.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const mm of g.log().matchAll(new RegExp(`prefetch of ${esc}: (\\d+) of (\\d+) bytes in (\\d+) ms`, 'g')))
    reads.push({ done: Number(mm[1]), size: Number(mm[2]), ms: Number(mm[3]) });
  await stopGg(g);
  return { loads, waits, reads };
}

const base = 24000 + Math.floor(Math.random() * 4000);
const withCache = ONLY.includes(1) ? await resumed(true, base) : null;
const without = ONLY.includes(1) ? await resumed(false, base + 20) : null;
const ttfb = ONLY.includes(2) ? await swapTtfb(base + 40) : null;
const pre = ONLY.includes(3) ? await coldLoad(true, base + 60) : null;
const nopre = pre ? await coldLoad(false, base + 80) : null;
fs.rmSync(dir, { recursive: true, force: true });

const f = (v) => v.toFixed(1);
const readLine = (p) => {
  if (!p.reads.length) return 'no prefetch read was logged';
  const whole = p.reads.filter((x) => x.done === x.size).length;
  return `prefetch read ${(p.reads[0].size / 1e6).toFixed(0)} MB in ${f(median(p.reads.map((x) => x.ms)))} ms ` +
    `(${whole} of ${p.reads.length} reads whole) while the swap waited ${f(median(p.waits))} ms for the old model's request before the start`;
};
const lines = [
  `model ${sizeMB} MB (embd 512, 8 layers), ${ROUNDS} rounds, medians:`,
  withCache ? `1. resumed prompt (${withCache.tokens} tokens): slot cache ${f(median(withCache.resumed))} ms, without ${f(median(without.resumed))} ms, cold ${f(median(withCache.cold))} ms -> ${(median(withCache.resumed) / median(withCache.cold)).toFixed(2)}x cold (without: ${(median(without.resumed) / median(without.cold)).toFixed(2)}x)` : '1. (not run)',
  ttfb ? `2. swap request-to-first-token: ggswap ${f(median(ttfb.via))} ms, by hand ${f(median(ttfb.hand))} ms -> ${(median(ttfb.via) / median(ttfb.hand)).toFixed(2)}x` : '2. (not run)',
  !ONLY.includes(3) ? '3. (not run)'
    : pre ? `3. load with a cold page cache (${dropHow}) while the old model drains: prefetch ${f(median(pre.loads))} ms, none ${f(median(nopre.loads))} ms -> ${(median(pre.loads) / median(nopre.loads)).toFixed(2)}x; ${readLine(pre)}; loads with prefetch ${pre.loads.map(f).join(', ')}, without ${nopre.loads.map(f).join(', ')}`
      : '3. cold page cache: cannot drop the page cache here (neither posix_fadvise nor drop_caches); not measured',
];
console.log(lines.join('\n'));
