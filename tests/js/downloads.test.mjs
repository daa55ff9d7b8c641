// The daemon's side of getting models: POST /api/models/pull, GET/DELETE /api/downloads,
// `download` events, and watched model folders (a new complete .gguf becomes a model within
// seconds without Regenerate and without restarting the others; a deleted one goes away).
// Models answer through a real llama-server when one is at hand ($GGSWAP_LLAMA_SERVER, as
// `make test` sets it), else through the fake upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startGgswap, tmpDir, trackToken, registerCleanup, getJson, postJson, waitFor, sseRead, env, sleep, processesMatching } from './lib/harness.mjs';
import { startHub } from './lib/hub.mjs';
import { mkTiny } from './lib/real.mjs';

const REAL = process.env.GGSWAP_LLAMA_SERVER && fs.existsSync(process.env.GGSWAP_LLAMA_SERVER) ? process.env.GGSWAP_LLAMA_SERVER : null;
const SERVER = REAL || env('FAKE_UPSTREAM');
let hub, gg, modelsDir;

before(async () => {
  hub = await startHub();
  const dir = trackToken(tmpDir('ggswap-dl-'));
  const home = path.join(dir, 'home');
  modelsDir = path.join(dir, 'models');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(modelsDir, { recursive: true });
  mkTiny(path.join(modelsDir, 'first-chat-f32.gguf'), { seed: 9 });
  fs.writeFileSync(path.join(home, 'settings.yaml'), 'ttl: 60\nctxSizeMax: 512\n');
  gg = await startGgswap({
    args: ['--home', home, '--models-dir', modelsDir, '--llama-server', SERVER],
    env: { GGSWAP_HOME: home, HF_ENDPOINT: hub.url, HF_TOKEN: '', GGSWAP_PULL_BACKOFF_MS: '100', GGSWAP_WATCH_DEBOUNCE_MS: '200' },
    timeout: 60000,
  });
});
after(async () => { if (gg) await gg.stop(); await hub.close(); });
registerCleanup();

const ids = async () => (await getJson(`${gg.url}/api/service`)).json.models.map((m) => m.id);
const chat = (model) => postJson(`${gg.url}/v1/chat/completions`, { model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });

test('POST /api/models/pull finishes, /api/downloads says so, and the model answers a chat', async () => {
  const before = await ids();
  assert.deepEqual(before, ['first-chat'], JSON.stringify(before));
  // the first model runs: it must keep running through the pull and the folder update
  const c1 = await chat('first-chat');
  assert.equal(c1.status, 200, c1.text);
  const firstPids = () => processesMatching('first-chat-f32.gguf').map((p) => p.pid).sort();
  const pid1 = firstPids();
  assert.ok(pid1.length > 0, 'first-chat runs');

  const ctrl = new AbortController();
  const events = [];
  const sse = fetch(`${gg.url}/api/events`, { signal: ctrl.signal }).then((r) => sseRead(r, {
    onEvent: (ev) => { if (ev.event === 'download') events.push(ev.json); },
  }));
  hub.cutNext('org/tiny-GGUF', 'tiny-Q8_0.gguf');
  const r = await postJson(`${gg.url}/api/models/pull`, { ref: 'org/tiny-GGUF:Q8_0' });
  assert.equal(r.status, 202, r.text);
  const id = r.json.id;
  assert.ok(id);
  let dl;
  await waitFor(async () => {
    dl = (await getJson(`${gg.url}/api/downloads`)).json.downloads.find((d) => d.id === id);
    return dl && ['done', 'failed', 'cancelled'].includes(dl.state);
  }, { timeout: 20000, what: 'the pull to end' });
  assert.equal(dl.state, 'done', JSON.stringify(dl));
  assert.equal(dl.ref, 'org/tiny-GGUF:Q8_0');
  assert.equal(dl.file, 'tiny-Q8_0.gguf');
  assert.equal(dl.done, dl.total);
  assert.ok(fs.readFileSync(path.join(modelsDir, 'tiny-Q8_0.gguf')).equals(hub.file('org/tiny-GGUF', 'tiny-Q8_0.gguf')));
  // within seconds the daemon lists it, without Regenerate
  await waitFor(async () => (await ids()).length === 2, { timeout: 8000, what: 'the new model in /v1/models' });
  // the scan's config went in force as built, not by parsing the file just written
  assert.match(gg.logs(), /regenerated \S+config\.yaml; the config built in memory is in force/);
  assert.doesNotMatch(gg.logs(), /could not be built in memory/);
  const all = await ids();
  const fresh = all.find((m) => m !== 'first-chat');
  assert.ok(fresh, JSON.stringify(all));
  // the update did not restart the model that was running (the chat below swaps it out, as
  // its group says: both are chat models)
  assert.deepEqual(firstPids(), pid1, 'first-chat kept its process');
  assert.equal((await getJson(`${gg.url}/running`)).json.running.find((m) => m.model === 'first-chat')?.state, 'ready');
  const c2 = await chat(fresh);
  assert.equal(c2.status, 200, c2.text);
  assert.ok(c2.json.choices?.length, c2.text);
  // the first model was not restarted by the update
  ctrl.abort();
  await sse.catch(() => {});
  assert.ok(events.some((e) => e.id === id && e.state === 'downloading'), JSON.stringify(events.map((e) => e.state)));
  assert.ok(events.some((e) => e.id === id && e.state === 'done'));
});

