// Security (issue "Reliability and security", item 5): loopback by default and a loud warning
// when listening beyond the machine without apiKeys; API keys on management endpoints too
// (/health open); the page served from embedded files only (no path traversal); /upstream paths
// with dot segments refused; no shell between a model's cmd and exec; CORS off; secrets never
// logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  registerCleanup, startGgswap, fakeModelYaml, fakeCmd, uniqueToken, processesMatching,
  waitNoProcesses, waitFor, postJson, getJson, tmpDir, onCleanup, env, sleep, freePort,
} from './lib/harness.mjs';

registerCleanup();

async function finish(gg, token) {
  const st = await gg.stop('SIGTERM', 15000);
  assert.equal(st.killed, false, 'ggswap stops on SIGTERM');
  assert.deepEqual(gg.sanitizerReports(), [], 'no sanitizer report from ggswap');
  if (token) await waitNoProcesses(token, 8000);
}

// One raw HTTP/1.1 request with its target sent byte for byte (fetch would normalise the dot
// segments away before they reach ggswap). Resolves to {status, headers, body}.
function rawRequest(port, target, { method = 'GET', headers = {}, body = '', timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`${method} ${target}: no answer in ${timeout} ms`)); }, timeout);
    s.on('connect', () => {
      let head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      if (body) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      s.write(`${head}\r\n${body}`);
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const he = text.indexOf('\r\n\r\n');
      const [statusLine, ...hl] = text.slice(0, he < 0 ? text.length : he).split('\r\n');
      const headers = Object.fromEntries(hl.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: he < 0 ? '' : text.slice(he + 4), raw: text });
    });
  });
}

function listenersOn(port) {
  // /proc/net/tcp{,6}: local address hex, state 0A = LISTEN.
  const out = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue;
      const [addr, p] = cols[1].split(':');
      if (parseInt(p, 16) === port) out.push(addr);
    }
  }
  return out;
}

function portFreeOn(host, port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

test('serve without --listen binds 127.0.0.1:8091 only, with no warning', async (t) => {
  if (!(await portFreeOn('127.0.0.1', 8091)) || !(await portFreeOn('0.0.0.0', 8091)) || listenersOn(8091).length) {
    t.skip('port 8091 is in use on this machine; the default-listen check needs it free');
    return;
  }
  const token = uniqueToken('sec');
  const dir = tmpDir();
  const cfg = path.join(dir, 'config.yaml');
  fs.writeFileSync(cfg, await fakeModelYaml({ token, models: { a: {} } }));
  const proc = spawn(env('GGSWAP_BIN'), ['serve', '--config', cfg], {
    env: { ...process.env, GGSWAP_HOME: path.join(dir, 'home') }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => proc.on('close', (code, signal) => r({ code, signal })));
  onCleanup(async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; } });
  await waitFor(async () => {
    try { const r = await fetch('http://127.0.0.1:8091/health'); await r.text(); return r.status === 200; } catch { return false; }
  }, { timeout: 20000, what: `ggswap on 127.0.0.1:8091; output:\n${out}` });
  // 0100007F is 127.0.0.1 in /proc/net/tcp's byte order; nothing else (0.0.0.0, ::) listens.
  assert.deepEqual(listenersOn(8091), ['0100007F'], `listeners on 8091: ${listenersOn(8091)}`);
  assert.match(out, /listening on http:\/\/127\.0\.0\.1:8091/);
  assert.doesNotMatch(out, /no apiKeys/);
  proc.kill('SIGTERM');
  const st = await exited;
  assert.equal(st.code, 0, out);
  assert.doesNotMatch(out, /ERROR: (Address|Leak)Sanitizer|runtime error:/);
  await waitNoProcesses(token, 8000);
});

test('listening on 0.0.0.0 without apiKeys logs a loud warning; with apiKeys it does not', async () => {
  const token = uniqueToken('sec');
  // --listen given twice: the last wins, so the harness's own 127.0.0.1 is replaced.
  const port = await freePort();
  const gg = await startGgswap({ port, config: await fakeModelYaml({ token, models: { a: {} } }), args: ['--listen', `0.0.0.0:${port}`] });
  assert.ok(listenersOn(port).includes('00000000'), 'it really listens on 0.0.0.0');
  const warn = gg.logs().split('\n').filter((l) => /0\.0\.0\.0/.test(l) && /apiKeys/.test(l));
  assert.equal(warn.length, 1, `one warning naming 0.0.0.0 and apiKeys; log:\n${gg.logs()}`);
  assert.match(warn[0], /WARN|warn/i, 'logged at warning level');
  await finish(gg, token);

  const port2 = await freePort();
  const gg2 = await startGgswap({ port: port2, config: await fakeModelYaml({ token, models: { a: {} }, top: { apiKeys: ['k-123456'] } }), args: ['--listen', `0.0.0.0:${port2}`] });
  assert.doesNotMatch(gg2.logs(), /no apiKeys/);
  await finish(gg2, token);
});

