// Memory-aware scheduling with real llama-server processes (issue 12, "Done when"): in the
// integrated mode, three ~200 MB models run together in a 4 GiB RAM budget; in a 450 MiB one
// every request is answered, never three run at once, two do share it, and the children's RSS
// stays within the budget + 10 %; /api/memory shows the budget, the estimates and the measured
// figures; a model whose `memory` exceeds the budget answers 503 insufficient_memory at once.
// Skips, with one line saying why, only when no llama-server can be had.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { registerCleanup, getJson, postJson, rssKb, childPids } from './lib/harness.mjs';
import { findLlamaServer, startReal } from './lib/real.mjs';

registerCleanup();

const LS = findLlamaServer();
const SKIP = LS.path ? false : `no llama-server: ${LS.reason}`;
const MiB = 1024 * 1024;
// ~144 MB of F32 weights each: with -c 1024 an estimate of about 200 MiB, a measured RSS of
// about 175 MiB. Two fit in 450 MiB, three do not.
const SHAPE = { embd: 768, layers: 5, ff: 2048 };
const MODELS = {
  'fit-alpha-chat-f32.gguf': { seed: 1, ...SHAPE },
  'fit-bravo-chat-f32.gguf': { seed: 2, ...SHAPE },
  'fit-charlie-chat-f32.gguf': { seed: 3, ...SHAPE },
};
const NAMES = ['fit-alpha-chat', 'fit-bravo-chat', 'fit-charlie-chat'];

const ask = (r, model) => r.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
const notStopped = (m) => Object.values(m).filter((s) => s !== 'stopped' && s !== 'failed').length;

// The llama-servers under ggswap (the shim execs them: direct children) and their RSS.
function childrenRss(pid) {
  let sum = 0;
  for (const k of childPids(pid)) sum += Math.max(0, rssKb(k.pid)) * 1024;
  return sum;
}

describe('memory-aware scheduling with real llama-servers', { skip: SKIP }, () => {
  let models; // written once, copied for each ggswap
  const starts = [];
  after(async () => {
    for (const r of starts) await r.gg.stop('SIGTERM', 20000).catch(() => {});
  });
  const start = async (settings) => {
    const m = {};
    for (const [f, o] of Object.entries(MODELS)) {
      m[f] = models ? (full) => fs.copyFileSync(models[f], full) : o;
    }
    const r = await startReal({ llamaServer: LS.path, models: m, settings: { ttl: 120, ctxSizeMax: 1024, ...settings } });
    if (!models) models = Object.fromEntries(Object.keys(MODELS).map((f) => [f, `${r.modelsDir}/${f}`]));
    starts.push(r);
    return r;
  };

  test('4 GiB: all three run together', async () => {
    const r = await start({ startPort: 27300, memory: { ram: '4GiB', margin: 0 } });
    for (const n of NAMES) assert.equal((await ask(r, n)).model, n);
    const m = await r.running();
    assert.deepEqual(Object.keys(m).sort(), NAMES, JSON.stringify(m));
    const j = (await getJson(`${r.gg.url}/api/memory`)).json;
    assert.equal(j.enabled, true);
    assert.equal(j.devices[0].budget, 4096 * MiB);
    for (const n of NAMES) {
      const x = j.models.find((y) => y.model === n);
      assert.ok(x.estimate > 150 * MiB && x.estimate < 260 * MiB, `${n} estimate ${x.estimate / MiB} MiB`);
      assert.ok(x.measured > 100 * MiB, `${n} measured ${x.measured}`);
    }
    await r.gg.stop('SIGTERM', 20000);
  });

  test('450 MiB: every request answered, never three at once, two share it, RSS within budget + 10 %', async (t) => {
    const r = await start({ startPort: 27310, memory: { ram: '450MiB', margin: 0 } });
    let maxRunning = 0, sawTwo = false, maxRss = 0, stop = false;
    const watcher = (async () => {
      while (!stop) {
        const m = await r.running();
        const n = notStopped(m);
        maxRunning = Math.max(maxRunning, n);
        if (Object.values(m).filter((s) => s === 'ready').length === 2) sawTwo = true;
        maxRss = Math.max(maxRss, childrenRss(r.gg.pid));
        await new Promise((res) => setTimeout(res, 30));
      }
    })();
    // in turn, then all at once
    const seq = ['fit-alpha-chat', 'fit-bravo-chat', 'fit-alpha-chat', 'fit-charlie-chat', 'fit-bravo-chat', 'fit-alpha-chat'];
    for (const n of seq) assert.equal((await ask(r, n)).model, n);
    const burst = await Promise.all([...NAMES, ...NAMES].map((n) => ask(r, n)));
    assert.deepEqual(burst.map((c) => c.model), [...NAMES, ...NAMES]);
    stop = true;
    await watcher;
    t.diagnostic(`at most ${maxRunning} running at once; children's RSS peaked at ${(maxRss / MiB).toFixed(0)} MiB`);
    assert.ok(maxRunning <= 2, `at most two at once (saw ${maxRunning})`);
    assert.ok(sawTwo, 'two models shared the budget');
    assert.ok(maxRss <= 450 * MiB * 1.1, `children's RSS ${(maxRss / MiB).toFixed(0)} MiB`);
    const j = (await getJson(`${r.gg.url}/api/memory`)).json;
    t.diagnostic(j.events.map((e) => e.message).join(' | '));
    assert.equal(j.devices[0].budget, 450 * MiB);
    assert.ok(j.events.some((e) => /^stopped fit-\w+-chat to make room for fit-\w+-chat: needs \d+ MiB, \d+ MiB free$/.test(e.message)),
      JSON.stringify(j.events));
    await r.gg.stop('SIGTERM', 20000);
  });

  test('a model whose memory exceeds the budget answers 503 insufficient_memory at once', async () => {
    const r = await start({ startPort: 27320, memory: { ram: '450MiB', margin: 0 }, models: { 'fit-charlie-chat': { memory: '1GiB' } } });
    const t0 = Date.now();
    const res = await postJson(`${r.gg.url}/v1/chat/completions`, { model: 'fit-charlie-chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, 'insufficient_memory');
    assert.match(res.json.error.message, /1\.0 GiB/);
    assert.match(res.json.error.message, /450 MiB/);
    assert.ok(Date.now() - t0 < 2000, 'at once');
    assert.deepEqual(await r.running(), {}, 'nothing was started or stopped for it');
    await r.gg.stop('SIGTERM', 20000);
  });
});
