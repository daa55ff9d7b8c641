// `ggswap pull` against the stand-in Hub (tests/js/lib/hub.mjs): every REF form, a transfer cut
// halfway and resumed, a resume after a restart, a stall, a wrong hash, unknown and gated repos,
// rate limits, no network; split models and a vision model's mmproj.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, tmpDir, registerCleanup } from './lib/harness.mjs';
import { startHub, HUB_TOKEN } from './lib/hub.mjs';

registerCleanup();
let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub.close(); });

function pull(args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const e = { ...process.env, HF_ENDPOINT: hub.url, GGSWAP_HOME: path.join(tmpDir(), 'home'), GGSWAP_PULL_BACKOFF_MS: '100', ...extraEnv };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    const p = spawn(env('GGSWAP_BIN'), ['pull', ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const ls = (d) => fs.readdirSync(d).sort();
const noHfToken = { HF_TOKEN: undefined };

test('org/repo:Q8_0 arrives byte for byte after the first transfer was cut halfway', async () => {
  const d = tmpDir();
  const want = hub.file('org/tiny-GGUF', 'tiny-Q8_0.gguf');
  hub.cutNext('org/tiny-GGUF', 'tiny-Q8_0.gguf');
  const before = hub.requests.length;
  const r = await pull(['org/tiny-GGUF:Q8_0', '--models-dir', d], noHfToken);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d), ['tiny-Q8_0.gguf'], 'exactly that file, no .part left');
  assert.ok(fs.readFileSync(path.join(d, 'tiny-Q8_0.gguf')).equals(want), 'byte for byte');
  assert.equal(r.stdout.trim(), path.join(d, 'tiny-Q8_0.gguf'));
  const cdn = hub.requests.slice(before).filter((q) => q.port === 'cdn');
  assert.equal(cdn.length, 2, JSON.stringify(cdn));
  assert.equal(cdn[0].range, undefined);
  const m = /^bytes=(\d+)-$/.exec(cdn[1].range || '');
  assert.ok(m && Number(m[1]) > 0 && Number(m[1]) < want.length, `resumed with Range: ${cdn[1].range}`);
  // the resolve went through the Hub and was redirected to the CDN's port
  assert.ok(hub.requests.slice(before).some((q) => q.port === 'hub' && q.url.includes('/resolve/main/tiny-Q8_0.gguf')));
  assert.match(r.stderr, /complete and verified/);
});

test('a .part left by an earlier run is resumed with Range, not fetched again', async () => {
  const d = tmpDir();
  const want = hub.file('org/tiny-GGUF', 'tiny-Q4_K_M.gguf');
  const cut = Math.floor(want.length / 3);
  fs.writeFileSync(path.join(d, 'tiny-Q4_K_M.gguf.part'), want.subarray(0, cut));
  const before = hub.requests.length;
  const r = await pull(['org/tiny-GGUF', '--models-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d), ['tiny-Q4_K_M.gguf'], 'org/repo alone picks Q4_K_M');
  assert.ok(fs.readFileSync(path.join(d, 'tiny-Q4_K_M.gguf')).equals(want));
  const cdn = hub.requests.slice(before).filter((q) => q.port === 'cdn');
  assert.deepEqual(cdn.map((q) => q.range), [`bytes=${cut}-`]);
});

test('a stalled transfer is retried and completes', async () => {
  const d = tmpDir();
  hub.stallNext('org/multi-GGUF', 'multi-F16.gguf');
  const r = await pull(['hf.co/org/multi-GGUF:F16', '--models-dir', d], { GGSWAP_PULL_STALL_S: '1' });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d), ['multi-F16.gguf']);
  assert.ok(fs.readFileSync(path.join(d, 'multi-F16.gguf')).equals(hub.file('org/multi-GGUF', 'multi-F16.gguf')));
});

test('a wrong hash fails, says so, and leaves no file', async () => {
  const d = tmpDir();
  const r = await pull(['org/badhash-GGUF:Q8_0', '--models-dir', d]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /sha256 mismatch/);
  assert.match(r.stderr, /deleted/);
  assert.deepEqual(ls(d), []);
});

test('an unknown repo and an unknown file fail with messages that say why', async () => {
  const d = tmpDir();
  let r = await pull(['org/nothing-here', '--models-dir', d]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /org\/nothing-here was not found on the Hub/);
  r = await pull(['org/tiny-GGUF/nope-Q8_0.gguf', '--models-dir', d]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no file nope-Q8_0.gguf/);
  r = await pull(['org/tiny-GGUF:Q6_K', '--models-dir', d]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no Q6_K file; it has: Q4_K_M, Q8_0/);
  r = await pull(['org/multi-GGUF', '--models-dir', d]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no Q4_K_M file; say which quantisation to pull: F16, Q8_0/);
  r = await pull(['not a ref', '--models-dir', d]);
  assert.equal(r.code, 2);
  r = await pull([]);
  assert.equal(r.code, 2);
  assert.deepEqual(ls(d), []);
});

test('a gated repo without a token names the setting; with $HF_TOKEN or hfToken it pulls', async () => {
  const d = tmpDir();
  let r = await pull(['org/gated-GGUF', '--models-dir', d], noHfToken);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /gated/);
  assert.match(r.stderr, /\$HF_TOKEN or hfToken in settings.yaml/);
  assert.deepEqual(ls(d), []);
  r = await pull(['org/gated-GGUF', '--models-dir', d], { HF_TOKEN: 'hf_wrong' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /token has no access|accept its terms/);
  r = await pull(['org/gated-GGUF', '--models-dir', d], { HF_TOKEN: HUB_TOKEN });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d), ['gated-Q4_K_M.gguf']);
  // the token goes to the Hub, never to the CDN it redirects to
  assert.ok(hub.requests.filter((q) => q.port === 'cdn').every((q) => !q.auth));
  // the same from settings.yaml
  const home = tmpDir();
  fs.writeFileSync(path.join(home, 'settings.yaml'), `hfToken: ${HUB_TOKEN}\n`);
  const d2 = tmpDir();
  r = await pull(['org/gated-GGUF', '--models-dir', d2], { ...noHfToken, GGSWAP_HOME: home });
  assert.equal(r.code, 0, r.stderr);
});