test('apiKeys: every endpoint but /health needs the key (Bearer, x-api-key, Basic)', async () => {
  const token = uniqueToken('sec');
  const key = `key-${token}`;
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} }, top: { apiKeys: [key] } }) });
  const health = await getJson(`${gg.url}/health`);
  assert.equal(health.status, 200, '/health stays open');
  const ways = {
    bearer: { authorization: `Bearer ${key}` },
    xApiKey: { 'x-api-key': key },
    basic: { authorization: `Basic ${Buffer.from(`user:${key}`).toString('base64')}` },
  };
  const wrong = [
    {},
    { authorization: 'Bearer nope' },
    { authorization: `Bearer ${key}x` },
    { authorization: `Bearer ${key.slice(0, -1)}` },
    { 'x-api-key': 'nope' },
    { authorization: `Basic ${Buffer.from('user:nope').toString('base64')}` },
    { authorization: key }, // no scheme
  ];
  const endpoints = [
    ['GET', '/api/service'], ['GET', '/running'], ['GET', '/logs'], ['GET', '/api/events'],
    ['GET', '/ui/'], ['GET', '/metrics'], ['GET', '/v1/models'], ['GET', '/api/requests'],
    ['GET', '/logs/stream'], ['POST', '/api/service/stop'], ['POST', '/unload'],
    ['POST', '/api/models/load/a'], ['GET', '/upstream/a/health'], ['POST', '/v1/chat/completions'],
  ];
  for (const [method, p] of endpoints) {
    for (const h of wrong) {
      const r = await fetch(`${gg.url}${p}`, { method, headers: { 'content-type': 'application/json', ...h }, body: method === 'POST' ? '{"model":"a"}' : undefined });
      const text = await r.text();
      assert.equal(r.status, 401, `${method} ${p} with ${JSON.stringify(h)} -> ${r.status} ${text.slice(0, 200)}`);
      assert.equal(JSON.parse(text).error.type, 'authentication_error');
    }
  }
  assert.equal((await getJson(`${gg.url}/running`)).status, 401);
  // Nothing was started or stopped by the refused requests.
  assert.deepEqual(processesMatching(token), []);
  const svc = await getJson(`${gg.url}/api/service`, { headers: ways.bearer });
  assert.equal(svc.json.state, 'running');

  for (const [how, h] of Object.entries(ways)) {
    for (const p of ['/api/service', '/running', '/logs', '/ui/', '/metrics', '/v1/models']) {
      const r = await fetch(`${gg.url}${p}`, { headers: h });
      await r.arrayBuffer();
      assert.equal(r.status, 200, `${how}: GET ${p}`);
    }
    const ac = new AbortController();
    const ev = await fetch(`${gg.url}/api/events`, { headers: h, signal: ac.signal });
    assert.equal(ev.status, 200, `${how}: GET /api/events`);
    assert.match(ev.headers.get('content-type'), /text\/event-stream/);
    ac.abort();
    const chat = await postJson(`${gg.url}/v1/chat/completions`, { model: 'a', messages: [] }, { headers: h });
    assert.equal(chat.status, 200, `${how}: chat ${chat.text}`);
    assert.match(chat.json.choices[0].message.content, /^fake:a:\d+$/);
  }
  await finish(gg, token);
});

test('the page is served from embedded files only: traversal attempts are 404, never a file', async () => {
  const token = uniqueToken('sec');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }) });
  const page = await rawRequest(gg.port, '/ui/');
  assert.equal(page.status, 200);
  const secretFile = path.join(gg.dir, 'secret.txt');
  fs.writeFileSync(secretFile, 'TOP-SECRET-FILE-CONTENT\n');
  const rel = path.relative('/', secretFile); // tmp/ggswap-xxx/secret.txt
  const ups = '../'.repeat(12);
  const targets = [
    '/ui/../../etc/passwd', '/ui/../../../../../../etc/passwd', `/ui/${ups}etc/passwd`,
    '/ui/%2e%2e/', '/ui/%2e%2e/%2e%2e/etc/passwd', '/ui/%2E%2E/%2E%2E/etc/passwd',
    '/ui/..%2f..%2f..%2fetc%2fpasswd', '/ui/..%2F..%2F..%2Fetc%2Fpasswd', '/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/ui/%252e%252e/%252e%252e/etc/passwd', '/ui/..%252f..%252fetc%252fpasswd',
    '/ui/....//....//etc/passwd', '/ui//etc/passwd', '/ui/%2fetc%2fpasswd', '/ui/%2Fetc/passwd',
    '/ui/..\\..\\..\\etc\\passwd', '/ui/..%5c..%5cetc%5cpasswd', '/ui/index.html/../../../../etc/passwd',
    '/ui/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd', '/ui/.%2e/.%2e/etc/passwd', '/ui/%00../../etc/passwd',
    '/ui/index.html%00', '/ui/./../../etc/passwd', `/ui/${ups}${rel}`, `/ui/%2e%2e/${'%2e%2e/'.repeat(12)}${rel}`,
    `/ui/${secretFile}`, `/ui/${encodeURIComponent(secretFile)}`, '/ui/../', '/ui/..', '/ui/.',
    '/ui/../../proc/self/environ', '/ui/../../proc/self/cmdline', '/../../etc/passwd', '/%2e%2e/etc/passwd',
  ];
  for (const t of targets) {
    const r = await rawRequest(gg.port, t);
    assert.ok(r.status === 404 || r.status === 400, `${t} -> ${r.status}\n${r.raw.slice(0, 400)}`);
    assert.doesNotMatch(r.body, /root:.*:0:0:|TOP-SECRET-FILE-CONTENT|GGSWAP_HOME=|PATH=\//, `${t} leaked a file`);
  }
  assert.deepEqual(processesMatching(token), [], 'no model started by any of it');
  await finish(gg, token);
});

