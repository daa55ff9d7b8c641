// Self-test of lib/harness.mjs and of fake-upstream itself (no ggswap involved): the stand-in
// must behave like llama-server where ggswap's tests rely on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  registerCleanup, startFake, uniqueToken, processesMatching, childPids, waitNoProcesses,
  sseRead, sseContents, getJson, postJson, fakeModelYaml, toYaml, sleep,
} from './lib/harness.mjs';

registerCleanup();

test('health answers 503 "Loading model" until --health-delay has passed', async () => {
  const t0 = Date.now();
  const f = await startFake({ name: 'slowstart', healthDelay: 400 });
  const early = await getJson(`${f.url}/health`);
  assert.equal(early.status, 503);
  assert.equal(early.json.error.message, 'Loading model');
  // Inference is refused while loading, as llama-server does.
  const chat = await postJson(`${f.url}/v1/chat/completions`, { messages: [] });
  assert.equal(chat.status, 503);
  let ok;
  while ((ok = await getJson(`${f.url}/health`)).status !== 200) await sleep(20);
  assert.ok(Date.now() - t0 >= 380, `healthy after ${Date.now() - t0} ms`);
  assert.deepEqual(ok.json, { status: 'ok' });
  assert.equal((await f.stop()).code, 0);
});

test('chat completion through the official openai client names the model and echoes the body', async () => {
  const f = await startFake({ name: 'alpha' });
  const client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const r = await client.chat.completions.create({
    model: 'whatever', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5,
  });
  assert.match(r.choices[0].message.content, /^fake:alpha:\d+$/);
  assert.equal(r.echo.temperature, 0.5);
  assert.equal(r.echo.model, 'whatever');
  assert.ok(r.usage.total_tokens > 0);
  const again = await client.chat.completions.create({ model: 'x', messages: [] });
  assert.equal(Number(again.choices[0].message.content.split(':')[2]), Number(r.choices[0].message.content.split(':')[2]) + 1);
  const emb = await client.embeddings.create({ model: 'e', input: 'hello' });
  assert.equal(emb.data[0].embedding.length, 8);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['alpha']);
  const echo = await getJson(`${f.url}/echo/some/path?q=1`);
  assert.deepEqual([echo.json.path, echo.json.method, echo.json.model], ['/echo/some/path', 'GET', 'alpha']);
  assert.equal((await getJson(`${f.url}/nothing-here`)).status, 404);
  await f.stop();
});

test('a stream arrives in n_chunks chunks paced by chunk_ms', async () => {
  const f = await startFake({ name: 'streamer' });
  const client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'none', maxRetries: 0 });
  // "stamp" puts each chunk's send time (CLOCK_MONOTONIC µs, the clock of process.hrtime)
  // into it: times taken by this client alone bunch up when it reads late on a busy machine.
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const stream = await client.chat.completions.create({
    model: 'streamer', messages: [{ role: 'user', content: 'go' }], stream: true, n_chunks: 5, chunk_ms: 80,
    stamp: true,
  });
  const got = [];
  for await (const chunk of stream) {
    const c = chunk.choices[0]?.delta?.content;
    if (c) got.push({ c, sent: chunk.t_us, got: nowUs() });
  }
  assert.deepEqual(got.map((g) => g.c), ['c0 ', 'c1 ', 'c2 ', 'c3 ', 'c4 ']);
  // Paced: the last chunk was sent about 4 x 80 ms after the first.
  assert.ok(got[4].sent - got[0].sent >= 300_000, `sent ${(got[4].sent - got[0].sent) / 1000} ms apart`);
  // Streamed as made, not at once: the first chunk was here before the last one was sent.
  assert.ok(got[0].got < got[4].sent, `first chunk read ${(got[0].got - got[4].sent) / 1000} ms after the last was sent`);

  // The raw SSE, read by the harness: chunked, [DONE] at the end, the echo in the last event.
  const r = await fetch(`${f.url}/v1/completions`, {
    method: 'POST', body: JSON.stringify({ prompt: 'x', stream: true, max_tokens: 3, chunk_ms: 30, stamp: true }),
  });
  assert.equal(r.headers.get('transfer-encoding'), 'chunked');
  assert.match(r.headers.get('content-type'), /text\/event-stream/);
  const s = await sseRead(r);
  assert.equal(s.done, true);
  assert.equal(s.error, null);
  assert.deepEqual(sseContents(s.events), ['c0 ', 'c1 ', 'c2 ']);
  assert.ok(s.events[2].json.t_us - s.events[0].json.t_us >= 55_000, 'paced by chunk_ms (send times)');
  assert.equal(s.events.at(-2).json.echo.max_tokens, 3);
  await f.stop();
});

