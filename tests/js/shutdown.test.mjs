// Shutdown and restart (issue "Reliability and security", item 4): SIGTERM drains requests in
// flight (a slow stream completes) and then stops the children, also one that ignores SIGTERM;
// `kill -9` of ggswap leaves no child behind and the same ports serve again at once; a config
// reload (SIGHUP) under load drops nothing.
//
// Counts: kill -9 runs 10 times by default and 100 times with GGSWAP_SOAK=1 (each round starts
// ggswap and a model under ASan, ~0.5-1 s on a 2-core machine); the SIGHUP load runs ~5 s by
// default and 30 s under GGSWAP_SOAK=1 (docs/RELIABILITY.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching, waitNoProcesses,
  waitFor, postJson, getJson, sseRead, sseContents, sleep, freePort, freePortRange,
} from './lib/harness.mjs';

registerCleanup();

const SOAK = process.env.GGSWAP_SOAK === '1';
const KILLS = SOAK ? 100 : 10;
const HUP_MS = SOAK ? 30000 : 5000;

const chat = (gg, model, extra = {}, o = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [], ...extra }, o);
const fake = (token, model) => processesMatching(`--model ${model} --test-token ${token}`);

test('SIGTERM drains a slow stream in flight, refuses new connections, then stops every child', async () => {
  const token = uniqueToken('sd');
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { a: {}, stubborn: { ignoreSigterm: true } }, groups: { free: { swap: false, exclusive: false, members: ['a', 'stubborn'] } } }),
  });
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  const r = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a', stream: true, n_chunks: 12, chunk_ms: 250, messages: [] }) });
  assert.equal(r.status, 200);
  let termAt = 0;
  let exitedAt = 0;
  gg.exited.then(() => { exitedAt = performance.now(); });
  const s = await sseRead(r, {
    onEvent: (ev) => {
      if (!termAt && sseContents([ev]).length) { termAt = performance.now(); gg.proc.kill('SIGTERM'); }
    },
  });
  const endAt = performance.now();
  // The stream was not cut: every chunk, the final event and [DONE].
  assert.equal(s.error, null);
  assert.deepEqual(sseContents(s.events), Array.from({ length: 12 }, (_, i) => `c${i} `));
  assert.equal(s.done, true, 'the stream ended with [DONE]');
  assert.ok(exitedAt === 0 || exitedAt >= endAt - 50, 'ggswap exited only after the stream completed');
  // New connections are refused while it drains or once it is gone (a fresh socket: fetch
  // would reuse the stream's keep-alive connection).
  await assert.rejects(new Promise((resolve, reject) => {
    const c = net.connect(gg.port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(); });
    c.on('error', reject);
  }), /ECONNREFUSED/);
  // One SIGTERM only (a second one means "stop waiting", tested below): wait for the exit.
  const t = await Promise.race([gg.exited, sleep(30000, null)]);
  assert.ok(t, 'ggswap exited within 30 s of SIGTERM');
  const st = await gg.stop('SIGTERM', 30000);
  assert.equal(st.killed, false, 'ggswap exits on its own (the stubborn child is SIGKILLed after the stop timeout)');
  assert.equal(st.code, 0, `exit status after SIGTERM; log tail:\n${gg.logs().split('\n').filter((l) => !/ http 127/.test(l)).slice(-25).join('\n')}`);
  assert.deepEqual(gg.sanitizerReports(), []);
  assert.deepEqual(processesMatching(token), [], 'no child outlives ggswap');
  assert.match(gg.logs(), /shutting down/);
});

test('a second SIGTERM stops waiting: the stream is cut, children stopped, nothing leaked', async () => {
  const token = uniqueToken('sd');
  // With a child that ignores SIGTERM still alive when ggswap gives up waiting.
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {}, stubborn: { ignoreSigterm: true } }, groups: { free: { swap: false, exclusive: false, members: ['a', 'stubborn'] } } }) });
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  const r = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a', stream: true, n_chunks: 1000, chunk_ms: 100, messages: [] }), signal: AbortSignal.timeout(30000) });
  let sent = false;
  const s = await sseRead(r, { onEvent: () => { if (!sent) { sent = true; gg.proc.kill('SIGTERM'); setTimeout(() => gg.proc.kill('SIGTERM'), 300); } } });
  assert.ok(sseContents(s.events).length < 1000, 'cut short');
  assert.equal(s.done, false);
  const t = await Promise.race([gg.exited, sleep(30000, null)]);
  assert.ok(t, 'ggswap exited within 30 s of the second SIGTERM');
  const st = await gg.stop('SIGTERM', 20000);
  assert.equal(st.killed, false);
  assert.deepEqual(gg.sanitizerReports(), [], `no sanitizer report; log tail:\n${gg.logs().slice(-2500)}`);
  assert.equal(st.code, 0);
  await waitNoProcesses(token, 5000);
});

test('the service lifecycle: stopped and started from the API, then a signal walks it to the end, each change logged once', async () => {
  const token = uniqueToken('sd');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }) });
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await postJson(`${gg.url}/api/service/stop`, {})).status, 200);
  const stopped = await chat(gg, 'a');
  assert.equal(stopped.status, 503);
  assert.match(stopped.json.error.message, /the service is stopped/);
  assert.equal((await postJson(`${gg.url}/api/service/start`, {})).status, 200);
  assert.equal((await chat(gg, 'a')).status, 200);
  gg.proc.kill('SIGTERM');
  const t = await Promise.race([gg.exited, sleep(30000, null)]);
  assert.ok(t, 'ggswap exited within 30 s of SIGTERM');
  const changes = gg.logs().split('\n').map((l) => /service: (.+ -> [^:]+):/.exec(l)?.[1]).filter(Boolean);
  assert.deepEqual(changes, ['stopped -> running', 'running -> stopped', 'stopped -> running',
    'running -> draining', 'draining -> stopping children']);
  await waitNoProcesses(token, 5000);
});

