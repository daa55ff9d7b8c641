// store.path (issue 11): the request activity is kept in SQLite across restarts (also a kill -9
// right after the requests), ids go on after the stored ones, a file that llama-swap wrote is
// read, and a file that is not a store stops ggswap at start-up with a message naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  registerCleanup, startGgswap, fakeModelYaml, uniqueToken, postJson, getJson, tmpDir, sleep,
} from './lib/harness.mjs';
import { finish } from './lib/checks.mjs';

registerCleanup();

const chat = (gg, model) => postJson(`${gg.url}/v1/chat/completions`, { model, messages: [] });
const requests = async (gg) => (await getJson(`${gg.url}/api/requests`)).json.requests;

function withStore(yaml, file) {
  return `${yaml}store:\n  path: ${JSON.stringify(file)}\n`;
}

test('the activity survives a restart and a kill -9; ids go on; the page gets it as history', async () => {
  const token = uniqueToken();
  const dir = tmpDir('ggswap-store-');
  const file = path.join(dir, 'activity.db');
  const cfg = withStore(await fakeModelYaml({ token, models: { a: { healthDelay: 200 }, b: {} } }), file);
  const configPath = path.join(dir, 'config.yaml');
  fs.writeFileSync(configPath, cfg);

  let gg = await startGgswap({ configPath, token });
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await chat(gg, 'a')).status, 200);
  assert.equal((await chat(gg, 'b')).status, 200);
  const before = await requests(gg);
  assert.equal(before.length, 3);
  assert.ok(before[0].load_ms >= 150, 'the first request started a');
  await finish(gg, token);
  assert.ok(fs.existsSync(file), 'the store file was created');

  gg = await startGgswap({ configPath, token });
  const after = await requests(gg);
  assert.deepEqual(after, before, 'the same records, every field, after the restart');
  assert.equal((await chat(gg, 'b')).status, 200);
  const more = await requests(gg);
  assert.equal(more.length, 4);
  assert.ok(more[3].id > before[2].id, `ids go on: ${more[3].id} after ${before[2].id}`);
  assert.equal(more[3].model, 'b');

  // The history a new /api/events client gets comes from the store too.
  const ac = new AbortController();
  const ev = await fetch(`${gg.url}/api/events`, { signal: ac.signal });
  const reader = ev.body.getReader();
  let text = '';
  const dec = new TextDecoder();
  while ((text.match(/event: request/g) || []).length < 4) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  ac.abort();
  assert.equal((text.match(/event: request/g) || []).length, 4, 'four request events as history');

  // Written as they end, in the thread pool, not at exit: a kill -9 keeps them.
  assert.equal((await chat(gg, 'a')).status, 200);
  await sleep(300);
  await gg.kill9();
  gg = await startGgswap({ configPath, token });
  const killed = await requests(gg);
  assert.equal(killed.length, 5, JSON.stringify(killed.map((r) => r.id)));
  assert.equal(killed[4].model, 'a');
  await finish(gg, token);
});

test('a store that llama-swap wrote is read; a file that is not a store is a start-up error naming it', async () => {
  const token = uniqueToken();
  const dir = tmpDir('ggswap-store-');
  const lsFile = path.join(dir, 'llama-swap.db');
  // The table as llama-swap's migration creates it (the sqlite3 command line tool).
  execFileSync('sqlite3', [lsFile, `
    CREATE TABLE activity (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_created INTEGER NOT NULL,
      model_id TEXT NOT NULL, req_path TEXT NOT NULL DEFAULT '', resp_content_type TEXT NOT NULL DEFAULT '',
      resp_status_code INTEGER NOT NULL DEFAULT 0, cache_tokens INTEGER NOT NULL DEFAULT 0,
      draft_tokens INTEGER NOT NULL DEFAULT 0, draft_acc_tokens INTEGER NOT NULL DEFAULT 0,
      input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
      prompt_per_second REAL NOT NULL DEFAULT 0, tokens_per_second REAL NOT NULL DEFAULT 0,
      duration_ms INTEGER NOT NULL DEFAULT 0, error_msg TEXT NOT NULL DEFAULT '',
      metadata_json TEXT NOT NULL DEFAULT '');
    INSERT INTO activity (ts_created, model_id, req_path, resp_status_code, output_tokens, duration_ms)
      VALUES (1700000000, 'qwen', '/v1/chat/completions', 200, 42, 850);`]);
  const base = await fakeModelYaml({ token, models: { a: {} } });
  let gg = await startGgswap({ config: withStore(base, lsFile), token });
  const reqs = await requests(gg);
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].model, 'qwen');
  assert.equal(reqs[0].tokens, 42);
  assert.equal(reqs[0].time, 1700000000000);
  // A reload that names a file that is not a store warns and keeps the one in force.
  const junk = path.join(dir, 'junk.db');
  fs.writeFileSync(junk, 'not a database\n'.repeat(200));
  fs.writeFileSync(gg.configPath, withStore(base, junk));
  gg.proc.kill('SIGHUP');
  await gg.waitLog(/reload: store.path .*junk\.db: not a usable activity store.*; keeping .*llama-swap\.db/);
  assert.equal((await chat(gg, 'a')).status, 200);
  // One that names a good new file: the requests from then on go there, ids still unique.
  const next = path.join(dir, 'next.db');
  fs.writeFileSync(gg.configPath, withStore(base, next));
  gg.proc.kill('SIGHUP');
  await gg.waitLog(`activity store ${next}`);
  await gg.waitLog(/reloaded /);
  assert.equal((await chat(gg, 'a')).status, 200);
  await finish(gg, token);
  assert.equal(execFileSync('sqlite3', [next, 'SELECT id, model_id FROM activity']).toString().trim(), '3|a',
    'the third request, in the new file');
  const rows = execFileSync('sqlite3', [lsFile, 'SELECT id, model_id, resp_status_code FROM activity ORDER BY id']).toString();
  assert.equal(rows.trim(), '1|qwen|200\n2|a|200', 'ours went into its table, after its row');

  await assert.rejects(startGgswap({ config: withStore(base, junk), token }), (e) => {
    assert.match(e.message, /"code":1/, 'exit status 1');
    assert.ok(e.message.includes(`store.path ${junk}`), e.message);
    assert.match(e.message, /not a database/);
    assert.match(e.message, /move it aside/);
    return true;
  });
  assert.equal(fs.readFileSync(junk, 'utf8'), 'not a database\n'.repeat(200), 'the file is left as it was');
});
