// The page's "Get models" panel in Debian's chromium, against a real daemon and the stand-in
// Hub: search, a repo's files with size and whether they fit, a pull with its progress bar to
// done (the model then appears), Cancel of a slow pull, deleting a model's file after the
// confirmation; the screenshot in docs/ (with GGSWAP_SCREENSHOTS=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGgswap, tmpDir, trackToken, registerCleanup, getJson, waitFor, env } from './lib/harness.mjs';
import { launchBrowser, openPage, waitLive } from './lib/ui-helpers.mjs';
import { startHub } from './lib/hub.mjs';
import { mkTiny } from './lib/real.mjs';

const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
  process.env.GGSWAP_SCREENSHOTS === '1' ? '../../docs' : '../../build');
const T = 30000;
let hub, gg, browser, modelsDir;

before(async () => {
  hub = await startHub();
  const dir = trackToken(tmpDir('ggswap-uidl-'));
  const home = path.join(dir, 'home');
  modelsDir = path.join(dir, 'models');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(modelsDir, { recursive: true });
  mkTiny(path.join(modelsDir, 'first-chat-f32.gguf'), { seed: 9 });
  gg = await startGgswap({
    args: ['--home', home, '--models-dir', modelsDir, '--llama-server', env('FAKE_UPSTREAM')],
    env: { GGSWAP_HOME: home, HF_ENDPOINT: hub.url, HF_TOKEN: '', GGSWAP_WATCH_DEBOUNCE_MS: '200' },
    timeout: 60000,
  });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); if (gg) await gg.stop(); await hub.close(); });
registerCleanup();

const ids = async () => (await getJson(`${gg.url}/api/service`)).json.models.map((m) => m.id);

test('search, files that fit, pull with progress, cancel, delete with confirmation', { timeout: 120000 }, async () => {
  const ui = await openPage(browser.ctx, `${gg.url}/ui/`);
  const { page } = ui;
  await waitLive(page, T);
  await page.locator('[data-testid=hub-search]').fill('GGUF');
  await page.locator('[data-testid=hub-search-go]').click();
  const repo = page.locator('[data-testid=hub-repo][data-repo="org/tiny-GGUF"]');
  await repo.waitFor({ timeout: T });
  assert.ok(await page.locator('[data-testid=hub-repo]').count() >= 5);
  await repo.locator('[data-testid=hub-repo-files]').click();
  const q8 = page.locator('[data-testid=hub-file][data-file="tiny-Q8_0.gguf"]');
  await q8.waitFor({ timeout: T });
  assert.equal(await q8.locator('[data-testid=hub-file-fits]').textContent(), 'fits');
  assert.match(await q8.textContent(), /141\.\d kB/);

  // a pull, slow enough to see its progress bar move
  hub.slowNext('org/tiny-GGUF', 'tiny-Q8_0.gguf', 3000);
  await q8.locator('[data-testid=hub-file-pull]').click();
  const dl = page.locator('[data-testid=download]').first();
  await page.locator('[data-testid=download][data-state=downloading]').waitFor({ timeout: T });
  await waitFor(async () => Number(await dl.locator('[data-testid=dl-progress]').getAttribute('value')) > 0, { timeout: T, what: 'progress' });
  await fs.promises.mkdir(DOCS, { recursive: true });
  await page.locator('[data-testid=downloads-card]').screenshot({ path: path.join(DOCS, 'screenshot-downloads.png') });
  await page.locator('[data-testid=download][data-state=done]').waitFor({ timeout: T });
  assert.equal(await dl.locator('[data-testid=dl-progress]').getAttribute('value'), '100');
  await waitFor(async () => (await ids()).length === 2, { timeout: 8000, what: 'the pulled model listed' });
  const fresh = (await ids()).find((m) => m !== 'first-chat');
  await page.locator(`[data-testid=model-row][data-model="${fresh}"]`).waitFor({ timeout: T });

  // Cancel
  await page.locator('[data-testid=hub-search]').fill('multi');
  await page.locator('[data-testid=hub-search-go]').click();
  await page.locator('[data-testid=hub-repo][data-repo="org/multi-GGUF"] [data-testid=hub-repo-files]').click();
  hub.slowNext('org/multi-GGUF', 'multi-F16.gguf', 6000);
  await page.locator('[data-testid=hub-file][data-file="multi-F16.gguf"] [data-testid=hub-file-pull]').click();
  const slow = page.locator('[data-testid=download][data-state=downloading]');
  await slow.waitFor({ timeout: T });
  await slow.locator('[data-testid=dl-cancel]').click();
  await page.locator('[data-testid=download][data-state=cancelled]').waitFor({ timeout: T });
  assert.ok(!fs.readdirSync(modelsDir).some((f) => f.startsWith('multi-')));

  // Delete a model's file: a dismissed confirmation keeps it, an accepted one deletes it
  const del = page.locator(`[data-testid=local-model][data-model="${fresh}"] [data-testid=model-delete-file]`);
  await del.waitFor({ timeout: T });
  page.once('dialog', (d) => d.dismiss());
  await del.click();
  await page.waitForTimeout(300);
  assert.ok(fs.existsSync(path.join(modelsDir, 'tiny-Q8_0.gguf')));
  page.once('dialog', (d) => d.accept());
  await del.click();
  await waitFor(() => !fs.existsSync(path.join(modelsDir, 'tiny-Q8_0.gguf')), { timeout: T, what: 'file deleted' });
  await page.locator(`[data-testid=model-row][data-model="${fresh}"]`).waitFor({ state: 'detached', timeout: T });
  assert.deepEqual(ui.consoleErrors(), []);
  await page.close();
});
