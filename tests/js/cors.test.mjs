// CORS (SPEC §4): the seed's own fetch() example, verbatim, from a page on another local port in
// Chromium with apiKeys set; a page of an origin that is not allowed is refused; preflights are
// answered before the API-key check; upstream CORS headers never double ggswap's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { registerCleanup, startGgswap, fakeModelYaml, uniqueToken, freePort } from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';
import { launchBrowser } from './lib/ui-helpers.mjs';

registerCleanup();

// The seed's example (shared/seed/llama-swap-integration.md, "API Access"), as written there;
// only the daemon's port is this test's.
const seedExample = (base) => `
const response = await fetch('${base}/v1/chat/completions', {
  method: 'POST',
  headers: {
    'Content-Type': 'application/json',
    'Authorization': 'Bearer no-key-needed'
  },
  body: JSON.stringify({
    model: 'gpt-3.5-turbo', // This will map to an available local model
    messages: [
      { role: 'user', content: 'Hello, how are you?' }
    ]
  })
});`;

let gg, token, browser;
const pages = [];

async function pageServer(host) {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>a web app</title><p>app</p>');
  });
  await new Promise((resolve) => srv.listen(port, host, resolve));
  pages.push(srv);
  return `http://${host === '127.0.0.1' ? 'localhost' : host}:${port}`;
}

async function runInPage(origin) {
  const page = await browser.ctx.newPage();
  try {
    await page.goto(`${origin}/`);
    return await page.evaluate(`(async () => {
      try {
        ${seedExample(`http://localhost:${gg.port}`)}
        return { status: response.status, json: await response.json(),
                 timing: response.headers.get('server-timing') };
      } catch (e) { return { error: String(e) }; }
    })()`);
  } finally {
    await page.close();
  }
}

before(async () => {
  token = uniqueToken();
  const yaml = await fakeModelYaml({ token, models: { m: { aliases: ['gpt-3.5-turbo'] } }, top: { apiKeys: ['no-key-needed'] } });
  gg = await startGgswap({ config: yaml, token });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const s of pages) s.close();
  if (gg) await finish(gg, token);
});

test("the seed's fetch() example works from a page on http://localhost:<other port> with apiKeys set", async () => {
  const r = await runInPage(await pageServer('127.0.0.1'));
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.object, 'chat.completion');
  assert.ok(r.json.choices[0].message.content.length > 0);
  if (r.timing !== null) assert.match(r.timing, /dur=/, 'Server-Timing is exposed to the page');
});

test('a page of an origin that is not allowed is refused by the browser', async () => {
  const r = await runInPage(await pageServer('127.0.0.2'));
  assert.match(r.error || '', /TypeError|Failed to fetch/, JSON.stringify(r));
});

test('preflights: answered 204 before the key check for allowed origins; other origins get no CORS headers', async () => {
  const pre = (origin, headers = {}) => fetch(`${gg.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization,x-stainless-os', ...headers },
  });
  for (const origin of ['http://localhost:5173', 'http://127.0.0.1:1', 'null', 'app://clara', 'tauri://localhost', 'file://']) {
    const r = await pre(origin);
    assert.equal(r.status, 204, origin);
    assert.equal(r.headers.get('access-control-allow-origin'), origin);
    assert.match(r.headers.get('access-control-allow-headers'), /x-stainless-os/);
    assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
    assert.match(r.headers.get('access-control-allow-headers'), /Content-Type/);
    assert.match(r.headers.get('access-control-allow-methods'), /POST/);
    assert.ok(Number(r.headers.get('access-control-max-age')) > 0);
  }
  for (const origin of ['http://192.168.1.20:3000', 'https://evil.example', 'http://localhost.evil.example']) {
    const r = await pre(origin);
    assert.equal(r.status, 401, `${origin}: no preflight shortcut, the key is asked for`);
    assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
    const g = await fetch(`${gg.url}/v1/models`, { headers: { origin, authorization: 'Bearer no-key-needed' } });
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('access-control-allow-origin'), null, origin);
  }
  // Answers to an allowed origin carry ACAO once (the model's own CORS headers are dropped)
  // and expose Server-Timing; a wrong key is still refused.
  const ok = await fetch(`${gg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { origin: 'http://localhost:5173', authorization: 'Bearer no-key-needed', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), 'http://localhost:5173');
  assert.match(ok.headers.get('access-control-expose-headers'), /Server-Timing/);
  await ok.arrayBuffer();
  const bad = await fetch(`${gg.url}/v1/models`, { headers: { origin: 'http://localhost:5173', authorization: 'Bearer wrong' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('access-control-allow-origin'), 'http://localhost:5173', 'the page can read the 401');
});

test('cors.origins replaces the default: ["https://app.example.org"] narrows it, ["*"] allows any', async () => {
  for (const [origins, allowed, refused] of [
    [['https://app.example.org'], 'https://app.example.org', 'http://localhost:5173'],
    [['*'], 'https://anywhere.example', null],
  ]) {
    const t = uniqueToken();
    const g = await startGgswap({ config: await fakeModelYaml({ token: t, models: { m: {} }, top: { cors: { origins } } }), token: t });
    try {
      const pre = (origin) => fetch(`${g.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      const a = await pre(allowed);
      assert.equal(a.status, 204);
      assert.equal(a.headers.get('access-control-allow-origin'), allowed);
      if (refused) assert.equal((await pre(refused)).headers.get('access-control-allow-origin'), null, refused);
    } finally {
      await finish(g, t);
    }
  }
});
