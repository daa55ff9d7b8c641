// Chaos (issue "Reliability and security", item 2): upstreams that crash while starting or
// mid-stream, never become healthy, ignore SIGTERM, answer garbage or hang after their headers;
// clients that disconnect mid-request and mid-stream, trickle bytes (slowloris), send malformed
// chunked bodies, oversized heads and bodies, invalid UTF-8 and deeply nested JSON.
//
// Every case asserts a clear status (or an SSE error event once a stream has begun), that
// ggswap keeps serving (a normal request afterwards succeeds), that no child is left behind,
// and, over many repetitions, that ggswap's open file descriptors (/proc/<pid>/fd) and resident
// memory (VmRSS) do not grow. LeakSanitizer checks the rest when ggswap exits.
//
// Counts (docs/RELIABILITY.md): cheap cases (no process start) repeat 1,000 times. For the
// malformed requests that is 1,000 requests spread over the 17 kinds by default (17,000 requests
// take ~25 s under ASan on a 2-core machine, too long for `make test`), and 1,000 rounds of all
// 17 with GGSWAP_SOAK=1. Cases that start or kill a process take ~0.2-1 s each, so they repeat
// 15 times by default and 100 times under GGSWAP_SOAK=1. The never-healthy case waits out the
// 15 s minimum healthCheckTimeout once, concurrently with the rest.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching, waitNoProcesses,
  waitFor, postJson, getJson, sseRead, sseContents, sleep, fdCount, rssKb, lowQuarantineEnv,
} from './lib/harness.mjs';

registerCleanup();

const SOAK = process.env.GGSWAP_SOAK === '1';
const CHEAP = 1000;               // garbage answers, disconnects: no process start
const MALFORMED_ROUNDS = SOAK ? 1000 : Math.ceil(1000 / 17); // rounds of all malformed kinds
const PROC = SOAK ? 100 : 15;     // cases that start (and crash) a process each time
const SLOW_WAIT = SOAK;           // wait out the 30 s head timeout for slowloris connections

async function finish(gg, token) {
  const st = await gg.stop('SIGTERM', 20000);
  assert.equal(st.killed, false, 'ggswap stops on SIGTERM');
  assert.equal(st.code, 0, `ggswap exit status; log tail:\n${gg.logs().slice(-3000)}`);
  assert.deepEqual(gg.sanitizerReports(), [], 'no sanitizer report from ggswap');
  if (token) await waitNoProcesses(token, 10000);
}

// Every request has a deadline, so a request ggswap never answers fails its test instead of
// hanging the file.
const chat = (gg, model, extra = {}, o = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], ...extra }, { signal: AbortSignal.timeout(40000), ...o });

async function assertServes(gg, model, what) {
  const r = await chat(gg, model);
  assert.equal(r.status, 200, `${what}: a normal request afterwards: ${r.text}`);
  assert.match(r.json.choices[0].message.content, new RegExp(`^fake:${model}:\\d+$`));
}

function fake(token, model) {
  return processesMatching(`--model ${model} --test-token ${token}`);
}

// Run fn(i) `reps` times, `parallel` at a time.
async function repeat(reps, parallel, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, reps) }, async () => {
    while (next < reps) await fn(next++);
  }));
}

// Warm up, measure ggswap's fds and RSS, run `reps` more, measure again. Closing is
// asynchronous, so the fd count gets a few seconds to come back down.
async function noGrowth(gg, label, { reps, warm = Math.max(5, Math.ceil(reps / 10)), parallel = 1, fdSlack = 8, rssSlackKb = 32 * 1024 }, fn) {
  await repeat(warm, parallel, fn);
  await sleep(200);
  const fd0 = fdCount(gg.pid);
  const rss0 = rssKb(gg.pid);
  const t0 = Date.now();
  await repeat(reps, parallel, (i) => fn(warm + i));
  let fd1 = fdCount(gg.pid);
  const end = Date.now() + 5000;
  while (fd1 > fd0 + fdSlack && Date.now() < end) { await sleep(100); fd1 = fdCount(gg.pid); }
  const rss1 = rssKb(gg.pid);
  const info = `${label}: ${reps} reps in ${Date.now() - t0} ms; fds ${fd0} -> ${fd1}; VmRSS ${rss0} -> ${rss1} kB`;
  console.log(`# ${info}`);
  assert.ok(fd0 > 0 && fd1 > 0, `ggswap is alive: ${info}`);
  assert.ok(fd1 <= fd0 + fdSlack, `file descriptors grew: ${info}`);
  assert.ok(rss1 <= rss0 + rssSlackKb, `memory grew: ${info}`);
}

