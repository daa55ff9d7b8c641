// The page's one SSE reader (web/js/sse.js), which both the live event stream and the
// playground use: parsed the same whatever the chunking, with the spec's line endings, comments,
// multi-line data, id and retry; leaving the loop cancels the stream. Runs in node: the module
// only needs ReadableStream and TextDecoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSSE } from '../../web/js/sse.js';

function streamOf(chunks, onCancel) {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(typeof chunks[i] === 'string' ? enc.encode(chunks[i++]) : chunks[i++]);
      else c.close();
    },
    cancel() { onCancel?.(); },
  });
}

async function collect(chunks, meta = {}) {
  const out = [];
  for await (const ev of readSSE(streamOf(chunks), meta)) out.push([ev.event, ev.data]);
  return out;
}

const TEXT = 'retry: 2000\nevent: service\ndata: {"a":1}\n\n: keep-alive\r\n' +
  'data: line one\r\ndata:line two\r\rid: 7\nevent: model\ndata:  two spaces\n\n' +
  'event: nothing\n\ndata: é ü 日本\n\n';
const WANT = [['service', '{"a":1}'], ['message', 'line one\nline two'], ['model', ' two spaces'], ['message', 'é ü 日本']];

test('events are the same whatever the chunk boundaries (every split point, byte by byte)', async () => {
  const bytes = new TextEncoder().encode(TEXT);
  const meta = {};
  assert.deepEqual(await collect([TEXT], meta), WANT);
  assert.equal(meta.retry, 2000);
  assert.equal(meta.lastId, '7');
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(await collect([bytes.slice(0, cut), bytes.slice(cut)]), WANT, `split at byte ${cut}`);
  }
  assert.deepEqual(await collect([...bytes].map((b) => new Uint8Array([b]))), WANT, 'one byte per chunk');
});

test('a CR at the end of a chunk followed by LF is one line end, not an empty line', async () => {
  assert.deepEqual(await collect(['data: a\r', '\ndata: b\r', '\n\r', '\n']), [['message', 'a\nb']]);
});

test('an event cut off by the end of the stream is still delivered; a bare comment is not an event', async () => {
  assert.deepEqual(await collect(['data: [DONE]']), [['message', '[DONE]']]);
  assert.deepEqual(await collect(['data: x\n']), [['message', 'x']]);
  assert.deepEqual(await collect([': just a comment\n\n', 'event: e\n\n']), []);
  assert.deepEqual(await collect(['data\n\n']), [['message', '']], 'a field name alone is an empty data line');
});

test('a bad retry or an id with NUL is ignored', async () => {
  const meta = { retry: 100 };
  await collect(['retry: soon\nid: a\0b\ndata: x\n\n'], meta);
  assert.deepEqual(meta, { retry: 100 });
});

test('leaving the loop early cancels the stream', async () => {
  let cancelled = false;
  const s = streamOf(['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n'], () => { cancelled = true; });
  for await (const ev of readSSE(s)) { assert.equal(ev.data, '1'); break; }
  assert.equal(cancelled, true);
});
