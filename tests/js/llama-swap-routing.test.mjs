// llama-swap v250 behaviour, black-box: routing.router groups and the swap matrix, unloads that
// answer once the processes are gone, upstream.ignorePaths. Configs are written the way
// llama-swap's config.example.yaml writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, processesMatching, waitFor,
  postJson, tmpDir, env, freePort,
} from './lib/harness.mjs';
import { running, starts, finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] });
const pidsOf = (token, name) => processesMatching(token).filter((p) => p.cmdline.includes(`--model ${name} `)).map((p) => p.pid);

test('GET /unload answers only once no child is alive (one ignores SIGTERM and is SIGKILLed)', { timeout: 60000 }, async () => {
  const token = uniqueToken('uld');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {}, stubborn: { ignoreSigterm: true } },
      groups: { g: { swap: false, members: ['a', 'stubborn'] } },
    }),
  });
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  assert.equal(processesMatching(token).length, 2);
  const t0 = Date.now();
  const r = await fetch(`${gg.url}/unload`);
  assert.equal(r.status, 200);
  assert.equal((await r.text()).trim(), 'OK');
  assert.deepEqual(processesMatching(token), [], 'no child is alive when /unload answers');
  assert.ok(Date.now() - t0 >= 1000, `answered after ${Date.now() - t0} ms: it waited for the SIGKILL`);
  assert.deepEqual(await running(gg), {});
  // Nothing running: answers at once.
  const t1 = Date.now();
  const u2 = await postJson(`${gg.url}/api/models/unload`, '');
  assert.equal(u2.status, 200);
  assert.equal(u2.json.ok, true);
  assert.ok(Date.now() - t1 < 2000);
  await finish(gg, token);
});

test('a client that gives up waiting on /unload does not disturb the unload', { timeout: 60000 }, async () => {
  const token = uniqueToken('uld');
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { stubborn: { ignoreSigterm: true } } }),
  });
  assert.equal((await chat(gg, 'stubborn')).status, 200);
  await fetch(`${gg.url}/unload`, { signal: AbortSignal.timeout(300) }).catch((e) => e);
  await waitFor(() => processesMatching(token).length === 0, { timeout: 20000, what: 'stubborn killed' });
  assert.equal((await chat(gg, 'stubborn')).status, 200, 'loads again');
  await finish(gg, token);
});

test('upstream.ignorePaths: an asset path of an unloaded model answers 409 and loads nothing', async () => {
  const token = uniqueToken('ign');
  const gg = await startGgswap({ config: await fakeModelYaml({ token, models: { a: {}, b: {} } }) });
  assert.equal((await chat(gg, 'a')).status, 200);
  for (const p of ['manifest.json', 'favicon.ico', 'static/app.js', 'style.css', 'robots.txt']) {
    const r = await fetch(`${gg.url}/upstream/b/${p}`);
    const body = await r.json();
    assert.equal(r.status, 409, `${p}: ${JSON.stringify(body)}`);
    assert.match(body.error.message, /model b is not loaded; path matches upstream\.ignorePaths/);
  }
  assert.deepEqual(await running(gg), { a: 'ready' }, 'a still runs; b was not loaded');
  assert.equal(starts(gg, 'b'), 0);
  // A path that is not an asset loads the model; once loaded, assets pass through.
  const r = await fetch(`${gg.url}/upstream/b/health`);
  assert.equal(r.status, 200);
  await r.text();
  assert.deepEqual(await running(gg), { b: 'ready' });
  const m = await fetch(`${gg.url}/upstream/b/manifest.json`);
  assert.notEqual(m.status, 409, 'a loaded model serves its assets');
  await m.text();
  await finish(gg, token);
});

