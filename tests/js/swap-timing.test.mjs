// Where a swap's time goes and what the client sees meanwhile (issue 13): Server-Timing on every
// proxied answer, the per model histograms and swap counter in /metrics, queue/load/ttft in the
// request records; early bytes for a stream that waits for a load (SSE comments, or llama-swap's
// reasoning chunks with sendLoadingState); the slot cache around planned stops (fake
// llama-server slots: saved on a swap, restored before the first request, never after a crash,
// a bad file skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, postJson, getJson, sseRead,
  sseContents, tmpDir, waitFor, sleep,
} from './lib/harness.mjs';
import { running, finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [], ...extra });

function serverTiming(h) {
  const v = h.get('server-timing');
  assert.ok(v, 'a Server-Timing header');
  const out = {};
  for (const part of v.split(',')) {
    const m = /^\s*(\w+);dur=([\d.]+)\s*$/.exec(part);
    assert.ok(m, `metric "${part}" in "${v}"`);
    out[m[1]] = Number(m[2]);
  }
  assert.deepEqual(Object.keys(out), ['queue', 'load', 'upstream'], v);
  return out;
}

function metric(text, name, labels) {
  const want = `${name}{${labels}}`;
  const line = text.split('\n').find((l) => l.startsWith(want + ' '));
  return line ? Number(line.slice(want.length + 1)) : undefined;
}

test('Server-Timing on every proxied answer; load > 0 for the request that started its model; histograms and swaps in /metrics', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: { healthDelay: 300 }, b: {} } }) });

  const first = await chat(gg, 'a');
  assert.equal(first.status, 200, first.text);
  const t1 = serverTiming(first.headers);
  assert.ok(t1.load >= 250, `the start shows as load: ${JSON.stringify(t1)}`);
  assert.ok(t1.queue < t1.load, JSON.stringify(t1));

  const again = await chat(gg, 'a');
  const t2 = serverTiming(again.headers);
  assert.equal(t2.load, 0, `a ready model has no load: ${JSON.stringify(t2)}`);
  assert.ok(t2.queue < 100, JSON.stringify(t2));

  // A stream carries it too, and its first token is timed.
  const r = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'a', messages: [], stream: true, n_chunks: 3, chunk_ms: 50 }),
  });
  serverTiming(r.headers);
  const s = await sseRead(r);
  assert.equal(s.done, true);

  // A swap to b and back: two swaps (b in, a in); other answers (upstream passthrough) too.
  assert.equal((await chat(gg, 'b')).status, 200);
  assert.equal((await chat(gg, 'a')).status, 200);
  const up = await getJson(`${gg.url}/upstream/a/health`);
  assert.equal(up.status, 200);
  serverTiming(up.headers);

  const m = await (await fetch(`${gg.url}/metrics`)).text();
  for (const name of ['ggswap_request_queue_seconds', 'ggswap_model_load_seconds', 'ggswap_request_ttft_seconds'])
    assert.match(m, new RegExp(`# TYPE ${name} histogram`), name);
  assert.equal(metric(m, 'ggswap_model_load_seconds_count', 'model="a"'), 2, 'a loaded twice');
  assert.ok(metric(m, 'ggswap_model_load_seconds_sum', 'model="a"') >= 0.5, 'two 300 ms loads');
  assert.equal(metric(m, 'ggswap_model_load_seconds_bucket', 'model="a",le="0.1"'), 0);
  assert.equal(metric(m, 'ggswap_request_ttft_seconds_count', 'model="a"'), 1, 'one stream');
  assert.ok(metric(m, 'ggswap_request_queue_seconds_count', 'model="a"') >= 4);
  assert.equal(metric(m, 'ggswap_swaps_total', 'model="b"'), 1);
  assert.equal(metric(m, 'ggswap_swaps_total', 'model="a"'), 1, 'the first start of a swapped nothing');

  // The records the page shows carry the split.
  const reqs = (await getJson(`${gg.url}/api/requests`)).json.requests.filter((q) => q.model === 'a');
  assert.ok(reqs[0].load_ms >= 250, JSON.stringify(reqs[0]));
  assert.equal(typeof reqs[0].queue_ms, 'number');
  assert.ok(reqs.some((q) => typeof q.ttft_ms === 'number' && q.ttft_ms > 0), 'the stream has a ttft');
  await finish(gg, token);
});

async function openStream(gg, body) {
  const t0 = performance.now();
  const r = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [], stream: true, ...body }),
  });
  const head = performance.now() - t0;
  const reader = r.body.getReader();
  const first = await reader.read();
  const firstByte = performance.now() - t0;
  const dec = new TextDecoder();
  let text = dec.decode(first.value, { stream: true });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  return { r, head, firstByte, total: performance.now() - t0, text };
}

