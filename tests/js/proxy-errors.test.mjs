// The swapping proxy, errors (SPEC §4): every error is OpenAI-shaped
// {"error":{"message","type","code"}} with the right status: unknown model 404 (listing the
// known names), body not JSON / no model 400, body too large 413, over concurrencyLimit 429
// (Retry-After), model failed to start 502 with the reason from its log, service stopped 503,
// missing or wrong API key 401.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching,
  waitNoProcesses, waitFor, postJson, getJson, sleep,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();

async function running(gg, headers = {}) {
  const r = await getJson(`${gg.url}/running`, { headers });
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.running.map((m) => [m.model, m.state]));
}
const chat = (gg, model, extra = {}, headers = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [], ...extra }, { headers });
function assertOpenAIError(r, status, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('content-type') || '', /application\/json/, what);
  const e = r.json?.error;
  assert.ok(e && typeof e.message === 'string' && e.message.length > 0, `${what}: error.message in ${r.text}`);
  assert.equal(typeof e.type, 'string', `${what}: error.type`);
  assert.ok(e.code !== undefined, `${what}: error.code`);
  return e;
}
function rawExchange(port, data, { timeout = 15000, endOnFirstResponse = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`raw exchange timed out; got: ${out.slice(0, 300)}`)); }, timeout);
    s.on('connect', () => s.write(data));
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (endOnFirstResponse && /\r\n\r\n/.test(out)) { clearTimeout(timer); s.destroy(); resolve(out); }
    });
    s.on('error', (e) => { clearTimeout(timer); if (out) resolve(out); else reject(e); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

test('404 unknown model (lists the known names), 400 not JSON / no model, 413 body too large', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { 'llama3.2:1b': { aliases: ['gpt-4'] }, 'org/x': {}, secret: { unlisted: true } } }),
  });
  const nf = await chat(gg, 'no-such-model');
  const e = assertOpenAIError(nf, 404, 'unknown model');
  assert.match(e.message, /no-such-model/);
  for (const name of ['llama3.2:1b', 'gpt-4', 'org/x']) assert.ok(e.message.includes(name), `the message lists ${name}: ${e.message}`);
  assert.ok(!e.message.includes('secret'), 'unlisted models are not advertised');
  // The official client sees a NotFoundError.
  const oa = new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'none', maxRetries: 0 });
  await assert.rejects(oa.chat.completions.create({ model: 'nope', messages: [] }), (err) => err.status === 404 && /nope/.test(err.message));
  assertOpenAIError(await getJson(`${gg.url}/v1/audio/voices?model=nope`), 404, 'unknown ?model=');
  assertOpenAIError(await postJson(`${gg.url}/v1/embeddings`, { model: 'nope', input: 'x' }), 404, 'unknown model, embeddings');

  assertOpenAIError(await postJson(`${gg.url}/v1/chat/completions`, '{"model": "org/x", '), 400, 'truncated JSON');
  assertOpenAIError(await postJson(`${gg.url}/v1/chat/completions`, 'model=org/x'), 400, 'not JSON');
  assertOpenAIError(await postJson(`${gg.url}/v1/chat/completions`, { messages: [] }), 400, 'no model');
  assertOpenAIError(await postJson(`${gg.url}/v1/chat/completions`, { model: 42 }), 400, 'model not a string');
  assertOpenAIError(await postJson(`${gg.url}/v1/chat/completions`, { model: '' }), 400, 'empty model');
  assertOpenAIError(await postJson(`${gg.url}/v1/chat/completions`, '[1,2]'), 400, 'JSON but not an object');
  assertOpenAIError(await postJson(`${gg.url}/v1/completions`, ''), 400, 'empty body');
  assertOpenAIError(await getJson(`${gg.url}/v1/audio/voices`), 400, 'GET without ?model=');

  // 413: a Content-Length over the 64 MiB limit is refused from the head, before any body.
  const t0 = Date.now();
  const big = await rawExchange(gg.port,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n{"model":"org/x"`,
    { endOnFirstResponse: true });
  assert.match(big, /^HTTP\/1\.1 413 /, big.slice(0, 200));
  assert.ok(Date.now() - t0 < 5000, 'answered at once');
  const bodyAt = big.indexOf('\r\n\r\n');
  if (bodyAt > 0 && big.length > bodyAt + 4) {
    const j = JSON.parse(big.slice(bodyAt + 4).trim());
    assert.ok(j.error?.message, 'the 413 body is OpenAI-shaped');
  }
  // A chunked body that grows past the limit: 413 too (sent for real, 65 MiB).
  const r = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: new ReadableStream({
      start(c) { this.n = 0; },
      pull(c) {
        if (this.n++ >= 65) { c.close(); return; }
        c.enqueue(new Uint8Array(1024 * 1024).fill(32));
      },
    }),
    duplex: 'half',
  }).catch((err) => ({ status: 'error', err }));
  if (r.status !== 'error') {
    assert.equal(r.status, 413);
    await r.arrayBuffer().catch(() => {});
  } // (a server may also close before the client finished sending; then only the status above)
  assert.equal((await getJson(`${gg.url}/health`)).status, 200, 'still serving');
  // Nothing was started by any of these.
  assert.deepEqual(processesMatching(token), []);
  await finish(gg, token);
});

test('502: a model that fails to start answers with the reason from its log, quickly, every time', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      top: { healthCheckTimeout: 15 }, // the least llama-swap (and ggswap) accept
      models: {
        broken: { failStart: "error loading model: xyz-unknown-architecture 'frobnicator'" },
        sleepy: { healthDelay: 60000 },
        garbage: {},
        missing: { cmd: '/nonexistent/llama-server --port ${PORT}' },
      },
      groups: { all: { swap: false, exclusive: false, members: ['broken', 'sleepy', 'garbage', 'missing'] } },
    }),
  });
  // Never healthy: 502 after healthCheckTimeout (15 s); runs while the rest of the test goes on.
  const t1 = Date.now();
  const sleepy = chat(gg, 'sleepy').then((x) => ({ ...x, ms: Date.now() - t1 }));
  const t0 = Date.now();
  const r = await chat(gg, 'broken');
  const e = assertOpenAIError(r, 502, 'failed start');
  assert.ok(Date.now() - t0 < 5000, 'no hang');
  assert.match(e.message, /error loading model: xyz-unknown-architecture 'frobnicator'/);
  assert.match(e.message, /broken/);
  // Several waiting requests all get the failure; a later request retries (and fails again).
  const rs = await Promise.all([chat(gg, 'broken'), chat(gg, 'broken'), chat(gg, 'broken')]);
  for (const x of rs) assert.match(assertOpenAIError(x, 502, 'failed start, concurrent').message, /xyz-unknown-architecture/);
  const m = (await getJson(`${gg.url}/api/service`)).json.models.find((x) => x.id === 'broken');
  assert.equal(m.state, 'failed');
  assert.match(m.error, /xyz-unknown-architecture/);
  assert.equal((await running(gg)).broken, undefined, '/running leaves out failed models');
  // The load endpoint says the same.
  const ld = await postJson(`${gg.url}/api/models/load/broken`, '');
  assert.match(assertOpenAIError(ld, 502, 'load of a broken model').message, /xyz-unknown-architecture/);

  // A program that does not exist.
  const mi = await chat(gg, 'missing');
  assert.match(assertOpenAIError(mi, 502, 'missing program').message, /nonexistent/);

  // An upstream answering garbage instead of HTTP: 502.
  const g = await chat(gg, 'garbage', { garbage: true });
  assertOpenAIError(g, 502, 'garbage answer');
  const ok = await chat(gg, 'garbage');
  assert.equal(ok.status, 200, 'the next request is fine');

  assert.equal((await running(gg)).sleepy, 'starting');
  const sl = await sleepy;
  assert.match(assertOpenAIError(sl, 502, 'health timeout').message, /healthCheckTimeout|did not become ready/);
  assert.ok(sl.ms >= 14000 && sl.ms < 30000, `${sl.ms} ms`);
  await waitFor(() => !processesMatching(token).some((p) => p.cmdline.includes('--model sleepy')), { timeout: 5000, what: 'sleepy killed' });
  await finish(gg, token);
});

test('503 while the service is stopped; start serves again', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }) });
  assert.equal((await chat(gg, 'a')).status, 200);
  const stop = await postJson(`${gg.url}/api/service/stop`, '');
  assert.equal(stop.status, 200, stop.text);
  assert.equal(stop.json.state, 'stopped');
  await waitNoProcesses(token, 8000);
  assertOpenAIError(await chat(gg, 'a'), 503, 'inference while stopped');
  assertOpenAIError(await getJson(`${gg.url}/upstream/a/health`), 503, '/upstream while stopped');
  assertOpenAIError(await postJson(`${gg.url}/api/models/load/a`, ''), 503, 'load while stopped');
  assert.equal((await getJson(`${gg.url}/api/service`)).json.state, 'stopped');
  assert.equal((await getJson(`${gg.url}/health`)).status, 200, 'health still answers');
  assert.deepEqual(processesMatching(token), [], 'nothing was started');
  const start = await postJson(`${gg.url}/api/service/start`, '');
  assert.equal(start.json.state, 'running');
  assert.equal((await chat(gg, 'a')).status, 200);

  // A request queued (model starting) when the service stops gets 503, not a hang.
  await postJson(`${gg.url}/api/models/unload`, '');
  await waitNoProcesses(token, 8000);
  await gg.stop();
  const token2 = uniqueToken();
  const gg2 = await startGgswap({ config: await fakeModelYaml({ token: token2, models: { s: { healthDelay: 3000 } } }) });
  const p = chat(gg2, 's');
  await waitFor(async () => (await running(gg2)).s === 'starting', { what: 's starting' });
  await postJson(`${gg2.url}/api/service/stop`, '');
  assertOpenAIError(await p, 503, 'queued request when the service stops');
  await finish(gg2, token2);
  assert.deepEqual(gg.sanitizerReports(), []);
});

test('401: apiKeys protect inference and management; Bearer, x-api-key and Basic accepted; /health open', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, top: { apiKeys: ['sk-one', 'sk-two'] }, models: { a: {} } }) });
  const bad = [
    {}, { authorization: 'Bearer sk-wrong' }, { authorization: 'Bearer ' }, { 'x-api-key': 'sk-on' },
    { authorization: `Basic ${Buffer.from('user:sk-nope').toString('base64')}` }, { authorization: 'sk-one' },
  ];
  for (const h of bad) {
    const r = await chat(gg, 'a', {}, h);
    const e = assertOpenAIError(r, 401, `inference with ${JSON.stringify(h)}`);
    assert.ok(!/sk-one|sk-two/.test(e.message), 'the keys are not revealed');
    assert.match(r.headers.get('www-authenticate') || '', /^Basic realm=/, 'a browser asks for the key');
  }
  assert.deepEqual(processesMatching(token), [], 'no model started for an unauthorized request');
  const good = [
    { authorization: 'Bearer sk-one' }, { authorization: 'Bearer sk-two' }, { 'x-api-key': 'sk-one' },
    { authorization: `Basic ${Buffer.from('anyuser:sk-two').toString('base64')}` },
  ];
  for (const h of good) assert.equal((await chat(gg, 'a', {}, h)).status, 200, JSON.stringify(h));
  const oa = new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'sk-two', maxRetries: 0 });
  assert.match((await oa.chat.completions.create({ model: 'a', messages: [] })).choices[0].message.content, /^fake:a:/);
  await assert.rejects(new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'x', maxRetries: 0 }).models.list(), (err) => err.status === 401);

  // /health stays open; management and passthrough are protected.
  assert.equal((await getJson(`${gg.url}/health`)).status, 200);
  for (const [method, path] of [['GET', '/running'], ['GET', '/v1/models'], ['GET', '/logs'], ['GET', '/api/service'],
    ['GET', '/metrics'], ['POST', '/unload'], ['POST', '/api/models/unload/a'], ['POST', '/api/models/load/a'],
    ['POST', '/api/service/stop'], ['GET', '/upstream/a/health'], ['GET', '/api/events'], ['GET', '/logs/stream']]) {
    const r = await fetch(`${gg.url}${path}`, { method });
    assert.equal(r.status, 401, `${method} ${path} without a key`);
    await r.arrayBuffer();
    const ok = await fetch(`${gg.url}${path}`, { method, headers: { authorization: 'Bearer sk-one' }, signal: AbortSignal.timeout(10000) });
    assert.notEqual(ok.status, 401, `${method} ${path} with a key`);
    await ok.body?.cancel();
  }
  assert.equal((await getJson(`${gg.url}/api/service`, { headers: { 'x-api-key': 'sk-two' } })).json.state, 'stopped', 'the stop above went through');
  await finish(gg, token);
});

test('429: over a model\'s concurrencyLimit, with Retry-After; the slot frees when the request ends', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { one: { concurrencyLimit: 1 }, two: { concurrencyLimit: 2 } }, groups: { g: { swap: false, members: ['one', 'two'] } } }) });
  assert.equal((await chat(gg, 'one')).status, 200);
  const slow = chat(gg, 'one', { hang_ms: 1500 });
  await waitFor(async () => (await getJson(`${gg.url}/running`)).json.running.find((m) => m.model === 'one')?.inflight === 1, { what: 'one in flight' });
  const r = await chat(gg, 'one');
  const e = assertOpenAIError(r, 429, 'over the limit');
  assert.equal(e.type, 'rate_limit_error');
  assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After: ${r.headers.get('retry-after')}`);
  assert.match(e.message, /one/);
  const oa = new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'none', maxRetries: 0 });
  await assert.rejects(oa.chat.completions.create({ model: 'one', messages: [] }), (err) => err.status === 429);
  // Another model is not affected.
  assert.equal((await chat(gg, 'two')).status, 200);
  assert.equal((await slow).status, 200, 'the request in flight completes');
  assert.equal((await chat(gg, 'one')).status, 200, 'the slot is free again');

  // Queued requests count too: two requests while two starts... limit 2 → the third is 429.
  await postJson(`${gg.url}/api/models/unload/two`, '');
  await waitFor(async () => !(await running(gg)).two, { what: 'two unloaded' });
  const ps = [chat(gg, 'two', { hang_ms: 800 }), chat(gg, 'two', { hang_ms: 800 })];
  await sleep(100);
  const third = await chat(gg, 'two');
  assertOpenAIError(third, 429, 'third request over a limit of 2');
  for (const x of await Promise.all(ps)) assert.equal(x.status, 200);
  await finish(gg, token);
});