test('routing.router use: group: two models of a swap: false group run together; others swap', async () => {
  const token = uniqueToken('rtg');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { m1: {}, m2: {}, m3: {} },
      top: {
        routing: {
          router: { use: 'group', settings: { groups: { pair: { swap: false, exclusive: true, members: ['m1', 'm2'] } } } },
        },
      },
    }),
  });
  assert.equal((await chat(gg, 'm1')).status, 200);
  assert.equal((await chat(gg, 'm2')).status, 200);
  assert.deepEqual(await running(gg), { m1: 'ready', m2: 'ready' }, 'the swap: false group keeps both');
  assert.equal(pidsOf(token, 'm1').length, 1);
  // m3 is in (default): loading it evicts the exclusive pair, and loading m1 again evicts m3.
  assert.equal((await chat(gg, 'm3')).status, 200);
  assert.deepEqual(await running(gg), { m3: 'ready' });
  assert.equal((await chat(gg, 'm1')).status, 200);
  assert.deepEqual(await running(gg), { m1: 'ready' });
  await finish(gg, token);
});

test('routing.router use: matrix: each load evicts exactly what the solver says', async () => {
  const token = uniqueToken('mtx');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {}, b: {}, 'org/c': {}, d: {}, solo: {} },
      top: {
        routing: {
          router: {
            use: 'matrix',
            settings: {
              matrix: {
                vars: { c: 'org/c' },
                evict_costs: { d: 5 },
                sets: { pair: 'a & b', withc: 'c & (a | d)', big: '+pair & d' },
              },
            },
          },
        },
      },
    }),
  });
  const load = async (m, want, why) => {
    const r = await chat(gg, m);
    assert.equal(r.status, 200, `${m}: ${r.text}`);
    assert.deepEqual(await running(gg), want, why);
  };
  await load('a', { a: 'ready' }, 'nothing to evict');
  await load('b', { a: 'ready', b: 'ready' }, 'pair: a & b run together');
  await load('d', { a: 'ready', b: 'ready', d: 'ready' }, 'big (+pair & d): all three');
  await load('org/c', { 'org/c': 'ready', d: 'ready' }, 'c & d evicts a and b (cost 2) rather than b and d (1 + 5)');
  await load('b', { b: 'ready', d: 'ready' }, 'big keeps d (only c goes, cost 1); pair would evict c and d');
  await load('solo', { solo: 'ready' }, 'a model in no set runs alone');
  await load('org/c', { 'org/c': 'ready' }, 'solo is in no set: it goes');
  await finish(gg, token);
});