test('a client that goes away mid-stream is noticed', async () => {
  const f = await startFake({ name: 'cancel' });
  const ac = new AbortController();
  const r = await fetch(`${f.url}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify({ stream: true, n_chunks: 1000, chunk_ms: 20 }), signal: ac.signal,
  });
  const s = await sseRead(r, { onEvent: (ev) => (ev.json?.choices?.[0]?.delta?.content === 'c2 ' ? false : undefined) });
  ac.abort();
  assert.equal(sseContents(s.events).length, 3);
  await f.waitLog(/client closed stream after \d+ chunks/);
  // Still serving afterwards.
  assert.equal((await getJson(`${f.url}/health`)).status, 200);
  await f.stop();
});

test('crashes: mid-stream (crash_after_chunks) and GET /crash exit with status 3', async () => {
  const f = await startFake({ name: 'crashy' });
  const r = await fetch(`${f.url}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify({ stream: true, n_chunks: 10, crash_after_chunks: 2 }),
  });
  const s = await sseRead(r);
  assert.deepEqual(sseContents(s.events), ['c0 ', 'c1 ']);
  assert.equal(s.done, false);
  assert.ok(s.error, 'the stream breaks off');
  assert.equal((await f.exited).code, 3);

  const g = await startFake({ name: 'crashy2' });
  await assert.rejects(fetch(`${g.url}/crash`));
  assert.equal((await g.exited).code, 3);
  assert.match(g.logs(), /crashing on GET \/crash/);
});

test('garbage and hang_ms', async () => {
  const f = await startFake({ name: 'odd' });
  await assert.rejects(postJson(`${f.url}/v1/chat/completions`, { garbage: true }));
  const t0 = Date.now();
  const r = await postJson(`${f.url}/v1/chat/completions`, { hang_ms: 300 });
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 >= 290);
  await f.stop();
});

test('process control: SIGTERM, --ignore-sigterm, --fail-start, --exit-after-ms', async () => {
  const token = uniqueToken();
  const a = await startFake({ name: 'stubborn', token, ignoreSigterm: true });
  assert.equal(processesMatching(token).length, 1);
  assert.ok(childPids(process.pid).some((c) => c.pid === a.pid));
  const st = await a.stop('SIGTERM', 300);
  assert.equal(st.killed, true);
  assert.equal(st.signal, 'SIGKILL');
  assert.match(a.logs(), /ignoring SIGTERM/);
  await waitNoProcesses(token);

  const b = await startFake({ name: 'bad', failStart: "error: failed to load model '/nope.gguf'" });
  assert.equal((await b.exited).code, 1);
  assert.match(b.logs(), /failed to load model/);

  const c = await startFake({ name: 'short', exitAfterMs: 150, exitCode: 7 });
  assert.equal((await c.exited).code, 7);

  const d = await startFake({ name: 'polite' });
  const t0 = Date.now();
  const sd = await d.stop('SIGTERM');
  assert.deepEqual([sd.code, sd.killed], [0, false]);
  assert.ok(Date.now() - t0 < 3000, "SIGTERM is answered promptly");
  for (const h of [a, b, c, d]) assert.deepEqual(h.sanitizerReports(), []);
});

test('config helpers write YAML that carries the cleanup token', async () => {
  const token = uniqueToken();
  const y = await fakeModelYaml({ token, models: { 'm:1b': { healthDelay: 100, ttl: 5, aliases: ['a b'] } }, groups: { g: { swap: true, members: ['m:1b'] } } });
  assert.match(y, /"cmd": ".*fake-upstream --port \$\{PORT\} --model m:1b --test-token gst\w+ --health-delay 100"/);
  assert.match(y, /"aliases": \["a b"\]/);
  assert.match(y, /"startPort": \d+/);
  assert.equal(toYaml({ a: { b: [1, 'x'], c: {} } }), '\n"a":\n  "b": [1, "x"]\n  "c": {}');
});
