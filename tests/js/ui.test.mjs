// The management page (/ui/) against the real daemon, in Debian's chromium: every button's effect
// on the service and on the page, model states seen live (starting → ready → stopped), the
// playground's streamed answer, start failures, logs and their filter, and the screenshots in
// docs/. Each test runs its own ggswap with fake-upstream models; the browser is shared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, freePortRange, getJson, postJson,
  processesMatching, waitNoProcesses, waitFor, sleep,
} from './lib/harness.mjs';
import { launchBrowser, openPage, waitLive, row, recordRowStates, recordText } from './lib/ui-helpers.mjs';

process.env.GGSWAP_BIN ||= '/work/main/build/asan/ggswap';
process.env.FAKE_UPSTREAM ||= '/work/main/build/asan/fake-upstream';

registerCleanup();

// The screenshots go to build/ on every run (a test run must not dirty the work tree); with
// GGSWAP_SCREENSHOTS=1 they replace the ones in docs/.
const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
  process.env.GGSWAP_SCREENSHOTS === '1' ? '../../docs' : '../../build');
const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const T = 30000; // UI waits: the machine is shared and ASan is slow
const TEST_OPTS = { timeout: 180000 };

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// A ggswap serving fake models. `models` as for fakeModelYaml; returns the daemon, its token
// (on every fake's command line), a config writer for edits, and the page.
async function setup(models, { top = {}, groups, open = true } = {}) {
  const token = uniqueToken('gsui');
  const startPort = await freePortRange(12);
  const yaml = (m) => fakeModelYaml({ token, models: m, groups, startPort, top: { healthCheckTimeout: 30, ...top } });
  const gg = await startGgswap({ config: await yaml(models), token, timeout: 60000 });
  const writeConfig = async (m) => fs.writeFileSync(gg.configPath, await yaml(m));
  let ui = null;
  if (open) {
    ui = await openPage(browser.ctx, `${gg.url}/ui/`);
    await waitLive(ui.page, T);
  }
  const fakeOf = (name) => `--model ${name} --test-token ${token}`;
  const finish = async () => {
    if (ui) {
      await ui.page.close().catch(() => {});
    }
    const r = await gg.stop('SIGTERM', 20000);
    assert.equal(r.killed, false, `ggswap needed SIGKILL; output:\n${gg.logs().slice(-4000)}`);
    await waitNoProcesses(token, 15000);
    assert.deepEqual(gg.sanitizerReports(), [], gg.logs().slice(-6000));
  };
  return { gg, token, ui, page: ui?.page, writeConfig, fakeOf, finish };
}

const chat = (gg, model, extra = {}) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const service = async (gg) => (await getJson(`${gg.url}/api/service`)).json;
const running = async (gg) => (await getJson(`${gg.url}/running`)).json.running;

async function lastToast(page, kind) {
  const t = page.locator(`[data-testid=toast][data-kind=${kind}]`).last();
  await t.waitFor({ timeout: T });
  return t.textContent();
}

function assertNoConsoleErrors(ui) {
  assert.deepEqual(ui.consoleErrors(), [], 'console errors on the page');
}

test('the page loads live with the service facts and one row per model, no console errors', TEST_OPTS, async () => {
  const s = await setup({
    alpha: { metadata: { kind: 'chat', parameters: '1B', quantization: 'q4_k_m', size: 771000000 }, aliases: ['gpt-mini'] },
    beta: {},
  });
  const { page, gg } = s;
  try {
    // / redirects to the page.
    const r = await fetch(`${gg.url}/`, { redirect: 'manual' });
    assert.ok([301, 302, 307, 308].includes(r.status), `GET / answered ${r.status}`);
    assert.equal(r.headers.get('location'), '/ui/');

    assert.equal(await page.title(), 'ggswap');
    await page.locator('[data-testid=listen]', { hasText: `127.0.0.1:${gg.port}` }).waitFor();
    assert.equal(await page.getByTestId('api-url').textContent(), `http://127.0.0.1:${gg.port}/v1`);
    assert.equal(await page.getByTestId('config-path').textContent(), gg.configPath);
    assert.match(await page.getByTestId('uptime').textContent(), /^\d+s$|^\d+m \d+s$/);
    assert.deepEqual(await page.getByTestId('model-row').evaluateAll((rs) => rs.map((r) => [r.dataset.model, r.dataset.state])),
      [['alpha', 'stopped'], ['beta', 'stopped']]);
    assert.equal(await page.getByTestId('models-empty').isHidden(), true);
    assert.equal(await row(page, 'alpha').getByTestId('model-kind').textContent(), 'chat');
    assert.match(await row(page, 'alpha').textContent(), /gpt-mini/);
    assert.match(await row(page, 'alpha').textContent(), /1B/);
    assert.match(await row(page, 'alpha').textContent(), /Q4_K_M/);
    assert.match(await row(page, 'alpha').textContent(), /771 MB/);
    // Buttons match a running service.
    assert.equal(await page.getByTestId('btn-start').isDisabled(), true);
    for (const b of ['btn-stop', 'btn-restart', 'btn-regenerate']) assert.equal(await page.getByTestId(b).isEnabled(), true, b);
    assert.equal(await page.getByTestId('btn-unload-all').isDisabled(), true, 'nothing to unload');
    assert.equal(await row(page, 'alpha').getByTestId('btn-load').isEnabled(), true);
    assert.equal(await row(page, 'alpha').getByTestId('btn-unload').isDisabled(), true);
    // A hand-written config has no problems to show.
    assert.equal(await page.getByTestId('problems').isHidden(), true);

    // Copy puts the API URL on the clipboard.
    await browser.ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gg.url });
    await page.getByTestId('btn-copy-api').click();
    await page.locator('[data-testid=btn-copy-api]', { hasText: 'Copied' }).waitFor({ timeout: T });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `http://127.0.0.1:${gg.port}/v1`);

    // Uptime ticks locally.
    const u1 = await page.getByTestId('uptime').textContent();
    await waitFor(async () => (await page.getByTestId('uptime').textContent()) !== u1, { timeout: 5000, what: 'uptime to tick' });
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