test('a matrix expression that does not parse or names an unknown model is an error naming file:line:key', () => {
  const dir = tmpDir('mtxbad-');
  const cases = [
    ['a & nope', /unknown var or model "nope"/],
    ['a & (b', /missing closing parenthesis/],
    ['a / b', /unexpected character '\/'/],
    ['a & +other', /references undefined set "other"/],
  ];
  for (const [dsl, want] of cases) {
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(file, [
      'models:',
      '  a: {cmd: "x --port ${PORT}"}',
      '  b: {cmd: "x --port ${PORT}"}',
      'routing:',
      '  router:',
      '    use: matrix',
      '    settings:',
      '      matrix:',
      '        sets:',
      '          ok: "a & b"',
      `          bad: ${JSON.stringify(dsl)}`,
      '',
    ].join('\n'));
    const r = spawnSync(env('GGSWAP_BIN'), ['config', 'check', file], { encoding: 'utf8' });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 2, `${dsl}: ${out}`);
    assert.match(out, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:11: error: routing\\.router\\.settings\\.matrix\\.sets\\.bad: `), `${dsl}: ${out}`);
    assert.match(out, want, `${dsl}: ${out}`);
    const serve = spawnSync(env('GGSWAP_BIN'), ['serve', '--config', file, '--listen', '127.0.0.1:1'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(serve.status, 2, `serve refuses it: ${serve.stdout}${serve.stderr}`);
  }
});

test('unloadTimeout: manual and TTL unloads get the model\'s grace before SIGKILL; a swap gets healthCheckTimeout', { timeout: 90000 }, async () => {
  const token = uniqueToken('ult');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { quick: { ignoreSigterm: true, unloadTimeout: 1 }, idle: { ignoreSigterm: true, ttl: 1 }, other: {} },
      groups: { g: { swap: false, exclusive: false, members: ['quick', 'idle'] } },
      top: { unloadTimeout: 3 },
    }),
  });
  assert.equal((await chat(gg, 'quick')).status, 200);
  let t0 = Date.now();
  const r = await fetch(`${gg.url}/unload`);
  await r.text();
  const took = Date.now() - t0;
  assert.ok(took >= 900 && took < 2900, `unloadTimeout 1: SIGKILL after ${took} ms`);
  // The line is written before the kill, but may still be in the pipe when the pid is gone.
  await gg.waitLog(/model quick: pid \d+ did not stop within 1000 ms; sending SIGKILL/, 5000);
  // TTL: the global unloadTimeout (3 s) applies to a model without its own.
  assert.equal((await chat(gg, 'idle')).status, 200);
  t0 = Date.now();
  await waitFor(() => pidsOf(token, 'idle').length === 0, { timeout: 15000, what: 'idle unloaded by its TTL' });
  assert.ok(Date.now() - t0 >= 3500, `TTL 1 s + grace 3 s: gone after ${Date.now() - t0} ms`);
  // The line is written before the kill, but may still be in the pipe when the pid is gone.
  await gg.waitLog(/model idle: pid \d+ did not stop within 3000 ms; sending SIGKILL/, 5000);
  // A swap eviction: other (in (default), exclusive) evicts quick with healthCheckTimeout (15 s).
  assert.equal((await chat(gg, 'quick')).status, 200);
  t0 = Date.now();
  assert.equal((await chat(gg, 'other')).status, 200);
  assert.ok(Date.now() - t0 >= 14000, `the swap waited ${Date.now() - t0} ms (healthCheckTimeout 15 s)`);
  // The line is written before the kill, but may still be in the pipe when the pid is gone.
  await gg.waitLog(/model quick: pid \d+ did not stop within 15000 ms; sending SIGKILL/, 5000);
  await finish(gg, token);
});

test('upstream.ignorePaths set in the config replaces the default list', async () => {
  const token = uniqueToken('ign');
  const gg = await startGgswap({
    config: await fakeModelYaml({ token, models: { b: {} }, top: { upstream: { ignorePaths: ['^/assets/', '\\.webmanifest$'] } } }),
  });
  for (const p of ['assets/x.bin', 'site.webmanifest']) {
    const r = await fetch(`${gg.url}/upstream/b/${p}`);
    assert.equal(r.status, 409, p);
    await r.text();
  }
  assert.deepEqual(await running(gg), {});
  const r = await fetch(`${gg.url}/upstream/b/favicon.ico`);
  await r.text();
  assert.notEqual(r.status, 409, 'the default list no longer applies');
  assert.deepEqual(await running(gg), { b: 'ready' });
  await finish(gg, token);
});

test('setParamsByID: its keys are names of the model that apply their params after setParams', async () => {
  const token = uniqueToken('spi');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: {
        m1: {
          filters: {
            setParams: { temperature: 0.1, top_k: 5 },
            setParamsByID: { 'm1:think': { temperature: 0.9, think: true }, '${MODEL_ID}:fast': { max_tokens: 8, model: 'no' } },
          },
        },
      },
    }),
  });
  const plain = await chat(gg, 'm1');
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.json.echo.temperature, 0.1);
  assert.equal(plain.json.echo.think, undefined);
  const think = await chat(gg, 'm1:think');
  assert.equal(think.status, 200, think.text);
  assert.match(think.json.choices[0].message.content, /^fake:m1:/, 'm1:think is served by m1');
  assert.deepEqual([think.json.echo.model, think.json.echo.temperature, think.json.echo.think, think.json.echo.top_k], ['m1:think', 0.9, true, 5]);
  const fast = await chat(gg, 'm1:fast');
  assert.equal(fast.status, 200, fast.text);
  assert.deepEqual([fast.json.echo.model, fast.json.echo.max_tokens], ['m1:fast', 8], 'model is never set by a filter');
  assert.deepEqual(await running(gg), { m1: 'ready' }, 'one process for all three names');
  await finish(gg, token);
});

test('selectors (pin, warm) and profiles: virtual ids pick a model; a profile pins names at run time', async () => {
  const token = uniqueToken('sel');
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {}, b: {} },
      groups: { g: { swap: false, members: ['a', 'b'] } },
      top: {
        selectors: {
          fixed: { strategy: 'pin', targets: ['b', 'a'] },
          coder: { strategy: 'warm', targets: ['a', 'b'], name: 'Coder' },
        },
        profiles: { night: { description: 'small models', pins: { a: 'b', secret: null } } },
      },
    }),
  });
  const served = (r) => r.json?.choices?.[0]?.message?.content?.split(':')[1];
  let r = await chat(gg, 'fixed');
  assert.equal(served(r), 'b', r.text);
  assert.equal(r.json.echo.model, 'b', 'the body names the target');
  r = await chat(gg, 'coder');
  assert.equal(served(r), 'b', 'warm: b is the target that is ready');
  await postJson(`${gg.url}/api/models/unload/b`, '');
  await waitFor(async () => !(await running(gg)).b, { what: 'b unloaded' });
  r = await chat(gg, 'coder');
  assert.equal(served(r), 'a', 'warm: nothing ready, the first target');
  const list = (await (await fetch(`${gg.url}/v1/models`)).json()).data;
  const coder = list.find((m) => m.id === 'coder');
  assert.equal(coder.meta.llamaswap.type, 'selector');
  assert.equal(coder.meta.llamaswap.strategy, 'warm');
  assert.equal(coder.name, 'Coder');

  // Profiles: none active; activating one pins names, null disables one.
  let p = await (await fetch(`${gg.url}/api/profiles`)).json();
  assert.equal(p.active, null);
  assert.deepEqual(p.profiles, [{ id: 'night', description: 'small models', pins: { a: 'b', secret: null } }]);
  const put = (name) => fetch(`${gg.url}/api/profiles/active`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  assert.equal((await put('nope')).status, 404);
  const bad = await fetch(`${gg.url}/api/profiles/active`, { method: 'PUT', body: 'x' });
  assert.equal(bad.status, 400);
  const on = await put('night');
  assert.deepEqual(await on.json(), { active: 'night' });
  r = await chat(gg, 'a');
  assert.equal(served(r), 'b', 'the profile pins a to b');
  r = await chat(gg, 'secret');
  assert.equal(r.status, 404);
  assert.deepEqual(await (await put(null)).json(), { active: null });
  r = await chat(gg, 'a');
  assert.equal(served(r), 'a');
  await finish(gg, token);
});

test('peers: remote/x and bare x reach a second ggswap (its apiKey injected); listed in /v1/models', async () => {
  const token = uniqueToken('per');
  const far = await startGgswap({
    config: await fakeModelYaml({ token, models: { x: {}, y: {} }, top: { apiKeys: ['k-remote'] } }),
  });
  const down = await freePort();
  const gg = await startGgswap({
    config: await fakeModelYaml({
      token,
      models: { a: {} },
      top: {
        peers: {
          remote: { proxy: far.url, apiKey: 'k-remote', models: ['x', 'y'], filters: { setParams: { seed: 7 } } },
          gone: { proxy: `http://127.0.0.1:${down}`, models: ['z'] },
        },
      },
    }),
  });
  const served = (r) => r.json?.choices?.[0]?.message?.content?.split(':')[1];
  let r = await postJson(`${gg.url}/v1/chat/completions`, { model: 'remote/x', messages: [] }, { headers: { authorization: 'Bearer client-key' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'x');
  assert.equal(r.json.echo.model, 'x', 'the peer gets its own name for the model');
  assert.equal(r.json.echo.seed, 7, "the peer's filters apply");
  r = await chat(gg, 'x');
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'x', 'a bare name one peer lists');
  r = await chat(gg, 'remote/y');
  assert.equal(served(r), 'y');
  assert.deepEqual(await running(gg), {}, 'nothing local started');
  assert.equal((await chat(gg, 'a')).status, 200);
  const ids = (await (await fetch(`${gg.url}/v1/models`)).json()).data.map((m) => m.id);
  assert.deepEqual(ids, ['a', 'gone/z', 'remote/x', 'remote/y']);
  // Without the key the peer refuses: ggswap really injected it.
  const direct = await postJson(`${far.url}/v1/chat/completions`, { model: 'x', messages: [] });
  assert.equal(direct.status, 401);
  r = await chat(gg, 'gone/z');
  assert.equal(r.status, 502, r.text);
  assert.match(r.json.error.message, /peer proxy error/);
  await finish(gg);
  await finish(far, token);
});
