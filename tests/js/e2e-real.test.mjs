// End to end with real llama-server processes and real (tiny, generated) models, driven by the
// official openai client: ggswap in integrated mode scans a folder, writes its config, and
// starts, swaps, unloads and proxies real llama-servers. Skips, with one line saying why, only
// when no llama-server can be had: GGSWAP_LLAMA_SERVER names no executable, or (when it is
// unset) scripts/get-llama-server finds none and cannot fetch one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { registerCleanup, getJson, waitFor, waitNoProcesses, processesMatching } from './lib/harness.mjs';
import { findLlamaServer, startReal, mkMeta, modelLog, assertNoSanitizerReports } from './lib/real.mjs';

registerCleanup();

const LS = findLlamaServer();
const SKIP = LS.path ? false : `no llama-server: ${LS.reason}`;

// Ports of this file (other test files use others; 5800 is the default and left alone).
const PORT_MAIN = 27100;
const PORT_TTL = 27110;
const PORT_BROKEN = 27120;

// Names ggswap gives these files (SPEC §3): no digits, so no size or version part.
const ALPHA = 'tiny-alpha-chat';   // default tiny size: the smallest chat model → gpt-3.5-turbo
const BRAVO = 'tiny-bravo-chat';   // 3.5M parameters, ~300+ tokens/s here: streams visibly
const EMBED = 'tiny-embed';        // "embed" in the name → embedding model, --embeddings

// Models whose state is not "stopped", as {name: state}; waits for no start/stop in between.
async function settled(r) {
  return waitFor(async () => {
    const m = await r.running();
    return Object.values(m).every((s) => s === 'ready') ? m : null;
  }, { timeout: 30000, what: 'every running model ready' });
}

async function drain(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push({ c, t: performance.now() });
  return chunks;
}

