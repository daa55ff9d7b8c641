// The swapping proxy, the basics: routing (body model, alias, ?model=, multipart field,
// /upstream passthrough), the official openai client through ggswap, request rewriting
// (useModelName, stripParams, setParams), env / macros / ${MODEL_ID} in cmd, /v1/models and
// /running shapes, and the HTTP layer (keep-alive, chunked request bodies, pipelining, 431).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import OpenAI from 'openai';
import {
  registerCleanup, startGgswap, fakeModelYaml, fakeCmd, uniqueToken, processesMatching,
  waitNoProcesses, waitFor, postJson, getJson, sseContents, sseRead,
} from './lib/harness.mjs';
import { running, starts, finish } from './lib/checks.mjs';

registerCleanup();

// ---- small helpers ----
const client = (gg, o = {}) => new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 30000, ...o });
const lastRequest = async (gg) => (await getJson(`${gg.url}/api/requests`)).json.requests.at(-1);

// Raw HTTP/1.1 over one socket: write `data`, collect everything until the server closes.
function rawExchange(port, data, { timeout = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`raw exchange timed out; got: ${Buffer.concat(chunks).toString().slice(0, 500)}`)); }, timeout);
    s.on('connect', () => s.write(data));
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
  });
}

// Split a byte string of Content-Length framed HTTP/1.1 responses.
function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length) {
    const he = rest.indexOf('\r\n\r\n');
    if (he < 0) break;
    const head = rest.slice(0, he);
    const [statusLine, ...hl] = head.split('\r\n');
    const headers = Object.fromEntries(hl.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    let body;
    if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      let i = he + 4;
      body = '';
      for (;;) {
        const le = rest.indexOf('\r\n', i);
        const n = parseInt(rest.slice(i, le), 16);
        i = le + 2;
        if (n === 0) { i += 2; break; }
        body += rest.slice(i, i + n);
        i += n + 2;
      }
      rest = rest.slice(i);
    } else if (headers['content-length'] != null) {
      const n = Number(headers['content-length']);
      body = rest.slice(he + 4, he + 4 + n);
      rest = rest.slice(he + 4 + n);
    } else {
      body = rest.slice(he + 4);
      rest = '';
    }
    out.push({ status: Number(statusLine.split(' ')[1]), headers, body });
  }
  return out;
}

