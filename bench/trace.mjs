// Trace replay (issue 12 item 7): the same seeded trace of requests — 4 models of different
// sizes, Zipf popularity, Poisson arrivals — replayed against ggswap serving fake upstreams
// that really allocate what they declare (fake-upstream --alloc MB), under four policies:
//   memory     ggswap's memory policy: a model starts beside the others while it fits
//   exclusive  llama-swap's groups: one model at a time
//   count-lru  the llama.cpp router's LRU of N models, N = budget / largest
//   80%        Ollama's rule: a model's figure counts as size / 0.8
// and for each: swaps (model starts), p50/p99 latency, peak memory of the children, OOM kills.
// Usage: node bench/trace.mjs [--secs 60] [--rate 4] [--out docs/BENCHMARKS.md|-]
// Needs build/ggswap and build/fake-upstream (make all).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const SECS = Number(arg('secs', 60));
const RATE = Number(arg('rate', 4));
const OUT = arg('out', '-');
const GG = path.join(ROOT, 'build/ggswap');
const FAKE = path.join(ROOT, 'build/fake-upstream');
const PORT = Number(arg('port', 28600));
const MiB = 1024 * 1024;

// The models: MiB each really allocated, a load time that grows with size, and popularity by
// rank (Zipf, s = 1): the small one is the most wanted.
const MODELS = [
  { id: 'm-050', mb: 50 }, { id: 'm-100', mb: 100 }, { id: 'm-150', mb: 150 }, { id: 'm-200', mb: 200 },
];
const ORDER = [2, 0, 3, 1]; // popularity rank -> model: the popular ones are not simply the small ones
const BUDGET_MB = 420;      // all four (500 MB) do not fit; any two do
const BASE_MB = 10;         // what fake-upstream itself holds besides --alloc
const SERVICE = { n_chunks: 10, chunk_ms: 15 }; // ~150 ms of "generation" per request

function rng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeTrace() {
  const r = rng(12);
  const w = ORDER.map((_, k) => 1 / (k + 1));
  const sum = w.reduce((a, b) => a + b, 0);
  const out = [];
  for (let t = 0; ; ) {
    t += -Math.log(1 - r()) / RATE * 1000; // Poisson arrivals: exponential gaps
    if (t > SECS * 1000) break;
    let u = r() * sum, k = 0;
    while (u > w[k] && k < w.length - 1) u -= w[k++];
    out.push({ at: t, model: MODELS[ORDER[k]].id });
  }
  return out;
}

function config(policy, port) {
  const lines = ['healthCheckTimeout: 60', 'logLevel: info', `startPort: ${port + 1}`];
  const largest = Math.max(...MODELS.map((m) => m.mb + BASE_MB));
  const n = Math.floor(BUDGET_MB / largest);
  if (policy !== 'exclusive') lines.push(`memory: {ram: ${BUDGET_MB}MiB, margin: 0}`);
  lines.push('models:');
  for (const m of MODELS) {
    const real = m.mb + BASE_MB;
    const figure = policy === 'memory' ? real : policy === 'count-lru' ? Math.floor(BUDGET_MB / n) : Math.ceil(real / 0.8);
    lines.push(`  ${m.id}:`);
    lines.push(`    cmd: ${FAKE} --port \${PORT} --model ${m.id} --alloc ${m.mb} --health-delay ${m.mb * 2}`);
    if (policy !== 'exclusive') lines.push(`    memory: ${figure}MiB`);
  }
  if (policy !== 'exclusive') {
    lines.push('groups:', '  all:', '    swap: false', '    exclusive: false', `    members: [${MODELS.map((m) => m.id).join(', ')}]`);
  }
  return lines.join('\n') + '\n';
}