test('rate limits and no network are clear failures', async () => {
  const d = tmpDir();
  let r = await pull(['org/limited-GGUF', '--models-dir', d], { GGSWAP_PULL_BACKOFF_MS: '20' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /rate limiting/);
  r = await pull(['org/tiny-GGUF', '--models-dir', d], { HF_ENDPOINT: 'http://127.0.0.1:1', GGSWAP_PULL_BACKOFF_MS: '20' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the Hub at http:\/\/127.0.0.1:1/);
  assert.match(r.stderr, /network/);
  assert.deepEqual(ls(d), []);
});

test('a split model comes whole, a vision model with its mmproj; URLs and file paths work', async () => {
  const d = tmpDir();
  let r = await pull(['org/split-GGUF/big-F16-00002-of-00003.gguf', '--models-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d), ['big-F16-00001-of-00003.gguf', 'big-F16-00002-of-00003.gguf', 'big-F16-00003-of-00003.gguf']);
  const d2 = tmpDir();
  r = await pull(['org/vision-GGUF', '--models-dir', d2]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d2), ['mmproj-vision-f16.gguf', 'vision-Q4_K_M.gguf']);
  const d3 = tmpDir();
  r = await pull([`${hub.url}/org/tiny-GGUF/resolve/main/tiny-Q8_0.gguf`, '--models-dir', d3]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d3), ['tiny-Q8_0.gguf']);
  // a plain URL of another server (no Hub listing): verified against its X-Linked-Etag if any
  const d4 = tmpDir();
  const e = hub.entries['org/tiny-GGUF']['tiny-Q4_K_M.gguf'];
  r = await pull([`${hub.cdnUrl}/blobs/${e.oid}/tiny-url-Q4_K_M.gguf`, '--models-dir', d4]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ls(d4), ['tiny-url-Q4_K_M.gguf']);
  assert.match(r.stderr, /not verified/);
  r = await pull([`${hub.cdnUrl}/blobs/${e.oid}`, '--models-dir', d4]);
  assert.equal(r.code, 2, 'a URL that does not name a .gguf is refused');
});

test('without a terminal, progress comes as one line per 10 %', async () => {
  const d = tmpDir();
  hub.slowNext('org/tiny-GGUF', 'tiny-Q8_0.gguf', 1500);
  const r = await pull(['org/tiny-GGUF:q8_0', '--models-dir', d]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => /^pull tiny-Q8_0.gguf: \d+% /.test(l));
  assert.ok(lines.length >= 5 && lines.length <= 10, r.stderr);
  assert.match(lines.at(-1), /100% \(/);
});

test('two pulls of one file at once share one download', async () => {
  const d = tmpDir();
  hub.slowNext('org/tiny-GGUF', 'tiny-Q4_K_M.gguf', 1500);
  const before = hub.requests.length;
  const [a, b] = await Promise.all([
    pull(['org/tiny-GGUF:Q4_K_M', '--models-dir', d]),
    new Promise((r) => setTimeout(r, 300)).then(() => pull(['org/tiny-GGUF:Q4_K_M', '--models-dir', d])),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(ls(d), ['tiny-Q4_K_M.gguf']);
  const cdn = hub.requests.slice(before).filter((q) => q.port === 'cdn');
  assert.equal(cdn.length, 1, 'one transfer for both');
});