test('routing: body model, alias, ?model=, multipart model field, /upstream passthrough', async () => {
  const token = uniqueToken();
  // Three models, all in the implicit (default) group: one runs at a time.
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: { aliases: ['alias-a', 'gpt-4o-mini'] }, 'org/b': { aliases: ['bee'] }, c: {} },
    }),
  });
  const oa = client(gg);

  // Body model, through the official client: chat, stream, completions, embeddings.
  const r1 = await oa.chat.completions.create({ model: 'a', messages: [{ role: 'user', content: 'hi' }] });
  assert.match(r1.choices[0].message.content, /^fake:a:\d+$/);
  assert.equal(r1.echo.model, 'a');
  assert.deepEqual(await running(gg), { a: 'ready' });

  const r2 = await oa.chat.completions.create({ model: 'alias-a', messages: [] });
  assert.match(r2.choices[0].message.content, /^fake:a:\d+$/, 'an alias routes to its model');
  assert.equal(r2.echo.model, 'alias-a', 'the body is passed on as sent');

  const st = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [], stream: true, n_chunks: 4 });
  const got = [];
  for await (const ch of st) { const c = ch.choices[0]?.delta?.content; if (c) got.push(c); }
  assert.deepEqual(got, ['c0 ', 'c1 ', 'c2 ', 'c3 ']);

  const cmpl = await oa.completions.create({ model: 'org/b', prompt: 'x' });
  assert.match(cmpl.choices[0].text, /^fake:org\/b:\d+$/, 'a model id with a slash');
  assert.deepEqual(await running(gg), { 'org/b': 'ready' }, '(default) group: a made way for org/b');

  const emb = await oa.embeddings.create({ model: 'c', input: 'hello' });
  assert.equal(emb.data[0].embedding.length, 8);
  assert.deepEqual(await running(gg), { c: 'ready' });

  // GET with ?model= (an inference path the fake does not serve: the fake's own 404 proves the
  // request went through to it, as does the request log).
  const g = await getJson(`${gg.url}/v1/audio/voices?model=bee`);
  assert.equal(g.status, 404, g.text);
  assert.match(g.json.error.message, /File Not Found: GET \/v1\/audio\/voices/);
  assert.deepEqual(await running(gg), { 'org/b': 'ready' });
  assert.deepEqual(
    (({ model, method, path, status }) => ({ model, method, path, status }))(await lastRequest(gg)),
    { model: 'org/b', method: 'GET', path: '/v1/audio/voices', status: 404 },
  );

  // multipart/form-data: the `model` form field routes.
  const fd = new FormData();
  fd.append('file', new Blob([Buffer.alloc(2048, 1)], { type: 'audio/wav' }), 'a.wav');
  fd.append('model', 'a');
  fd.append('language', 'en');
  const mp = await fetch(`${gg.url}/v1/audio/transcriptions`, { method: 'POST', body: fd });
  const mpText = await mp.text();
  assert.equal(mp.status, 404, mpText);
  assert.match(mpText, /File Not Found: POST \/v1\/audio\/transcriptions/);
  assert.deepEqual(await running(gg), { a: 'ready' });
  assert.equal((await lastRequest(gg)).model, 'a');

  // multipart without a model field: 400.
  const fd2 = new FormData();
  fd2.append('file', new Blob(['x']), 'a.wav');
  const mp2 = await fetch(`${gg.url}/v1/audio/transcriptions`, { method: 'POST', body: fd2 });
  assert.equal(mp2.status, 400, await mp2.text());

  // /upstream/<model>/<path>: straight through, path and query kept, any method, body kept.
  const up = await getJson(`${gg.url}/upstream/org/b/echo/x/y?q=1&r=two`);
  assert.equal(up.status, 200, up.text);
  assert.deepEqual([up.json.model, up.json.path, up.json.url, up.json.method], ['org/b', '/echo/x/y', '/echo/x/y?q=1&r=two', 'GET']);
  const upPost = await fetch(`${gg.url}/upstream/a/echo/p`, { method: 'PUT', body: 'raw body, not JSON' });
  const upj = await upPost.json();
  assert.deepEqual([upj.model, upj.path, upj.method, upj.body], ['a', '/echo/p', 'PUT', 'raw body, not JSON']);
  const upAlias = await getJson(`${gg.url}/upstream/bee/echo/z`);
  assert.equal(upAlias.json.model, 'org/b', 'an alias works in /upstream too');
  const upEnc = await getJson(`${gg.url}/upstream/org%2Fb/echo/enc`);
  assert.equal(upEnc.json?.model, 'org/b', `percent-encoded slash in the id: ${upEnc.status} ${upEnc.text}`);
  const upHealth = await getJson(`${gg.url}/upstream/c/health`);
  assert.deepEqual([upHealth.status, upHealth.json], [200, { status: 'ok' }]);

  // /upstream/<model> without a path: 301 to /upstream/<model>/ (308 for other methods).
  const redir = await fetch(`${gg.url}/upstream/org/b`, { redirect: 'manual' });
  assert.equal(redir.status, 301);
  assert.equal(redir.headers.get('location'), '/upstream/org/b/');
  const redirPost = await fetch(`${gg.url}/upstream/a`, { method: 'POST', body: '{}', redirect: 'manual' });
  assert.equal(redirPost.status, 308);
  assert.equal(redirPost.headers.get('location'), '/upstream/a/');
  const unknownUp = await getJson(`${gg.url}/upstream/nope/x`);
  assert.equal(unknownUp.status, 404);
  assert.match(unknownUp.json.error.message, /nope/);

  // Exactly one fake process at any time in the (default) group.
  assert.ok(processesMatching(token).length <= 1, JSON.stringify(processesMatching(token)));
  await finish(gg, token);
});

