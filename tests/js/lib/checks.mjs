// Checks the proxy test files share: the /running view, start counts from the log, and the
// end of a test (ggswap stops on SIGTERM, no sanitizer report, no child left).
import assert from 'node:assert/strict';
import { getJson, waitNoProcesses } from './harness.mjs';

export async function running(gg) {
  const r = await getJson(`${gg.url}/running`);
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.running.map((m) => [m.model, m.state]));
}

export function starts(gg, model) {
  return gg.logs().split('\n').filter((l) => l.includes(`model ${model}: started pid`)).length;
}

export async function finish(gg, token) {
  const st = await gg.stop('SIGTERM', 15000);
  assert.equal(st.killed, false, 'ggswap stops on SIGTERM');
  assert.deepEqual(gg.sanitizerReports(), [], 'no sanitizer report from ggswap');
  if (token) await waitNoProcesses(token, 8000);
}