function rssOfChildren(pid) {
  let sum = 0;
  let kids = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch { return 0; }
  for (const k of kids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${k}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return sum;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function one(policy, trace, port) {
  const dir = fs.mkdtempSync('/tmp/ggswap-trace-');
  const cfg = path.join(dir, 'config.yaml');
  fs.writeFileSync(cfg, config(policy, port));
  const gg = spawn(GG, ['serve', '--config', cfg, '--listen', `127.0.0.1:${port}`, '--home', dir],
    { env: { ...process.env, GGSWAP_HOME: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  gg.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/health`)).ok) break; } catch { /* not yet */ }
    await sleep(50);
  }
  let peak = 0, overBudget = 0, samples = 0;
  const sampler = setInterval(() => {
    const r = rssOfChildren(gg.pid);
    peak = Math.max(peak, r);
    samples++;
    if (r > BUDGET_MB * MiB) overBudget++;
  }, 50);
  const t0 = performance.now();
  const lat = [];
  let errors = 0;
  await Promise.all(trace.map(async (q) => {
    const wait = q.at - (performance.now() - t0);
    if (wait > 0) await sleep(wait);
    const s = performance.now();
    try {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: q.model, stream: true, messages: [{ role: 'user', content: 'x' }], ...SERVICE }),
      });
      await res.text();
      if (res.status !== 200) errors++;
    } catch { errors++; }
    lat.push(performance.now() - s);
  }));
  clearInterval(sampler);
  gg.kill('SIGTERM');
  await new Promise((r) => gg.on('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return {
    policy,
    requests: trace.length,
    errors,
    swaps: (log.match(/-> starting/g) || []).length,
    p50: q(0.5), p99: q(0.99),
    peakMB: peak / MiB,
    overBudget: samples ? overBudget / samples : 0,
    ooms: (log.match(/killed by signal 9/g) || []).length,
  };
}

const trace = makeTrace();
const results = [];
let port = PORT;
for (const p of ['memory', 'exclusive', 'count-lru', '80%']) {
  process.stderr.write(`trace: ${p} (${trace.length} requests over ${SECS} s)\n`);
  results.push(await one(p, trace, port));
  port += 10;
}
const fmt = (x, d = 0) => x.toFixed(d);
const table = [
  '| policy | requests | errors | swaps | p50 ms | p99 ms | peak MiB | time over budget | OOM kills |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.policy} | ${r.requests} | ${r.errors} | ${r.swaps} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.peakMB)} | ${fmt(r.overBudget * 100, 1)} % | ${r.ooms} |`),
].join('\n');
const mem = results[0];
const ratios = results.slice(1).map((r) => `${r.policy}: swaps ${fmt(r.swaps / Math.max(1, mem.swaps), 2)}x, p99 ${fmt(r.p99 / mem.p99, 2)}x, peak ${fmt(r.peakMB / mem.peakMB, 2)}x`).join('; ');
const text = `${table}\n\nOthers against the memory policy (higher = the memory policy does better on swaps and p99): ${ratios}.\n`;
process.stdout.write(text);
if (OUT !== '-') {
  const doc = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  const head = '## Memory policies: trace replay';
  const section = `${head}\n\n\`node bench/trace.mjs --secs ${SECS} --rate ${RATE}\` on ${new Date().toISOString().slice(0, 10)}: ` +
    `${MODELS.length} fake models of ${MODELS.map((m) => m.mb).join('/')} MiB really allocated (plus ~${BASE_MB} MiB each), ` +
    `load time 2 ms per MiB, Zipf (s = 1) popularity, Poisson arrivals at ${RATE}/s, ~150 ms per request, RAM budget ${BUDGET_MB} MiB.\n\n${text}`;
  const i = doc.indexOf(head);
  let out;
  if (i < 0) out = `${doc.trimEnd()}\n\n${section}`;
  else {
    const j = doc.indexOf('\n## ', i + head.length);
    out = doc.slice(0, i) + section + (j < 0 ? '' : doc.slice(j + 1));
  }
  fs.writeFileSync(OUT, out);
}