test('rewrites: useModelName, filters.stripParams, filters.setParams; env, macros and ${MODEL_ID} in cmd', async () => {
  const token = uniqueToken();
  const yaml = await fakeModelYaml({
    token,
    top: { macros: { 'ctx-args': '--ctx-size 1234', greeting: 'hello from a macro' } },
    models: {
      m1: {
        cmd: fakeCmd('m1', { token, args: ['${ctx-args}', '--alias', '${MODEL_ID}'] }),
        useModelName: 'upstream-name',
        filters: { stripParams: 'temperature, top_p', setParams: { max_tokens: 7, custom: { x: [1, 2] } } },
        env: ['GGSWAP_TEST_VAR=${greeting}', 'SECOND_VAR=two'],
        aliases: ['m1-alias'],
      },
      plain: { filters: { stripParams: ['top_k'] } },
    },
    groups: { both: { swap: false, exclusive: false, members: ['m1', 'plain'] } },
  });
  const gg = await startGgswap({ config: yaml });

  const r = await postJson(`${gg.url}/v1/chat/completions`, {
    model: 'm1-alias', messages: [{ role: 'user', content: 'x' }], temperature: 0.3, top_p: 0.9, max_tokens: 100, top_k: 5,
  });
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.choices[0].message.content, /^fake:m1:\d+$/);
  const e = r.json.echo;
  assert.equal(e.model, 'upstream-name', 'useModelName replaces the model field');
  assert.equal(e.temperature, undefined, 'stripParams removed temperature');
  assert.equal(e.top_p, undefined, 'stripParams removed top_p');
  assert.equal(e.top_k, 5, 'a parameter not listed stays');
  assert.equal(e.max_tokens, 7, 'setParams overrides');
  assert.deepEqual(e.custom, { x: [1, 2] }, 'setParams adds structured values');
  assert.deepEqual(e.messages, [{ role: 'user', content: 'x' }]);

  // The fake's command line and environment, as ggswap started it.
  const procs = processesMatching(token);
  assert.equal(procs.length, 1);
  const argv = fs.readFileSync(`/proc/${procs[0].pid}/cmdline`, 'utf8').split('\0');
  assert.ok(argv.includes('--ctx-size') && argv[argv.indexOf('--ctx-size') + 1] === '1234', `macro expanded and split: ${argv.join(' ')}`);
  assert.equal(argv[argv.indexOf('--alias') + 1], 'm1', '${MODEL_ID} is the model id');
  assert.ok(!argv.some((w) => w.includes('${')), `no macro left: ${argv.join(' ')}`);
  const environ = fs.readFileSync(`/proc/${procs[0].pid}/environ`, 'utf8').split('\0');
  assert.ok(environ.includes('GGSWAP_TEST_VAR=hello from a macro'), 'env set (macros expanded in env)');
  assert.ok(environ.includes('SECOND_VAR=two'));
  assert.ok(environ.some((v) => v.startsWith('PATH=')), 'the rest of the environment is inherited');

  // A model with only stripParams: the body model stays as sent.
  const p = await postJson(`${gg.url}/v1/completions`, { model: 'plain', prompt: 'x', top_k: 3, seed: 1 });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(p.json.echo, { model: 'plain', prompt: 'x', seed: 1 });
  assert.equal(processesMatching(token).length, 2, 'non-swapping group: both run');
  await finish(gg, token);
});

test('GET /v1/models lists models and aliases with their state; /running shape', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: {
        a: { aliases: ['gpt-3.5-turbo'], name: 'Model A', description: 'the first', ttl: 60 },
        b: {},
        hidden: { unlisted: true },
      },
      top: { includeAliasesInList: true }, // llama-swap's default is off (SPEC §4)
    }),
  });
  const list = await getJson(`${gg.url}/v1/models`);
  assert.equal(list.status, 200);
  assert.equal(list.json.object, 'list');
  const ids = list.json.data.map((m) => m.id).sort();
  assert.deepEqual(ids, ['a', 'b', 'gpt-3.5-turbo'], 'aliases included, unlisted left out');
  for (const m of list.json.data) {
    assert.equal(m.object, 'model');
    assert.equal(m.meta.ggswap.state, 'stopped', `${m.id} starts stopped`);
  }
  const al = list.json.data.find((m) => m.id === 'gpt-3.5-turbo');
  assert.equal(al.meta.ggswap.id, 'a');
  const ma = list.json.data.find((m) => m.id === 'a');
  assert.equal(ma.name, 'Model A');
  assert.equal(ma.description, 'the first');
  assert.deepEqual(await running(gg), {});

  // The official client's models.list, after a start: states follow.
  await postJson(`${gg.url}/v1/chat/completions`, { model: 'gpt-3.5-turbo', messages: [] });
  const models = await client(gg).models.list();
  const byId = Object.fromEntries(models.data.map((m) => [m.id, m.meta.ggswap.state]));
  assert.deepEqual(byId, { a: 'ready', 'gpt-3.5-turbo': 'ready', b: 'stopped' });

  const r = await getJson(`${gg.url}/running`);
  assert.equal(r.json.running.length, 1);
  const ra = r.json.running[0];
  assert.equal(ra.model, 'a');
  assert.equal(ra.state, 'ready');
  assert.equal(ra.ttl, 60);
  assert.match(ra.proxy, /^http:\/\/127\.0\.0\.1:\d+$/);

  // An unlisted model still serves.
  const h = await postJson(`${gg.url}/v1/chat/completions`, { model: 'hidden', messages: [] });
  assert.equal(h.status, 200, h.text);
  assert.match(h.json.choices[0].message.content, /^fake:hidden:/);
  await finish(gg, token);
});

