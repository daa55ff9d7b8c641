// Helpers for end-to-end tests against real llama-server processes: find (or fetch) a
// llama-server with scripts/get-llama-server, write tiny loadable models with ggswap-mkgguf, and
// start ggswap in integrated mode (its own home, models folder and settings.yaml) on them.
//
//   const ls = findLlamaServer();            // {path} or {reason} (why there is none)
//   const r = await startReal({ llamaServer: ls.path, models: { 'tiny-alpha-chat-f32.gguf': {} },
//                               settings: { startPort: 27100, ttl: 60 } });
//   ... r.gg.url, r.client (the official openai client), await r.running() ...
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startGgswap, tmpDir, toYaml, trackToken, getJson } from './harness.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// Defaults for running this file alone (`node --test e2e-real.test.mjs`); `make js-test` sets them.
process.env.GGSWAP_BIN ||= path.join(ROOT, 'build/asan/ggswap');
process.env.MKGGUF ||= path.join(ROOT, 'build/asan/ggswap-mkgguf');

// $GGSWAP_LLAMA_SERVER, else scripts/get-llama-server (quick when the binary is on $PATH or was
// fetched into .deps/ before; fetches it otherwise). Returns {path} or {reason}: one line saying
// why there is no llama-server, for the skip message.
export function findLlamaServer() {
  const env = process.env.GGSWAP_LLAMA_SERVER;
  if (env) {
    try {
      fs.accessSync(env, fs.constants.X_OK);
      return { path: env };
    } catch {
      return { reason: `GGSWAP_LLAMA_SERVER=${env} is not an executable file` };
    }
  }
  try {
    const out = execFileSync('sh', [path.join(ROOT, 'scripts/get-llama-server')], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600000,
    });
    const p = out.trim().split('\n').pop();
    if (p && fs.existsSync(p)) return { path: p };
    return { reason: `scripts/get-llama-server printed no usable path (${JSON.stringify(out.slice(-200))})` };
  } catch (e) {
    const err = String(e.stderr || e.message || e);
    const line = err.split('\n').find((l) => /FAILED/.test(l)) || err.trim().split('\n').pop();
    return { reason: `scripts/get-llama-server failed: ${line}` };
  }
}

// Write a tiny llama model that llama-server loads: {seed, embd, layers, ff}.
export function mkTiny(file, { seed = 1, embd, layers, ff, name } = {}) {
  const args = ['tiny', file, '--seed', String(seed)];
  if (name) args.push('--name', name);
  if (embd) args.push('--embd', String(embd));
  if (layers) args.push('--layers', String(layers));
  if (ff) args.push('--ff', String(ff));
  execFileSync(process.env.MKGGUF, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return file;
}

// A header-only GGUF (valid, listed by ggswap's scanner, refused by llama-server).
export function mkMeta(file, args = []) {
  execFileSync(process.env.MKGGUF, ['meta', file, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  return file;
}

// Start ggswap serve in integrated mode on a fresh home. `models` maps file names to mkTiny
// options (or to a function(file) that writes the file itself); `settings` is written as
// settings.yaml. Every llama-server it starts has the temporary folder on its command line, so
// the harness's cleanup kills any that outlive the test. Returns {gg, dir, home, modelsDir,
// client, running(), logs(), modelsByFile}.
export async function startReal({ llamaServer, models, settings = {}, args = [] }) {
  const dir = trackToken(tmpDir('ggswap-real-'));
  const home = path.join(dir, 'home');
  const modelsDir = path.join(dir, 'models');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(modelsDir, { recursive: true });
  for (const [file, o] of Object.entries(models)) {
    const full = path.join(modelsDir, file);
    if (typeof o === 'function') o(full);
    else mkTiny(full, o);
  }
  fs.writeFileSync(path.join(home, 'settings.yaml'), `# written by tests/js/lib/real.mjs${toYaml(settings)}\n`);
  const gg = await startGgswap({
    args: ['--home', home, '--models-dir', modelsDir, '--llama-server', llamaServer, ...args],
    env: { GGSWAP_HOME: home },
    timeout: 60000,
  });
  const client = new OpenAI({ baseURL: `${gg.url}/v1`, apiKey: 'no-key-needed', maxRetries: 0, timeout: 120000 });
  // {model: state} of the models that are not stopped (GET /running).
  const running = async () => {
    const r = await getJson(`${gg.url}/running`);
    if (r.status !== 200) throw new Error(`GET /running: ${r.status} ${r.text}`);
    return Object.fromEntries(r.json.running.map((m) => [m.model, m.state]));
  };
  const logs = async () => (await fetch(`${gg.url}/logs`)).text();
  return { gg, dir, home, modelsDir, client, running, logs };
}

// The part of GET /logs that is model `name`'s own output (llama-server's log lines).
export function modelLog(allLogs, name) {
  const head = `==== ${name} ====\n`;
  const i = allLogs.indexOf(head);
  if (i < 0) return '';
  const rest = allLogs.slice(i + head.length);
  const j = rest.indexOf('\n==== ');
  return j < 0 ? rest : rest.slice(0, j + 1);
}

// Assert that a stopped ggswap's output holds no sanitizer report; the message carries the
// whole report (stack traces included), so a failure says where.
export function assertNoSanitizerReports(gg, assert) {
  const out = gg.logs();
  const i = out.search(/==\d+==ERROR: \w+Sanitizer|runtime error:/);
  assert.deepEqual(gg.sanitizerReports(), [], i < 0 ? 'no sanitizer report' : `sanitizer report:\n${out.slice(Math.max(0, i - 2000), i + 12000)}`);
}
