// WebSocket upgrades through /upstream/<model>/..., as llama-swap proxies them: the upgrade loads
// the model, the model's 101 comes back, then frames flow both ways (with backpressure) until
// either side closes; an unload cuts the tunnel; compat.ignoreWebsockets lets a socket reach a
// ready model only, without counting as activity. The model is fake-upstream, whose GET /ws
// speaks RFC 6455 (tests/fake_upstream.c); the client is tests/js/lib/ws.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching, waitFor,
  postJson, getJson, sleep,
} from './lib/harness.mjs';
import { running, finish } from './lib/checks.mjs';
import { wsConnect } from './lib/ws.mjs';

registerCleanup();

const inflight = async (gg, id) => (await getJson(`${gg.url}/api/service`)).json.models.find((m) => m.id === id).inflight;
const logs = async (gg) => (await getJson(`${gg.url}/logs`)).text;
const fakeOf = (token, name) => processesMatching(token).filter((p) => p.cmdline.includes(`--model ${name} `));

async function setup() {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {}, c: { compat: { ignoreWebsockets: true } } },
      groups: { g: { swap: false, exclusive: false, members: ['a', 'c'] } },
    }),
  });
  return { token, gg };
}

test('an upgrade through /upstream/ starts the model; messages flow both ways until either side closes', async () => {
  const { token, gg } = await setup();
  assert.deepEqual(await running(gg), {});

  const ws = await wsConnect(`${gg.url}/upstream/a/ws?room=1`, { headers: { Origin: 'http://localhost:5173' } });
  assert.equal(ws.status, 101, ws.body);
  assert.ok(ws.acceptOk, 'Sec-WebSocket-Accept matches the key');
  assert.equal(ws.headers['x-fake-model'], 'a', 'the model server\'s own 101 head');
  assert.equal((await running(gg)).a, 'ready', 'the upgrade loaded the model');

  ws.sendText('hello');
  assert.deepEqual(await ws.next(), { op: 1, data: Buffer.from('hello'), text: 'hello' });
  // The request reached the model below the prefix, with the client's Host and Origin (as
  // llama-swap's reverse proxy sends them; ComfyUI compares the two).
  ws.sendText('info');
  const info = JSON.parse((await ws.next()).text);
  assert.deepEqual(info, { model: 'a', host: new URL(gg.url).host, origin: 'http://localhost:5173', url: '/ws?room=1' });
  // A message larger than the tunnel's 1 MiB queue, both ways, intact.
  const big = crypto.randomBytes(3 * 1024 * 1024 + 17);
  ws.sendBinary(big);
  const back = await ws.next();
  assert.equal(back.op, 2);
  assert.equal(back.data.length, big.length);
  assert.ok(back.data.equals(big), 'the 3 MiB binary message came back unchanged');
  ws.ping('are you there');
  assert.deepEqual(await ws.next(), { op: 10, data: Buffer.from('are you there'), text: undefined });

  // In flight while open, as llama-swap counts it (a swap waits for it).
  assert.equal(await inflight(gg, 'a'), 1);

  // The client closes: close frame answered, the connection ends, nothing in flight.
  ws.sendClose(1000);
  assert.equal((await ws.next()).op, 8);
  await ws.closed;
  await waitFor(async () => (await inflight(gg, 'a')) === 0, { what: 'a no longer in flight' });
  assert.match(await logs(gg), /fake-upstream a: websocket close from the client/);

  // The server closes.
  const ws2 = await wsConnect(`${gg.url}/upstream/a/ws`);
  assert.equal(ws2.status, 101);
  ws2.sendText('close');
  const cf = await ws2.next();
  assert.equal(cf.op, 8);
  assert.equal(cf.data.readUInt16BE(0), 1000);
  await ws2.closed;
  await waitFor(async () => (await inflight(gg, 'a')) === 0, { what: 'a no longer in flight after the server closed' });

  // The client vanishes without a close frame: the model's server hears of it.
  const ws3 = await wsConnect(`${gg.url}/upstream/a/ws`);
  assert.equal(ws3.status, 101);
  ws3.sendText('x');
  await ws3.next();
  ws3.destroy();
  await waitFor(async () => /fake-upstream a: websocket closed by the client/.test(await logs(gg)), { what: 'the fake seeing the client go' });
  await waitFor(async () => (await inflight(gg, 'a')) === 0, { what: 'a no longer in flight after the client vanished' });

  // The server answers the upgrade with something else: that answer reaches the client as it
  // is, and the connection ends.
  const no = await wsConnect(`${gg.url}/upstream/a/not-a-socket`);
  assert.equal(no.status, 404);
  assert.ok(no.body.length > 0, 'the model server\'s 404 body');
  await no.closed;
  // An upgrade on an OpenAI endpoint gets a plain answer (the connection then closes).
  const plain = await wsConnect(`${gg.url}/v1/models`);
  assert.equal(plain.status, 200);
  assert.match(plain.body, /"object":\s*"list"/);

  // The service still answers, nothing leaked.
  assert.equal((await fetch(`${gg.url}/health`)).status, 200);
  await finish(gg, token);
});