test('HTTP layer: keep-alive, chunked request bodies, pipelining, oversized headers 431', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {} } }) });

  // Keep-alive: several requests (inference and management) on one connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ports = new Set();
  const reused = [];
  for (let i = 0; i < 4; i++) {
    const body = JSON.stringify({ model: 'a', messages: [], n: i });
    const res = await new Promise((resolve, reject) => {
      const req = http.request(`${gg.url}${i === 2 ? '/running' : '/v1/chat/completions'}`, {
        method: i === 2 ? 'GET' : 'POST', agent, headers: i === 2 ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        let t = '';
        res.on('data', (d) => { t += d; });
        res.on('end', () => resolve({ status: res.statusCode, text: t }));
      });
      req.on('socket', (s) => { s.once('connect', () => ports.add(s.localPort)); if (s.localPort) ports.add(s.localPort); });
      req.on('error', reject);
      reused.push(() => req.reusedSocket);
      if (i !== 2) req.write(body);
      req.end();
    });
    assert.equal(res.status, 200, res.text);
  }
  assert.deepEqual(reused.map((f) => f()), [false, true, true, true], 'one connection kept alive');
  assert.equal(ports.size, 1);
  agent.destroy();

  // A chunked request body (no Content-Length), sent in several pieces.
  const chunked = await new Promise((resolve, reject) => {
    const req = http.request(`${gg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => resolve({ status: res.statusCode, text: t }));
    });
    req.on('error', reject);
    const body = JSON.stringify({ model: 'a', messages: [{ role: 'user', content: 'y'.repeat(3000) }], tag: 'chunked' });
    for (let i = 0; i < body.length; i += 700) req.write(body.slice(i, i + 700));
    req.end();
  });
  assert.equal(chunked.status, 200, chunked.text);
  const cj = JSON.parse(chunked.text);
  assert.equal(cj.echo.tag, 'chunked');
  assert.equal(cj.echo.messages[0].content.length, 3000, 'the whole chunked body reached the upstream');

  // Pipelining: two requests in one write; both answered, in order.
  const b1 = JSON.stringify({ model: 'a', messages: [], seq: 1 });
  const b2 = JSON.stringify({ model: 'a', messages: [], seq: 2 });
  const req = (b, extra = '') => `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${b}`;
  const raw = await rawExchange(gg.port, req(b1) + req(b2, 'Connection: close\r\n'));
  const resps = parseResponses(raw);
  assert.equal(resps.length, 2, raw.slice(0, 2000));
  assert.deepEqual(resps.map((x) => x.status), [200, 200]);
  const [j1, j2] = resps.map((x) => JSON.parse(x.body));
  assert.deepEqual([j1.echo.seq, j2.echo.seq], [1, 2], 'answers in request order');
  const n1 = Number(j1.choices[0].message.content.split(':')[2]);
  const n2 = Number(j2.choices[0].message.content.split(':')[2]);
  assert.equal(n2, n1 + 1);

  // Pipelined management requests too.
  const raw2 = await rawExchange(gg.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /running HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const r2 = parseResponses(raw2);
  assert.deepEqual(r2.map((x) => x.status), [200, 200]);
  assert.ok(JSON.parse(r2[1].body).running);

  // Oversized headers: 431, at once, and the server goes on.
  const big = await rawExchange(gg.port, `GET /running HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(80 * 1024)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /, big.slice(0, 200));
  const many = await rawExchange(gg.port, `GET /running HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 150 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`);
  assert.match(many, /^HTTP\/1\.1 431 /, 'too many headers');
  const longUrl = await rawExchange(gg.port, `GET /v1/models?model=${'m'.repeat(70 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(longUrl, /^HTTP\/1\.1 (431|414) /, 'request line too long');
  assert.equal((await getJson(`${gg.url}/health`)).status, 200);

  // A stream on a kept-alive connection is framed (chunked) so the next answer can follow.
  const sb = JSON.stringify({ model: 'a', messages: [], stream: true, n_chunks: 3 });
  const rawS = await rawExchange(gg.port, req(sb) + req(b1, 'Connection: close\r\n'));
  const rs = parseResponses(rawS);
  assert.equal(rs.length, 2, rawS.slice(0, 3000));
  assert.match(rs[0].headers['transfer-encoding'] || '', /chunked/);
  assert.match(rs[0].body, /c2 [\s\S]*data: \[DONE\]\n\n$/);
  assert.equal(JSON.parse(rs[1].body).echo.seq, 1);
  await finish(gg, token);
});

test('the openai client streams through ggswap with [DONE]; sseRead sees every chunk', async () => {
  const token = uniqueToken();
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { s: {} } }) });
  const r = await fetch(`${gg.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 's', prompt: 'x', stream: true, n_chunks: 5, stream_options: { include_usage: true } }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/event-stream/);
  const s = await sseRead(r);
  assert.equal(s.error, null);
  assert.equal(s.done, true);
  assert.deepEqual(sseContents(s.events), ['c0 ', 'c1 ', 'c2 ', 'c3 ', 'c4 ']);
  // The request log counted the tokens from the usage the stream reported.
  const req = await waitFor(async () => {
    const l = await lastRequest(gg);
    return l && l.path === '/v1/completions' ? l : null;
  }, { what: 'request logged' });
  assert.equal(req.status, 200);
  assert.equal(req.model, 's');
  assert.ok(req.tokens >= 5, JSON.stringify(req));
  assert.equal(starts(gg, 's'), 1);
  await finish(gg, token);
});
