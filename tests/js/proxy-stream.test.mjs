// The swapping proxy, streams: chunks are forwarded as they come (not buffered), an upstream
// that dies mid-stream gives the client a clean end with an error event, a client that goes
// away closes the upstream request, and a slow reader of a fast stream does not make ggswap
// buffer the stream (backpressure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import OpenAI from 'openai';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching,
  waitNoProcesses, waitFor, postJson, getJson, sseRead, sseContents, sleep,
} from './lib/harness.mjs';
import { running, starts, finish } from './lib/checks.mjs';

registerCleanup();

const streamReq = (gg, body, path = '/v1/chat/completions', signal) => fetch(`${gg.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [], stream: true, ...body }), signal,
});
function vmRssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

test('a stream arrives chunk by chunk through ggswap (openai client and raw SSE)', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { s: {} } }) });
  // Warm start so the timing below is about streaming only.
  assert.equal((await postJson(`${gg.url}/v1/chat/completions`, { model: 's', messages: [] })).status, 200);

  const oa = new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const t0 = performance.now();
  const st = await oa.chat.completions.create({ model: 's', messages: [], stream: true, n_chunks: 6, chunk_ms: 200 });
  const got = [];
  for await (const ch of st) {
    const c = ch.choices[0]?.delta?.content;
    if (c) got.push({ c, t: performance.now() - t0 });
  }
  assert.deepEqual(got.map((g) => g.c), ['c0 ', 'c1 ', 'c2 ', 'c3 ', 'c4 ', 'c5 ']);
  const spread = got[5].t - got[0].t;
  assert.ok(spread >= 800, `chunks spread over ${spread.toFixed(0)} ms (5 x 200 ms made upstream), not delivered at once`);
  // Each gap is visible: no two consecutive chunks were glued together by buffering.
  const gaps = got.slice(1).map((g, i) => g.t - got[i].t);
  assert.ok(gaps.filter((g) => g >= 100).length >= 4, `gaps ${gaps.map((g) => g.toFixed(0)).join(',')}`);

  // Native /completion stream, raw.
  const r = await streamReq(gg, { model: 's', prompt: 'x', n_predict: 4, chunk_ms: 150 }, '/completion');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/event-stream/);
  const s = await sseRead(r);
  assert.equal(s.error, null);
  const ev = s.events.filter((e) => e.json?.content);
  assert.equal(ev.length, 4, s.text);
  assert.ok(ev[3].t - ev[0].t >= 350, `native stream spread ${ev[3].t - ev[0].t} ms`);
  await finish(gg, token);
});

test('an upstream that dies mid-stream: clean end with an error event; the model is stopped, then restarts', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { c: {} } }) });
  const r = await streamReq(gg, { model: 'c', n_chunks: 20, chunk_ms: 20, crash_after_chunks: 3 });
  assert.equal(r.status, 200);
  const s = await sseRead(r);
  assert.equal(s.error, null, 'the client stream ends cleanly (no broken chunked encoding)');
  assert.deepEqual(sseContents(s.events), ['c0 ', 'c1 ', 'c2 ']);
  const errEv = s.events.find((e) => e.json?.error);
  assert.ok(errEv, `an error event: ${s.text.slice(-400)}`);
  assert.match(errEv.json.error.message, /\bc\b/, 'the error names the model');
  assert.equal(s.events.at(-1), errEv, 'the error is the last event');
  await waitFor(async () => !(await running(gg)).c, { what: 'c no longer running' });
  await waitNoProcesses(token, 5000);
  // Straight from ready when the exit is handled first; through dying (ready, child seen dead
  // by the failed request) when the request notices first. Either way it was ready and is stopped.
  assert.match(gg.logs(), /model c: (ready|dying) -> stopped/);
  assert.doesNotMatch(gg.logs(), /model c: (ready|dying) -> failed/);

  // Through the official client the error surfaces as an exception after the chunks.
  const oa = new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const st = await oa.chat.completions.create({ model: 'c', messages: [], stream: true, n_chunks: 20, crash_after_chunks: 2 });
  const got = [];
  await assert.rejects(async () => {
    for await (const ch of st) { const c = ch.choices[0]?.delta?.content; if (c) got.push(c); }
  }, (e) => /c/.test(String(e.message)));
  assert.deepEqual(got, ['c0 ', 'c1 ']);
  assert.equal(starts(gg, 'c'), 2, 'the next request started it again');

  // A crash before any byte of the answer: 502 with the reason.
  const r0 = await postJson(`${gg.url}/v1/chat/completions`, { model: 'c', messages: [], stream: true, crash_after_chunks: 0 });
  assert.ok([200, 502].includes(r0.status), `${r0.status} ${r0.text}`);
  if (r0.status === 502) assert.equal(r0.json.error.type, 'server_error');
  else assert.match(r0.text, /"error"/);
  // Still serving afterwards, once the crash is noticed (a request sent in the instant between
  // the upstream's connection dropping and its exit being reaped can still meet the dead one).
  await waitFor(async () => !(await running(gg)).c, { what: 'the crash noticed' });
  const ok = await postJson(`${gg.url}/v1/chat/completions`, { model: 'c', messages: [] });
  assert.equal(ok.status, 200, ok.text);
  await finish(gg, token);
});

test('a client that disconnects mid-stream: ggswap closes its upstream request', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { d: {}, q: { healthDelay: 1500 } } }) });
  const ac = new AbortController();
  const r = await streamReq(gg, { model: 'd', n_chunks: 2000, chunk_ms: 15 }, '/v1/chat/completions', ac.signal);
  const s = await sseRead(r, { onEvent: (ev) => (sseContents([ev])[0] === 'c3 ' ? false : undefined) });
  ac.abort();
  assert.equal(sseContents(s.events).length, 4);
  // The fake saw its client (ggswap) go away: in the model's log.
  const logs = await waitFor(async () => {
    const t = (await getJson(`${gg.url}/logs`)).text;
    return /client closed stream after \d+ chunks/.test(t) ? t : null;
  }, { timeout: 5000, what: 'the fake to log the closed stream' });
  const n = Number(/client closed stream after (\d+) chunks/.exec(logs)[1]);
  assert.ok(n >= 4 && n < 1000, `closed after ${n} chunks, long before the 2000`);
  await waitFor(async () => (await getJson(`${gg.url}/running`)).json.running[0]?.inflight === 0, { what: 'inflight back to 0' });
  assert.match(gg.logs(), /client went away/);
  // The request is logged as cut by the client.
  const req = (await getJson(`${gg.url}/api/requests`)).json.requests.at(-1);
  assert.equal(req.status, 499, JSON.stringify(req));
  // The model is still up and serves the next request.
  const ok = await postJson(`${gg.url}/v1/chat/completions`, { model: 'd', messages: [] });
  assert.equal(ok.status, 200);
  assert.equal(starts(gg, 'd'), 1);

  // A client that goes away while its request waits for its model (q) to start: dropped from
  // the queue (logged as 499); the start goes on and serves the next request. (Not a stream: a
  // stream gets its head early while it waits, see swap-timing.test.mjs.)
  const ac2 = new AbortController();
  const p = streamReq(gg, { model: 'q', n_chunks: 5, stream: false }, '/v1/chat/completions', ac2.signal).catch((e) => e);
  await waitFor(async () => (await running(gg)).q === 'starting', { what: 'q starting' });
  ac2.abort();
  assert.equal((await p).name, 'AbortError');
  await waitFor(async () => (await getJson(`${gg.url}/api/requests`)).json.requests.some((x) => x.model === 'q' && x.status === 499),
    { what: 'the queued request logged as 499' });
  const ok2 = await postJson(`${gg.url}/v1/chat/completions`, { model: 'q', messages: [] });
  assert.equal(ok2.status, 200, ok2.text);
  assert.equal(starts(gg, 'q'), 1);
  await finish(gg, token);
});

test('backpressure: a slow reader of a large fast stream does not make ggswap buffer it', async () => {
  const token = uniqueToken();
  // ASan keeps freed memory in quarantine, which would make RSS grow with the bytes that went
  // through rather than with what is held: a small quarantine makes RSS mean "held".
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=1'].filter(Boolean).join(':');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { big: {} } }), env: { ASAN_OPTIONS: asan } });
  assert.equal((await postJson(`${gg.url}/v1/chat/completions`, { model: 'big', messages: [] })).status, 200);
  // Warm ggswap's allocator with one stream read at full speed.
  const warm = await sseRead(await streamReq(gg, { model: 'big', n_chunks: 20000, chunk_ms: 0 }));
  assert.equal(warm.done, true);
  const N = 150000; // about 27 MB of SSE
  const rss0 = vmRssKiB(gg.pid);
  let received = 0;
  let text = '';
  let res;
  const done = new Promise((resolve, reject) => {
    const req = http.request(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (r) => {
      res = r;
      r.setEncoding('latin1');
      r.on('data', (d) => { received += d.length; text = (text + d).slice(-4096); });
      r.on('end', resolve);
      r.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'big', messages: [], stream: true, n_chunks: N, chunk_ms: 0 }));
  });
  await waitFor(() => res, { what: 'response head' });
  res.pause();
  // The client reads nothing for 3 s while the upstream could produce the whole stream.
  const samples = [];
  for (let i = 0; i < 6; i++) {
    await sleep(500);
    samples.push(vmRssKiB(gg.pid));
  }
  const grown = Math.max(...samples) - rss0;
  const pausedAt = received;
  assert.ok(pausedAt < 8 * 1024 * 1024, `little reached the paused client (${pausedAt} bytes)`);
  // The stream is ~27 MB; holding it would show. A few MB of socket-level slack is fine.
  assert.ok(grown < 8 * 1024, `ggswap RSS grew by ${grown} KiB while the client paused (samples ${samples.join(',')} from ${rss0})`);
  assert.ok(samples.at(-1) - samples[0] < 2048, `RSS flat during the pause: ${samples.join(',')}`);
  res.resume();
  await done;
  assert.ok(received > N * 100, `the whole stream arrived in the end (${received} bytes)`);
  assert.match(text, /data: \[DONE\]\n\n$/);
  await finish(gg, token);
});