test('backpressure: a client that stops reading stops the model\'s server from sending (bounded memory)', async () => {
  const { token, gg } = await setup();
  const ws = await wsConnect(`${gg.url}/upstream/a/ws`);
  assert.equal(ws.status, 101);
  const total = 256 * 1024 * 1024;
  ws.pause();
  ws.sendText(`flood ${total}`);
  // Far more than every socket buffer on the way (kernel buffers and the tunnel's 1 MiB queue)
  // can hold: without backpressure ggswap would read it all into memory and the fake finish.
  await sleep(1500);
  assert.doesNotMatch(await logs(gg), /flood done/, 'the fake is held back while the client does not read');
  ws.resume();
  await waitFor(() => ws.bytes >= total, { timeout: 60000, interval: 50, what: `${total} bytes received` });
  assert.equal(ws.bytes, total);
  await waitFor(async () => new RegExp(`fake-upstream a: flood done: ${total} bytes`).test(await logs(gg)), { what: 'flood done' });
  ws.sendText('after');
  for (;;) {
    const m = await ws.next();
    if (m.op === 1) { assert.equal(m.text, 'after'); break; }
  }
  ws.close();
  await ws.closed;
  await finish(gg, token);
});

test('an unload cuts the tunnel; compat.ignoreWebsockets reaches a ready model only and does not count', async () => {
  const { token, gg } = await setup();
  const ws = await wsConnect(`${gg.url}/upstream/a/ws`);
  assert.equal(ws.status, 101);
  const un = await postJson(`${gg.url}/api/models/unload/a`, '');
  assert.equal(un.status, 200, un.text);
  await ws.closed;
  assert.deepEqual(fakeOf(token, 'a'), []);

  // ignoreWebsockets: a stopped model is not started by a socket (409, as llama-swap).
  const refused = await wsConnect(`${gg.url}/upstream/c/ws`);
  assert.equal(refused.status, 409);
  assert.match(refused.body, /model c is not loaded; ignored websocket requests cannot start it/);
  assert.equal((await running(gg)).c, undefined);
  assert.deepEqual(fakeOf(token, 'c'), [], 'nothing started');
  // Once ready it is reached, without counting as a request in flight.
  assert.equal((await postJson(`${gg.url}/api/models/load/c`, '')).status, 200);
  const ok = await wsConnect(`${gg.url}/upstream/c/ws`);
  assert.equal(ok.status, 101, ok.body);
  ok.sendText('hi c');
  assert.equal((await ok.next()).text, 'hi c');
  assert.equal(await inflight(gg, 'c'), 0, 'an ignored websocket is not in flight');
  ok.close();
  await ok.closed;
  // Its plain HTTP requests are unaffected by the compat flag.
  const r = await postJson(`${gg.url}/v1/chat/completions`, { model: 'c', messages: [] });
  assert.equal(r.status, 200, r.text);
  await finish(gg, token);
});
