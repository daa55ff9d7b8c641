// Server-Timing on EVERY proxied answer (SPEC §4, issue 13): also on the answers ggswap gives
// itself for a named model (a failed start 502, an upstream that broke before its head 502,
// the concurrency limit 429, the service stopped 503, an ignored asset path 409), and on
// streams whose head went out early while their model loaded, as an HTTP trailer that the
// early head declares (node's http client: res.trailers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, postJson, getJson, sleep,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [], ...extra });

function parseTiming(v) {
  assert.ok(v, 'a Server-Timing value');
  const out = {};
  for (const part of v.split(',')) {
    const m = /^\s*(\w+);dur=([\d.]+)\s*$/.exec(part);
    assert.ok(m, `metric "${part}" in "${v}"`);
    out[m[1]] = Number(m[2]);
  }
  assert.deepEqual(Object.keys(out), ['queue', 'load', 'upstream'], v);
  return out;
}

// POST with node's http client (fetch does not expose trailers): head, body, trailers.
function rawPost(url, body) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      let firstByte = null;
      res.setEncoding('utf8');
      res.on('data', (d) => { if (firstByte === null) firstByte = performance.now() - t0; text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, trailers: res.trailers, text, firstByte }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test("ggswap's own error answers for a named model carry Server-Timing", async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { bad: { failStart: true, healthDelay: 200 }, one: { concurrencyLimit: 1 }, a: {} },
    }),
  });

  // A start that fails: its time shows as load.
  const f = await chat(gg, 'bad');
  assert.equal(f.status, 502, f.text);
  const tf = parseTiming(f.headers.get('server-timing'));
  assert.ok(tf.load > 0, `the failed start shows as load: ${JSON.stringify(tf)}`);
  assert.equal(tf.upstream, 0, 'nothing was sent upstream');

  // An upstream that answers garbage before any head: the 502 says how long it took.
  assert.equal((await chat(gg, 'a')).status, 200);
  const g = await chat(gg, 'a', { garbage: true });
  assert.equal(g.status, 502, g.text);
  const tg = parseTiming(g.headers.get('server-timing'));
  assert.equal(tg.load, 0, 'a was ready');

  // The concurrency limit: one request in flight, the next is refused at once.
  assert.equal((await chat(gg, 'one')).status, 200);
  const slow = chat(gg, 'one', { hang_ms: 600 });
  await sleep(150);
  const busy = await chat(gg, 'one');
  assert.equal(busy.status, 429, busy.text);
  const tb = parseTiming(busy.headers.get('server-timing'));
  assert.equal(tb.load, 0);
  assert.ok(tb.queue < 100, JSON.stringify(tb));
  assert.equal((await slow).status, 200);

  // An asset path of a model that is not loaded (upstream.ignorePaths' default list).
  const asset = await getJson(`${gg.url}/upstream/bad/favicon.ico`);
  assert.equal(asset.status, 409, asset.text);
  parseTiming(asset.headers.get('server-timing'));

  // The service stopped.
  assert.equal((await postJson(`${gg.url}/api/service/stop`, {})).status, 200);
  const stopped = await chat(gg, 'a');
  assert.equal(stopped.status, 503, stopped.text);
  parseTiming(stopped.headers.get('server-timing'));
  await finish(gg, token);
});

test('a stream whose head went out early gets Server-Timing as a trailer, with its load', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { slow: { healthDelay: 1200 }, broken: { failStart: true, healthDelay: 800 } } }),
  });
  const s = await rawPost(`${gg.url}/v1/chat/completions`, { model: 'slow', messages: [], stream: true, n_chunks: 3, chunk_ms: 20 });
  assert.equal(s.status, 200);
  assert.ok(s.firstByte < 1000, `early bytes after ${s.firstByte} ms`);
  assert.match(s.text, /^: ggswap: loading model slow/);
  assert.match(s.text, /data: \[DONE\]/, 'the whole answer');
  assert.equal(s.headers['server-timing'], undefined, 'not in the early head: nothing was known yet');
  assert.match(s.headers.trailer || '', /server-timing/i, 'the head declares the trailer');
  assert.equal(s.headers['transfer-encoding'], 'chunked');
  const t = parseTiming(s.trailers['server-timing']);
  assert.ok(t.load >= 1000, `the start shows as load: ${JSON.stringify(t)}`);
  assert.ok(t.upstream > 0, JSON.stringify(t));

  // A stream to a ready model: in the head as before, no trailer.
  const r = await rawPost(`${gg.url}/v1/chat/completions`, { model: 'slow', messages: [], stream: true, n_chunks: 2 });
  const tr = parseTiming(r.headers['server-timing']);
  assert.equal(tr.load, 0);
  assert.equal(r.trailers['server-timing'], undefined);

  // A start that fails after the early head (slow makes way for it): an error event, then the trailer.
  const b = await rawPost(`${gg.url}/v1/chat/completions`, { model: 'broken', messages: [], stream: true });
  assert.equal(b.status, 200);
  assert.match(b.text, /data: \{"error":/);
  const tb = parseTiming(b.trailers['server-timing']);
  assert.ok(tb.load > 0, JSON.stringify(tb));
  assert.equal(tb.upstream, 0);

  await finish(gg, token);
});
