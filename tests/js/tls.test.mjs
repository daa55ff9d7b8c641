// HTTPS on the same port (-tls-cert-file / -tls-key-file): a throwaway CA and server certificate
// made with the openssl CLI; the official openai client, given the CA, chats (plain and
// streamed) through ggswap; without the CA it refuses; bad TLS files stop ggswap before it
// listens, naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerCleanup, fakeModelYaml, uniqueToken, tmpDir, freePort, waitNoProcesses } from './lib/harness.mjs';

registerCleanup();
const BIN = process.env.GGSWAP_BIN;
const HERE = path.dirname(fileURLToPath(import.meta.url));
let dir, ca, cert, key, cfg, token, gg, port;

function openssl(args) {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

// The openai client in a child node, so that NODE_EXTRA_CA_CERTS is its trust store.
function client(code, extraEnv) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import OpenAI from 'openai';
    const c = new OpenAI({ baseURL: process.env.BASE, apiKey: 'none', maxRetries: 0, timeout: 20000 });
    try { ${code} } catch (e) { console.log(JSON.stringify({ error: String(e), cause: [e.cause, e.cause?.cause, e.cause?.code, e.cause?.cause?.code].filter(Boolean).map(String).join(' ') })); }
  `], { cwd: HERE, encoding: 'utf8', timeout: 60000, env: { ...process.env, BASE: `https://localhost:${port}/v1`, ...extraEnv } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

before(async () => {
  dir = tmpDir('ggswap-tls-');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ggswap test CA']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
  [ca, cert, key] = ['ca.pem', 'srv.pem', 'srv.key'].map((f) => path.join(dir, f));
  token = uniqueToken();
  cfg = path.join(dir, 'config.yaml');
  fs.writeFileSync(cfg, await fakeModelYaml({ token, models: { m: {} } }));
  port = await freePort();
  gg = spawn(BIN, ['-config', cfg, '-listen', `127.0.0.1:${port}`, '-tls-cert-file', cert, '-tls-key-file', key], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  gg.stderr.on('data', (d) => { log += d; });
  gg.stdout.on('data', (d) => { log += d; });
  gg.exitedP = new Promise((r) => gg.on('exit', (code, sig) => r({ code, sig })));
  gg.log = () => log;
  for (let i = 0; i < 400 && !log.includes(`listening on https://127.0.0.1:${port}`); i++) {
    if (gg.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(log, /listening on https:\/\//, log);
});

after(async () => {
  if (gg && gg.exitCode === null) {
    gg.kill('SIGTERM');
    const st = await gg.exitedP;
    assert.equal(st.code, 0, gg.log());
    assert.doesNotMatch(gg.log(), /Sanitizer|runtime error/);
  }
  if (token) await waitNoProcesses(token, 8000);
});

test('the openai client, given the CA, chats over HTTPS (plain and streamed)', () => {
  const r = client(`
    const a = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    let n = 0;
    for await (const ch of await c.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] })) n += ch.choices.length;
    const models = await c.models.list();
    console.log(JSON.stringify({ object: a.object, chunks: n, ids: models.data.map((x) => x.id) }));
  `, { NODE_EXTRA_CA_CERTS: ca });
  assert.equal(r.error, undefined, JSON.stringify(r));
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.chunks > 0);
  assert.deepEqual(r.ids, ['m']);
});

test('without the CA the client refuses the certificate; plain HTTP on the port gets nothing; ggswap stays up', async () => {
  const r = client(`await c.models.list(); console.log(JSON.stringify({ ok: true }));`, { NODE_EXTRA_CA_CERTS: '' });
  assert.match(`${r.error} ${r.cause}`, /certificate|self.signed|issuer/i, JSON.stringify(r));
  await assert.rejects(fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) }));
  const again = client(`const m = await c.models.list(); console.log(JSON.stringify({ n: m.data.length }));`, { NODE_EXTRA_CA_CERTS: ca });
  assert.equal(again.n, 1, JSON.stringify(again));
});

test('bad TLS files: exit 2 naming the flag and file, before anything listens', () => {
  const junk = path.join(dir, 'junk.pem');
  fs.writeFileSync(junk, 'not a certificate\n');
  const otherKey = path.join(dir, 'ca.key');
  const cases = [
    [['-tls-cert-file', junk, '-tls-key-file', key], /-tls-cert-file .*junk\.pem: not a usable PEM certificate/],
    [['-tls-cert-file', cert, '-tls-key-file', junk], /-tls-key-file .*junk\.pem: not a usable PEM private key/],
    [['-tls-cert-file', cert, '-tls-key-file', otherKey], /-tls-key-file .*ca\.key is not the key of the certificate/],
    [['-tls-cert-file', path.join(dir, 'missing.pem'), '-tls-key-file', key], /-tls-cert-file .*missing\.pem: cannot read/],
    [['-tls-key-file', key], /needs both -tls-cert-file and -tls-key-file/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(BIN, ['-config', cfg, '-listen', '127.0.0.1:1', ...args], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /listening on/);
  }
});
