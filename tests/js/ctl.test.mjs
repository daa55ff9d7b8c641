// `ggswap ctl` against a real daemon (fake upstreams) and against a tiny stand-in server for the
// HTTP details (chunked answers, percent-encoding, the API key header, size limit).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';

const BIN = process.env.GGSWAP_BIN;
const FAKE = process.env.FAKE_UPSTREAM;
if (!BIN || !FAKE) throw new Error('set GGSWAP_BIN and FAKE_UPSTREAM (build/asan/ggswap, build/asan/fake-upstream)');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A run of ports nothing listens on now (for startPort: each model takes the next one).
async function freeRange(n) {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all(
      Array.from({ length: n }, (_, i) => new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(base + i, '127.0.0.1', () => s.close(() => resolve(true)));
      })),
    );
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free port range');
}

function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const e = { ...process.env, ...env };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    const p = spawn(cmd, args, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function startDaemon(dir, yaml) {
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, yaml);
  const port = await freePort();
  const proc = spawn(BIN, ['serve', '--config', cfg, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`ggswap exited (${proc.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`ggswap did not come up:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, cfg, proc, log: () => log,
    async stop() {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await done;
      clearTimeout(t);
    },
  };
}

const usage = /usage: ggswap ctl/;

describe('ggswap ctl against the daemon', () => {
  let dir, d, ctl;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ggswap-ctl-'));
    const start = await freeRange(3);
    d = await startDaemon(dir, `startPort: ${start}
healthCheckTimeout: 10
models:
  a:
    cmd: ${FAKE} --port \${PORT} --model a
    ttl: 300
  b:
    cmd: ${FAKE} --port \${PORT} --model b --health-delay 300
    aliases: [gpt-x, my-b]
  broken:
    cmd: '${FAKE} --port \${PORT} --model broken --fail-start "boom: out of memory"'
`);
    // $GGSWAP_URL is the default; tests that pass --url show it wins.
    ctl = (...args) => run(BIN, ['ctl', ...args], { GGSWAP_URL: d.url, GGSWAP_API_KEY: undefined });
  });

  after(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('status: the service summary and the models table', async () => {
    const r = await ctl('status');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const port = new URL(d.url).port;
    assert.match(r.stdout, /^ggswap is running$/m);
    assert.match(r.stdout, new RegExp(`^  listen: +127\\.0\\.0\\.1:${port}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^  API URL: +http://127\\.0\\.0\\.1:${port}/v1$`, 'm'));
    assert.ok(r.stdout.includes(d.cfg), r.stdout);
    assert.match(r.stdout, /^  model folders: /m);
    assert.match(r.stdout, /^  llama-server: /m);
    assert.match(r.stdout, /^  uptime: +\d+s$/m);
    assert.match(r.stdout, /^MODEL +STATE +KIND +PARAMS +ALIASES +TTL LEFT$/m);
    assert.match(r.stdout, /^a +stopped +- +- +- +-$/m);
    assert.match(r.stdout, /^b +stopped +- +- +gpt-x, my-b +-$/m);
    assert.doesNotMatch(r.stdout, /^! /m, 'no problems with a hand-written config');
  });

  test('status --json prints the /api/service object', async () => {
    const r = await ctl('status', '--json');
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.state, 'running');
    assert.deepEqual(o.models.map((m) => m.id), ['a', 'b', 'broken']);
  });

  test('models: only the table; --json: the models array', async () => {
    let r = await ctl('models');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^MODEL +STATE/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/)[0]), ['a', 'b', 'broken']);
    assert.doesNotMatch(r.stdout, /listen:/);

    r = await ctl('--json', 'models');
    assert.equal(r.code, 0, r.stderr);
    const arr = JSON.parse(r.stdout);
    assert.ok(Array.isArray(arr));
    assert.deepEqual(arr.map((m) => m.id), ['a', 'b', 'broken']);
    assert.deepEqual(arr[1].aliases, ['gpt-x', 'my-b']);
  });

  test('load waits until ready; the table then shows the state and TTL left', async () => {
    let r = await ctl('load', 'a');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a is ready\n');
    r = await ctl('models');
    assert.match(r.stdout, /^a +ready +- +- +- +[45]m\d\ds$/m);

    // By alias (b has a health delay, so this really waits).
    r = await ctl('load', 'gpt-x');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'gpt-x is ready (model b)\n');
    const svc = await (await fetch(`${d.url}/api/service`)).json();
    assert.equal(svc.models.find((m) => m.id === 'b').state, 'ready');

    r = await ctl('--json', 'load', 'a');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ok: true, model: 'a', state: 'ready' });
  });

  test('load of an unknown model: exit 1 with the daemon message', async () => {
    const r = await ctl('load', 'no-such-model');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ggswap ctl: model 'no-such-model' not found; known models: a, b, gpt-x, my-b, broken\n$/);
  });

  test('load --json of an unknown model prints the error object too', async () => {
    const r = await ctl('--json', 'load', 'nope');
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'model_not_found');
    assert.match(r.stderr, /model 'nope' not found/);
  });

  test('load of a model that fails to start: exit 1 with the reason from its log', async () => {
    let r = await ctl('load', 'broken');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ggswap ctl: .*broken.*failed to start/);
    assert.match(r.stderr, /boom: out of memory/);
    r = await ctl('models');
    assert.match(r.stdout, /^broken +failed /m);
    assert.match(r.stdout, /^! broken failed: boom: out of memory$/m);
  });

  test('unload MODEL and unload everything', async () => {
    let r = await ctl('load', 'a');
    assert.equal(r.code, 0, r.stderr);
    r = await ctl('unload', 'a');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a unloaded\n');
    const deadline = Date.now() + 10000;
    for (;;) {
      r = await ctl('models');
      if (/^a +stopped /m.test(r.stdout) || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(r.stdout, /^a +stopped /m);

    r = await ctl('unload', 'nope');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /model 'nope' not found/);

    r = await ctl('load', 'my-b');
    assert.equal(r.code, 0, r.stderr);
    r = await ctl('unload');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'every model unloaded\n');
    r = await ctl('--json', 'unload');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).ok, true);
  });

  test('stop, start, restart, regenerate print the daemon message', async () => {
    let r = await ctl('stop');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service stopped; every model unloaded\n');
    r = await ctl('status');
    assert.match(r.stdout, /^ggswap is stopped$/m);

    r = await ctl('load', 'a');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ggswap ctl: the service is stopped; start it first\n$/);

    r = await ctl('start');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service started\n');
    r = await ctl('status');
    assert.match(r.stdout, /^ggswap is running$/m);

    r = await ctl('restart');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service restarted with the config reloaded\n');

    r = await ctl('regenerate');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'config reloaded: 3 models (was 3)\n');

    r = await ctl('--json', 'start');
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.ok, true);
    assert.equal(o.state, 'running');
  });

  test('--url wins over $GGSWAP_URL, and the /v1 API URL works too', async () => {
    const port = await freePort();
    let r = await run(BIN, ['ctl', '--url', d.url, 'models'], { GGSWAP_URL: `http://127.0.0.1:${port}` });
    assert.equal(r.code, 0, r.stderr);
    r = await run(BIN, ['ctl', `--url=${d.url}/v1/`, 'status'], { GGSWAP_URL: undefined });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ggswap is running$/m);
  });
});

