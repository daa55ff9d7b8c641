// The swapping proxy, swaps: group rules (swap, exclusive, persistent, the implicit (default)
// group), one shared start for concurrent requests, in-flight requests never cut by a swap,
// FIFO batching without thrashing, and the TTL counted from the end of the last request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching,
  waitNoProcesses, waitFor, postJson, getJson, sseRead, sseContents, sleep,
} from './lib/harness.mjs';
import { running, starts, finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const embed = (gg, model) => postJson(`${gg.url}/v1/embeddings`, { model, input: 'hello' });
const servedBy = (r) => r.json?.choices?.[0]?.message?.content?.split(':')[1];
const fakePids = (token, name) => processesMatching(token).filter((p) => p.cmdline.includes(`--model ${name} `)).map((p) => p.pid);

test('two groups: chat (swap, exclusive) and embedding (swap, non-exclusive, persistent); ungrouped in (default)', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {}, b: {}, e: {}, e2: {}, u: {} },
      groups: {
        chat: { swap: true, exclusive: true, members: ['a', 'b'] },
        embedding: { swap: true, exclusive: false, persistent: true, members: ['e', 'e2'] },
      },
    }),
  });
  const svc = (await getJson(`${gg.url}/api/service`)).json;
  const groups = Object.fromEntries(svc.models.map((m) => [m.id, m.group]));
  assert.deepEqual(groups, { a: 'chat', b: 'chat', e: 'embedding', e2: 'embedding', u: '(default)' });

  let r = await chat(gg, 'a');
  assert.equal(servedBy(r), 'a', r.text);
  assert.deepEqual(await running(gg), { a: 'ready' });

  r = await embed(gg, 'e');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await running(gg), { a: 'ready', e: 'ready' }, 'a non-exclusive group evicts nobody outside it');

  r = await chat(gg, 'b');
  assert.equal(servedBy(r), 'b', r.text);
  assert.deepEqual(await running(gg), { b: 'ready', e: 'ready' }, 'swap within chat; e is persistent');
  assert.equal(fakePids(token, 'a').length, 0, 'the process of a is gone');

  // Loading e (stopped first) does not evict b.
  const ePid = fakePids(token, 'e')[0];
  const un = await postJson(`${gg.url}/api/models/unload/e`, '');
  assert.equal(un.status, 200, un.text);
  await waitFor(async () => !(await running(gg)).e, { what: 'e unloaded' });
  await waitFor(() => !processesMatching(token).some((p) => p.pid === ePid), { what: 'e process gone' });
  r = await embed(gg, 'e');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await running(gg), { b: 'ready', e: 'ready' });

  // Swap within the embedding group; chat untouched.
  r = await embed(gg, 'e2');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await running(gg), { b: 'ready', e2: 'ready' });

  // The (default) group is exclusive: u evicts b but not the persistent e2.
  r = await chat(gg, 'u');
  assert.equal(servedBy(r), 'u', r.text);
  assert.deepEqual(await running(gg), { u: 'ready', e2: 'ready' });

  // chat is exclusive: a evicts u (not persistent), keeps e2.
  r = await chat(gg, 'a');
  assert.equal(servedBy(r), 'a');
  assert.deepEqual(await running(gg), { a: 'ready', e2: 'ready' });
  assert.equal(processesMatching(token).length, 2, JSON.stringify(processesMatching(token)));

  for (const [m, n] of Object.entries({ a: 2, b: 1, e: 2, e2: 1, u: 1 })) assert.equal(starts(gg, m), n, `starts of ${m}`);
  await finish(gg, token);
});

test('concurrent requests for a starting model share one start; the health delay is honoured', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { slow: { healthDelay: 1200 } } }) });
  const t0 = Date.now();
  const all = Promise.all(Array.from({ length: 6 }, (_, i) => chat(gg, 'slow', { i })));
  // While it loads: starting in /running and in the model list, one process.
  await waitFor(async () => (await running(gg)).slow === 'starting', { what: 'slow starting' });
  assert.equal(processesMatching(token).length, 1);
  const later = chat(gg, 'slow', { i: 6 }); // joins the same start
  const rs = [...(await all), await later];
  const elapsed = Date.now() - t0;
  for (const r of rs) assert.equal(r.status, 200, r.text);
  assert.ok(elapsed >= 1100, `answers came after the health delay (${elapsed} ms)`);
  const ns = rs.map((r) => Number(r.json.choices[0].message.content.split(':')[2])).sort((x, y) => x - y);
  assert.deepEqual(ns, [1, 2, 3, 4, 5, 6, 7], 'one process answered all seven');
  assert.equal(starts(gg, 'slow'), 1, 'one start');
  assert.equal(processesMatching(token).length, 1);
  // The fake refused nothing while loading: ggswap waited for /health before sending.
  const logs = (await getJson(`${gg.url}/logs`)).text;
  assert.doesNotMatch(logs, /Loading model/);
  await finish(gg, token);
});

