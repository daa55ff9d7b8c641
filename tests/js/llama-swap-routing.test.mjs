// llama-swap v250 behaviour, black-box: routing.router groups and the swap matrix, unloads that
// answer once the processes are gone, upstream.ignorePaths. Configs are written the way
// llama-swap's config.example.yaml writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching, waitFor,
  postJson, sleep,
} from './lib/harness.mjs';
import { running, starts, finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] });
const pidsOf = (token, name) => processesMatching(token).filter((p) => p.cmdline.includes(`--model ${name} `)).map((p) => p.pid);

test('GET /unload answers only once no child is alive (one ignores SIGTERM and is SIGKILLed)', { timeout: 60000 }, async () => {
  const token = uniqueToken('uld');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {}, stubborn: { ignoreSigterm: true } },
      groups: { g: { swap: false, members: ['a', 'stubborn'] } },
    }),
  });
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  assert.equal(processesMatching(token).length, 2);
  const t0 = Date.now();
  const r = await fetch(`${gg.url}/unload`);
  assert.equal(r.status, 200);
  assert.equal((await r.text()).trim(), 'OK');
  assert.deepEqual(processesMatching(token), [], 'no child is alive when /unload answers');
  assert.ok(Date.now() - t0 >= 1000, `answered after ${Date.now() - t0} ms: it waited for the SIGKILL`);
  assert.deepEqual(await running(gg), {});
  // Nothing running: answers at once.
  const t1 = Date.now();
  const u2 = await postJson(`${gg.url}/api/models/unload`, '');
  assert.equal(u2.status, 200);
  assert.equal(u2.json.ok, true);
  assert.ok(Date.now() - t1 < 2000);
  await finish(gg, token);
});

test('a client that gives up waiting on /unload does not disturb the unload', { timeout: 60000 }, async () => {
  const token = uniqueToken('uld');
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { stubborn: { ignoreSigterm: true } } }),
  });
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  await fetch(`${gg.url}/unload`, { signal: AbortSignal.timeout(300) }).catch((e) => e);
  await waitFor(() => processesMatching(token).length === 0, { timeout: 20000, what: 'stubborn killed' });
  assert.equal((await chat(gg, 'stubborn')).status, 200, 'loads again');
  await finish(gg, token);
});

test('upstream.ignorePaths: an asset path of an unloaded model answers 409 and loads nothing', async () => {
  const token = uniqueToken('ign');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {}, b: {} } }) });
  assert.equal((await chat(gg, 'a')).status, 200);
  for (const p of ['manifest.json', 'favicon.ico', 'static/app.js', 'style.css', 'robots.txt']) {
    const r = await fetch(`${gg.url}/upstream/b/${p}`);
    const body = await r.json();
    assert.equal(r.status, 409, `${p}: ${JSON.stringify(body)}`);
    assert.match(body.error.message, /model b is not loaded; path matches upstream\.ignorePaths/);
  }
  assert.deepEqual(await running(gg), { a: 'ready' }, 'a still runs; b was not loaded');
  assert.equal(starts(gg, 'b'), 0);
  // A path that is not an asset loads the model; once loaded, assets pass through.
  const r = await fetch(`${gg.url}/upstream/b/health`);
  assert.equal(r.status, 200);
  await r.text();
  assert.deepEqual(await running(gg), { b: 'ready' });
  const m = await fetch(`${gg.url}/upstream/b/manifest.json`);
  assert.notEqual(m.status, 409, 'a loaded model serves its assets');
  await m.text();
  await finish(gg, token);
});
