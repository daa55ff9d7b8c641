// llama-swap's `timeouts`, black-box, for models and peers: a head that does not come within
// timeouts.responseHeader and a connect that does not complete within timeouts.connect end the
// request with 502 (as llama-swap's reverse proxy answers a transport error), the message
// naming the model, the address and port, the seconds and the key; a slow head without a
// limit (the models' default) is waited for. The unit side (idleConn, keepalive, the head-only
// rule) is tests/unit/test_upstream.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  registerCleanup, startGgswap, startFake, fakeModelYaml, uniqueToken, postJson, freePortRange,
  processesMatching,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const startPortOf = (yaml) => Number(/"startPort": (\d+)/.exec(yaml)[1]);

async function timed(p) {
  const t0 = Date.now();
  const r = await p;
  return Object.assign(r, { ms: Date.now() - t0 });
}

test('model timeouts.responseHeader: no head within it is a 502 naming model, port and key; none waits', { timeout: 60000 }, async () => {
  const token = uniqueToken('tmo');
  const config = await fakeModelYaml({
    token,
    models: { patient: {}, slow: { timeouts: { responseHeader: 1 } } },
  });
  const port = startPortOf(config) + 1; // ${PORT} in id order: patient, then slow
  const gg = await startGgswap({ config });
  assert.equal((await chat(gg, 'slow')).status, 200, 'answers in time');
  const r = await timed(chat(gg, 'slow', { hang_ms: 4000 }));
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.message, `model slow: no response head from 127.0.0.1:${port} within 1 s (timeouts.responseHeader)`);
  assert.ok(r.ms >= 900 && r.ms < 3500, `answered after ${r.ms} ms`);
  assert.match(gg.logs(), /model slow: POST \/v1\/chat\/completions: no response head/);
  // The connection's lifecycle, logged by its one setter (logLevel debug).
  for (const step of ['sending -> awaiting head', 'awaiting head -> closed']) {
    assert.match(gg.logs(), new RegExp(`upstream 127\\.0\\.0\\.1:${port}: connection 0x[0-9a-f]+ ${step}`), step);
  }
  assert.equal((await chat(gg, 'slow')).status, 200, 'the model serves the next request');
  // The models' default is no limit: a head after 1.5 s is waited for.
  const p = await timed(chat(gg, 'patient', { hang_ms: 1500 }));
  assert.equal(p.status, 200, p.text);
  assert.ok(p.ms >= 1400, `${p.ms} ms`);
  await finish(gg, token);
});

test('model timeouts.connect: a port that never accepts is a 502 after it, naming model, port and key', { timeout: 60000 }, async () => {
  const token = uniqueToken('tmo');
  const config = await fakeModelYaml({
    token,
    models: { hole: { blackhole: true, checkEndpoint: 'none', timeouts: { connect: 1 } } },
  });
  const port = startPortOf(config);
  const gg = await startGgswap({ config });
  const r = await timed(chat(gg, 'hole'));
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.message, `model hole: cannot connect to 127.0.0.1:${port} within 1 s (timeouts.connect)`);
  assert.ok(r.ms >= 900 && r.ms < 3500, `answered after ${r.ms} ms`);
  await finish(gg, token);
});

test('peer timeouts.responseHeader and timeouts.connect: 502 peer proxy error naming peer, port and key', { timeout: 60000 }, async () => {
  const token = uniqueToken('tmo');
  const slowPeer = await startFake({ name: 'far', token });
  const holePeer = await startFake({ name: 'hole', token, blackhole: true });
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      top: {
        peers: {
          remote: { proxy: slowPeer.url, models: ['x'], timeouts: { responseHeader: 1 } },
          gone: { proxy: holePeer.url, models: ['z'], timeouts: { connect: 1 } },
        },
      },
    }),
  });
  let r = await chat(gg, 'remote/x');
  assert.equal(r.status, 200, r.text);
  r = await timed(chat(gg, 'remote/x', { hang_ms: 4000 }));
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.message, `model remote/x: peer proxy error: no response head from 127.0.0.1:${slowPeer.port} within 1 s (timeouts.responseHeader)`);
  assert.ok(r.ms >= 900 && r.ms < 3500, `answered after ${r.ms} ms`);
  r = await timed(chat(gg, 'gone/z'));
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.message, `model gone/z: peer proxy error: cannot connect to 127.0.0.1:${holePeer.port} within 1 s (timeouts.connect)`);
  assert.ok(r.ms >= 900 && r.ms < 3500, `answered after ${r.ms} ms`);
  await finish(gg);
  for (const f of [slowPeer, holePeer]) await f.stop('SIGTERM', 5000);
  await finish(gg, token);
});

test('a reload that changes only a model\'s timeouts keeps its process and applies them', { timeout: 60000 }, async () => {
  const token = uniqueToken('tmo');
  const startPort = await freePortRange(1);
  const cfgOf = (m) => fakeModelYaml({ token, startPort, models: { m } });
  const gg = await startGgswap({ config: await cfgOf({}) });
  assert.equal((await chat(gg, 'm', { hang_ms: 1500 })).status, 200, 'no limit at first');
  const pid = processesMatching(token)[0].pid;
  fs.writeFileSync(gg.configPath, await cfgOf({ timeouts: { responseHeader: 1 } }));
  process.kill(gg.pid, 'SIGHUP');
  await gg.waitLog(/reloaded/);
  const r = await chat(gg, 'm', { hang_ms: 3000 });
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.message, `model m: no response head from 127.0.0.1:${startPort} within 1 s (timeouts.responseHeader)`);
  assert.deepEqual(processesMatching(token).map((p) => p.pid), [pid], 'the same process');
  await finish(gg, token);
});
