// scripts/check-shape: the source rules it enforces, on small made-up src/ folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const script = new URL('../../scripts/check-shape', import.meta.url).pathname;

function check(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shape-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { code: r.status, out: r.stdout + r.stderr };
}

const fn = (name, body) => `int ${name}(int x)\n{\n${'    x++;\n'.repeat(body)}    return x;\n}\n`;

test('the real src/ passes', () => {
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /0 problems/);
});

test('a function over 150 lines is named with its file:line and size', () => {
  const ok = check({ 'a.c': fn('short_one', 148), 'a.h': '' });
  assert.equal(ok.code, 0, ok.out);
  const bad = check({ 'a.c': '#include "a.h"\n\n' + fn('short_one', 10) + '\n' + fn('long_one', 150) });
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /src\/a\.c:\d+: long_one is 152 lines \(at most 150\)/);
  assert.doesNotMatch(bad.out, /short_one/);
});

test('a file over 1,200 lines fails', () => {
  const r = check({ 'big.c': '/* x */\n'.repeat(1201) });
  assert.equal(r.code, 1);
  assert.match(r.out, /src\/big\.c: 1201 lines \(at most 1200\)/);
});

test('a header that pulls in a module including it back is a cycle; .c files calling each other are not', () => {
  const mutual = check({
    'server.h': '', 'server.c': '#include "server.h"\n#include "api.h"\n',
    'api.h': '', 'api.c': '#include "api.h"\n#include "server.h"\n',
  });
  assert.equal(mutual.code, 0, mutual.out);
  const cyc = check({
    'server.h': '#include "api.h"\n', 'server.c': '#include "server.h"\n',
    'api.h': '', 'api.c': '#include "api.h"\n#include "server.h"\n',
  });
  assert.equal(cyc.code, 1, cyc.out);
  assert.match(cyc.out, /include cycle api <-> server: src\/server\.h:1 includes api\.h, src\/api\.c:2 includes server\.h/);
  const viaHeaders = check({ 'a.h': '#include "b.h"\n', 'b.h': '#include "c.h"\n', 'c.h': '#include "a.h"\n' });
  assert.equal(viaHeaders.code, 1);
  assert.match(viaHeaders.out, /include cycle a <-> b <-> c/);
});