test('/upstream paths: dot segments are refused (400), nothing reaches the model', async () => {
  const token = uniqueToken('sec');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }) });
  const ok = await rawRequest(gg.port, '/upstream/a/echo/x?y=1');
  assert.equal(ok.status, 200, ok.raw.slice(0, 300));
  assert.equal(JSON.parse(ok.body).path, '/echo/x');
  const before = (await getJson(`${gg.url}/api/requests`)).json.requests.length;
  const targets = [
    '/upstream/a/../../etc/passwd', '/upstream/a/echo/../x', '/upstream/a/echo/..', '/upstream/a/./echo/x',
    '/upstream/a/echo/./x', '/upstream/a/echo/%2e%2e/x', '/upstream/a/echo/%2E%2E/x', '/upstream/a/echo/.%2e/x',
    '/upstream/a/echo/..%2fx', '/upstream/a/%2e%2e/%2e%2e/x', '/upstream/a/%2e/echo/x', '/upstream/a/echo/%2e',
    '/upstream/a/echo/.', '/upstream/a/.', '/upstream/a/..', '/upstream/a/echo/x/..?q=1',
  ];
  const passed = [];
  for (const t of targets) {
    const r = await rawRequest(gg.port, t);
    if (r.status !== 400 || !/dot segment/.test(r.body)) passed.push(`${t} -> ${r.status} ${r.body.slice(0, 120)}`);
  }
  const after = (await getJson(`${gg.url}/api/requests`)).json.requests.length;
  await finish(gg, token);
  // All at once, so a failure names every path that got through, not just the first.
  assert.deepEqual(passed, [], 'paths with dot segments that were not refused with 400');
  assert.equal(after, before, 'none of them was proxied');
});

test('no shell: ; | && $(...) `...` in cmd are literal argv words, never run', async () => {
  const token = uniqueToken('sec');
  const pwn = (i) => path.join(os.tmpdir(), `pwned-${token}-${i}`);
  const base = fakeCmd('a', { token });
  // Unquoted metacharacters (a shell would split and run these), single- and double-quoted
  // command substitutions, and a backtick substitution.
  const cmd = `${base} ; touch ${pwn(1)} | touch ${pwn(2)} && touch ${pwn(3)} '$(touch ${pwn(4)})' "$(touch ${pwn(5)})" \`touch ${pwn(6)}\` $(touch ${pwn(7)}) > ${pwn(8)}`;
  const cfg = (await fakeModelYaml({ token, models: { a: {} } })).replace(/"cmd": ".*"/, `"cmd": ${JSON.stringify(cmd)}`);
  assert.ok(cfg.includes('pwned-'), cfg);
  onCleanup(() => { for (let i = 1; i <= 8; i++) fs.rmSync(pwn(i), { force: true }); });
  const gg = await startGgswap({ config: cfg });
  const r = await postJson(`${gg.url}/v1/chat/completions`, { model: 'a', messages: [] });
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.choices[0].message.content, /^fake:a:1$/);
  const kids = processesMatching(token);
  assert.equal(kids.length, 1, JSON.stringify(kids));
  assert.equal(kids[0].ppid, gg.pid, 'the model is ggswap\'s own child (no sh in between)');
  const argv = fs.readFileSync(`/proc/${kids[0].pid}/cmdline`, 'utf8').split('\0');
  assert.equal(argv[0], env('FAKE_UPSTREAM'));
  for (const w of [';', '|', '&&', `$(touch ${pwn(4)})`, `$(touch ${pwn(5)})`, '>']) assert.ok(argv.includes(w), `argv has ${JSON.stringify(w)}: ${JSON.stringify(argv)}`);
  await sleep(300);
  for (let i = 1; i <= 8; i++) assert.equal(fs.existsSync(pwn(i)), false, `${pwn(i)} was created: a shell ran`);
  await finish(gg, token);
  for (let i = 1; i <= 8; i++) assert.equal(fs.existsSync(pwn(i)), false, `${pwn(i)} was created: a shell ran`);
});

