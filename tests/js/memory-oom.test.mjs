// Memory-aware scheduling with fake upstreams (issue 12 items 4 and 5): a start that runs out
// of memory raises the model's figure, frees more and is tried once more; the page's data
// (GET /api/memory) and the log say what happened. Idle models make room, busy ones are waited
// for, never cut off; pinned ones (swappable: false) stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerCleanup, startGgswap, fakeModelYaml, uniqueToken, getJson, postJson, waitFor } from './lib/harness.mjs';

registerCleanup();

const MiB = 1024 * 1024;
const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'x' }], ...extra });
const memory = async (gg) => (await getJson(`${gg.url}/api/memory`)).json;

test('out of memory while loading: the figure is raised and the start tried once more, then the reason', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    token,
    config: await fakeModelYaml({
      token,
      top: { memory: { ram: '1GiB', margin: 0 } },
      models: {
        small: { memory: '100MiB' },
        oom: { memory: '200MiB', failStart: 'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4403.49 MiB on device 0: cudaMalloc failed: out of memory' },
      },
      groups: { all: { swap: false, exclusive: false, members: ['small', 'oom'] } },
    }),
  });
  const r = await chat(gg, 'oom');
  assert.equal(r.status, 502, r.text);
  assert.match(r.json.error.message, /out of memory/);
  const logs = gg.logs();
  assert.equal((logs.match(/model oom: (stopped|failed) -> starting/g) || []).length, 2, 'started twice');
  assert.match(logs, /memory: oom ran out of memory while loading \(.*cudaMalloc failed: out of memory.*\); its figure is raised from 200 MiB to .*; trying once more/);
  const j = await memory(gg);
  assert.ok(j.events.some((e) => /not retried again/.test(e.message)), JSON.stringify(j.events));
  const m = j.models.find((x) => x.model === 'oom');
  assert.equal(m.ooms, 2);
  // the model's `memory` key is what the user said; the raised figure is kept as measured
  assert.ok(m.measured >= 300 * MiB, JSON.stringify(m));
  // the other model is untouched and works
  assert.equal((await chat(gg, 'small')).status, 200);
  await gg.stop();
});

test('idle models make room, busy ones are waited for, pinned ones stay; eviction reasons on /api/memory', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    token,
    config: await fakeModelYaml({
      token,
      top: { memory: { ram: '300MiB', margin: 0 } },
      models: {
        pin: { memory: '100MiB', swappable: false },
        a: { memory: '150MiB' },
        b: { memory: '150MiB' },
        huge: { memory: '250MiB' },
      },
      groups: { all: { swap: false, exclusive: false, members: ['pin', 'a', 'b', 'huge'] } },
    }),
  });
  assert.equal((await chat(gg, 'pin')).status, 200);
  assert.equal((await chat(gg, 'a')).status, 200);
  // b does not fit beside pin and a: a is idle and goes, pin stays
  assert.equal((await chat(gg, 'b')).status, 200);
  let run = (await getJson(`${gg.url}/running`)).json.running.map((x) => x.model).sort();
  assert.deepEqual(run, ['b', 'pin']);
  let j = await memory(gg);
  assert.ok(j.events.some((e) => e.message === 'stopped a to make room for b: needs 150 MiB, 50 MiB free'), JSON.stringify(j.events));
  // a busy b is waited for: a's request waits until b's stream is done, and b is never cut
  const slow = chat(gg, 'b', { stream: true, n_chunks: 8, chunk_ms: 100 });
  await waitFor(async () => (await getJson(`${gg.url}/running`)).json.running.find((x) => x.model === 'b' && x.inflight > 0), { what: 'b busy' });
  const t0 = Date.now();
  const ra = await chat(gg, 'a');
  const rb = await slow;
  assert.equal(rb.status, 200);
  assert.match(rb.text, /\[DONE\]/, 'b finished its stream');
  assert.equal(ra.status, 200);
  assert.ok(Date.now() - t0 >= 400, 'a waited for b');
  // huge fits only alone: with pin held (never swapped out) it cannot fit: 503 at once
  const rh = await chat(gg, 'huge');
  assert.equal(rh.status, 503, rh.text);
  assert.equal(rh.json.error.code, 'insufficient_memory');
  assert.match(rh.json.error.message, /needs 250 MiB of ram but the memory budget there is 300 MiB and models that are never swapped out hold 100 MiB/);
  run = (await getJson(`${gg.url}/running`)).json.running.map((x) => x.model).sort();
  assert.ok(run.includes('pin'));
  j = await memory(gg);
  assert.equal(j.devices[0].budget, 300 * MiB);
  assert.equal(j.models.find((x) => x.model === 'pin').source, 'config');
  await gg.stop();
});