test('an in-flight stream is never cut by a swap: it completes, then the other model is served', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {}, b: {} } }) });
  const t0 = performance.now();
  const ra = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'a', messages: [], stream: true, n_chunks: 10, chunk_ms: 120 }),
  });
  assert.equal(ra.status, 200);
  let bDone = null;
  let bPromise = null;
  const s = await sseRead(ra, {
    onEvent: (ev) => {
      if (!bPromise && sseContents([ev]).length) {
        // First chunk of a is here: now ask for b (same swap group).
        bPromise = chat(gg, 'b').then((r) => { bDone = performance.now() - t0; return r; });
      }
    },
  });
  const aDone = performance.now() - t0;
  assert.equal(s.error, null);
  assert.equal(s.done, true, 'the a stream ended with [DONE]');
  assert.deepEqual(sseContents(s.events), Array.from({ length: 10 }, (_, i) => `c${i} `));
  assert.ok(!s.text.includes('"error"'), 'no error event in the a stream');
  const rb = await bPromise;
  assert.equal(servedBy(rb), 'b', rb.text);
  assert.ok(bDone >= aDone - 5, `b answered (${bDone.toFixed(0)} ms) only after a's stream ended (${aDone.toFixed(0)} ms)`);
  // The order in ggswap's log: a was stopped only once its stream was over.
  const log = gg.logs();
  assert.match(log, /model a: ready -> stopping: making way for b/);
  assert.deepEqual(await running(gg), { b: 'ready' });
  await finish(gg, token);
});

test('FIFO batching: A B A B queued while A starts are served A A B B (one start each)', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: { healthDelay: 700 }, b: { healthDelay: 300 } } }) });
  const order = [];
  const send = (m, i) => chat(gg, m, { i, hang_ms: 150 }).then((r) => { order.push(`${m}${i}`); return r; });
  const ps = [];
  for (const [m, i] of [['a', 1], ['b', 1], ['a', 2], ['b', 2]]) {
    ps.push(send(m, i));
    await sleep(60); // keep the arrival order
  }
  const rs = await Promise.all(ps);
  for (const r of rs) assert.equal(r.status, 200, r.text);
  assert.deepEqual(rs.map(servedBy), ['a', 'b', 'a', 'b'], 'each request went to its model');
  assert.deepEqual({ a: starts(gg, 'a'), b: starts(gg, 'b') }, { a: 1, b: 1 },
    `no thrashing: one start per model (served in order ${order.join(' ')})`);
  assert.deepEqual(order.map((x) => x[0]), ['a', 'a', 'b', 'b']);
  await finish(gg, token);
});

test('TTL: a model is stopped ttl seconds after its last request ENDS (not after it started)', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { t: { ttl: 2 } } }) });
  const t0 = Date.now();
  // A 3 s request: longer than the TTL.
  const r = await chat(gg, 't', { hang_ms: 3000 });
  const tEnd = Date.now();
  assert.equal(r.status, 200, r.text);
  assert.ok(tEnd - t0 >= 2900);
  // Still ready right after the long request (a TTL counted from the start would have fired).
  assert.deepEqual(await running(gg), { t: 'ready' });
  const ttlLeft = (await getJson(`${gg.url}/api/service`)).json.models[0].ttl_left;
  assert.ok(ttlLeft > 0.5 && ttlLeft <= 2, `ttl_left ${ttlLeft}`);
  await waitFor(async () => !(await running(gg)).t, { timeout: 8000, interval: 50, what: 't stopped by its TTL' });
  const tStop = Date.now();
  const idle = tStop - tEnd;
  assert.ok(idle >= 1700 && idle <= 4500, `stopped ${idle} ms after the request ended (ttl 2 s)`);
  assert.match(gg.logs(), /model t: ready -> stopping: idle for 2 s \(ttl\)/);
  await waitNoProcesses(token, 5000);

  // A request in the meantime restarts the countdown.
  await chat(gg, 't');
  await sleep(1200);
  await chat(gg, 't');
  const t2 = Date.now();
  await sleep(1200);
  assert.deepEqual(await running(gg), { t: 'ready' }, 'the second request reset the countdown');
  await waitFor(async () => !(await running(gg)).t, { timeout: 8000, interval: 50, what: 't stopped again' });
  assert.ok(Date.now() - t2 >= 1700, `${Date.now() - t2} ms`);
  await finish(gg, token);
});
