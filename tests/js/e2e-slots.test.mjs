// The slot cache end to end with real llama-servers (issue 13, "Done when"): in integrated mode
// (slotCache on), a conversation whose model was swapped away and back is served from its saved
// KV cache: timings.cache_n covers its history and its prompt takes well under the cold time.
// Skips, with one line saying why, when no llama-server can be had.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { registerCleanup, postJson, waitFor, waitNoProcesses } from './lib/harness.mjs';
import { findLlamaServer, startReal, assertNoSanitizerReports } from './lib/real.mjs';

registerCleanup();

const LS = findLlamaServer();
const SKIP = LS.path ? false : `no llama-server: ${LS.reason}`;
const PORT = 27140;
const A = 'tiny-alpha-chat';
const B = 'tiny-bravo-chat';

describe('slot cache with real llama-servers', { skip: SKIP }, () => {
  let r;
  before(async () => {
    r = await startReal({
      llamaServer: LS.path,
      models: {
        'tiny-alpha-chat-f32.gguf': { seed: 1, embd: 256, layers: 4, ff: 768 },
        'tiny-bravo-chat-f32.gguf': { seed: 2 },
      },
      // One slot: the conversation has all of the context (4096) to itself.
      // memory: false: the swap away must stop the first model (with memory on, both would fit)
      settings: { startPort: PORT, ttl: 120, healthCheckTimeout: 60, extraArgs: ['-np', '1'], memory: false },
    });
  });
  after(async () => {
    if (!r) return;
    const res = await r.gg.stop('SIGTERM', 20000);
    assert.equal(res.killed, false);
    await waitNoProcesses(r.modelsDir, 10000);
    assertNoSanitizerReports(r.gg, assert);
  });

  test('a conversation swapped away and back comes back from its saved KV cache', async (tc) => {
    const words = 'the quick brown fox jumps over a lazy dog while seven cats sing ';
    const history = [
      { role: 'system', content: 'You are a patient assistant.' },
      { role: 'user', content: words.repeat(23) },
    ];
    const ask = (messages) => postJson(`${r.gg.url}/v1/chat/completions`, {
      model: A, messages, max_tokens: 8, temperature: 0, cache_prompt: true,
    });
    const cold = await ask(history);
    assert.equal(cold.status, 200, cold.text);
    const promptTokens = cold.json.usage.prompt_tokens;
    assert.ok(promptTokens >= 1200, `a long conversation (${promptTokens} tokens)`);
    const coldMs = cold.json.timings.prompt_ms;
    history.push({ role: 'assistant', content: cold.json.choices[0].message.content });

    // Swap A away (B starts in its place): A's slot is saved on the way out.
    const b = await postJson(`${r.gg.url}/v1/chat/completions`, { model: B, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(b.status, 200, b.text);
    await waitFor(async () => (await r.running())[A] === undefined, { timeout: 20000, what: `${A} stopped` });
    const logs = await r.logs();
    assert.match(logs, new RegExp(`model ${A}: saved 1 slot`), 'saved on the swap');
    const dirs = fs.readdirSync(path.join(r.home, 'slots'));
    assert.ok(dirs.some((d) => d.startsWith(A)), `a folder for ${A} in ${dirs}`);

    // Back to A with the conversation and one more turn.
    history.push({ role: 'user', content: 'and then?' });
    const back = await ask(history);
    assert.equal(back.status, 200, back.text);
    assert.match(await r.logs(), new RegExp(`model ${A}: restored 1 slot`), 'restored before the request');
    const t = back.json.timings;
    tc.diagnostic(`history ${promptTokens} tokens: cold prompt ${coldMs.toFixed(1)} ms; after the swap cache_n ${t.cache_n}, prompt_n ${t.prompt_n}, ${t.prompt_ms.toFixed(1)} ms`);
    assert.ok(t.cache_n >= promptTokens - 8, `cache_n ${t.cache_n} covers the ${promptTokens} tokens of history`);
    assert.ok(t.prompt_ms < 0.6 * coldMs, `prompt ${t.prompt_ms.toFixed(1)} ms vs cold ${coldMs.toFixed(1)} ms`);
  });
});
