// Peers over https://: a second ggswap serving TLS (-tls-cert-file, a throwaway CA made with the
// openssl CLI) is the peer. With its CA trusted through SSL_CERT_FILE (what OpenSSL, and Go's
// llama-swap on Linux, read) `far/x` answers, by host name and by address, plain and streamed;
// without it, or for an address the certificate does not name, the peer's certificate is refused
// and the request gets a 502 that says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, tmpDir, freePort, postJson,
  waitNoProcesses,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();
const BIN = process.env.GGSWAP_BIN;
let dir, ca, token, far, farPort;

function openssl(args) {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

before(async () => {
  dir = tmpDir('ggswap-peer-tls-');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ggswap peer test CA']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
  ca = path.join(dir, 'ca.pem');
  token = uniqueToken('ptls');
  const cfg = path.join(dir, 'far.yaml');
  fs.writeFileSync(cfg, await fakeModelYaml({ token, models: { x: {} }, top: { apiKeys: ['k-far'] } }));
  farPort = await freePort();
  // Every local address, so that 127.0.0.2 (not in the certificate) reaches it too.
  far = spawn(BIN, ['-config', cfg, '-listen', `:${farPort}`, '-tls-cert-file', path.join(dir, 'srv.pem'), '-tls-key-file', path.join(dir, 'srv.key')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GGSWAP_HOME: path.join(dir, 'home') } });
  let log = '';
  far.stderr.on('data', (d) => { log += d; });
  far.stdout.on('data', (d) => { log += d; });
  far.exitedP = new Promise((r) => far.on('exit', (code, sig) => r({ code, sig })));
  far.log = () => log;
  for (let i = 0; i < 400 && !/listening on https:\/\//.test(log); i++) {
    if (far.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(log, /listening on https:\/\//, log);
});

after(async () => {
  if (far && far.exitCode === null) {
    far.kill('SIGTERM');
    const st = await far.exitedP;
    assert.equal(st.code, 0, far.log());
    assert.doesNotMatch(far.log(), /Sanitizer|runtime error/);
  }
  if (token) await waitNoProcesses(token, 8000);
});

const peersYaml = () => fakeModelYaml({
  token,
  top: {
    peers: {
      far: { proxy: `https://localhost:${farPort}`, apiKey: 'k-far', models: ['x'] },
      farip: { proxy: `https://127.0.0.1:${farPort}/`, apiKey: 'k-far', models: ['x'] },
      wrongname: { proxy: `https://127.0.0.2:${farPort}`, apiKey: 'k-far', models: ['x'] },
    },
  },
});
const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const served = (r) => r.json?.choices?.[0]?.message?.content?.split(':')[1];

test('with the CA in SSL_CERT_FILE, https peers answer by name and by address, plain and streamed', { timeout: 60000 }, async () => {
  const gg = await startGgswap({ config: await peersYaml(), env: { SSL_CERT_FILE: ca } });
  for (const m of ['far/x', 'farip/x', 'far/x']) {
    const r = await chat(gg, m);
    assert.equal(r.status, 200, `${m}: ${r.text}`);
    assert.equal(served(r), 'x');
    assert.equal(r.json.echo.model, 'x', 'the peer got its own name for the model');
  }
  const s = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'far/x', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(s.status, 200);
  const text = await s.text();
  assert.ok((text.match(/^data: \{/gm) || []).length > 1, text);
  assert.match(text, /^data: \[DONE\]/m);
  // A trusted certificate for another name or address is refused all the same.
  const w = await chat(gg, 'wrongname/x');
  assert.equal(w.status, 502, w.text);
  assert.equal(w.json.error.message, `model wrongname/x: peer proxy error: TLS handshake with 127.0.0.2:${farPort} failed: its certificate is not for 127.0.0.2 (IP address mismatch)`);
  await finish(gg);
});

test('without the CA the peer certificate is refused: 502 naming the peer, its address and why', { timeout: 60000 }, async () => {
  // An empty trust store stands for a system store that does not know the throwaway CA.
  const empty = path.join(dir, 'empty.pem');
  fs.writeFileSync(empty, '');
  const gg = await startGgswap({ config: await peersYaml(), env: { SSL_CERT_FILE: empty, SSL_CERT_DIR: dir } });
  const r = await chat(gg, 'far/x');
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.message, `model far/x: peer proxy error: TLS handshake with localhost:${farPort} failed: certificate not trusted (unable to get local issuer certificate); trust its CA with SSL_CERT_FILE`);
  await finish(gg);
});
