// The swapping proxy, lifecycle: management endpoints (/running, /unload, load/unload,
// /logs, /logs/stream, /api/events, /metrics, /health), children that never outlive ggswap
// (kill -9, SIGTERM), cmdStop, SIGKILL after the stop timeout, and config reloads (SIGHUP,
// /api/service/regenerate, --watch-config) that keep unchanged models and requests in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  registerCleanup, startGgswap, fakeModelYaml, fakeCmd, uniqueToken, processesMatching,
  waitNoProcesses, waitFor, postJson, getJson, sleep, freePortRange,
} from './lib/harness.mjs';
import { running, starts, finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model, extra = {}, signal = AbortSignal.timeout(30000)) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [], ...extra }, { signal });
const pidOf = (token, name) => processesMatching(token).filter((p) => p.cmdline.includes(`--model ${name} `)).map((p) => p.pid);

// Read a streaming body until `pattern` shows up in the text (or time out); keeps reading on.
function streamText(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  const st = { text: '', closed: false };
  const waiters = new Set();
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        st.text += dec.decode(value, { stream: true });
        for (const w of waiters) w();
      }
    } catch { /* cancelled */ }
    st.closed = true;
    for (const w of waiters) w();
  })();
  st.until = (pattern, timeout = 10000) => new Promise((resolve, reject) => {
    const check = () => {
      if (pattern.test(st.text)) { cleanup(); resolve(st.text); } else if (st.closed) { cleanup(); reject(new Error(`stream closed before ${pattern}: ${st.text.slice(-500)}`)); }
    };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${pattern} within ${timeout} ms in: ${st.text.slice(-1500)}`)); }, timeout);
    const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
    waiters.add(check);
    check();
  });
  st.cancel = () => reader.cancel().catch(() => {});
  return st;
}
function sseEvents(text) {
  return text.split('\n\n').map((b) => {
    const ev = { event: 'message', data: '' };
    for (const l of b.split('\n')) {
      if (l.startsWith('event: ')) ev.event = l.slice(7);
      else if (l.startsWith('data: ')) ev.data += l.slice(6);
    }
    try { ev.json = JSON.parse(ev.data); } catch { /* not JSON */ }
    return ev;
  }).filter((e) => e.data);
}

test('management: /health, load/unload endpoints, /running, /metrics, /logs, /logs/stream, /api/events', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      // org/c ignores SIGTERM: its unload takes its whole unloadTimeout (1 s), then SIGKILL.
      models: { a: { healthDelay: 300 }, b: {}, 'org/c': { ignoreSigterm: true, unloadTimeout: 1 } },
      groups: { g: { swap: false, exclusive: false, members: ['a', 'b', 'org/c'] } },
    }),
  });
  const health = await fetch(`${gg.url}/health`);
  assert.equal(health.status, 200);
  assert.match(await health.text(), /OK/);

  // Live events and log streams, opened before anything happens.
  const ev = streamText(await fetch(`${gg.url}/api/events`));
  const evRes = await ev.until(/event: service/);
  assert.ok(evRes);
  const logA = await fetch(`${gg.url}/logs/stream/a`);
  assert.equal(logA.status, 200);
  assert.match(logA.headers.get('content-type'), /text\/plain/);
  assert.equal(logA.headers.get('transfer-encoding'), 'chunked');
  const la = streamText(logA);
  const logAll = streamText(await fetch(`${gg.url}/logs/stream`));
  assert.equal((await getJson(`${gg.url}/logs/stream/nope`)).status, 404);

  // POST /api/models/load/<model> waits until ready.
  const t0 = Date.now();
  const ld = await postJson(`${gg.url}/api/models/load/a`, '');
  assert.equal(ld.status, 200, ld.text);
  assert.deepEqual(ld.json, { ok: true, model: 'a', state: 'ready' });
  assert.ok(Date.now() - t0 >= 250, 'load waited for the health delay');
  assert.deepEqual(await running(gg), { a: 'ready' });
  const ldc = await postJson(`${gg.url}/api/models/load/${encodeURIComponent('org/c')}`, '');
  assert.equal(ldc.json?.model, 'org/c', ldc.text);
  assert.equal((await postJson(`${gg.url}/api/models/load/nope`, '')).status, 404);

  // The model's log arrives live on /logs/stream/a; /logs/stream has proxy and model lines.
  await la.until(/fake-upstream a listening on/);
  assert.doesNotMatch(la.text, /fake-upstream org\/c/, 'only a\'s lines');
  await logAll.until(/\[a\] fake-upstream a listening on/);
  await logAll.until(/model a: starting -> ready/);

  // /api/events: model state changes and log lines.
  await ev.until(/"state":"ready"/);
  const evs = sseEvents(ev.text);
  assert.equal(evs[0].event, 'service');
  assert.equal(evs[0].json.state, 'running');
  const aStates = evs.filter((e) => e.event === 'model' && e.json.id === 'a').map((e) => e.json.state);
  assert.deepEqual(aStates.slice(0, 2), ['starting', 'ready'], JSON.stringify(aStates));
  assert.ok(evs.some((e) => e.event === 'log' && e.json.source === 'a' && /listening on/.test(e.json.line)), 'model log lines as events');
  // A request shows as a request event.
  assert.equal((await chat(gg, 'a')).status, 200);
  await ev.until(/event: request\ndata: \{[^\n]*"path":"\/v1\/chat\/completions"/);

  // /metrics: Prometheus text.
  const m = await fetch(`${gg.url}/metrics`);
  assert.match(m.headers.get('content-type'), /text\/plain/);
  const mt = await m.text();
  assert.match(mt, /^# TYPE ggswap_up gauge$/m);
  assert.match(mt, /^ggswap_up 1$/m);
  assert.match(mt, /^ggswap_model_state\{model="a",state="ready"\} 1$/m);
  assert.match(mt, /^ggswap_model_state\{model="b",state="stopped"\} 1$/m);
  assert.match(mt, /^ggswap_requests_total\{class="2xx"\} [1-9]\d*$/m);
  for (const line of mt.split('\n').filter((l) => l && !l.startsWith('#'))) {
    assert.match(line, /^[a-zA-Z_:][\w:]*(\{[^}]*\})? -?[\d.e+-]+$/, `a valid sample line: ${line}`);
  }

  // /logs: proxy log then each model's section.
  const logs = await fetch(`${gg.url}/logs`);
  assert.match(logs.headers.get('content-type'), /text\/plain/);
  const lt = await logs.text();
  assert.match(lt, /model a: stopped -> starting/);
  assert.match(lt, /fake-upstream a listening on/);
  assert.match(lt, /fake-upstream org\/c listening on/);

  // Unload one (percent-encoded id with a slash), then all.
  // As llama-swap's, it answers only once the model's process is gone (here after the 1 s grace).
  assert.equal(pidOf(token, 'org/c').length, 1, 'org/c runs before its unload');
  const tu = Date.now();
  const u1 = await postJson(`${gg.url}/api/models/unload/${encodeURIComponent('org/c')}`, '');
  assert.equal(u1.status, 200, u1.text);
  assert.equal(u1.json.ok, true);
  assert.ok(Date.now() - tu >= 900, `the unload waited for the stop grace (${Date.now() - tu} ms)`);
  assert.deepEqual(pidOf(token, 'org/c'), [], 'no org/c process once the unload answered');
  assert.equal((await running(gg))['org/c'], undefined, 'org/c is not in /running once the unload answered');
  await waitFor(async () => !(await running(gg))['org/c'], { what: 'org/c unloaded' });
  assert.deepEqual(await running(gg), { a: 'ready' });
  assert.equal((await postJson(`${gg.url}/api/models/unload/nope`, '')).status, 404);
  await chat(gg, 'b');
  assert.deepEqual(await running(gg), { a: 'ready', b: 'ready' });
  const ua = await fetch(`${gg.url}/unload`, { method: 'POST' });
  assert.equal(ua.status, 200);
  await ua.text();
  await waitFor(async () => Object.keys(await running(gg)).length === 0, { what: 'all unloaded' });
  await waitNoProcesses(token, 5000);
  await ev.until(/"id":"b","name"?[^\n]*"state":"stopped"|"id":"b"[^\n]*"state":"stopped"/);
  await chat(gg, 'b');
  const u2 = await postJson(`${gg.url}/api/models/unload`, '');
  assert.deepEqual(u2.json?.ok, true, u2.text);
  await waitNoProcesses(token, 5000);

  // /running while starting and stopping shows those states.
  const p = postJson(`${gg.url}/api/models/load/a`, '');
  await waitFor(async () => (await running(gg)).a === 'starting', { what: 'a starting in /running' });
  await p;
  ev.cancel(); la.cancel(); logAll.cancel();
  await finish(gg, token);
});

test('kill -9 of ggswap leaves no child behind', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { a: {}, b: { ignoreSigterm: true } }, groups: { g: { swap: false, members: ['a', 'b'] } } }),
  });
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await chat(gg, 'b')).status, 200);
  assert.equal(processesMatching(token).length, 2);
  // A request in flight too.
  const inflight = chat(gg, 'a', { hang_ms: 5000 }).catch((e) => e);
  await sleep(200);
  await gg.kill9();
  await waitNoProcesses(token, 5000);
  assert.ok((await inflight) instanceof Error, 'the client connection died with ggswap');
});

test('SIGTERM: requests in flight finish, then every child is stopped and ggswap exits 0', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { a: {}, e: {} }, groups: { g: { swap: false, members: ['a', 'e'] } } }),
  });
  await chat(gg, 'a');
  await chat(gg, 'e');
  assert.equal(processesMatching(token).length, 2);
  const slow = chat(gg, 'a', { hang_ms: 1200 });
  await sleep(200);
  const t0 = Date.now();
  const st = await gg.stop('SIGTERM', 20000);
  assert.deepEqual([st.code, st.killed], [0, false], JSON.stringify(st));
  const r = await slow;
  assert.equal(r.status, 200, 'the request in flight completed');
  assert.ok(Date.now() - t0 < 10000);
  assert.deepEqual(processesMatching(token), []);
  assert.deepEqual(gg.sanitizerReports(), []);
  assert.match(gg.logs(), /ggswap stopped/);
});

test('cmdStop is used when set; a child that ignores SIGTERM is SIGKILLed after the stop timeout', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: {
        polite: { ignoreSigterm: true, cmdStop: '/bin/kill -INT ${PID}' },
        stubborn: { ignoreSigterm: true },
      },
      groups: { g: { swap: false, members: ['polite', 'stubborn'] } },
    }),
  });
  await chat(gg, 'polite');
  await chat(gg, 'stubborn');
  const [pPid] = pidOf(token, 'polite');
  const [sPid] = pidOf(token, 'stubborn');
  assert.ok(pPid && sPid);

  // cmdStop: ${PID} is the child's pid; SIGINT makes the fake exit although it ignores SIGTERM.
  const t0 = Date.now();
  await postJson(`${gg.url}/api/models/unload/polite`, '');
  await waitFor(async () => !(await running(gg)).polite, { timeout: 4500, what: 'polite stopped by cmdStop (before any SIGKILL)' });
  assert.ok(Date.now() - t0 < 4500, `${Date.now() - t0} ms`);
  const lt = (await getJson(`${gg.url}/logs`)).text;
  assert.match(lt, /fake-upstream polite: SIGINT: exiting/);
  assert.doesNotMatch(lt, /fake-upstream polite: ignoring SIGTERM/);

  // No cmdStop: SIGTERM is ignored; SIGKILL follows after 5 s; "stopping" meanwhile.
  // The unload answers only once the SIGKILLed process is gone (llama-swap's behaviour).
  const t1 = Date.now();
  const unloading = postJson(`${gg.url}/api/models/unload/stubborn`, '').then((r) => ({ ...r, at: Date.now() - t1 }));
  await sleep(500);
  assert.equal((await running(gg)).stubborn, 'stopping');
  assert.ok(processesMatching(token).some((p) => p.pid === sPid), 'still alive while stopping');
  assert.match((await getJson(`${gg.url}/logs`)).text, /fake-upstream stubborn: ignoring SIGTERM/);
  // A request for it meanwhile waits and is served by a new process.
  const again = chat(gg, 'stubborn');
  await waitFor(() => !processesMatching(token).some((p) => p.pid === sPid), { timeout: 10000, interval: 50, what: 'stubborn SIGKILLed' });
  const killedAfter = Date.now() - t1;
  assert.ok(killedAfter >= 4500 && killedAfter < 9000, `killed after ${killedAfter} ms (stop timeout 5 s)`);
  // ggswap logs the line before the kill, but node may see the process gone in /proc (a
  // synchronous read) before it has read that line from ggswap's stderr pipe.
  await gg.waitLog(/model stubborn: pid \d+ did not stop within 5000 ms; sending SIGKILL/, 2000);
  const un = await unloading;
  assert.equal(un.status, 200, un.text);
  assert.ok(un.at >= 4500, `the unload answered after the SIGKILL (${un.at} ms)`);
  const ra = await again;
  assert.equal(ra.status, 200, ra.text);
  assert.notEqual(pidOf(token, 'stubborn')[0], sPid);
  // ggswap's own shutdown also ends with SIGKILL for it (within its 20 s bound).
  await finish(gg, token);
});

test('reload: SIGHUP and /api/service/regenerate keep unchanged models, restart changed ones, stop removed ones', async () => {
  const token = uniqueToken();
  const startPort = await freePortRange(4);
  const cfgOf = (models) => fakeModelYaml({ token, startPort, models, groups: { g: { swap: false, exclusive: false, members: Object.keys(models) } } });
  const gg = await startGgswap({ config: await cfgOf({ a: {}, b: {}, c: {} }) });
  for (const m of ['a', 'b', 'c']) assert.equal((await chat(gg, m)).status, 200);
  const pids0 = { a: pidOf(token, 'a')[0], b: pidOf(token, 'b')[0], c: pidOf(token, 'c')[0] };

  // a same, b changed (an extra arg), c removed, d added.
  fs.writeFileSync(gg.configPath, await cfgOf({ a: {}, b: { args: ['--changed', '1'] }, d: {} }));
  process.kill(gg.pid, 'SIGHUP');
  await gg.waitLog(/reloaded/);
  assert.match(gg.logs(), /\(1 added, 1 removed, 1 changed/);
  await waitFor(() => !processesMatching(token).some((p) => p.pid === pids0.b || p.pid === pids0.c), { timeout: 8000, what: 'old b and c stopped' });
  assert.deepEqual(pidOf(token, 'a'), [pids0.a], 'unchanged a kept running');
  assert.deepEqual(await running(gg), { a: 'ready' });
  assert.equal((await chat(gg, 'c')).status, 404, 'c is gone');
  const nb = await chat(gg, 'b');
  assert.equal(nb.status, 200);
  const newB = processesMatching(token).find((p) => p.cmdline.includes('--model b '));
  assert.ok(newB && newB.cmdline.includes('--changed 1'), 'b restarted with its new definition');
  // d took c's old port (ports follow the sorted ids).
  assert.equal((await chat(gg, 'd')).status, 200);
  assert.equal(starts(gg, 'a'), 1);

  // /api/service/regenerate (config mode: reload the file): a and b unchanged, d removed.
  fs.writeFileSync(gg.configPath, await cfgOf({ a: {}, b: { args: ['--changed', '1'] } }));
  const pidD = pidOf(token, 'd')[0];
  const rg = await postJson(`${gg.url}/api/service/regenerate`, '');
  assert.equal(rg.status, 200, rg.text);
  assert.equal(rg.json.ok, true);
  await waitFor(() => !processesMatching(token).some((p) => p.pid === pidD), { timeout: 8000, what: 'd stopped' });
  assert.deepEqual(pidOf(token, 'a'), [pids0.a]);
  assert.deepEqual(pidOf(token, 'b'), [newB.pid], 'b unchanged this time: same process');

  // A broken config is refused; the running config stays.
  fs.writeFileSync(gg.configPath, 'models: [this is: not valid\n');
  const bad = await postJson(`${gg.url}/api/service/regenerate`, '');
  assert.ok(bad.status >= 400, bad.text);
  assert.ok(bad.json?.error?.message, bad.text);
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.deepEqual(pidOf(token, 'a'), [pids0.a]);
  process.kill(gg.pid, 'SIGHUP');
  await gg.waitLog(/reload of .* failed; keeping the config in force/);
  assert.equal((await chat(gg, 'b')).status, 200);
  assert.deepEqual(pidOf(token, 'b'), [newB.pid]);
  await finish(gg, token);
});

test('regenerate answers with what was added, removed and changed (docs/API.md)', async () => {
  const token = uniqueToken();
  const startPort = await freePortRange(3);
  const cfgOf = (models) => fakeModelYaml({ token, startPort, models });
  const gg = await startGgswap({ config: await cfgOf({ a: {}, b: {} }) });
  fs.writeFileSync(gg.configPath, await cfgOf({ a: { args: ['--x'] }, c: {} }));
  const rg = await postJson(`${gg.url}/api/service/regenerate`, '');
  assert.equal(rg.status, 200, rg.text);
  assert.deepEqual([rg.json.added, rg.json.removed, rg.json.changed], [['c'], ['b'], ['a']], rg.text);
  await finish(gg, token);
});

test('reload with requests in flight: they complete, then the retired processes stop and their successors can start', async () => {
  const token = uniqueToken();
  const startPort = await freePortRange(4);
  const cfgOf = (models) => fakeModelYaml({ token, startPort, models, groups: { g: { swap: false, exclusive: false, members: Object.keys(models) } } });
  const gg = await startGgswap({ config: await cfgOf({ a: {}, b: {}, c: {} }) });
  for (const m of ['a', 'b', 'c']) assert.equal((await chat(gg, m)).status, 200);
  const pids0 = { a: pidOf(token, 'a')[0], b: pidOf(token, 'b')[0], c: pidOf(token, 'c')[0] };
  // A slow request on b (which will change) and one on c (which will go) during the reload.
  const slowB = chat(gg, 'b', { hang_ms: 1500 });
  const slowC = chat(gg, 'c', { hang_ms: 1500 });
  await waitFor(async () => (await getJson(`${gg.url}/running`)).json.running.filter((m) => m.inflight > 0).length === 2, { what: 'two in flight' });
  fs.writeFileSync(gg.configPath, await cfgOf({ a: {}, b: { args: ['--changed', '1'] }, d: {} }));
  process.kill(gg.pid, 'SIGHUP');
  await gg.waitLog(/reloaded/);
  const rb = await slowB;
  const rc = await slowC;
  assert.equal(rb.status, 200, `in-flight request on the changed model completed: ${rb.text}`);
  assert.equal(rc.status, 200, `in-flight request on the removed model completed: ${rc.text}`);
  assert.match(rb.json.choices[0].message.content, /^fake:b:/);
  assert.match(rc.json.choices[0].message.content, /^fake:c:/);
  // Once their requests are over, the old b and c must go (nothing else will stop them: no TTL).
  await waitFor(() => !processesMatching(token).some((p) => p.pid === pids0.b || p.pid === pids0.c), { timeout: 8000, what: 'old b and c stopped after their requests ended' });
  assert.deepEqual(pidOf(token, 'a'), [pids0.a], 'unchanged a kept running');
  const nb = await chat(gg, 'b', {}, AbortSignal.timeout(10000));
  assert.equal(nb.status, 200, 'new b starts (the old one freed its port)');
  assert.equal((await chat(gg, 'd')).status, 200, 'd starts on the port c had');
  await finish(gg, token);
});

test('--watch-config picks up a change of the file', async () => {
  const token = uniqueToken();
  const startPort = await freePortRange(3);
  const cfgOf = (models) => fakeModelYaml({ token, startPort, models, groups: { g: { swap: false, members: Object.keys(models) } } });
  const gg = await startGgswap({ config: await cfgOf({ a: {}, b: {} }), args: ['--watch-config'] });
  await chat(gg, 'a');
  await chat(gg, 'b');
  const pa = pidOf(token, 'a')[0];
  const pb = pidOf(token, 'b')[0];
  await sleep(1100); // a different mtime second, whatever the file system's granularity
  fs.writeFileSync(gg.configPath, await cfgOf({ a: {}, b: { args: ['--v2'] }, n: { aliases: ['new-one'] } }));
  await gg.waitLog(/config file .* changed; reloading/, 8000);
  await waitFor(() => !processesMatching(token).some((p) => p.pid === pb), { timeout: 8000, what: 'old b stopped' });
  assert.deepEqual(pidOf(token, 'a'), [pa]);
  const r = await chat(gg, 'new-one');
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.choices[0].message.content, /^fake:n:/);
  await finish(gg, token);
});
