// Two parts of a swap that issue 13 bounds or speeds up, each tested on its own with fake
// llama-servers: the slot cache's saveTimeout (a save that hangs adds at most that to the swap)
// and the prefetch (the next model's file is read into the page cache while the swap waits
// for the old model's request in flight, before the new model is started).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, postJson, tmpDir, sleep,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [], ...extra });

// A swap from a (whose slot save answers after 8 s) to b, timed from b's request.
async function swapWithHangingSave(saveTimeout) {
  const token = uniqueToken();
  const slots = tmpDir('ggswap-slots-');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token, top: { slotCache: { enabled: true, saveTimeout } },
      models: { a: { args: ['--slot-save-path', path.join(slots, 'a'), '--slot-save-delay', '8000'] }, b: { slotCache: false } },
    }),
  });
  assert.equal((await chat(gg, 'a')).status, 200);
  const t0 = performance.now();
  const r = await chat(gg, 'b');
  const ms = performance.now() - t0;
  assert.equal(r.status, 200, r.text);
  return { gg, token, ms };
}

test('slot cache: a save that hangs adds at most saveTimeout to the swap', async () => {
  const short = await swapWithHangingSave(0.5);
  assert.ok(short.ms >= 450, `the swap waited for the save first (${short.ms.toFixed(0)} ms)`);
  assert.ok(short.ms < 2500, `and no longer than saveTimeout 0.5 s allows (${short.ms.toFixed(0)} ms; the save hangs 8 s)`);
  assert.match(short.gg.logs(), /model a: saving its slots took longer than 500 ms; going on without the rest/);
  await finish(short.gg, short.token);

  // The bound is the setting: with 2 s the same swap takes about 2 s.
  const long = await swapWithHangingSave(2);
  assert.ok(long.ms >= 1900 && long.ms < 4500, `saveTimeout 2 s: ${long.ms.toFixed(0)} ms`);
  await finish(long.gg, long.token);
});

// Residency of a file in the page cache, 0..1, from util-linux's fincore (mincore(2)); null when
// it cannot be read here.
function resident(file) {
  try {
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', file]).toString().trim();
    const [res, size] = out.split(/\s+/).map(Number);
    return size > 0 ? res / size : null;
  } catch {
    return null;
  }
}

// Drop a file's pages from the page cache (GNU dd: posix_fadvise DONTNEED over the whole file).
function dropCache(file) {
  try {
    execFileSync('sync', [file]);
    execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  } catch { /* measured below */ }
}

test("prefetch: while a swap waits for the old model's request, the next model's file is read ahead, before it starts", async (t) => {
  const token = uniqueToken();
  const dir = tmpDir('ggswap-prefetch-');
  const file = path.join(dir, 'b-model.gguf');
  const size = 48 * 1024 * 1024;
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 7);
  for (let i = 0; i < size / chunk.length; i++) fs.writeSync(fd, chunk);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  dropCache(file);
  const before = resident(file);

  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { a: {}, b: { args: ['--model', file] } } }),
  });
  assert.equal((await chat(gg, 'a')).status, 200);
  const inflight = chat(gg, 'a', { hang_ms: 2500 }); // the swap to b must wait for it
  await sleep(150);
  const swapped = chat(gg, 'b');
  await gg.waitLog(`model b: reading ${file} ahead of its start`, 2000);
  await gg.waitLog(new RegExp(`prefetch of ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${size} of ${size} bytes`), 2000);
  const logs = gg.logs();
  assert.equal(logs.includes('model b: started pid'), false, 'read while a still answers, before b starts');
  const during = resident(file);
  assert.equal((await inflight).status, 200, 'the request in flight was not cut');
  const r = await swapped;
  assert.equal(r.status, 200, r.text);
  const order = gg.logs();
  assert.ok(order.indexOf(`reading ${file} ahead`) < order.indexOf('model b: started pid'), 'prefetch first, then the start');

  if (before === null || during === null) {
    t.diagnostic('fincore cannot read page-cache residency here: the page-cache part is not checked');
  } else if (before > 0.2) {
    t.diagnostic(`the page cache could not be dropped here (${(before * 100).toFixed(0)} % resident before): residency not compared`);
  } else {
    assert.ok(during > 0.9, `the file is in the page cache after the prefetch: ${(before * 100).toFixed(0)} % -> ${(during * 100).toFixed(0)} %`);
  }
  await finish(gg, token);
});