test('CORS is off: no Access-Control-* header, and OPTIONS grants nothing', async () => {
  const token = uniqueToken('sec');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }) });
  const origin = { origin: 'http://evil.example' };
  const checks = [];
  for (const p of ['/v1/models', '/api/service', '/running', '/ui/', '/metrics', '/health', '/logs', '/nope']) {
    const r = await rawRequest(gg.port, p, { headers: origin });
    checks.push([`GET ${p}`, r]);
  }
  checks.push(['POST chat', await rawRequest(gg.port, '/v1/chat/completions', { method: 'POST', headers: { ...origin, 'content-type': 'application/json' }, body: '{"model":"a","messages":[]}' })]);
  checks.push(['POST chat stream', await rawRequest(gg.port, '/v1/chat/completions', { method: 'POST', headers: { ...origin, 'content-type': 'application/json' }, body: '{"model":"a","messages":[],"stream":true}' })]);
  checks.push(['upstream', await rawRequest(gg.port, '/upstream/a/v1/models', { headers: origin })]);
  const pre = { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' };
  for (const p of ['/v1/chat/completions', '/api/service/stop', '/api/models/unload', '/unload', '/upstream/a/v1/models', '/']) {
    checks.push([`OPTIONS ${p}`, await rawRequest(gg.port, p, { method: 'OPTIONS', headers: pre })]);
  }
  for (const [what, r] of checks) {
    assert.ok(r.status > 0, `${what}: answered`);
    const acx = Object.keys(r.headers).filter((h) => h.startsWith('access-control-'));
    assert.deepEqual(acx, [], `${what}: ${r.raw.slice(0, r.raw.indexOf('\r\n\r\n'))}`);
  }
  // The preflight to /api/service/stop did not stop anything.
  assert.equal((await getJson(`${gg.url}/api/service`)).json.state, 'running');
  assert.equal((await postJson(`${gg.url}/v1/chat/completions`, { model: 'a', messages: [] })).status, 200);
  await finish(gg, token);
});

test('secrets are never logged: Authorization / x-api-key values stay out of /logs and stderr', async () => {
  const token = uniqueToken('sec');
  const key = `cfgkey${token}`;
  const secret = `sk-live-${token}-Zq9`;
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} }, top: { apiKeys: [key, secret] } }) });
  const basic = Buffer.from(`me:${secret}`).toString('base64');
  const wrongSecret = `sk-wrong-${token}`;
  const hs = [
    { authorization: `Bearer ${secret}` }, { 'x-api-key': secret }, { authorization: `Basic ${basic}` },
    { authorization: `Bearer ${wrongSecret}` }, { 'x-api-key': wrongSecret },
  ];
  for (const h of hs) {
    await postJson(`${gg.url}/v1/chat/completions`, { model: 'a', messages: [{ role: 'user', content: 'hi' }] }, { headers: h });
    await postJson(`${gg.url}/v1/chat/completions`, { model: 'a', stream: true, messages: [] }, { headers: h });
    await postJson(`${gg.url}/v1/chat/completions`, { model: 'nosuch', messages: [] }, { headers: h });
    await postJson(`${gg.url}/v1/chat/completions`, 'not json', { headers: h });
    await getJson(`${gg.url}/upstream/a/v1/models`, { headers: h });
    await getJson(`${gg.url}/running`, { headers: h });
    await getJson(`${gg.url}/nope`, { headers: h });
  }
  // A raw request with a malformed head after the key, so the HTTP layer's error path sees it.
  await rawRequest(gg.port, '/v1/models', { headers: { authorization: `Bearer ${secret}`, 'bad header': 'x' } }).catch(() => null);
  const logs = await getJson(`${gg.url}/logs`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(logs.status, 200);
  assert.ok(logs.text.length > 0);
  await gg.stop('SIGTERM', 15000);
  for (const s of [secret, wrongSecret, basic, key]) {
    assert.ok(!logs.text.includes(s), `GET /logs contains a secret (${s.slice(0, 12)}...)`);
    assert.ok(!gg.logs().includes(s), `ggswap's output contains a secret (${s.slice(0, 12)}...)`);
  }
  assert.deepEqual(gg.sanitizerReports(), []);
  await waitNoProcesses(token, 8000);
});
