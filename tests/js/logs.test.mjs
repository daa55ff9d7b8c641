// Logs as llama-swap gives them: /logs/stream (ggswap's lines and "[model] line", history then
// live), /logs/stream/proxy, /logs/stream/upstream (every model's output as it came), and
// logToStdout (proxy, upstream, both, none: which of them ggswap prints, the models' output on
// stdout so journald or docker get it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, waitFor, postJson,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();

// A streaming text body, read on in the background.
async function stream(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/plain/);
  const st = { text: '' };
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        st.text += dec.decode(value, { stream: true });
      }
    } catch { /* cancelled */ }
  })();
  st.until = (re, what) => waitFor(() => re.test(st.text), { what: `${what}: ${re}` });
  st.cancel = () => reader.cancel().catch(() => {});
  return st;
}

async function serve(top = {}) {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token, top,
      models: { a: {}, b: {} },
      groups: { g: { swap: false, exclusive: false, members: ['a', 'b'] } },
    }),
  });
  return { token, gg };
}

const load = async (gg, m) => assert.equal((await postJson(`${gg.url}/api/models/load/${m}`, '')).status, 200);

test('/logs/stream/upstream: the models\' output as it came, history then live; /logs/stream has both with history', async () => {
  const { token, gg } = await serve();
  await load(gg, 'a');

  const up = await stream(`${gg.url}/logs/stream/upstream`);
  await up.until(/^fake-upstream a listening on/m, 'a\'s start in the upstream history');
  const all = await stream(`${gg.url}/logs/stream`);
  await all.until(/model a: starting -> ready/, 'a proxy line in the combined history');
  await all.until(/^\[a\] fake-upstream a listening on/m, 'a model line in the combined history');
  const proxy = await stream(`${gg.url}/logs/stream/proxy`);
  await proxy.until(/model a: starting -> ready/, 'the proxy history');
  const quiet = await stream(`${gg.url}/logs/stream/upstream?no-history`);

  // Live: b's output reaches the upstream stream (raw) and the combined one (prefixed).
  await load(gg, 'b');
  await up.until(/^fake-upstream b listening on/m, 'b live on upstream');
  await all.until(/^\[b\] fake-upstream b listening on/m, 'b live on the combined stream');
  await quiet.until(/^fake-upstream b listening on/m, 'b live without history');
  await proxy.until(/model b: starting -> ready/, 'proxy live');

  assert.doesNotMatch(up.text, /model a: |INFO|\[a\]|\[b\]/, 'no proxy lines, no prefixes on upstream');
  assert.doesNotMatch(quiet.text, /fake-upstream a listening/, 'no-history: only what came after');
  assert.doesNotMatch(proxy.text, /fake-upstream a listening/, 'no model lines on proxy');
  // By default (logToStdout: proxy) the models' output does not reach ggswap's stdout.
  assert.doesNotMatch(gg.stdout(), /fake-upstream/);
  assert.match(gg.stderr(), /model a: starting -> ready/);
  for (const s of [up, all, proxy, quiet]) s.cancel();
  await finish(gg, token);
});

for (const [mode, proxyOut, upstreamOut] of [['proxy', true, false], ['upstream', false, true], ['both', true, true], ['none', false, false]]) {
  test(`logToStdout: ${mode}`, async () => {
    const { token, gg } = await serve({ logToStdout: mode });
    await load(gg, 'a');
    const line = /^fake-upstream a listening on [^\n]*\(pid \d+, healthy after \d+ ms\)$/m;
    if (upstreamOut) await waitFor(() => line.test(gg.stdout()), { what: 'a\'s output on ggswap\'s stdout' });
    else assert.doesNotMatch(gg.stdout(), /fake-upstream/, 'no model output on stdout');
    // ggswap's own info lines (on stderr, as always) only when proxy logs are on.
    if (proxyOut) assert.match(gg.stderr(), /INFO model a: starting -> ready/);
    else assert.doesNotMatch(gg.stderr(), /INFO model a: /);
    // Whatever is printed, the streams and their history stay.
    const up = await stream(`${gg.url}/logs/stream/upstream`);
    await up.until(line, 'the upstream history');
    up.cancel();
    await finish(gg, token);
  });
}