describe('ggswap ctl with apiKeys', () => {
  let dir, d;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ggswap-ctl-key-'));
    const start = await freeRange(1);
    d = await startDaemon(dir, `startPort: ${start}
apiKeys: [sk-ctl-test]
models:
  a:
    cmd: ${FAKE} --port \${PORT} --model a
`);
  });
  after(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('without $GGSWAP_API_KEY: exit 1 naming the variable', async () => {
    const r = await run(BIN, ['ctl', '--url', d.url, 'status'], { GGSWAP_API_KEY: undefined });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ggswap ctl: missing or wrong API key$/m);
    assert.match(r.stderr, /GGSWAP_API_KEY/);
  });

  test('with $GGSWAP_API_KEY: works', async () => {
    const r = await run(BIN, ['ctl', '--url', d.url, 'load', 'a'], { GGSWAP_API_KEY: 'sk-ctl-test' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a is ready\n');
  });
});

describe('ggswap ctl errors without a daemon', () => {
  test('unreachable: exit 1 and says how to start it', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    for (const cmd of [['status'], ['load', 'a'], ['stop']]) {
      const r = await run(BIN, ['ctl', '--url', url, ...cmd]);
      assert.equal(r.code, 1, cmd.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `ggswap ctl: cannot reach ${url}: connection refused — is ggswap running? (start it with \`ggswap serve\`)\n`,
      );
    }
    // $GGSWAP_URL is the default.
    const r = await run(BIN, ['ctl', 'models'], { GGSWAP_URL: url });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot reach ${url}:`));
  });

  test('usage errors: exit 2 with the usage text', async () => {
    const url = 'http://127.0.0.1:9';
    for (const args of [[], ['bogus'], ['load'], ['unload', 'a', 'b'], ['status', 'extra'],
      ['--nope', 'status'], ['--url'], ['--url', 'https://example.com', 'status'],
      ['--url', 'http://host:99999', 'status']]) {
      const r = await run(BIN, ['ctl', ...args], { GGSWAP_URL: url });
      assert.equal(r.code, 2, `ctl ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^ggswap ctl: /, args.join(' '));
      if (!args.includes('--url') || args.length === 1) assert.match(r.stderr, usage, args.join(' '));
    }
    const r = await run(BIN, ['ctl', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, usage);
  });
});

