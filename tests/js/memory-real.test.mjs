// Memory figures with real llama-server processes (issue 12): GET /api/memory shows each
// device's budget and each model's estimate before it starts and what it was measured to use
// once loaded; the measured figure is remembered in the home folder across restarts and
// forgotten when the model file changes; /metrics carries both as gauges. Skips, with one
// line saying why, only when no llama-server can be had (as e2e-real.test.mjs).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { registerCleanup, getJson, startGgswap } from './lib/harness.mjs';
import { findLlamaServer, startReal, mkTiny, assertNoSanitizerReports } from './lib/real.mjs';

registerCleanup();

const LS = findLlamaServer();
const SKIP = LS.path ? false : `no llama-server: ${LS.reason}`;
const PORT = 27200;
const MiB = 1024 * 1024;

const memory = async (r) => {
  const m = await getJson(`${r.gg.url}/api/memory`);
  assert.equal(m.status, 200, m.text);
  return m.json;
};
const byName = (j, name) => j.models.find((x) => x.model === name);

describe('memory figures from real llama-servers', { skip: SKIP }, () => {
  let r;
  after(async () => {
    if (r) await r.gg.stop('SIGTERM', 20000);
  });

  test('estimate before start, measured once ready, remembered, forgotten when the file changes', async () => {
    const models = {
      'mem-small-chat-f32.gguf': { seed: 1, embd: 256, layers: 4, ff: 1024 }, // ~17 MB
      'mem-tiny-chat-f32.gguf': { seed: 2 },
    };
    r = await startReal({ llamaServer: LS.path, models, settings: { startPort: PORT, ttl: 60, ctxSizeMax: 2048 } });
    let j = await memory(r);
    assert.equal(j.devices[0].name, 'ram');
    assert.ok(j.devices[0].total > 0 && j.devices[0].budget > 0, JSON.stringify(j.devices[0]));
    assert.ok(j.devices[0].budget <= j.devices[0].total);
    const small = byName(j, 'mem-small-chat');
    assert.ok(small, JSON.stringify(j.models));
    assert.equal(small.state, 'stopped');
    assert.equal(small.measured, null);
    assert.equal(small.source, 'estimate');
    // weights 16.7 MiB + KV 8 MiB (2048 cells) + compute ~11 MiB + 24 MiB for the process
    assert.ok(small.estimate > 50 * MiB && small.estimate < 90 * MiB, `estimate ${small.estimate / MiB} MiB`);
    assert.ok(byName(j, 'mem-tiny-chat').estimate < small.estimate);

    const c = await r.client.chat.completions.create({ model: 'mem-small-chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    assert.equal(c.model, 'mem-small-chat');
    j = await memory(r);
    const s2 = byName(j, 'mem-small-chat');
    assert.equal(s2.state, 'ready');
    assert.equal(s2.source, 'measured');
    assert.ok(s2.measured > 20 * MiB, `measured ${s2.measured}`);
    // the estimate errs high, but not by much
    assert.ok(s2.measured <= s2.estimate * 1.1 && s2.measured >= s2.estimate * 0.5,
      `measured ${(s2.measured / MiB).toFixed(1)} MiB vs estimate ${(s2.estimate / MiB).toFixed(1)} MiB`);
    assert.ok(s2.used > 0 && j.devices[0].used >= s2.used);
    assert.equal(s2.need, s2.measured);

    const metrics = await (await fetch(`${r.gg.url}/metrics`)).text();
    assert.match(metrics, /^ggswap_model_memory_bytes\{model="mem-small-chat",kind="estimate"\} \d+$/m);
    assert.match(metrics, /^ggswap_model_memory_bytes\{model="mem-small-chat",kind="measured"\} \d+$/m);
    assert.doesNotMatch(metrics, /model="mem-tiny-chat",kind="measured"/);

    // `ggswap ctl ps`, like `ollama ps`: only what is loaded, its size and where it runs
    const ps = execFileSync(process.env.GGSWAP_BIN, ['ctl', '--url', r.gg.url, 'ps'], { encoding: 'utf8' });
    assert.match(ps, /^NAME +STATE +SIZE +ESTIMATE +PROCESSOR$/m, ps);
    assert.match(ps, /^mem-small-chat +ready +\d+ MiB +\d+ MiB +100% CPU$/m, ps);
    assert.doesNotMatch(ps, /mem-tiny-chat/);
    assert.match(ps, /^ram( \([^)]*\))?: \d+ MiB used of a [\d.]+ [GM]iB budget, [\d.]+ [GM]iB free$/m, ps);

    const store = JSON.parse(fs.readFileSync(path.join(r.home, 'memory.json'), 'utf8'));
    assert.equal(Object.values(store.entries).filter((e) => e.model === 'mem-small-chat').length, 1);

    // a restart on the same home remembers the figure before the model starts again
    const { home, modelsDir } = r;
    await r.gg.stop('SIGTERM', 20000);
    assertNoSanitizerReports(r.gg, assert);
    const again = () => startGgswap({
      args: ['--home', home, '--models-dir', modelsDir, '--llama-server', LS.path],
      env: { GGSWAP_HOME: home }, timeout: 60000,
    });
    let gg = await again();
    r = { gg };
    j = await memory(r);
    const s3 = byName(j, 'mem-small-chat');
    assert.equal(s3.state, 'stopped');
    assert.equal(s3.source, 'measured');
    assert.equal(s3.measured, s2.measured);
    await gg.stop('SIGTERM', 20000);

    // a changed model file forgets it
    mkTiny(path.join(modelsDir, 'mem-small-chat-f32.gguf'), { seed: 3, embd: 256, layers: 4, ff: 1024 });
    gg = await again();
    r = { gg };
    j = await memory(r);
    assert.equal(byName(j, 'mem-small-chat').measured, null);
    assert.equal(byName(j, 'mem-small-chat').source, 'estimate');
  });
});

// The GPU path without a GPU: ggswap loads the stand-in NVML the Makefile builds
// (tests/stub_nvml.c) in place of libnvidia-ml.so.1, and the estimate puts the offloaded
// layers, their KV cache and the compute buffer on gpu0.
describe('memory estimates on a (stand-in) GPU', () => {
  test('ggswap scan --json shows RAM and gpu0 shares; -ngl 0 keeps it all in RAM', async () => {
    const dir = fs.mkdtempSync('/tmp/ggswap-memgpu-');
    try {
      mkTiny(path.join(dir, 'gpu-small-chat-f32.gguf'), { seed: 4, embd: 256, layers: 4, ff: 1024 });
      const stub = path.join(path.dirname(process.env.GGSWAP_BIN), 'libnvidia-ml-stub.so');
      assert.ok(fs.existsSync(stub), `${stub} (make builds it)`);
      const scan = (extra) => JSON.parse(execFileSync(process.env.GGSWAP_BIN, ['scan', '--models-dir', dir, '--json'], {
        encoding: 'utf8',
        env: { ...process.env, GGSWAP_HOME: path.join(dir, 'home'), GGSWAP_NVML: stub, GS_STUB_NVML_GPUS: 'Stub RTX:8192:8000', ...extra },
      }));
      const [m] = scan({});
      assert.ok(m.memoryByDevice.gpu0 > 256 * MiB + 16 * MiB, JSON.stringify(m.memoryByDevice)); // context + weights
      assert.ok(m.memoryByDevice.ram < 30 * MiB, JSON.stringify(m.memoryByDevice)); // the process, the input layer
      assert.equal(m.memory, m.memoryByDevice.ram + m.memoryByDevice.gpu0);
      fs.mkdirSync(path.join(dir, 'home'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'home', 'settings.yaml'), 'extraArgs: [-ngl, "0"]\n');
      const [c] = scan({});
      assert.equal(c.memoryByDevice.gpu0, 0, JSON.stringify(c.memoryByDevice));
      assert.ok(c.memoryByDevice.ram > 40 * MiB);
      // no driver: RAM only
      const [n] = scan({ GGSWAP_NVML: '/nonexistent/libnvidia-ml.so.1' });
      assert.deepEqual(Object.keys(n.memoryByDevice), ['ram']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
