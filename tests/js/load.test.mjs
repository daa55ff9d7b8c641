// Load with swaps (issue "Reliability and security", item 3): 200 concurrent clients over three
// fake models that share one exclusive swap group, so ggswap swaps constantly. Every answer must
// come from the model it asked for (the fake answers `fake:<NAME>:<n>` and echoes the body),
// none may be lost or duplicated (each request carries a unique id that comes back exactly
// once; per model, the fake's counters n form whole runs 1..k, one per process started), and
// nothing may deadlock (every client finishes after the clock stops).
//
// Duration: ~10 s of load by default, 60 s with GGSWAP_SOAK=1 (docs/RELIABILITY.md); the
// default keeps `make test` short on a 2-core machine where ggswap runs under ASan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, waitNoProcesses, getJson, fdCount,
} from './lib/harness.mjs';

registerCleanup();

const SOAK = process.env.GGSWAP_SOAK === '1';
const DURATION_MS = SOAK ? 60000 : 10000;
const CLIENTS = 200;
const MODELS = ['alpha', 'beta', 'gamma'];

// One POST over a keep-alive agent; resolves to {status, body} or {error}.
function post(agent, port, body, timeout) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent, timeout,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', (e) => resolve({ error: e }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeout} ms`)));
    req.on('error', (e) => resolve({ error: e }));
    req.end(data);
  });
}

test(`${CLIENTS} clients over ${MODELS.length} models in one swap group for ${DURATION_MS / 1000} s: right model, nothing lost or duplicated, no deadlock`, { timeout: DURATION_MS + 150000 }, async () => {
  const token = uniqueToken('load');
  const models = Object.fromEntries(MODELS.map((m) => [m, { concurrencyLimit: CLIENTS }]));
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models, groups: { all: { swap: true, exclusive: true, members: MODELS } } }),
    args: ['--log-level', 'info'],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const sent = new Map();      // rid -> model
  const answers = [];          // {rid, model, n, status}
  const problems = [];
  let rid = 0;
  const t0 = Date.now();
  const deadline = t0 + DURATION_MS;
  const client = async (c) => {
    let i = 0;
    while (Date.now() < deadline) {
      // Each client sticks to a model for a few requests, then moves on: the three models are
      // always wanted at once, so the group swaps all the time.
      const model = MODELS[(c + Math.floor(i++ / 3)) % MODELS.length];
      const id = `${token}-${++rid}`;
      sent.set(id, model);
      // Generous: a request may wait for several swaps, each waiting for in-flight requests.
      const r = await post(agent, gg.port, { model, rid: id, messages: [{ role: 'user', content: id }] }, 120000);
      if (r.error) { problems.push(`${id} (${model}): ${r.error.message}`); continue; }
      let j = null;
      try { j = JSON.parse(r.body); } catch { /* reported below */ }
      if (r.status !== 200 || !j) { problems.push(`${id} (${model}): ${r.status} ${r.body.slice(0, 200)}`); continue; }
      const m = /^fake:(\w+):(\d+)$/.exec(j.choices?.[0]?.message?.content || '');
      if (!m || m[1] !== model || j.echo?.rid !== id) {
        problems.push(`${id} asked ${model}, got ${j.choices?.[0]?.message?.content} for rid ${j.echo?.rid}`);
        continue;
      }
      answers.push({ rid: id, model, n: Number(m[2]) });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  const tookAll = Date.now() - t0;
  agent.destroy();

  const starts = Object.fromEntries(MODELS.map((m) => [m, gg.logs().split('\n').filter((l) => l.includes(`model ${m}: started pid`)).length]));
  console.log(`# ${sent.size} requests, ${answers.length} answers in ${tookAll} ms (load ${DURATION_MS} ms); starts ${JSON.stringify(starts)}; ggswap fds ${fdCount(gg.pid)}`);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} requests failed or were misrouted`);
  // None lost: every request sent has exactly one answer, and no answer came twice.
  assert.equal(answers.length, sent.size, 'one answer per request');
  assert.equal(new Set(answers.map((a) => a.rid)).size, answers.length, 'no request answered twice');
  // None duplicated upstream: each process counts from 1, so per model the n values are whole
  // runs 1..k_i, one per process; a request sent twice would leave a gap (a number no answer
  // carries), so count(n) never increases with n and count(1) is at most the starts.
  for (const m of MODELS) {
    const count = new Map();
    for (const a of answers) if (a.model === m) count.set(a.n, (count.get(a.n) || 0) + 1);
    const max = Math.max(0, ...count.keys());
    assert.ok((count.get(1) || 0) <= starts[m], `${m}: ${count.get(1)} runs of answers but ${starts[m]} starts`);
    for (let n = 1; n < max; n++) {
      assert.ok((count.get(n) || 0) >= (count.get(n + 1) || 0), `${m}: more answers numbered ${n + 1} than ${n}: a request reached a process twice or an answer was lost`);
    }
  }
  assert.ok(MODELS.every((m) => starts[m] >= 2), `the group swapped (starts ${JSON.stringify(starts)})`);
  // Nothing left in flight or queued.
  const svc = (await getJson(`${gg.url}/api/service`)).json;
  for (const m of svc.models) {
    assert.equal(m.inflight, 0, `${m.id} inflight`);
    assert.equal(m.queued, 0, `${m.id} queued`);
  }
  const st = await gg.stop('SIGTERM', 20000);
  assert.equal(st.killed, false);
  assert.equal(st.code, 0);
  assert.deepEqual(gg.sanitizerReports(), []);
  await waitNoProcesses(token, 10000);
});