test(`kill -9 of ggswap leaves no child, and the same ports serve again (${KILLS} times)`, async () => {
  const token = uniqueToken('sd');
  const port = await freePort();
  const startPort = await freePortRange(3);
  const config = await fakeModelYaml({
    token, startPort,
    models: { a: {}, slow: { healthDelay: 60000 }, stubborn: { ignoreSigterm: true } },
    groups: { free: { swap: false, exclusive: false, members: ['a', 'slow', 'stubborn'] } },
  });
  for (let i = 0; i < KILLS; i++) {
    const gg = await startGgswap({ config, port });
    const r = await chat(gg, 'a');
    assert.equal(r.status, 200, `round ${i}: ${r.text}`);
    // Vary what is going on at the moment of the kill: a ready model only; one starting too;
    // a stream in flight; a child that ignores SIGTERM.
    const k = i % 4;
    let stream = null;
    if (k === 1) {
      chat(gg, 'slow').catch(() => {});
      await waitFor(() => fake(token, 'slow').length === 1, { timeout: 10000, what: 'slow starting' });
    } else if (k === 2) {
      stream = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a', stream: true, n_chunks: 1000, chunk_ms: 50, messages: [] }) });
      const rd = stream.body.getReader();
      await rd.read();
      stream = rd;
    } else if (k === 3) {
      assert.equal((await chat(gg, 'stubborn')).status, 200);
    }
    const kids = processesMatching(token);
    assert.ok(kids.length >= 1, 'children running before the kill');
    await gg.kill9();
    // PR_SET_PDEATHSIG: the kernel kills the children at once, ignoring SIGTERM or not.
    await waitNoProcesses(token, 5000);
    if (stream) await stream.read().then(() => {}, () => {});
  }
  // And the next start on the same ports works.
  const gg = await startGgswap({ config, port });
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  await gg.stop('SIGTERM', 20000);
  assert.deepEqual(gg.sanitizerReports(), []);
  await waitNoProcesses(token, 5000);
});

test(`SIGHUP reloads under load drop nothing (${HUP_MS / 1000} s of load, a reload every ~300 ms)`, async () => {
  const token = uniqueToken('sd');
  const startPort = await freePortRange(8);
  const base = { token, startPort, groups: { free: { swap: false, exclusive: false, members: ['a', 'b', 'c'] } } };
  const v1 = await fakeModelYaml({ ...base, models: { a: { concurrencyLimit: 100 }, b: { concurrencyLimit: 100 }, c: {} } });
  const gg = await startGgswap({ config: v1, args: ['--log-level', 'info'] });
  // Alternate between configs that keep a, change b's definition (a new process each time:
  // its in-flight requests must finish on the old one) and add/remove d.
  const v2 = await fakeModelYaml({ ...base, groups: { free: { swap: false, exclusive: false, members: ['a', 'b', 'c', 'd'] } }, models: { a: { concurrencyLimit: 100 }, b: { concurrencyLimit: 100, args: ['--v2'] }, c: {}, d: {} } });
  const problems = [];
  let done = 0;
  let stop = false;
  const client = async (c) => {
    while (!stop) {
      const model = c % 2 ? 'a' : 'b';
      const stream = c % 5 === 0;
      try {
        if (stream) {
          const r = await fetch(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, stream: true, n_chunks: 8, chunk_ms: 60, messages: [] }), signal: AbortSignal.timeout(60000) });
          const s = await sseRead(r);
          if (r.status !== 200 || !s.done || sseContents(s.events).length !== 8) problems.push(`${model} stream: ${r.status} done=${s.done} ${s.text.slice(-200)}`);
        } else {
          const r = await chat(gg, model, { hang_ms: c % 3 === 0 ? 200 : 0 }, { signal: AbortSignal.timeout(60000) });
          if (r.status !== 200 || !new RegExp(`^fake:${model}:\\d+$`).test(r.json?.choices?.[0]?.message?.content)) problems.push(`${model}: ${r.status} ${r.text.slice(0, 200)}`);
        }
        done++;
      } catch (e) {
        problems.push(`${model}: ${e.message}`);
      }
    }
  };
  const clients = Array.from({ length: 30 }, (_, c) => client(c));
  const t0 = Date.now();
  let reloads = 0;
  while (Date.now() - t0 < HUP_MS) {
    await sleep(300);
    fs.writeFileSync(gg.configPath, reloads % 2 ? v1 : v2);
    gg.proc.kill('SIGHUP');
    reloads++;
  }
  stop = true;
  await Promise.all(clients);
  const applied = gg.logs().split('\n').filter((l) => /reloaded /.test(l)).length;
  console.log(`# ${done} requests during ${reloads} SIGHUPs (${applied} reloads logged)`);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} requests failed across reloads`);
  assert.ok(applied >= reloads / 2, `the reloads happened (${applied} of ${reloads})`);
  assert.ok(done > 50, `load ran (${done} requests)`);
  const st = await gg.stop('SIGTERM', 20000);
  assert.equal(st.killed, false);
  assert.deepEqual(gg.sanitizerReports(), []);
  await waitNoProcesses(token, 8000);
});
