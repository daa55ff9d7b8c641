// Browser side of the page tests: Debian's chromium driven by playwright-core, headless, with a
// fresh profile per launch, and a page wrapper that collects console errors so every test can
// assert the page stayed clean.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { onCleanup } from './harness.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// One persistent context (playwright wants the profile folder as launchPersistentContext's
// argument, not as --user-data-dir), closed and its profile removed by the harness cleanup.
export async function launchBrowser({ viewport = { width: 1366, height: 800 } } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (scripts/deps.sh lists it)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ggswap-ui-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
    timeout: 60000,
  });
  ctx.setDefaultTimeout(20000);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  onCleanup(close);
  return { ctx, close, profile };
}

// Open `url` in a new page and collect console errors and uncaught exceptions.
// `expectedFailures` are substrings (or RegExps) of console errors a test causes on purpose
// (for example the 503 its own request gets); "Failed to load resource" lines are ignored only
// when the test says it caused one.
export async function openPage(ctx, url) {
  const page = await ctx.newPage();
  const errors = [];
  const allowed = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    errors.push({ text, url: msg.location()?.url || '' });
  });
  page.on('pageerror', (e) => errors.push({ text: `pageerror: ${e.message}\n${e.stack || ''}`, url: '' }));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  return {
    page,
    // The test is about to cause a failed load of a resource whose URL contains `frag`.
    allowFailedLoad(frag) { allowed.push(frag); },
    consoleErrors() {
      return errors.filter((e) => {
        if (/Failed to load resource/.test(e.text) && allowed.some((f) => e.url.includes(f) || e.text.includes(f))) return false;
        return true;
      }).map((e) => (e.url ? `${e.text} (${e.url})` : e.text));
    },
  };
}

// The page is connected to /api/events and shows the service.
export async function waitLive(page, timeout = 20000) {
  await page.locator('[data-testid=connection][data-state=live]').waitFor({ timeout });
  await page.locator('[data-testid=service-state][data-state=running]').waitFor({ timeout });
}

export function row(page, id) {
  return page.locator(`[data-testid=model-row][data-model="${id}"]`);
}

// Record every data-state a model's row shows, sampled on each DOM mutation inside the page
// (so a state held for a moment is not missed by polling). Returns the list so far.
export async function recordRowStates(page, id) {
  await page.evaluate((id) => {
    window.__rowStates = window.__rowStates || {};
    const seen = (window.__rowStates[id] = []);
    const note = () => {
      const tr = [...document.querySelectorAll('[data-testid=model-row]')].find((r) => r.dataset.model === id);
      const st = tr ? tr.querySelector('[data-testid=model-state]')?.dataset.state : 'absent';
      if (seen[seen.length - 1] !== st) seen.push(st);
    };
    note();
    new MutationObserver(note).observe(document.getElementById('models-body'), { subtree: true, childList: true, attributes: true });
  }, id);
  return () => page.evaluate((id) => window.__rowStates[id].slice(), id);
}

// Sample a locator's text on every mutation under it, with times; returns a getter.
export async function recordText(page, testid) {
  await page.evaluate((testid) => {
    const el = document.querySelector(`[data-testid=${testid}]`);
    const rec = (window.__text = window.__text || {})[testid] = [];
    const t0 = performance.now();
    const note = () => {
      const t = el.textContent;
      if (!rec.length || rec[rec.length - 1].text !== t) rec.push({ t: performance.now() - t0, text: t });
    };
    note();
    new MutationObserver(note).observe(el, { subtree: true, childList: true, characterData: true });
  }, testid);
  return () => page.evaluate((testid) => window.__text[testid].slice(), testid);
}