// One raw exchange: write `parts` (strings or Buffers; numbers are pauses in ms), then read
// until the server closes. Resolves to {status, text} (status 0: closed without an answer).
// `closeAfterWrite` drops the connection right after writing (a client that goes away).
function raw(port, parts, { timeout = 20000, closeAfterWrite = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`raw exchange: no close in ${timeout} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`)); }, timeout);
    const done = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    };
    s.on('connect', async () => {
      for (const p of parts) {
        if (typeof p === 'number') await sleep(p);
        else if (!s.destroyed) s.write(p);
      }
      if (closeAfterWrite) { s.destroy(); done(); }
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => { /* reset by the server after an error answer: keep what came */ });
    s.on('close', () => { if (!closeAfterWrite) done(); });
  });
}

const H = 'Host: 127.0.0.1\r\n';
const post = (pathname, body, headers = '') => `POST ${pathname} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n`;
const postBuf = (pathname, body) => Buffer.concat([Buffer.from(`POST ${pathname} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]);

// The malformed requests: [name, parts, expected statuses].
function malformed() {
  const C = '/v1/chat/completions';
  return [
    ['chunked: bad chunk size', [`POST ${C} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`], [400]],
    ['chunked: chunk size overflows', [`POST ${C} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\nab\r\n0\r\n\r\n`], [400, 413]],
    ['chunked: missing CRLF after data', [`POST ${C} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\n{}X\r\n0\r\n\r\n`], [400]],
    ['chunked and Content-Length (smuggling)', [`POST ${C} HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`], [400]],
    ['oversized header (70 KiB)', [`GET /v1/models HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`], [431]],
    ['oversized request line', [`GET /v1/models?${'q'.repeat(70 * 1024)} HTTP/1.1\r\n${H}\r\n`], [431, 414]],
    ['too many headers', [`GET /v1/models HTTP/1.1\r\n${H}${Array.from({ length: 150 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`], [431]],
    ['declared body over 64 MiB', [`POST ${C} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${64 * 1024 * 1024 + 1}\r\n\r\n{"model":`], [413]],
    ['invalid UTF-8 in the body', [postBuf(C, Buffer.concat([Buffer.from('{"model":"a","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}]}')]))], [400]],
    ['invalid UTF-8 in the model name', [postBuf(C, Buffer.concat([Buffer.from('{"model":"a'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]))], [400]],
    ['lone surrogate escape', [post(C, '{"model":"\\udc00","messages":[]}', 'Connection: close\r\n'), '{"model":"\\udc00","messages":[]}'], [400, 404]],
    ['deeply nested JSON (100k levels)', [post(C, `{"model":"a","x":${'['.repeat(100000)}`, 'Connection: close\r\n'), `{"model":"a","x":${'['.repeat(100000)}`], [400]],
    ['not JSON', [post(C, 'model=a&x=1', 'Connection: close\r\n'), 'model=a&x=1'], [400]],
    ['JSON but not an object', [post(C, '["a"]', 'Connection: close\r\n'), '["a"]'], [400]],
    ['garbage request line', [Buffer.from([0, 1, 2, 0x47, 0x45, 0x0d, 0x0a, 0x0d, 0x0a])], [400]],
    ['HTTP/0.9-style line', ['GET /\r\n\r\n'], [400, 505, 302]],
    ['control characters in a header', [`GET /v1/models HTTP/1.1\r\n${H}X-Bad: a\x01b\r\n\r\n`], [400]],
  ];
}

describe('chaos', { concurrency: 3, timeout: 120000 }, () => {
  test('an upstream that never becomes healthy: 502 after healthCheckTimeout (15 s), process gone', { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { never: { healthDelay: 3600000 }, ok: {} }, top: { healthCheckTimeout: 15 } }) });
    const t0 = Date.now();
    const pending = chat(gg, 'never', {}, { signal: AbortSignal.timeout(60000) });
    // While it waits, ggswap answers everything else (a different model starts and serves).
    await waitFor(() => fake(token, 'never').length === 1, { timeout: 10000, what: 'the never-healthy model started' });
    await assertServes(gg, 'ok', 'during a 15 s start');
    const r = await pending;
    const took = Date.now() - t0;
    assert.equal(r.status, 502, r.text);
    assert.match(r.json.error.message, /did not become ready within 15 s/);
    assert.ok(took >= 14000, `gave up after ${took} ms, before the 15 s timeout`);
    await waitFor(() => fake(token, 'never').length === 0, { timeout: 10000, what: 'the never-healthy process is stopped' });
    await assertServes(gg, 'ok', 'after the failed start');
    await finish(gg, token);
  });

  test(`malformed requests (${MALFORMED_ROUNDS} rounds of ${malformed().length}): a clear 4xx, the connection closed, no growth`, { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }), env: lowQuarantineEnv() });
    await assertServes(gg, 'a', 'before');
    const cases = malformed();
    const wrong = [];
    await noGrowth(gg, 'malformed requests', { reps: MALFORMED_ROUNDS, parallel: 4 }, async () => {
      for (const [name, parts, want] of cases) {
        const r = await raw(gg.port, parts);
        if (!want.includes(r.status) && wrong.length < 20) wrong.push(`${name}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    });
    assert.deepEqual(wrong, [], 'every malformed request gets its clear status');
    // A valid, deeply nested body (1,000 levels, under jansson's limit) is proxied as is.
    const deep = await chat(gg, 'a', { x: JSON.parse(`${'['.repeat(1000)}${']'.repeat(1000)}`) });
    assert.equal(deep.status, 200, deep.text);
    // A chunked body bigger than 64 MiB is cut off with 413 once the limit is passed.
    const big = Buffer.alloc(1024 * 1024, 0x20);
    const parts = [`POST /v1/chat/completions HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`];
    for (let i = 0; i < 66; i++) parts.push(Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n')]));
    parts.push('0\r\n\r\n');
    const r413 = await raw(gg.port, parts, { timeout: 60000 });
    assert.equal(r413.status, 413, r413.text.slice(0, 300));
    await assertServes(gg, 'a', 'after malformed requests');
    assert.equal(fake(token, 'a').length, 1, 'the model kept running');
    await finish(gg, token);
  });

  test(`clients that go away mid-request, mid-stream and while a model starts (${CHEAP} times): the upstream is told, no growth`, { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {}, slow: { healthDelay: 400 } } }), env: lowQuarantineEnv() });
    await assertServes(gg, 'a', 'before');
    const C = '/v1/chat/completions';
    await noGrowth(gg, 'client disconnects', { reps: CHEAP, parallel: 4 }, async (i) => {
      const k = i % 4;
      if (k === 0) {
        // Half a head, then gone.
        await raw(gg.port, [`POST ${C} HTTP/1.1\r\n${H}Content-Le`], { closeAfterWrite: true });
      } else if (k === 1) {
        // The head and part of the body, then gone.
        await raw(gg.port, [`POST ${C} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"a","messages":[`], { closeAfterWrite: true });
      } else if (k === 2) {
        // A whole request for an answer that takes long, then gone before the answer.
        await raw(gg.port, [post(C, '{"model":"a","hang_ms":60000}'), '{"model":"a","hang_ms":60000}', 30], { closeAfterWrite: true });
      } else {
        // A stream: read two events, then gone.
        const ac = new AbortController();
        const r = await fetch(`${gg.url}${C}`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a', stream: true, n_chunks: 1000, chunk_ms: 20, messages: [] }) });
        assert.equal(r.status, 200);
        let n = 0;
        await sseRead(r, { onEvent: () => ++n < 2 });
        ac.abort();
      }
    });
    // ggswap passed the disconnects on: the fake saw its clients go (llama-server would stop
    // generating).
    await waitFor(async () => {
      const logs = (await getJson(`${gg.url}/logs`)).text;
      return /client closed stream after \d+ chunks/.test(logs) && /client closed request before the answer/.test(logs);
    }, { timeout: 10000, what: 'the fake logging that its clients went away' });
    // No request is left in flight.
    await waitFor(async () => (await getJson(`${gg.url}/api/service`)).json.models.every((m) => m.inflight === 0), { timeout: 10000, what: 'inflight back to 0' });
    // A client that gives up while its model is still starting: the start goes on, others
    // that wait for the same start are served.
    for (let i = 0; i < Math.min(PROC, 10); i++) {
      await postJson(`${gg.url}/api/models/unload/slow`, {});
      await waitFor(() => fake(token, 'slow').length === 0, { timeout: 10000, what: 'slow unloaded' });
      const ac = new AbortController();
      const first = chat(gg, 'slow', {}, { signal: ac.signal }).catch((e) => e);
      await sleep(100);
      ac.abort();
      assert.equal((await first).name, 'AbortError');
      await assertServes(gg, 'slow', `a second client after the first gave up (round ${i})`);
    }
    await assertServes(gg, 'a', 'after the disconnects');
    await finish(gg, token);
  });

  test('slow clients (slowloris) do not block others', { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    // concurrencyLimit: 20 normal clients at once, more than the default 10.
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: { concurrencyLimit: 100 } } }) });
    await assertServes(gg, 'a', 'before');
    const slow = [];
    let stop = false;
    const trickle = (parts) => {
      const s = net.connect(gg.port, '127.0.0.1');
      const st = { s, closed: false };
      s.on('error', () => {});
      s.on('close', () => { st.closed = true; });
      s.on('connect', async () => {
        for (const p of parts) {
          for (const ch of p) { if (stop || st.closed) return; s.write(ch); await sleep(200); }
        }
      });
      slow.push(st);
    };
    for (let i = 0; i < 60; i++) trickle([`POST /v1/chat/completions HTTP/1.1\r\n${H}X-Slow: ${'z'.repeat(500)}`]);
    for (let i = 0; i < 20; i++) trickle([`POST /v1/chat/completions HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n`, `{"model":"a","messages":[${' '.repeat(4000)}`]);
    await sleep(1000);
    // Meanwhile normal clients are served, many at once and in turn.
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => chat(gg, 'a', {}, { signal: AbortSignal.timeout(20000) })));
      for (const r of rs) assert.equal(r.status, 200, r.text);
      const page = await fetch(`${gg.url}/ui/`, { signal: AbortSignal.timeout(20000) });
      assert.equal(page.status, 200);
      await page.arrayBuffer();
    }
    assert.ok(slow.filter((x) => !x.closed).length >= 70, 'the slow clients were still connected while the others were served');
    if (SLOW_WAIT) {
      // The head timeout (30 s) closes connections whose request never completes.
      await waitFor(() => slow.every((x) => x.closed), { timeout: 60000, interval: 500, what: 'slow connections closed after the head timeout' });
    }
    stop = true;
    for (const x of slow) x.s.destroy();
    await assertServes(gg, 'a', 'after the slow clients');
    await finish(gg, token);
  });

  test(`upstreams that crash while starting (${PROC} times each): 502 with the reason from the log, nothing left`, { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({
      config: await fakeModelYaml({
        token,
        models: {
          diesoon: { healthDelay: 3600000, exitAfterMs: 150, exitCode: 7 },
          refuses: { failStart: `error: failed to load model 'x-${token}.gguf'` },
          ok: {},
        },
      }),
      env: lowQuarantineEnv(),
    });
    await assertServes(gg, 'ok', 'before');
    await noGrowth(gg, 'crash while starting', { reps: PROC, warm: 3, fdSlack: 10 }, async (i) => {
      const a = await chat(gg, 'diesoon');
      assert.equal(a.status, 502, a.text);
      assert.match(a.json.error.message, /exit|status 7|code 7/i, a.text);
      assert.match(a.json.error.message, /exiting with code 7/, 'the reason from its log');
      const b = await chat(gg, 'refuses');
      assert.equal(b.status, 502, b.text);
      assert.ok(b.json.error.message.includes(`failed to load model 'x-${token}.gguf'`), b.text);
      assert.deepEqual(fake(token, 'diesoon'), []);
      assert.deepEqual(fake(token, 'refuses'), []);
      if (i % 5 === 0) await assertServes(gg, 'ok', 'between failed starts');
    });
    const svc = (await getJson(`${gg.url}/api/service`)).json;
    assert.equal(svc.models.find((m) => m.id === 'refuses').state, 'failed');
    await assertServes(gg, 'ok', 'after failed starts');
    await finish(gg, token);
  });

  test(`upstreams that crash mid-stream or mid-request (${PROC} times): an error event / 502, noticed at once`, { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { m: {}, ok: {} } }), env: lowQuarantineEnv() });
    await assertServes(gg, 'ok', 'before');
    await noGrowth(gg, 'crash mid-stream', { reps: PROC, warm: 3, fdSlack: 10 }, async (i) => {
      const r = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, n_chunks: 10, crash_after_chunks: 2, messages: [] }), signal: AbortSignal.timeout(20000) });
      assert.equal(r.status, 200);
      const s = await sseRead(r);
      assert.deepEqual(sseContents(s.events), ['c0 ', 'c1 '], s.text);
      assert.equal(s.done, false, 'no [DONE] after a crash');
      const err = s.events.find((e) => e.json && e.json.error);
      assert.ok(err, `an error event at the end: ${s.text}`);
      assert.match(err.json.error.message, /^model m: /);
      // The process is gone and ggswap knows it at once: the next request starts it again.
      await waitFor(() => fake(token, 'm').length === 0, { timeout: 5000, what: 'the crashed process gone' });
      // ggswap notices the exit (SIGCHLD) a few ms after the client saw the error event; a
      // request sent in between is proxied to the dying process and gets a 502 (see
      // docs/RELIABILITY.md), so wait until ggswap shows m stopped.
      await waitFor(async () => !(await getJson(`${gg.url}/running`)).json.running.some((x) => x.model === 'm'), { timeout: 3000, what: 'ggswap noticing the crash' });
      // A crash while a non-streamed answer is pending: 502 as soon as the process dies. (First
      // a normal request, so the pending one goes to a live process; the race right after a
      // crash has its own test below.)
      await assertServes(gg, 'm', 'm after a mid-stream crash');
      const pending = chat(gg, 'm', { hang_ms: 60000 }, { signal: AbortSignal.timeout(30000) });
      let early = null;
      pending.then((x) => { early = x; });
      const [p] = await waitFor(() => {
        if (early) throw new Error(`answered before its process was killed: ${early.status} ${early.text}\n${gg.logs().slice(-3000)}`);
        const f = fake(token, 'm');
        return f.length ? f : null;
      }, { timeout: 10000, what: 'm restarted' });
      await waitFor(async () => {
        if (early) throw new Error(`answered before its process was killed: ${early.status} ${early.text}\n${gg.logs().split('\n').filter((l) => !/ http 127/.test(l)).slice(-20).join('\n')}`);
        return (await getJson(`${gg.url}/running`)).json.running.some((x) => x.model === 'm' && x.state === 'ready');
      }, { timeout: 10000, what: 'm ready' });
      await sleep(50);
      process.kill(p.pid, 'SIGKILL');
      const r2 = await pending;
      assert.equal(r2.status, 502, r2.text);
      assert.match(r2.json.error.message, /^model m: /);
      // A crash answering a plain GET through /upstream.
      const r3 = await getJson(`${gg.url}/upstream/m/crash`, { signal: AbortSignal.timeout(30000) });
      assert.equal(r3.status, 502, r3.text);
      await waitFor(async () => !(await getJson(`${gg.url}/running`)).json.running.some((x) => x.model === 'm'), { timeout: 3000, what: 'ggswap noticing the crash' });
      if (i % 5 === 0) await assertServes(gg, 'ok', 'between crashes');
    });
    await assertServes(gg, 'm', 'm after its crashes');
    await finish(gg, token);
  });

  test('a request sent right after a crash was reported is served by a restarted process, not the dead one', { timeout: 100000 }, async () => {
    // The client learns of the crash (502 or an error event) a few ms before ggswap reaps the
    // child; a request sent at once must not be proxied to the dying process.
    const token = uniqueToken('chs');
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { m: {} } }) });
    await assertServes(gg, 'm', 'before');
    const bad = [];
    for (let i = 0; i < 10; i++) {
      const r = await getJson(`${gg.url}/upstream/m/crash`, { signal: AbortSignal.timeout(30000) });
      assert.equal(r.status, 502, r.text);
      const next = await chat(gg, 'm');
      if (next.status !== 200) bad.push(`after crash ${i}: ${next.status} ${next.text.trim()}`);
      const s = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, n_chunks: 3, crash_after_chunks: 1, messages: [] }) });
      await s.text();
      const next2 = await chat(gg, 'm');
      if (next2.status !== 200) bad.push(`after mid-stream crash ${i}: ${next2.status} ${next2.text.trim()}`);
    }
    await finish(gg, token);
    assert.deepEqual(bad, [], 'requests right after a crash failed');
  });

  test(`garbage answers and hangs after the headers (${CHEAP} / ${PROC * 2} times): 502 or an error event, the model keeps serving`, { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { g: {}, h: {} } }), env: lowQuarantineEnv() });
    await assertServes(gg, 'g', 'before');
    const [pid] = fake(token, 'g').map((p) => p.pid);
    await noGrowth(gg, 'garbage answers', { reps: CHEAP, parallel: 4 }, async (i) => {
      const r = await chat(gg, 'g', { garbage: true, stream: i % 2 === 0 });
      assert.equal(r.status, 502, r.text);
      assert.match(r.json.error.message, /^model g: /);
    });
    assert.deepEqual(fake(token, 'g').map((p) => p.pid), [pid], 'the same process, still up');
    await assertServes(gg, 'g', 'after garbage');

    // Headers and one chunk, then nothing: the client decides when to give up; ggswap passes
    // that on and keeps serving the same model meanwhile.
    await assertServes(gg, 'h', 'before hangs');
    await noGrowth(gg, 'hangs after headers', { reps: PROC * 2, warm: 3 }, async () => {
      const ac = new AbortController();
      const r = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'h', stream: true, n_chunks: 3, chunk_ms: 3600000, messages: [] }) });
      assert.equal(r.status, 200);
      const first = await sseRead(r, { onEvent: () => false });
      assert.deepEqual(sseContents(first.events), ['c0 ']);
      await assertServes(gg, 'h', 'while a stream of the same model hangs');
      ac.abort();
    });
    await waitFor(async () => (await getJson(`${gg.url}/api/service`)).json.models.every((m) => m.inflight === 0), { timeout: 10000, what: 'hung streams released' });
    // A hung stream cut by an unload ends with an error event, not silence.
    const r = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'h', stream: true, n_chunks: 3, chunk_ms: 3600000, messages: [] }), signal: AbortSignal.timeout(30000) });
    const reading = sseRead(r);
    await sleep(300);
    assert.equal((await postJson(`${gg.url}/api/models/unload/h`, {})).status, 200);
    const s = await reading;
    assert.deepEqual(sseContents(s.events), ['c0 ']);
    assert.ok(s.events.some((e) => e.json && e.json.error), `an error event after the unload: ${s.text}`);
    await waitFor(() => fake(token, 'h').length === 0, { timeout: 10000, what: 'h unloaded' });
    await assertServes(gg, 'h', 'after the unload');
    await finish(gg, token);
  });

  test('an upstream that ignores SIGTERM is killed after the stop timeout; the swap goes on', { timeout: 100000 }, async () => {
    const token = uniqueToken('chs');
    const gg = await startGgswap({
      config: await fakeModelYaml({
        token,
        models: { stubborn: { ignoreSigterm: true }, b: {} },
        groups: { g: { swap: true, exclusive: true, members: ['stubborn', 'b'] } },
      }),
    });
    for (let i = 0; i < (SOAK ? 3 : 1); i++) {
      await assertServes(gg, 'stubborn', 'stubborn');
      const [st] = fake(token, 'stubborn');
      const t0 = Date.now();
      await assertServes(gg, 'b', 'b, swapping the stubborn one out');
      assert.ok(Date.now() - t0 >= 4000, 'the swap waited for the stop timeout (SIGTERM ignored)');
      assert.deepEqual(fake(token, 'stubborn'), [], 'the stubborn process was killed');
      assert.equal(processesMatching(String(st.pid)).filter((p) => p.pid === st.pid).length, 0);
      assert.match(gg.logs(), /SIGKILL/);
    }
    await finish(gg, token);
  });
});