describe('ggswap ctl HTTP details (stand-in server)', () => {
  let server, url, seen;
  before(async () => {
    seen = [];
    server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, conn: req.headers.connection });
      if (req.url.endsWith('/big')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = 'x'.repeat(1 << 20);
        for (let i = 0; i < 17; i++) res.write(chunk);
        res.end();
        return;
      }
      if (req.url.startsWith('/pre/api/models/load/')) {
        // No content-length: node sends it chunked, in pieces.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"ok":tr');
        setTimeout(() => { res.write('ue,"model":"real-id",'); }, 20);
        setTimeout(() => { res.end('"state":"ready"}\n'); }, 40);
        return;
      }
      if (req.url === '/pre/api/service/stop') {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('something broke\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route for ${req.url}`, type: 'x', code: 'not_found' } }));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${server.address().port}/pre`;
  });
  after(() => new Promise((r) => server.close(r)));

  test('chunked answer, percent-encoded model, bearer key, Connection: close, URL prefix', async () => {
    const name = 'org/model name:Q4?#%é';
    const r = await run(BIN, ['ctl', '--url', `${url}/`, 'load', name], { GGSWAP_API_KEY: 'k-123' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${name} is ready (model real-id)\n`);
    const last = seen.at(-1);
    assert.equal(last.method, 'POST');
    assert.equal(last.url, '/pre/api/models/load/org/model%20name:Q4%3F%23%25%C3%A9');
    assert.equal(last.auth, 'Bearer k-123');
    assert.equal(last.conn, 'close');
  });

  test('a non-JSON error answer is shown with its status', async () => {
    const r = await run(BIN, ['ctl', '--url', url, 'stop']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ggswap ctl: HTTP 500 from ${url}: something broke\n`);
  });

  test('an answer over the size limit is refused', async () => {
    const r = await run(BIN, ['ctl', '--url', `${url}/big`, 'unload', 'big']);
    // The path is /pre/big/api/models/unload/big: ends with /big.
    assert.equal(r.code, 1);
    assert.match(r.stderr, /larger than 16 MiB/);
  });
});