test('a stream waiting for a 4-second start gets bytes within 1.5 s, then its whole answer; a plain request waits', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { slow: { healthDelay: 4000 }, slow2: { healthDelay: 1500 } } }) });
  const s = await openStream(gg, { model: 'slow', n_chunks: 4, chunk_ms: 20 });
  assert.equal(s.r.status, 200);
  assert.match(s.r.headers.get('content-type'), /text\/event-stream/);
  assert.ok(s.firstByte < 1500, `first bytes after ${s.firstByte.toFixed(0)} ms`);
  assert.ok(s.total >= 3500, `the answer came after the load (${s.total.toFixed(0)} ms)`);
  assert.match(s.text, /^: ggswap: loading model slow/, s.text.slice(0, 200));
  assert.match(s.text, /: ggswap: loading model slow: [\d.]+ s/, 'progress lines while it loads');
  const ev = await sseRead([s.text]);
  assert.deepEqual(sseContents(ev.events), ['c0 ', 'c1 ', 'c2 ', 'c3 '], 'the whole answer');
  assert.equal(ev.done, true);

  // Not streaming: the answer (and its head) comes once the model is up, as before.
  const t0 = performance.now();
  const plain = await chat(gg, 'slow2');
  assert.equal(plain.status, 200);
  assert.ok(performance.now() - t0 >= 1300, 'waited for the load');
  assert.equal(plain.json.choices[0].message.content.startsWith('fake:slow2:'), true);
  await finish(gg, token);
});

test('a stream client that leaves while its model loads is dropped at once (499); the start goes on', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { q: { healthDelay: 1500 } } }) });
  const ac = new AbortController();
  const r = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'q', messages: [], stream: true }), signal: ac.signal,
  });
  assert.equal(r.status, 200, 'the head came while q loads');
  const reader = r.body.getReader();
  await reader.read();
  ac.abort();
  await waitFor(async () => (await getJson(`${gg.url}/api/requests`)).json.requests.some((x) => x.model === 'q' && x.status === 499),
    { what: 'the queued stream logged as 499' });
  assert.equal((await running(gg)).q, 'starting', 'logged before the load ended');
  const ok = await chat(gg, 'q');
  assert.equal(ok.status, 200);
  await finish(gg, token);
});

test('an early-headed stream whose model fails to start ends with an error event', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { bad: { healthDelay: 400, failStart: 'no such model file' } } }) });
  const s = await openStream(gg, { model: 'bad' });
  assert.equal(s.r.status, 200, 'the head had gone out already');
  const ev = await sseRead([s.text]);
  const err = ev.events.find((e) => e.json?.error);
  assert.ok(err, s.text);
  assert.equal(err.json.error.code, 502);
  assert.match(err.json.error.message, /failed to start|exited/);
  await finish(gg, token);
});

test('sendLoadingState: llama-swap style reasoning chunks while loading, then the answer', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, top: { sendLoadingState: true }, models: { m: { healthDelay: 1600 } } }),
  });
  const s = await openStream(gg, { model: 'm', n_chunks: 2 });
  assert.ok(s.firstByte < 1000, `first bytes after ${s.firstByte.toFixed(0)} ms`);
  const ev = await sseRead([s.text]);
  const reasoning = ev.events.map((e) => e.json?.choices?.[0]?.delta?.reasoning_content).filter((x) => x != null).join('');
  assert.match(reasoning, /^━━━━━\nggswap loading model: m\n\.+\nDone! \(\d+\.\d\ds\)\n━━━━━\n \n$/, JSON.stringify(reasoning));
  assert.deepEqual(sseContents(ev.events), ['c0 ', 'c1 ']);
  // Other paths (no reasoning field there) get the comment lines instead.
  await fetch(`${gg.url}/api/models/unload`, { method: 'POST' });
  await waitFor(async () => Object.keys(await running(gg)).length === 0, { what: 'unloaded' });
  const r = await fetch(`${gg.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', stream: true }),
  });
  const t = await r.text();
  assert.match(t, /^: ggswap: loading model m/);
  await finish(gg, token);
});

test('slot cache: saved when swapped away, restored before the first request, not after a crash, bad files skipped', async () => {
  const token = uniqueToken();
  const slots = tmpDir('ggswap-slots-');
  const dirA = path.join(slots, 'a');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token, top: { slotCache: true },
      models: { a: { args: ['--slot-save-path', dirA] }, b: { slotCache: false } },
    }),
  });
  const slotFile = path.join(dirA, 'slot0.bin');
  assert.equal((await chat(gg, 'a')).json.slots_restored, 0, 'nothing to restore on the first start');
  assert.ok(fs.existsSync(path.join(dirA, '.ggswap-slots-key')), 'the folder was made, with its key');
  assert.equal((await chat(gg, 'b')).status, 200); // swaps a away: its slot is saved
  assert.match(fs.readFileSync(slotFile, 'utf8'), /^fake-slot a requests=1/);
  assert.match(gg.logs(), /model a: saved 1 slot/);
  const back = await chat(gg, 'a');
  assert.equal(back.json.slots_restored, 1, 'restored before the first request was sent');
  assert.match(gg.logs(), /model a: restored 1 slot/);

  // A crash saves nothing: the file keeps what the last planned stop wrote.
  fs.writeFileSync(slotFile, 'fake-slot a requests=99\n');
  await getJson(`${gg.url}/upstream/a/crash`).catch(() => {});
  await waitFor(async () => (await running(gg)).a === undefined, { what: 'a seen gone' });
  assert.match(fs.readFileSync(slotFile, 'utf8'), /requests=99/, 'not saved after a crash');

  // A truncated/foreign file: logged, removed, and the start goes on.
  fs.writeFileSync(slotFile, 'GGUF garbage');
  const r = await chat(gg, 'a');
  assert.equal(r.status, 200);
  assert.equal(r.json.slots_restored, 0);
  assert.match(gg.logs(), /saved slot file .*slot0\.bin not restored .*removed it/);
  assert.equal(fs.existsSync(slotFile), false);
  await finish(gg, token);
});