test('pull errors come back as the download state; bad refs are 400', async () => {
  let r = await postJson(`${gg.url}/api/models/pull`, { ref: 'org/gated-GGUF' });
  assert.equal(r.status, 202);
  const id = r.json.id;
  let dl;
  await waitFor(async () => {
    dl = (await getJson(`${gg.url}/api/downloads/${id}`)).json;
    return dl.state === 'failed';
  }, { timeout: 10000, what: 'the gated pull to fail' });
  assert.match(dl.error, /gated/);
  assert.match(dl.error, /hfToken in settings.yaml/);
  r = await postJson(`${gg.url}/api/models/pull`, { ref: 'not a ref' });
  assert.equal(r.status, 400);
  r = await postJson(`${gg.url}/api/models/pull`, { nothing: 1 });
  assert.equal(r.status, 400);
  r = await postJson(`${gg.url}/api/models/pull`, { ref: 'org/tiny-GGUF', dir: '/etc' });
  assert.equal(r.status, 400, 'only into a model folder');
  r = await fetch(`${gg.url}/api/downloads/999`, { method: 'DELETE' });
  assert.equal(r.status, 404);
});

test('DELETE /api/downloads/<id> cancels a pull and leaves no file', async () => {
  hub.slowNext('org/multi-GGUF', 'multi-F16.gguf', 4000);
  const r = await postJson(`${gg.url}/api/models/pull`, { ref: 'org/multi-GGUF:F16' });
  assert.equal(r.status, 202);
  const id = r.json.id;
  await waitFor(async () => (await getJson(`${gg.url}/api/downloads/${id}`)).json.state === 'downloading', { timeout: 5000, what: 'downloading' });
  const d = await fetch(`${gg.url}/api/downloads/${id}`, { method: 'DELETE' });
  assert.equal(d.status, 200, await d.text());
  assert.equal((await getJson(`${gg.url}/api/downloads/${id}`)).json.state, 'cancelled');
  assert.ok(!fs.readdirSync(modelsDir).some((f) => f.startsWith('multi-')), fs.readdirSync(modelsDir).join(' '));
  const again = await fetch(`${gg.url}/api/downloads/${id}`, { method: 'DELETE' });
  assert.equal(again.status, 409);
});

test('the page\'s Hub search and file list, through the daemon', async () => {
  const s = await getJson(`${gg.url}/api/hub/search?q=tiny`);
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.json.models.map((m) => m.id), ['org/tiny-GGUF']);
  const f = await getJson(`${gg.url}/api/hub/files?repo=org/vision-GGUF`);
  assert.equal(f.status, 200, f.text);
  const files = Object.fromEntries(f.json.files.map((x) => [x.file, x]));
  assert.ok(files['vision-Q4_K_M.gguf'].size > 0);
  assert.equal(files['vision-Q4_K_M.gguf'].quant, 'Q4_K_M');
  assert.equal(files['vision-Q4_K_M.gguf'].fits, true);
  assert.equal(files['mmproj-vision-f16.gguf'].mmproj, true);
  const l = await getJson(`${gg.url}/api/hub/files?repo=org/tiny-GGUF`);
  assert.equal(l.json.files.find((x) => x.file === 'tiny-Q8_0.gguf').local, true, 'pulled before');
  const n = await getJson(`${gg.url}/api/hub/files?repo=org/none-here`);
  assert.equal(n.status, 404);
  assert.match(n.json.error.message, /not found/);
});

test('watched folders: a copied file appears once complete, a deleted one goes away', async () => {
  const before = await ids();
  // still growing: written in pieces; it must not become a model half-written
  const src = mkTiny(path.join(tmpDir(), 'grow-chat-f32.gguf'), { seed: 11 });
  const bytes = fs.readFileSync(src);
  const dst = path.join(modelsDir, 'grow-chat-f32.gguf');
  const fd = fs.openSync(dst, 'w');
  for (let i = 0; i < 5; i++) {
    fs.writeSync(fd, bytes.subarray(Math.floor(i * bytes.length / 5), Math.floor((i + 1) * bytes.length / 5)));
    await sleep(150);
    assert.ok(!(await ids()).includes('grow-chat'), 'not while it grows');
  }
  fs.closeSync(fd);
  // a .part is never a model
  fs.writeFileSync(path.join(modelsDir, 'other-chat-f32.gguf.part'), bytes);
  await waitFor(async () => (await ids()).includes('grow-chat'), { timeout: 8000, what: 'grow-chat listed' });
  assert.ok(!(await ids()).some((m) => m.startsWith('other')));
  fs.unlinkSync(dst);
  await waitFor(async () => !(await ids()).includes('grow-chat'), { timeout: 8000, what: 'grow-chat gone' });
  assert.deepEqual((await ids()).sort(), before.sort());
});

test('DELETE /api/models/file/<model> stops the model and deletes its file', async () => {
  const name = (await ids()).find((m) => m !== 'first-chat');
  assert.ok(name);
  const r = await fetch(`${gg.url}/api/models/file/${encodeURIComponent(name)}`, { method: 'DELETE' });
  const j = await r.json();
  assert.equal(r.status, 200, JSON.stringify(j));
  assert.deepEqual(j.deleted, [path.join(modelsDir, 'tiny-Q8_0.gguf')]);
  await waitFor(async () => !(await ids()).includes(name), { timeout: 8000, what: 'the model gone' });
  const no = await fetch(`${gg.url}/api/models/file/nothing`, { method: 'DELETE' });
  assert.equal(no.status, 404);
});
