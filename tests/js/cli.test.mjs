// The command line as llama-swap users type it: Go's flag forms (-config F, -config=F,
// --config F, --config=F), Clara's exact spawn line, -listen :PORT, -version, -watch-config,
// -config-dir (merged sources, conflicts), and the usage errors that must stop before
// anything listens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  registerCleanup, startGgswap, fakeModelYaml, fakeCmd, uniqueToken, postJson, getJson, tmpDir,
  freePort, waitFor, toYaml,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();
const BIN = process.env.GGSWAP_BIN;

function runSync(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 20000, ...opts });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function chat(gg, model) {
  const r = await postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// What a client sees of a daemon, minus what differs between two runs (ports, times, paths).
async function view(gg) {
  const models = (await getJson(`${gg.url}/v1/models`)).json.data.map((m) => ({ id: m.id, owned_by: m.owned_by, status: m.status, type: m.meta.ggswap.type }));
  const svc = (await getJson(`${gg.url}/api/service`)).json;
  return { models, mode: svc.mode, state: svc.state, config: svc.config, names: svc.models.map((m) => [m.id, m.aliases, m.ttl]) };
}

test("Clara's spawn line (-config F -listen 127.0.0.1:P) serves exactly as serve --config --listen", async () => {
  const token = uniqueToken();
  const yaml = await fakeModelYaml({ token, models: { 'tiny:a': { aliases: ['ta'], ttl: 300 }, 'tiny:b': {} } });
  // One after the other: both would start the models on the same ports.
  const session = async (gg) => {
    try {
      const before = await view(gg);
      const answers = [(await chat(gg, 'ta')).choices.length, (await chat(gg, 'tiny:b')).choices.length];
      const after = await view(gg);
      const running = (await getJson(`${gg.url}/running`)).json.running.map((m) => m.model);
      return { before, answers, after, running };
    } finally {
      await finish(gg, token);
    }
  };
  const clara = await startGgswap({ config: yaml, token, argv: (port, cfg) => ['-config', cfg, '-listen', `127.0.0.1:${port}`] });
  const cfgPath = clara.configPath;
  const a = await session(clara);
  const b = await session(await startGgswap({ configPath: cfgPath, token }));
  assert.deepEqual(a, b);
  assert.deepEqual(a.running, ['tiny:b'], 'tiny:a and tiny:b swapped');
});

test('every Go flag form of -config and -listen, and -listen :PORT', async () => {
  const token = uniqueToken();
  const yaml = await fakeModelYaml({ token, models: { m: {} } });
  const forms = [
    (p, c) => ['-config', c, '-listen', `127.0.0.1:${p}`],
    (p, c) => [`-config=${c}`, `-listen=127.0.0.1:${p}`],
    (p, c) => ['--config', c, '--listen', `127.0.0.1:${p}`],
    (p, c) => [`--config=${c}`, `--listen=127.0.0.1:${p}`],
    (p, c) => ['serve', '-config', c, `--listen=127.0.0.1:${p}`],
    (p, c) => ['-listen', `:${p}`, '-config', c],
  ];
  let cfgPath;
  for (const form of forms) {
    const gg = await startGgswap({ config: cfgPath || yaml, configPath: cfgPath, token, argv: form });
    cfgPath = gg.configPath;
    try {
      const svc = (await getJson(`${gg.url}/api/service`)).json;
      assert.equal(svc.config, fs.realpathSync(cfgPath), form(gg.port, cfgPath).join(' '));
      assert.equal((await chat(gg, 'm')).object, 'chat.completion');
    } finally {
      await finish(gg, token);
    }
  }
});

test('-version and --version print the version and commit and exit 0', () => {
  for (const a of [['-version'], ['--version'], ['version'], ['-version', '-config', '/nonexistent']]) {
    const r = runSync(a);
    assert.equal(r.code, 0, `${a.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^ggswap \S+ \(([0-9a-f]{4,}|unknown)\)\n$/, a.join(' '));
  }
});

test('usage errors exit 2 naming the flag, before anything listens', async () => {
  const token = uniqueToken();
  const dir = tmpDir();
  const cfg = path.join(dir, 'c.yaml');
  fs.writeFileSync(cfg, await fakeModelYaml({ token, models: { m: {} } }));
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const cases = [
    [['-config', cfg, '-listen', listen, '-frobnicate'], /unknown flag -frobnicate/],
    [['-config', cfg, '-listen'], /flag -listen needs a value/],
    [['-listen', listen, '-config'], /flag -config needs a value/],
    [['-config', cfg, '-listen', listen, '-watch-config=perhaps'], /-watch-config is a switch/],
    [['-config', cfg, '-listen', listen, 'stray'], /unexpected argument 'stray'/],
    [['-config', cfg, '-listen', listen, '-tls-cert-file', cfg], /-tls-key-file/],
    [['-config=', '-listen', listen], /-config needs a value/],
    [['-config', cfg, '-config-dir', dir, '-listen', listen], /also in -config-dir/],
    [['-config-dir', path.join(dir, 'nope'), '-listen', listen], /nope.*cannot read the folder/],
  ];
  for (const [args, re] of cases) {
    const r = runSync(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /listening on/, args.join(' '));
  }
});

test('-config-dir merges every *.yaml/*.yml (with -config first), and -watch-config picks up a new file', async () => {
  const token = uniqueToken();
  const dir = tmpDir();
  const d = path.join(dir, 'conf.d');
  fs.mkdirSync(d);
  const model = (name) => ({ cmd: fakeCmd(name, { token }), proxy: 'http://127.0.0.1:${PORT}' });
  fs.writeFileSync(path.join(dir, 'base.yaml'), toYaml({ healthCheckTimeout: 30, models: { a: model('a') } }).trimStart() + '\n');
  fs.writeFileSync(path.join(d, '10-b.yaml'), toYaml({ models: { b: model('b') }, groups: { g: { swap: false, members: ['a', 'b'] } } }).trimStart() + '\n');
  fs.writeFileSync(path.join(d, '20-c.yml'), toYaml({ healthCheckTimeout: 30, models: { c: model('c') } }).trimStart() + '\n');
  fs.writeFileSync(path.join(d, 'notes.txt'), 'not: [yaml');
  const gg = await startGgswap({ token, argv: (p) => ['-config', path.join(dir, 'base.yaml'), '-config-dir', d, '-listen', `127.0.0.1:${p}`, '-watch-config'] });
  try {
    const ids = async () => (await getJson(`${gg.url}/v1/models`)).json.data.map((m) => m.id).sort();
    assert.deepEqual(await ids(), ['a', 'b', 'c']);
    await chat(gg, 'a');
    await chat(gg, 'b');
    const run = (await getJson(`${gg.url}/running`)).json.running.map((m) => m.model).sort();
    assert.deepEqual(run, ['a', 'b'], 'the group from another file applies: a and b run together');
    fs.writeFileSync(path.join(d, '30-e.yaml'), toYaml({ models: { e: model('e') } }).trimStart() + '\n');
    await waitFor(async () => (await ids()).includes('e'), { timeout: 15000, what: 'model e after a new file' }); // polled each second; slow under ASan on a loaded machine
    // A conflicting file is refused on reload; the config in force stays.
    fs.writeFileSync(path.join(d, '40-dup.yaml'), toYaml({ models: { a: model('a2') } }).trimStart() + '\n');
    await gg.waitLog(/40-dup\.yaml:\d+: error: models\.a: 'a' is already defined/, 15000);
    assert.deepEqual(await ids(), ['a', 'b', 'c', 'e']);
  } finally {
    await finish(gg, token);
  }
});

test('config check -config-dir reports conflicts with file:line and the key', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'a.yaml'), 'logLevel: info\nmodels:\n  m:\n    cmd: x --port ${PORT}\n');
  fs.writeFileSync(path.join(dir, 'b.yaml'), '# scalars must agree\nlogLevel: debug\n');
  let r = runSync(['config', 'check', '-config-dir', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /b\.yaml:2: error: logLevel: set to 'debug' here but to 'info'/);
  fs.writeFileSync(path.join(dir, 'b.yaml'), 'logLevel: info\nmodels:\n  n:\n    cmd: y --port ${PORT}\n');
  r = runSync(['config', 'check', '--config-dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ok \(2 models/);
});

test('-config-dir: a problem found after the merge names the file and line that hold it', () => {
  const dir = tmpDir();
  const base = path.join(dir, 'base.yaml');
  const d = path.join(dir, 'conf.d');
  fs.mkdirSync(d);
  fs.writeFileSync(base, 'logLevel: info\nmodels:\n  m:\n    cmd: x --port ${PORT}\n    ttl: -3\n');
  fs.writeFileSync(path.join(d, 'a.yaml'), 'groups:\n  g:\n    members:\n      - m\n');
  fs.writeFileSync(path.join(d, 'b.yaml'), '# b\n\nmodels:\n  n:\n    cmd: y --port ${PORT}\n    ttl: abc\n    bogusKey: 1\ngroups:\n  h:\n    members: [n, zz]\n');
  const r = runSync(['config', 'check', base, '-config-dir', d]);
  assert.equal(r.code, 2, r.stderr);
  const at = (f, line) => `${path.join(f)}:${line}:`;
  assert.ok(r.stderr.includes(`${at(base, 5)} error: models.m.ttl: invalid TTL value -3`), r.stderr);
  assert.ok(r.stderr.includes(`${at(path.join(d, 'b.yaml'), 6)} error: models.n.ttl: expected a whole number, not 'abc'`), r.stderr);
  assert.ok(r.stderr.includes(`${at(path.join(d, 'b.yaml'), 7)} warning: models.n.bogusKey: unknown key`), r.stderr);
  assert.ok(r.stderr.includes(`${at(path.join(d, 'b.yaml'), 10)} error: groups.h.members[1]: unknown model zz`), r.stderr);
  assert.doesNotMatch(r.stderr, /\(merged\)/, 'no message names the merged text');
  // serve stops on the same messages, before listening.
  const s = runSync(['-config', base, '-config-dir', d, '-listen', '127.0.0.1:9']);
  assert.equal(s.code, 2, s.stderr);
  assert.ok(s.stderr.includes(`${at(path.join(d, 'b.yaml'), 6)} error: models.n.ttl`), s.stderr);
});

test('the other commands take the Go forms too (ctl -url, scan -json -models-dir, config check)', () => {
  let r = runSync(['ctl', '-url', 'http://127.0.0.1:9', 'status']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  r = runSync(['ctl', '-url=http://127.0.0.1:9', '-json', 'status']);
  assert.equal(r.code, 1, r.stderr);
  const dir = tmpDir();
  r = runSync(['scan', '-json', '-models-dir', dir], { env: { ...process.env, GGSWAP_HOME: path.join(dir, 'home') } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
  r = runSync(['config', 'check', '-config-dir', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no \*\.yaml or \*\.yml files/);
});