describe('real llama-server end to end', { skip: SKIP }, () => {
  describe('one ggswap, two chat models and an embedding model', () => {
    let r;
    before(async () => {
      r = await startReal({
        llamaServer: LS.path,
        models: {
          'tiny-alpha-chat-f32.gguf': { seed: 1 },
          'tiny-bravo-chat-f32.gguf': { seed: 2, embd: 256, layers: 4, ff: 768 },
          'tiny-embed-f32.gguf': { seed: 3 },
        },
        // memory: false keeps llama-swap's one-chat-model-at-a-time groups, which the swap test
        // below checks (memory-fit.test.mjs checks the memory policy, on by default)
        settings: { startPort: PORT_MAIN, ttl: 120, healthCheckTimeout: 60, memory: false },
      });
    });
    after(async () => {
      if (!r) return;
      const res = await r.gg.stop('SIGTERM', 20000);
      assert.equal(res.killed, false, 'ggswap exits on SIGTERM');
      // Its llama-servers die with it (zombies count as gone).
      await waitNoProcesses(r.modelsDir, 10000);
      assertNoSanitizerReports(r.gg, assert);
    });

    test('/v1/models lists the models and their aliases', async () => {
      const ids = [];
      for await (const m of r.client.models.list()) ids.push(m.id);
      for (const id of [ALPHA, BRAVO, EMBED, 'gpt-3.5-turbo', 'text-davinci-003', 'text-embedding-ada-002']) {
        assert.ok(ids.includes(id), `${id} in ${JSON.stringify(ids)}`);
      }
      const list = (await getJson(`${r.gg.url}/v1/models`)).json.data;
      const target = (id) => list.find((m) => m.id === id)?.meta?.ggswap?.model;
      assert.equal(target('gpt-3.5-turbo'), ALPHA);
      assert.equal(target('text-davinci-003'), BRAVO);
      assert.equal(target('text-embedding-ada-002'), EMBED);
    });

    test('chat completion from a real model', async () => {
      const res = await r.client.chat.completions.create({
        model: ALPHA, messages: [{ role: 'user', content: 'Hello, how are you?' }], max_tokens: 12, temperature: 0,
      });
      assert.equal(res.object, 'chat.completion');
      assert.equal(res.choices.length, 1);
      assert.equal(res.choices[0].message.role, 'assistant');
      assert.equal(typeof res.choices[0].message.content, 'string');
      assert.ok(res.choices[0].message.content.length > 0, 'some text');
      assert.equal(res.choices[0].finish_reason, 'length');
      assert.equal(res.usage.completion_tokens, 12);
      // Deterministic at temperature 0: the same request gives the same text.
      const again = await r.client.chat.completions.create({
        model: ALPHA, messages: [{ role: 'user', content: 'Hello, how are you?' }], max_tokens: 12, temperature: 0,
      });
      assert.equal(again.choices[0].message.content, res.choices[0].message.content);
      assert.equal((await r.running())[ALPHA], 'ready');
    });

    test('the seed\'s gpt-3.5-turbo alias reaches the smallest chat model', async () => {
      const res = await r.client.chat.completions.create({
        model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'Hello, how are you?' }], max_tokens: 8,
      });
      assert.ok(res.choices[0].message.content.length > 0);
      assert.equal(res.usage.completion_tokens, 8);
      const run = await settled(r);
      assert.equal(run[ALPHA], 'ready', `alias started ${ALPHA}: ${JSON.stringify(run)}`);
      assert.equal(run['gpt-3.5-turbo'], undefined, '/running names the model, not the alias');
    });

    test('legacy completion', async () => {
      const res = await r.client.completions.create({ model: ALPHA, prompt: 'Once upon a time', max_tokens: 10, temperature: 0 });
      assert.equal(res.object, 'text_completion');
      assert.equal(typeof res.choices[0].text, 'string');
      assert.ok(res.choices[0].text.length > 0);
      assert.equal(res.choices[0].finish_reason, 'length');
      assert.equal(res.usage.completion_tokens, 10);
    });

    test('embeddings return vectors', async () => {
      const res = await r.client.embeddings.create({ model: 'text-embedding-ada-002', input: ['hello world', 'good night'] });
      assert.equal(res.data.length, 2);
      for (const [i, d] of res.data.entries()) {
        assert.equal(d.index, i);
        assert.ok(Array.isArray(d.embedding), 'a vector');
        assert.equal(d.embedding.length, 64, 'the tiny model is 64 wide');
        assert.ok(d.embedding.every((x) => Number.isFinite(x)));
        assert.ok(d.embedding.some((x) => x !== 0));
      }
      assert.notDeepEqual(res.data[0].embedding, res.data[1].embedding);
      // Also as plain floats (the client asks for base64 by default).
      const f = await r.client.embeddings.create({ model: EMBED, input: 'hello world', encoding_format: 'float' });
      assert.equal(f.data[0].embedding.length, 64);
      for (let k = 0; k < 64; k++) assert.ok(Math.abs(f.data[0].embedding[k] - res.data[0].embedding[k]) < 1e-4);
      const run = await settled(r);
      assert.equal(run[EMBED], 'ready');
    });

    test('streamed chat completion arrives chunk by chunk and ends with finish_reason', async () => {
      const t0 = performance.now();
      const stream = await r.client.chat.completions.create({
        model: BRAVO, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 120, temperature: 0, stream: true,
      });
      const chunks = await drain(stream);
      const content = chunks.filter((x) => x.c.choices?.[0]?.delta?.content);
      assert.ok(content.length >= 20, `many content chunks (got ${content.length})`);
      const last = chunks.filter((x) => x.c.choices?.[0]?.finish_reason).pop();
      assert.ok(last, 'a chunk with finish_reason');
      assert.equal(last.c.choices[0].finish_reason, 'length');
      assert.ok(chunks.indexOf(last) >= chunks.length - 2, 'finish_reason comes at the end');
      for (const x of chunks) assert.equal(x.c.object, 'chat.completion.chunk');
      // Forwarded as generated, not buffered: the content chunks arrive over a stretch of time,
      // in many separate moments.
      const spread = content[content.length - 1].t - content[0].t;
      const moments = new Set(content.map((x) => Math.floor((x.t - t0) / 2))).size;
      assert.ok(spread >= 20, `content chunks spread over ${spread.toFixed(1)} ms`);
      assert.ok(moments >= 5, `content chunks arrived at ${moments} distinct moments`);
      const text = content.map((x) => x.c.choices[0].delta.content).join('');
      assert.ok(text.length >= 20);
      // Same text as the non-streamed answer (temperature 0).
      const whole = await r.client.chat.completions.create({
        model: BRAVO, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 120, temperature: 0,
      });
      assert.equal(whole.choices[0].message.content, text);
    });

    test('swaps between the chat models while the embedding model stays loaded', async () => {
      const chatModels = (run) => Object.keys(run).filter((m) => m === ALPHA || m === BRAVO);
      const ask = (model) => r.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      const embed = () => r.client.embeddings.create({ model: EMBED, input: 'hi' });
      const file = (name) => path.join(r.modelsDir, `${name}-f32.gguf`);
      const procs = (name) => processesMatching(file(name)).filter((p) => /llama-server/.test(p.cmdline));

      await embed();
      for (const model of [ALPHA, BRAVO, ALPHA, BRAVO]) {
        const res = await ask(model);
        assert.equal(res.usage.completion_tokens, 4);
        const run = await settled(r);
        assert.deepEqual(chatModels(run), [model], `only ${model} of the chat models runs: ${JSON.stringify(run)}`);
        assert.equal(run[EMBED], 'ready', `the embedding model stays: ${JSON.stringify(run)}`);
        const other = model === ALPHA ? BRAVO : ALPHA;
        await waitNoProcesses(file(other), 10000);
        assert.equal(procs(model).length, 1, `one llama-server for ${model}`);
        assert.equal(procs(EMBED).length, 1, 'one llama-server for the embedding model');
        // The embedding model still answers, without a restart.
        const pid = procs(EMBED)[0].pid;
        await embed();
        assert.equal(procs(EMBED)[0].pid, pid);
      }
    });

    test('a client that aborts a stream makes llama-server stop generating', async () => {
      const cancelled = async () => {
        const log = modelLog(await r.logs(), BRAVO);
        return [...log.matchAll(/cancel task, id_task = (\d+)/g)].map((m) => ({
          id: m[1],
          // "slot release: id  0 | task 38 | stop processing: n_tokens = 33, truncated = 0"
          tokens: Number(new RegExp(`task ${m[1]} \\| stop processing: n_tokens = (\\d+)`).exec(log)?.[1] ?? NaN),
        }));
      };
      // Several times: the race between the client going away and the upstream's next chunk
      // differs from one abort to the next.
      for (let round = 1; round <= 4; round++) {
        const before = (await cancelled()).length;
        const ac = new AbortController();
        // 3000 tokens would take seconds on this model; the abort comes after a few chunks.
        const stream = await r.client.chat.completions.create({
          model: BRAVO, messages: [{ role: 'user', content: `Count to a million, round ${round}.` }], max_tokens: 3000, stream: true,
        }, { signal: ac.signal });
        let n = 0;
        let finished = null;
        let error = null;
        try {
          for await (const c of stream) {
            if (c.choices?.[0]?.finish_reason) finished = c.choices[0].finish_reason;
            if (c.choices?.[0]?.delta?.content && ++n === 5) ac.abort();
          }
        } catch (e) {
          error = e; // the openai client ends the iteration quietly on abort; some versions throw
        }
        const tAbort = performance.now();
        assert.ok(ac.signal.aborted);
        if (error) assert.match(error.name, /Abort/);
        assert.equal(finished, null, 'the stream was cut before its end');
        assert.ok(n >= 5 && n < 3000, `${n} content chunks before the abort took effect`);

        // llama-server's slot goes idle: the proxy closed the upstream request and llama-server
        // cancelled the task, long before 3000 tokens.
        await waitFor(async () => {
          const s = await getJson(`${r.gg.url}/upstream/${encodeURIComponent(BRAVO)}/slots`);
          return s.status === 200 && Array.isArray(s.json) && s.json.every((x) => !x.is_processing);
        }, { timeout: 5000, interval: 50, what: `round ${round}: every slot of the model idle` });
        const idleAfter = performance.now() - tAbort;
        // llama-server's own log (GET /logs) says it cancelled the task, and how far it got.
        const c = await waitFor(async () => {
          const all = await cancelled();
          return all.length > before && Number.isFinite(all[all.length - 1].tokens) ? all[all.length - 1] : null;
        }, { timeout: 5000, interval: 100, what: `round ${round}: llama-server's log of ${BRAVO} to say it cancelled the task` });
        // Unstopped, the task would reach 3000 tokens plus the prompt. The tiny model makes
        // hundreds of tokens a second, so on a loaded CI machine the cancel can land a
        // thousand tokens after the abort: the bound is "well before the end", not a speed.
        assert.ok(c.tokens < 2000, `round ${round}: task ${c.id} stopped at ${c.tokens} tokens (prompt and output), ${idleAfter.toFixed(0)} ms after the abort`);

        // ggswap counts no request in flight, and the next request is served at once.
        await waitFor(async () => (await getJson(`${r.gg.url}/api/service`)).json.models.find((x) => x.id === BRAVO).inflight === 0,
          { timeout: 5000, what: `round ${round}: no request in flight for ${BRAVO}` });
        const t = performance.now();
        const res = await r.client.chat.completions.create({ model: BRAVO, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
        assert.equal(res.usage.completion_tokens, 4);
        assert.ok(performance.now() - t < 5000, 'served promptly');
        assert.equal((await r.running())[BRAVO], 'ready');
      }
    });
  });

  describe('ttl', () => {
    test('a model is stopped ttl seconds after its last request', async () => {
      const r = await startReal({
        llamaServer: LS.path,
        models: { 'tiny-alpha-chat-f32.gguf': { seed: 1 } },
        settings: { startPort: PORT_TTL, ttl: 2, healthCheckTimeout: 60 },
      });
      try {
        await r.client.chat.completions.create({ model: ALPHA, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
        const tEnd = performance.now();
        assert.deepEqual(await r.running(), { [ALPHA]: 'ready' });
        const file = path.join(r.modelsDir, 'tiny-alpha-chat-f32.gguf');
        assert.equal(processesMatching(file).length, 1, 'its llama-server runs');
        await waitFor(async () => Object.keys(await r.running()).length === 0, { timeout: 20000, interval: 100, what: 'the model unloaded' });
        const after = (performance.now() - tEnd) / 1000;
        assert.ok(after >= 1.5, `unloaded after ${after.toFixed(1)} s, not before its ttl of 2 s`);
        assert.ok(after < 12, `unloaded ${after.toFixed(1)} s after the last request (ttl 2 s)`);
        await waitNoProcesses(file, 10000);
        // And it starts again on the next request.
        const res = await r.client.chat.completions.create({ model: ALPHA, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
        assert.equal(res.usage.completion_tokens, 4);
      } finally {
        await r.gg.stop('SIGTERM', 20000);
      }
      assertNoSanitizerReports(r.gg, assert);
    });
  });

  describe('models llama-server cannot load', () => {
    let r;
    before(async () => {
      r = await startReal({
        llamaServer: LS.path,
        models: {
          // Loads at scan time; truncated below, after the config was generated.
          'tiny-damaged-chat-f32.gguf': { seed: 4 },
          // A valid GGUF the scanner lists, but with none of a llama model's hyperparameters.
          'tiny-hollow-chat-f32.gguf': (f) => mkMeta(f, ['--arch', 'llama', '--name', 'hollow', '--ctx', '512', '--chat-template', '--tensors', '4:64']),
        },
        settings: { startPort: PORT_BROKEN, ttl: 60, healthCheckTimeout: 60 },
      });
    });
    after(async () => {
      if (!r) return;
      await r.gg.stop('SIGTERM', 20000);
      assertNoSanitizerReports(r.gg, assert);
    });

    const expect502 = async (model, why) => {
      let err = null;
      try {
        await r.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      } catch (e) {
        err = e;
      }
      assert.ok(err, `${model}: the request fails`);
      assert.equal(err.status, 502, `${model}: 502, got ${err.status}: ${err.message}`);
      assert.match(err.message, why, `${model}: the message gives llama-server's reason`);
      const state = (await r.running())[model];
      assert.ok(state !== 'ready' && state !== 'starting', `the failed model is not left running (${state})`);
      await waitNoProcesses(path.join(r.modelsDir, `${model}-f32.gguf`), 10000);
      return err;
    };

    test('a model file damaged after the config was written answers 502 with llama-server\'s reason', async () => {
      const file = path.join(r.modelsDir, 'tiny-damaged-chat-f32.gguf');
      fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
      const e = await expect502('tiny-damaged-chat', /error loading model: tensor '[^']+' data is not within the file bounds/);
      // A second request tries again and fails the same way (no hang, no stale state).
      const e2 = await expect502('tiny-damaged-chat', /error loading model: tensor '[^']+' data is not within the file bounds/);
      assert.equal(e2.status, e.status);
    });

    test('a GGUF without a model in it answers 502 with llama-server\'s reason', async () => {
      await expect502('tiny-hollow-chat', /error loading model hyperparameters: key not found in model: llama\.embedding_length/);
    });
  });
});