// Every file below web/, subfolders included, as the daemon must serve it under /ui/.
function webFiles(dir = WEB, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...webFiles(path.join(dir, e.name), r));
    else out.push(r);
  }
  return out.sort();
}

const TYPES = { '.html': /^text\/html/, '.js': /^text\/javascript/, '.mjs': /^text\/javascript/, '.css': /^text\/css/, '.svg': /^image\/svg\+xml/ };

function cspDirectives(header) {
  const d = {};
  for (const part of String(header || '').split(';')) {
    const [name, ...vals] = part.trim().split(/\s+/);
    if (name) d[name.toLowerCase()] = vals;
  }
  return d;
}

test('every file of web/ is served under /ui/ with its type and a Content-Security-Policy the page runs under', TEST_OPTS, async () => {
  const s = await setup({ alpha: { filters: { setParams: { n_chunks: 3, chunk_ms: 10 } } }, broken: { failStart: 'bad magic' } }, { open: false });
  const { gg } = s;
  let ui = null;
  try {
    const files = webFiles();
    assert.ok(files.includes('index.html') && files.some((f) => f.startsWith('js/')), `web/ holds the page and its modules: ${files}`);
    for (const f of files) {
      const r = await fetch(`${gg.url}/ui/${f}`);
      assert.equal(r.status, 200, `/ui/${f}`);
      const want = TYPES[path.extname(f)];
      if (want) assert.match(r.headers.get('content-type') || '', want, `/ui/${f} content type`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', f);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), fs.readFileSync(path.join(WEB, f)), `/ui/${f} is the file in web/`);
      const csp = cspDirectives(r.headers.get('content-security-policy'));
      assert.deepEqual(csp['default-src'], ["'none'"], `${f}: ${r.headers.get('content-security-policy')}`);
      for (const k of ['script-src', 'style-src', 'connect-src']) assert.deepEqual(csp[k], ["'self'"], `${f}: ${k} is 'self' only (no inline, no eval)`);
      assert.deepEqual(csp['frame-ancestors'], ["'none'"], f);
    }
    const index = await fetch(`${gg.url}/ui/`);
    assert.ok(index.headers.get('content-security-policy'), '/ui/ itself carries the CSP');
    assert.equal((await fetch(`${gg.url}/ui/js/nope.js`)).status, 404);
    // The page never needs an inline script or style: nothing is refused while it is used.
    ui = await openPage(browser.ctx, `${gg.url}/ui/`);
    const { page } = ui;
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.reload();
    await waitLive(page, T);
    ui.allowFailedLoad('/api/models/load/broken');
    await row(page, 'broken').getByTestId('btn-load').click();
    await row(page, 'broken').and(page.locator('[data-state=failed]')).waitFor({ timeout: T });
    await row(page, 'broken').locator('summary').click();
    await page.getByTestId('playground-model').selectOption('alpha');
    await page.getByTestId('playground-input').fill('hi');
    await page.getByTestId('playground-send').click();
    await page.locator('[data-testid=playground-output] .msg.assistant .text', { hasText: 'c2 ' }).waitFor({ timeout: 60000 });
    await page.getByTestId('request-row').first().waitFor({ timeout: T });
    await page.locator('[data-testid=log-view] .ln').first().waitFor({ state: 'attached', timeout: T });
    assert.deepEqual(await page.evaluate(() => window.__csp), [], 'CSP violations while using the page');
    assertNoConsoleErrors(ui);
    // And the policy is in force: an injected inline script does not run, an inline style is refused.
    const ran = await page.evaluate(async () => {
      const sc = document.createElement('script');
      sc.textContent = 'window.__inlineRan = true';
      document.body.append(sc);
      document.body.insertAdjacentHTML('beforeend', '<div style="color: red"></div>');
      await new Promise((r) => setTimeout(r, 200));
      return window.__inlineRan === true;
    });
    assert.equal(ran, false, 'an inline script ran under the CSP');
    const seen = await page.evaluate(() => window.__csp);
    assert.ok(seen.some((v) => /^script-src/.test(v)) && seen.some((v) => /^style-src/.test(v)), `violations reported: ${seen}`);
  } finally {
    if (ui) await ui.page.close().catch(() => {});
    await s.finish();
  }
});

test('Stop, Start and Restart: the service, the inference answers and the page follow', TEST_OPTS, async () => {
  const s = await setup({ alpha: { healthDelay: 300 }, beta: {} });
  const { page, gg } = s;
  try {
    // A model is loaded before Stop, so Stop has something to unload.
    assert.equal((await postJson(`${gg.url}/api/models/load/alpha`, {})).status, 200);
    await row(page, 'alpha').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    assert.equal(processesMatching(s.fakeOf('alpha')).length, 1);

    // ---- Stop
    await page.getByTestId('btn-stop').click();
    await page.locator('[data-testid=service-state][data-state=stopped]').waitFor({ timeout: T });
    assert.match(await lastToast(page, 'ok'), /stopped/i);
    assert.equal((await service(gg)).state, 'stopped');
    const refused = await chat(gg, 'alpha');
    assert.equal(refused.status, 503, refused.text);
    assert.ok(refused.json?.error?.message, `OpenAI-shaped error: ${refused.text}`);
    await waitNoProcesses(s.fakeOf('alpha'), 15000);
    assert.deepEqual(await running(gg), []);
    await row(page, 'alpha').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    assert.equal(await page.getByTestId('btn-start').isEnabled(), true);
    assert.equal(await page.getByTestId('btn-stop').isDisabled(), true);
    assert.equal(await page.getByTestId('btn-restart').isDisabled(), true);
    assert.equal(await row(page, 'beta').getByTestId('btn-load').isDisabled(), true, 'no Load while stopped');
    assert.equal(await page.getByTestId('uptime').textContent(), '—');
    // The playground says so too: its request gets the 503.
    s.ui.allowFailedLoad('/v1/chat/completions');
    await page.getByTestId('playground-model').selectOption('beta');
    await page.getByTestId('playground-input').fill('anyone there?');
    await page.getByTestId('playground-send').click();
    await page.getByTestId('playground-error').waitFor({ timeout: T });
    assert.match(await page.getByTestId('playground-error').textContent(), /503/);
    assert.equal(processesMatching(s.fakeOf('beta')).length, 0, 'a stopped service started a model');
    // A reload of the page shows the same state (it comes from the daemon, not from the click).
    await page.reload();
    await page.locator('[data-testid=connection][data-state=live]').waitFor({ timeout: T });
    await page.locator('[data-testid=service-state][data-state=stopped]').waitFor({ timeout: T });

    // ---- Start
    await page.getByTestId('btn-start').click();
    await page.locator('[data-testid=service-state][data-state=running]').waitFor({ timeout: T });
    assert.match(await lastToast(page, 'ok'), /started/i);
    assert.equal((await service(gg)).state, 'running');
    const ok = await chat(gg, 'beta');
    assert.equal(ok.status, 200, ok.text);
    await row(page, 'beta').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    assert.equal(await page.getByTestId('btn-start').isDisabled(), true);
    assert.equal(await page.getByTestId('btn-stop').isEnabled(), true);

    // ---- Restart: models are unloaded and the config file is read again.
    await s.writeConfig({ alpha: { healthDelay: 300 }, beta: {}, gamma: {} });
    await page.getByTestId('btn-restart').click();
    await page.locator('[data-testid=model-row][data-model=gamma]').waitFor({ timeout: T });
    await page.locator('[data-testid=service-state][data-state=running]').waitFor({ timeout: T });
    assert.match(await lastToast(page, 'ok'), /restarted/i);
    await row(page, 'beta').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    await waitNoProcesses(s.fakeOf('beta'), 15000);
    const svc = await service(gg);
    assert.equal(svc.state, 'running');
    assert.deepEqual(svc.models.map((m) => m.id), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(await page.getByTestId('model-row').evaluateAll((rs) => rs.map((r) => r.dataset.model)), ['alpha', 'beta', 'gamma']);
    assert.equal((await chat(gg, 'gamma')).status, 200);
    await row(page, 'gamma').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('Regenerate Config reloads a hand-written config: a new model appears, a loaded one keeps running', TEST_OPTS, async () => {
  const s = await setup({ alpha: {} });
  const { page, gg } = s;
  try {
    assert.equal((await postJson(`${gg.url}/api/models/load/alpha`, {})).status, 200);
    await row(page, 'alpha').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    const pid = processesMatching(s.fakeOf('alpha'))[0]?.pid;
    assert.ok(pid, 'alpha runs');

    await s.writeConfig({ alpha: {}, delta: { aliases: ['d-alias'] } });
    await page.getByTestId('btn-regenerate').click();
    await row(page, 'delta').waitFor({ timeout: T });
    const msg = await lastToast(page, 'ok');
    assert.match(msg, /Config regenerated/);
    assert.match(await row(page, 'delta').textContent(), /d-alias/);
    assert.equal(await row(page, 'delta').getAttribute('data-state'), 'stopped');
    // alpha's definition did not change: same process, still ready.
    assert.equal(await row(page, 'alpha').getAttribute('data-state'), 'ready');
    assert.deepEqual(processesMatching(s.fakeOf('alpha')).map((p) => p.pid), [pid]);
    assert.deepEqual((await running(gg)).map((m) => [m.model, m.state]), [['alpha', 'ready']]);
    assert.deepEqual((await service(gg)).models.map((m) => m.id), ['alpha', 'delta']);
    // The new model works, by its alias too.
    assert.equal((await chat(gg, 'd-alias')).status, 200);
    await row(page, 'delta').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    // The playground offers it.
    assert.ok((await page.getByTestId('playground-model').locator('option').allTextContents()).some((t) => t.startsWith('delta')));

    // Removing a model removes its row (and stops it).
    await s.writeConfig({ alpha: {} });
    await page.getByTestId('btn-regenerate').click();
    await row(page, 'delta').waitFor({ state: 'detached', timeout: T });
    await waitNoProcesses(s.fakeOf('delta'), 15000);
    assert.deepEqual((await service(gg)).models.map((m) => m.id), ['alpha']);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('Regenerate with a broken config file: an error toast naming the file, the old models stay', TEST_OPTS, async () => {
  const s = await setup({ alpha: {}, beta: {} });
  const { page, gg } = s;
  try {
    assert.equal((await postJson(`${gg.url}/api/models/load/alpha`, {})).status, 200);
    await row(page, 'alpha').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    fs.writeFileSync(gg.configPath, 'models:\n  gamma:\n    cmd: [unclosed\n');
    s.ui.allowFailedLoad('/api/service/regenerate');
    await page.getByTestId('btn-regenerate').click();
    const msg = await lastToast(page, 'error');
    assert.match(msg, /Regenerate Config failed/);
    assert.ok(msg.includes(path.basename(gg.configPath)), `the error names the config file: ${msg}`);
    // Nothing changed: same rows, alpha still ready and serving, the service running.
    await page.locator('[data-testid=btn-regenerate]:enabled').waitFor({ timeout: T });
    assert.deepEqual(await page.getByTestId('model-row').evaluateAll((rs) => rs.map((r) => [r.dataset.model, r.dataset.state])),
      [['alpha', 'ready'], ['beta', 'stopped']]);
    assert.equal(await page.getByTestId('service-state').getAttribute('data-state'), 'running');
    const svc = await service(gg);
    assert.equal(svc.state, 'running');
    assert.deepEqual(svc.models.map((m) => [m.id, m.state]), [['alpha', 'ready'], ['beta', 'stopped']]);
    assert.equal((await chat(gg, 'alpha')).status, 200);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('Stop while a model is starting: the load fails on the page, the model and its process are gone', TEST_OPTS, async () => {
  const s = await setup({ alpha: { healthDelay: 4000 } });
  const { page, gg } = s;
  try {
    s.ui.allowFailedLoad('/api/models/load/alpha');
    await row(page, 'alpha').getByTestId('btn-load').click();
    await row(page, 'alpha').and(page.locator('[data-state=starting]')).waitFor({ timeout: T });
    await waitFor(() => processesMatching(s.fakeOf('alpha')).length === 1, { timeout: T, what: 'alpha to be spawned' });
    await page.getByTestId('btn-stop').click();
    await page.locator('[data-testid=service-state][data-state=stopped]').waitFor({ timeout: T });
    assert.match(await lastToast(page, 'error'), /Load alpha failed/);
    await row(page, 'alpha').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    await waitNoProcesses(s.fakeOf('alpha'), 15000);
    assert.equal((await service(gg)).state, 'stopped');
    assert.deepEqual(await running(gg), []);
    // Start again: alpha stays stopped until asked for (the stop cancelled the load).
    await page.getByTestId('btn-start').click();
    await page.locator('[data-testid=service-state][data-state=running]').waitFor({ timeout: T });
    await sleep(1000);
    assert.equal(await row(page, 'alpha').getAttribute('data-state'), 'stopped');
    assert.deepEqual(await running(gg), []);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('Load shows starting → ready live and Unload → stopped; Unload all stops every model', TEST_OPTS, async () => {
  // beta and gamma may run together (no swapping), so Unload all has two models to stop.
  // alpha ignores SIGTERM: its unload takes its 2 s grace, and the request is pending that long.
  const s = await setup({ alpha: { healthDelay: 800, ignoreSigterm: true, unloadTimeout: 2 }, beta: {}, gamma: {} },
    { groups: { pair: { swap: false, exclusive: false, members: ['beta', 'gamma'] } } });
  const { page, gg } = s;
  try {
    const states = await recordRowStates(page, 'alpha');
    await row(page, 'alpha').getByTestId('btn-load').click();
    await row(page, 'alpha').and(page.locator('[data-state=starting]')).waitFor({ timeout: T });
    // While starting, Load is disabled and /running says starting.
    assert.equal(await row(page, 'alpha').getByTestId('btn-load').isDisabled(), true);
    assert.deepEqual((await running(gg)).map((m) => [m.model, m.state]), [['alpha', 'starting']]);
    await row(page, 'alpha').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    assert.match(await lastToast(page, 'ok'), /Loaded alpha/);
    assert.deepEqual(await states(), ['stopped', 'starting', 'ready']);
    assert.deepEqual((await running(gg)).map((m) => [m.model, m.state]), [['alpha', 'ready']]);
    assert.equal(processesMatching(s.fakeOf('alpha')).length, 1);
    assert.equal(await row(page, 'alpha').getByTestId('btn-load').isDisabled(), true);
    assert.equal(await row(page, 'alpha').getByTestId('btn-unload').isEnabled(), true);
    assert.equal(await row(page, 'alpha').getByTestId('model-ttl').textContent(), 'never');
    assert.match(await page.getByTestId('models-count').textContent(), /3 models · 1 loaded/);
    assert.match(await page.getByTestId('playground-model').locator('option[value=alpha]').textContent(), /alpha \(loaded\)/);

    await row(page, 'alpha').getByTestId('btn-unload').click();
    // The unload request answers once the process is gone: meanwhile the row says stopping.
    await row(page, 'alpha').and(page.locator('[data-state=stopping]')).waitFor({ timeout: T });
    assert.equal(await row(page, 'alpha').getByTestId('btn-unload').textContent(), 'Unloading…');
    assert.equal(processesMatching(s.fakeOf('alpha')).length, 1, 'still alive during its grace');
    await row(page, 'alpha').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    assert.match(await lastToast(page, 'ok'), /Unloaded alpha/);
    assert.deepEqual(await running(gg), []);
    assert.equal(processesMatching(s.fakeOf('alpha')).length, 0, 'gone once the unload answered');
    await waitNoProcesses(s.fakeOf('alpha'), 15000);
    assert.equal(await row(page, 'alpha').getByTestId('btn-load').isEnabled(), true);
    assert.equal(await row(page, 'alpha').getByTestId('btn-unload').isDisabled(), true);
    const seen = await states();
    assert.equal(seen[seen.length - 1], 'stopped');
    assert.deepEqual(seen.filter((x) => x !== 'stopping'), ['stopped', 'starting', 'ready', 'stopped']);

    // ---- Unload all
    for (const m of ['beta', 'gamma']) assert.equal((await postJson(`${gg.url}/api/models/load/${m}`, {})).status, 200);
    assert.deepEqual((await running(gg)).map((m) => m.model).sort(), ['beta', 'gamma']);
    await row(page, 'beta').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    await row(page, 'gamma').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    await page.locator('[data-testid=btn-unload-all]:enabled').waitFor({ timeout: T });
    await page.getByTestId('btn-unload-all').click();
    await row(page, 'beta').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    await row(page, 'gamma').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    assert.match(await lastToast(page, 'ok'), /Unloaded every model/);
    assert.deepEqual(await running(gg), []);
    await waitNoProcesses(s.token, 15000);
    await page.locator('[data-testid=btn-unload-all]:disabled').waitFor({ timeout: T });
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('a model with a short ttl goes starting → ready → stopped by itself, live', TEST_OPTS, async () => {
  const s = await setup({ brief: { healthDelay: 800, ttl: 2 } });
  const { page, gg } = s;
  try {
    const states = await recordRowStates(page, 'brief');
    await row(page, 'brief').getByTestId('btn-load').click();
    await row(page, 'brief').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    // The countdown shows the TTL (m:ss) while ready and idle.
    assert.match(await row(page, 'brief').getByTestId('model-ttl').textContent(), /^0:0[0-2]$|^unloading…$/);
    await row(page, 'brief').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    const seen = (await states()).filter((x) => x !== 'stopping');
    assert.deepEqual(seen, ['stopped', 'starting', 'ready', 'stopped']);
    assert.deepEqual(await running(gg), []);
    await waitNoProcesses(s.fakeOf('brief'), 15000);
    assert.equal(await row(page, 'brief').getByTestId('model-ttl').textContent(), '—');
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('the playground streams an answer that grows over time; Stop cuts a stream short', TEST_OPTS, async () => {
  // setParams paces the fake's stream (the page sends only model, messages and stream).
  const s = await setup({
    quiet: {},
    talker: { filters: { setParams: { n_chunks: 12, chunk_ms: 150 } } },
    slow: { filters: { setParams: { n_chunks: 200, chunk_ms: 100 } } },
  });
  const { page, gg } = s;
  try {
    await page.getByTestId('playground-model').selectOption('talker');
    await page.getByTestId('playground-input').fill('count for me');
    const texts = await recordText(page, 'playground-output');
    await page.getByTestId('playground-send').click();
    await page.locator('[data-testid=playground-send]:disabled').waitFor({ timeout: T });
    // The model is loaded on first use, live in its row.
    await row(page, 'talker').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    await page.locator('[data-testid=playground-send]:enabled').waitFor({ timeout: 60000 });
    const want = Array.from({ length: 12 }, (_, i) => `c${i} `).join('');
    const assistant = page.locator('[data-testid=playground-output] .msg.assistant .text').last();
    assert.equal(await assistant.textContent(), want);
    assert.match(await page.locator('[data-testid=playground-output] .msg.user').last().textContent(), /count for me/);
    // It grew chunk by chunk: many distinct partial answers, spread over the stream's time.
    const partial = (await texts()).filter((x) => /c0 /.test(x.text) && !x.text.includes('c11 '));
    assert.ok(partial.length >= 5, `only ${partial.length} partial states: ${JSON.stringify(partial.map((x) => x.text.slice(-40)))}`);
    const full = (await texts()).find((x) => x.text.includes('c11 '));
    assert.ok(full.t - partial[0].t >= 800, `the answer arrived within ${full.t - partial[0].t} ms; not streamed`);
    assert.match(await page.getByTestId('playground-stats').textContent(), /12 tokens in/);
    // The request is listed.
    const req = page.getByTestId('request-row').first();
    await req.waitFor({ timeout: T });
    assert.match(await req.textContent(), /talker/);
    assert.match(await req.textContent(), /\/v1\/chat\/completions/);
    assert.match(await req.textContent(), /200/);

    // Stop: a long stream is cut short, the page says so and the upstream sees the disconnect.
    await page.getByTestId('playground-model').selectOption('slow');
    await page.getByTestId('playground-input').fill('go on and on');
    await page.getByTestId('playground-send').click();
    const slowText = page.locator('[data-testid=playground-output] .msg.assistant .text').last();
    await waitFor(async () => /c3 /.test(await slowText.textContent()), { timeout: 60000, what: 'the slow stream to start' });
    await page.locator('[data-testid=playground-stop]:enabled').click();
    await page.locator('[data-testid=playground-send]:enabled').waitFor({ timeout: T });
    assert.match(await slowText.textContent(), /\[stopped\]$/);
    assert.doesNotMatch(await slowText.textContent(), /c199 /);
    assert.equal(await page.getByTestId('playground-stats').textContent(), 'Stopped.');
    // The upstream saw the client go, and its own log line reaches the page.
    await page.locator('[data-testid=log-view] .ln[data-source=slow]', { hasText: /client closed stream after \d+ chunks/ })
      .waitFor({ state: 'attached', timeout: T });
    // Clear empties the conversation.
    await page.getByTestId('playground-clear').click();
    assert.equal(await page.locator('[data-testid=playground-output] .msg').count(), 0);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('recent requests show queue, load and TTFT: a request that started its model waited for the load', TEST_OPTS, async () => {
  const s = await setup({ talker: { healthDelay: 700, filters: { setParams: { n_chunks: 4, chunk_ms: 30 } } } });
  const { page, gg } = s;
  try {
    await page.getByTestId('playground-input').fill('hi');
    await page.getByTestId('playground-send').click();
    await page.locator('[data-testid=playground-send]:enabled').waitFor({ timeout: 60000 });
    const req = page.getByTestId('request-row').first();
    await req.waitFor({ timeout: T });
    const rec = (await getJson(`${gg.url}/api/requests`)).json;
    const last = (Array.isArray(rec) ? rec : rec.requests || []).slice(-1)[0] || {};
    const ms = (t) => { const m = /^([\d.]+) (ms|s)$/.exec(t); return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : NaN; };
    const load = ms(await req.getByTestId('request-load').textContent());
    assert.ok(load >= 500, `the load column shows the start (health after 700 ms): ${load}; record ${JSON.stringify(last)}`);
    const ttft = ms(await req.getByTestId('request-ttft').textContent());
    assert.ok(ttft >= load, `TTFT ${ttft} counts from arrival, so covers the load ${load}`);
    assert.ok(Number.isFinite(ms(await req.getByTestId('request-queue').textContent())), 'queue shown');
    // A second request finds the model ready: no load.
    assert.equal((await chat(gg, 'talker', { stream: false })).status, 200);
    await page.getByTestId('request-row').nth(1).waitFor({ timeout: T });
    assert.equal(await page.getByTestId('request-row').first().getByTestId('request-load').textContent(), '0 ms');
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('the memory panel shows a bar per device of GET /api/memory and each model\'s estimate and measured figure', TEST_OPTS, async () => {
  const s = await setup({ alpha: {}, beta: {} });
  const { page, gg } = s;
  try {
    const mem = (await getJson(`${gg.url}/api/memory`)).json;
    assert.ok(Array.isArray(mem.devices) && mem.devices.length > 0, JSON.stringify(mem));
    await page.getByTestId('memory-card').waitFor({ state: 'visible', timeout: T });
    assert.deepEqual(await page.getByTestId('mem-device').evaluateAll((ds) => ds.map((d) => d.dataset.device)), mem.devices.map((d) => d.name));
    assert.deepEqual(await page.getByTestId('mem-model').evaluateAll((ms) => ms.map((m) => m.dataset.model)), mem.models.map((m) => m.model));
    assert.match(await page.getByTestId('mem-figures').first().textContent(), /used · .* free · budget /);
    // A model that runs gets a share in a bar (its measured or estimated size); stopped ones none.
    assert.equal((await chat(gg, 'alpha')).status, 200);
    await row(page, 'alpha').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    await postJson(`${gg.url}/api/models/load/alpha`, {});
    const m2 = (await getJson(`${gg.url}/api/memory`)).json;
    const a = m2.models.find((x) => x.model === 'alpha');
    const hasShare = m2.devices.some((d) => (a.byDevice?.measured?.[d.name] || a.byDevice?.estimate?.[d.name]) > 0 && (d.budget || d.total) > 0);
    if (hasShare) await page.locator('[data-testid=mem-seg][data-model=alpha]').first().waitFor({ state: 'attached', timeout: T });
    assert.equal(await page.locator('[data-testid=mem-seg][data-model=beta]').count(), 0, 'a stopped model has no share');
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('a model that fails to start shows why: an error toast and the reason in its row', TEST_OPTS, async () => {
  const s = await setup({ ok: {}, broken: { failStart: 'error loading model: bad magic' } });
  const { page, gg } = s;
  try {
    s.ui.allowFailedLoad('/api/models/load/broken');
    await row(page, 'broken').getByTestId('btn-load').click();
    const msg = await lastToast(page, 'error');
    assert.match(msg, /Load broken failed/);
    assert.match(msg, /bad magic/);
    await row(page, 'broken').and(page.locator('[data-state=failed]')).waitFor({ timeout: T });
    const why = row(page, 'broken').getByTestId('model-error');
    assert.match(await why.textContent(), /error loading model: bad magic/);
    // The reason opens on click.
    await row(page, 'broken').locator('summary').click();
    await why.waitFor({ state: 'visible', timeout: T });
    // The API agrees.
    const m = (await service(gg)).models.find((x) => x.id === 'broken');
    assert.equal(m.state, 'failed');
    assert.match(m.error, /bad magic/);
    const r = await chat(gg, 'broken');
    assert.equal(r.status, 502);
    assert.match(r.json.error.message, /bad magic/);
    // The other model is unaffected and Load can be tried again.
    assert.equal(await row(page, 'ok').getAttribute('data-state'), 'stopped');
    assert.equal(await row(page, 'broken').getByTestId('btn-load').isEnabled(), true);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('rows are patched in place: an opened "Why it failed" stays open while models, the service and requests update', TEST_OPTS, async () => {
  const s = await setup({ ok: {}, broken: { failStart: 'error loading model: bad magic' } });
  const { page, gg } = s;
  try {
    s.ui.allowFailedLoad('/api/models/load/broken');
    await row(page, 'broken').getByTestId('btn-load').click();
    await row(page, 'broken').and(page.locator('[data-state=failed]')).waitFor({ timeout: T });
    await row(page, 'broken').locator('summary').click();
    await row(page, 'broken').getByTestId('model-error').waitFor({ state: 'visible', timeout: T });
    // Mark the nodes: a rebuilt row, cell or <details> would lose its mark.
    const mark = () => page.evaluate(() => {
      const tr = document.querySelector('[data-testid=model-row][data-model=broken]');
      tr.__mark = 1;
      tr.querySelector('details').__mark = 1;
      tr.querySelector('code.mid').__mark = 1;
      document.querySelector('[data-testid=model-row][data-model=ok]').__mark = 1;
    });
    const marks = () => page.evaluate(() => {
      const tr = document.querySelector('[data-testid=model-row][data-model=broken]');
      const d = tr?.querySelector('details');
      return { row: tr?.__mark, details: d?.__mark, open: d?.open, name: tr?.querySelector('code.mid')?.__mark,
        other: document.querySelector('[data-testid=model-row][data-model=ok]')?.__mark };
    });
    await mark();
    const kept = { row: 1, details: 1, open: true, name: 1, other: 1 };
    // Another model's events (starting, ready), a request, the TTL clocks ticking.
    assert.equal((await chat(gg, 'ok')).status, 200);
    await row(page, 'ok').and(page.locator('[data-state=ready]')).waitFor({ timeout: T });
    await page.getByTestId('request-row').first().waitFor({ timeout: T });
    await sleep(1200);
    assert.deepEqual(await marks(), kept, 'after model and request events');
    // A whole new service state (a reload that adds a model) re-renders every row.
    await s.writeConfig({ ok: {}, broken: { failStart: 'error loading model: bad magic' }, extra: {} });
    assert.equal((await postJson(`${gg.url}/api/service/regenerate`, {})).status, 200);
    await row(page, 'extra').waitFor({ timeout: T });
    assert.equal(await row(page, 'broken').getAttribute('data-state'), 'failed');
    assert.deepEqual(await marks(), kept, 'after a service event');
    // A new attempt hides the reason; a new failure shows it again, closed.
    await row(page, 'broken').getByTestId('btn-load').click();
    await page.locator('[data-testid=toast][data-kind=error]', { hasText: 'Load broken failed' }).nth(1).waitFor({ timeout: T });
    await row(page, 'broken').and(page.locator('[data-state=failed]')).waitFor({ timeout: T });
    assert.match(await row(page, 'broken').getByTestId('model-error').textContent(), /bad magic/);
    assert.equal((await marks()).open, false, 'a new failure starts closed');
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('the playground keeps the token stream out of live regions and announces the finished answer once', TEST_OPTS, async () => {
  const s = await setup({ talker: { filters: { setParams: { n_chunks: 10, chunk_ms: 60 } } } });
  const { page } = s;
  try {
    // Nothing that holds the streamed text is a live region (role log/status/alert are live too).
    const liveAround = (sel) => page.evaluate((sel) => {
      const found = [];
      for (let e = document.querySelector(sel); e; e = e.parentElement) {
        if (e.hasAttribute('aria-live') || ['log', 'status', 'alert', 'marquee', 'timer'].includes(e.getAttribute('role'))) found.push(e.id || e.className);
      }
      return found;
    }, sel);
    assert.deepEqual(await liveAround('[data-testid=playground-stats]'), [], 'the per-chunk counter is not announced');
    const announce = page.getByTestId('playground-announce');
    assert.equal(await announce.getAttribute('aria-live'), 'polite');
    const said = await recordText(page, 'playground-announce');
    await page.getByTestId('playground-input').fill('count');
    await page.getByTestId('playground-send').click();
    await page.locator('[data-testid=playground-output] .msg.assistant .text', { hasText: 'c0 ' }).waitFor({ timeout: 60000 });
    assert.deepEqual(await liveAround('[data-testid=playground-output] .msg.assistant .text'), [], 'the streamed tokens are in a live region');
    await page.locator('[data-testid=playground-send]:enabled').waitFor({ timeout: 60000 });
    const want = Array.from({ length: 10 }, (_, i) => `c${i} `).join('');
    await waitFor(async () => (await announce.textContent()).includes(want), { timeout: T, what: 'the answer to be announced' });
    assert.match(await announce.textContent(), /^talker answered: /);
    // Announced whole, once: no partial answer ever reached the live region.
    const texts = (await said()).map((x) => x.text).filter((t) => t);
    assert.deepEqual(texts, [`talker answered: ${want}`]);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('logs: proxy lines appear live and the source filter narrows to one model', TEST_OPTS, async () => {
  const s = await setup({ alpha: {}, beta: {} });
  const { page, gg } = s;
  try {
    const view = page.getByTestId('log-view');
    const visibleSources = () => view.locator('.ln').evaluateAll((ls) => ls.filter((l) => !l.hidden).map((l) => l.dataset.source));
    // A request makes the proxy log a line the page did not have before.
    const before = await view.locator('.ln[data-source=proxy]').count();
    assert.equal((await chat(gg, 'alpha')).status, 200);
    await waitFor(async () => (await view.locator('.ln[data-source=proxy]').count()) > before, { timeout: T, what: 'a new proxy log line' });
    await view.locator('.ln[data-source=alpha]').first().waitFor({ timeout: T });
    assert.match(await view.locator('.ln[data-source=proxy]').allTextContents().then((a) => a.join('\n')), /alpha/);
    assert.equal((await chat(gg, 'beta')).status, 200);
    await view.locator('.ln[data-source=beta]').first().waitFor({ timeout: T });

    const filter = page.getByTestId('log-filter');
    assert.deepEqual(await filter.locator('option').evaluateAll((os) => os.map((o) => o.value)), ['', 'proxy', 'alpha', 'beta']);
    await filter.selectOption('alpha');
    let vis = await visibleSources();
    assert.ok(vis.length > 0, 'alpha has lines');
    assert.deepEqual([...new Set(vis)], ['alpha']);
    assert.equal(await view.locator('.ln[data-source=beta]').first().isHidden(), true);
    // Lines arriving while filtered obey the filter too.
    const n = await view.locator('.ln').count();
    assert.equal((await postJson(`${gg.url}/api/models/unload/beta`, {})).status, 200);
    await waitFor(async () => (await view.locator('.ln').count()) > n, { timeout: T, what: 'more log lines' });
    await sleep(200);
    assert.deepEqual([...new Set(await visibleSources())], ['alpha']);

    await filter.selectOption('proxy');
    vis = await visibleSources();
    assert.ok(vis.length > 0);
    assert.deepEqual([...new Set(vis)], ['proxy']);
    await filter.selectOption('');
    // One snapshot of the view: lines keep arriving, so two separate reads could disagree.
    const shown = await view.locator('.ln').evaluateAll((ls) => ({ all: ls.length, visible: ls.filter((l) => !l.hidden).length }));
    assert.ok(shown.all > 0);
    assert.equal(shown.visible, shown.all, 'with no filter every line shows');

    await page.getByTestId('log-clear').click();
    assert.equal(await view.locator('.ln').count(), 0);
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});

test('the page notices the daemon going away and comes back live when it returns', TEST_OPTS, async () => {
  const s = await setup({ alpha: {} });
  const { page, gg } = s;
  let gg2 = null;
  try {
    s.ui.allowFailedLoad('/api/events');
    assert.equal((await gg.stop('SIGTERM', 20000)).killed, false);
    await page.locator('[data-testid=connection][data-state=reconnecting]').waitFor({ timeout: T });
    // Buttons that need the daemon are off while it is away.
    for (const b of ['btn-start', 'btn-stop', 'btn-restart', 'btn-regenerate']) {
      await page.locator(`[data-testid=${b}]:disabled`).waitFor({ timeout: T });
    }
    assert.equal(await row(page, 'alpha').getByTestId('btn-load').isDisabled(), true);
    assert.notEqual(await page.getByTestId('service-state').getAttribute('data-state'), 'running');
    gg2 = await startGgswap({ configPath: gg.configPath, port: gg.port, token: s.token, timeout: 60000 });
    await page.locator('[data-testid=connection][data-state=live]').waitFor({ timeout: 60000 });
    await page.locator('[data-testid=service-state][data-state=running]').waitFor({ timeout: T });
    assert.equal(await row(page, 'alpha').getByTestId('btn-load').isEnabled(), true);
    assert.equal(await page.getByTestId('btn-stop').isEnabled(), true);
    // Only the refused reconnections may be in the console (the browser logs those itself).
    const errs = s.ui.consoleErrors().filter((e) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/.test(e));
    assert.deepEqual(errs, []);
  } finally {
    await s.finish();
    if (gg2) {
      assert.equal((await gg2.stop('SIGTERM', 20000)).killed, false);
      assert.deepEqual(gg2.sanitizerReports(), []);
    }
  }
});

test('screenshots for docs/: light and dark, 1366x800, some models with one ready', TEST_OPTS, async () => {
  const meta = (kind, parameters, quantization, size, context) => ({ kind, parameters, quantization, size, context });
  const s = await setup({
    'llama3.2:1b-instruct': { metadata: meta('chat', '1B', 'Q4_K_M', 807694464, 8192), aliases: ['gpt-3.5-turbo'], ttl: 300,
      filters: { setParams: { n_chunks: 14, chunk_ms: 20 } } },
    'qwen2.5:7b-instruct': { metadata: meta('chat', '7.6B', 'Q4_K_M', 4683073248, 32768), ttl: 600 },
    'gemma3:4b-vision': { metadata: meta('vision', '3.9B', 'Q4_0', 3155051328, 8192) },
    'nomic-embed-text:v1.5': { metadata: meta('embedding', '137M', 'F16', 274290656, 2048), aliases: ['text-embedding-3-small'] },
    'bge-reranker:v2-m3': { metadata: meta('reranker', '568M', 'Q8_0', 635613184, 8192) },
  });
  const { page, gg } = s;
  try {
    const id = 'llama3.2:1b-instruct';
    // An embedding first (models swap: it is unloaded again), then a chat that leaves its model ready.
    assert.equal((await postJson(`${gg.url}/v1/embeddings`, { model: 'text-embedding-3-small', input: 'hello' })).status, 200);
    await postJson(`${gg.url}/api/models/unload/nomic-embed-text:v1.5`, {});
    await row(page, 'nomic-embed-text:v1.5').and(page.locator('[data-state=stopped]')).waitFor({ timeout: T });
    await page.getByTestId('playground-model').selectOption(id);
    await page.getByTestId('playground-input').fill('Say hello in a few words.');
    await page.getByTestId('playground-send').click();
    await row(page, id).and(page.locator('[data-state=ready]')).waitFor({ timeout: 60000 });
    await page.locator('[data-testid=playground-send]:enabled').waitFor({ timeout: 60000 });
    await page.getByTestId('request-row').nth(1).waitFor({ timeout: T });
    assert.equal(await row(page, id).getAttribute('data-state'), 'ready');
    // Toasts come and go; keep them out of the pictures.
    await page.evaluate(() => document.getElementById('toasts').replaceChildren());
    await page.setViewportSize({ width: 1366, height: 800 });
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.evaluate(() => window.scrollTo(0, 0));
      await sleep(300);
      const file = path.join(DOCS, `screenshot-${scheme}.png`);
      await page.screenshot({ path: file, fullPage: false });
      const st = fs.statSync(file);
      assert.ok(st.size > 20000 && st.size < 300 * 1024, `${file} is ${st.size} bytes`);
      const png = fs.readFileSync(file);
      assert.equal(png.readUInt32BE(16), 1366);
      assert.equal(png.readUInt32BE(20), 800);
    }
    assertNoConsoleErrors(s.ui);
  } finally {
    await s.finish();
  }
});
