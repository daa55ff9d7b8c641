// A stand-in for the Hugging Face Hub, over real HTTP, for `ggswap pull` and the download page.
//
//   const hub = await startHub();            // tiny real models made with ggswap-mkgguf
//   hub.url                                   // for HF_ENDPOINT
//   hub.cutNext('org/tiny-GGUF', 'tiny-Q8_0.gguf')   // the next transfer of that file breaks halfway
//   hub.requests                              // [{method, url, range, auth, port}] as they came
//   await hub.close();
//
// What it serves, the way the Hub does (the parts ggswap uses):
// - GET /api/models/<org>/<repo>/tree/<rev>[?recursive=true]: the file list, LFS files with
//   {"lfs":{"oid":<sha256>,"size":N}}; unknown repos 404 with X-Error-Code: RepoNotFound; gated
//   repos 401 with X-Error-Code: GatedRepo unless `Authorization: Bearer <token>` is right.
// - GET /<org>/<repo>/resolve/<rev>/<path>: 302 to a second "CDN" server on another port, with
//   X-Linked-Etag (the sha256) and X-Linked-Size, as the Hub answers for LFS files; unknown files
//   404 with X-Error-Code: EntryNotFound.
// - The CDN: the bytes, with Range (206 + Content-Range), and the faults a test asks for: a cut
//   halfway (the socket is destroyed), a stall (half, then silence), a wrong byte.
// - GET /api/models?search=<q>: [{id, downloads, likes, ...}] of matching repos.
// - Repo "org/limited-GGUF" answers 429 (rate limit).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { tmpDir, env } from './harness.mjs';

export const HUB_TOKEN = 'hf_test_token_123';

function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

function tiny(dir, name, seed, embd = 32) {
  const out = path.join(dir, name);
  execFileSync(env('MKGGUF'), ['tiny', out, '--seed', String(seed), '--embd', String(embd), '--layers', '1', '--name', name.replace(/\.gguf$/, '')],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  return fs.readFileSync(out);
}

function meta(dir, name, args) {
  const out = path.join(dir, name);
  execFileSync(env('MKGGUF'), ['meta', out, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  return fs.readFileSync(out);
}

// The default repos: name -> {gated, files: {path: Buffer}}.
export function defaultRepos() {
  const d = tmpDir('ggswap-hub-');
  const q8 = tiny(d, 'tiny-Q8_0.gguf', 1);
  const q4 = tiny(d, 'tiny-Q4_K_M.gguf', 2);
  const big = tiny(d, 'big-F16.gguf', 3, 64);
  const third = Math.ceil(big.length / 3);
  return {
    'org/tiny-GGUF': { files: { 'tiny-Q8_0.gguf': q8, 'tiny-Q4_K_M.gguf': q4, 'README.md': Buffer.from('# tiny\n') } },
    'org/gated-GGUF': { gated: true, files: { 'gated-Q4_K_M.gguf': tiny(d, 'gated-Q4_K_M.gguf', 4) } },
    'org/multi-GGUF': { files: { 'multi-Q8_0.gguf': tiny(d, 'multi-Q8_0.gguf', 5), 'multi-F16.gguf': tiny(d, 'multi-F16.gguf', 6) } },
    'org/vision-GGUF': {
      files: {
        'vision-Q4_K_M.gguf': tiny(d, 'vision-Q4_K_M.gguf', 7),
        'mmproj-vision-f16.gguf': meta(d, 'mmproj-vision-f16.gguf', ['--arch', 'clip', '--name', 'vision projector']),
        'mmproj-vision-Q8_0.gguf': meta(d, 'mmproj-vision-Q8_0.gguf', ['--arch', 'clip', '--name', 'vision projector q8']),
      },
    },
    'org/split-GGUF': {
      files: {
        'big-F16-00001-of-00003.gguf': big.subarray(0, third),
        'big-F16-00002-of-00003.gguf': big.subarray(third, 2 * third),
        'big-F16-00003-of-00003.gguf': big.subarray(2 * third),
      },
    },
    'org/badhash-GGUF': { files: { 'bad-Q8_0.gguf': tiny(d, 'bad-Q8_0.gguf', 8) }, wrongHash: true },
    'org/limited-GGUF': { files: { 'l-Q4_K_M.gguf': Buffer.from('x') }, limited: true },
  };
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

export async function startHub({ repos = defaultRepos(), token = HUB_TOKEN } = {}) {
  const requests = [];
  const faults = new Map(); // "repo/path" -> [{kind: 'cut'|'stall'|'corrupt'}]
  const blobs = new Map();  // sha -> Buffer
  const entries = {};
  for (const [name, r] of Object.entries(repos)) {
    entries[name] = {};
    for (const [p, buf] of Object.entries(r.files)) {
      const oid = sha256(buf);
      blobs.set(oid, buf);
      // A wrong hash: the Hub lists (and links) a sha256 the bytes do not have.
      const listed = r.wrongHash ? sha256(Buffer.concat([buf, Buffer.from('x')])) : oid;
      entries[name][p] = { buf, oid, listed, lfs: p.endsWith('.gguf') };
    }
  }
  const sockets = new Set();
  const track = (srv) => srv.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  const authOk = (req) => req.headers.authorization === `Bearer ${token}`;
  const jsonErr = (res, status, code, message) => {
    res.writeHead(status, { 'content-type': 'application/json', ...(code ? { 'x-error-code': code } : {}) });
    res.end(JSON.stringify({ error: message }));
  };

  let cdnPort = 0;
  const hub = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    requests.push({ port: 'hub', method: req.method, url: req.url, range: req.headers.range, auth: req.headers.authorization });
    let m;
    if (u.pathname === '/api/models') {
      const q = (u.searchParams.get('search') || '').toLowerCase();
      const out = Object.keys(repos).filter((n) => n.toLowerCase().includes(q))
        .map((id, i) => ({ id, downloads: 1000 - i, likes: 10 + i, tags: ['gguf'], private: false }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
      return;
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)\/?$/.exec(u.pathname))) {
      const name = decodeURIComponent(m[1]);
      const r = repos[name];
      if (!r) return jsonErr(res, 404, 'RepoNotFound', 'Repository not found');
      if (r.limited) { res.writeHead(429, { 'retry-after': '60' }); res.end('rate limited'); return; }
      if (r.gated && !authOk(req)) return jsonErr(res, 401, 'GatedRepo', `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      const list = Object.entries(entries[name]).map(([p, e]) => (e.lfs
        ? { type: 'file', oid: e.oid.slice(0, 40), size: e.buf.length, path: p, lfs: { oid: e.listed, size: e.buf.length, pointerSize: 134 } }
        : { type: 'file', oid: e.oid.slice(0, 40), size: e.buf.length, path: p }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(list));
      return;
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(u.pathname))) {
      const name = decodeURIComponent(m[1]);
      const p = decodeURIComponent(m[3]);
      const r = repos[name];
      if (!r) return jsonErr(res, 404, 'RepoNotFound', 'Repository not found');
      if (r.gated && !authOk(req)) return jsonErr(res, 401, 'GatedRepo', 'Access restricted');
      const e = entries[name][p];
      if (!e) return jsonErr(res, 404, 'EntryNotFound', `${p} does not exist`);
      res.writeHead(302, {
        location: `http://127.0.0.1:${cdnPort}/blobs/${e.oid}?repo=${encodeURIComponent(name)}&path=${encodeURIComponent(p)}`,
        'x-linked-etag': `"${e.listed}"`,
        'x-linked-size': String(e.buf.length),
        'content-length': '0',
      });
      res.end();
      return;
    }
    jsonErr(res, 404, null, `no route ${req.url}`);
  });

  const cdn = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    requests.push({ port: 'cdn', method: req.method, url: req.url, range: req.headers.range, auth: req.headers.authorization });
    const m = /^\/blobs\/([0-9a-f]{64})(\/[^/]+\.gguf)?$/.exec(u.pathname);
    const buf = m && blobs.get(m[1]);
    if (!buf) { res.writeHead(404); res.end('no such blob'); return; }
    const key = `${u.searchParams.get('repo')}/${u.searchParams.get('path')}`;
    const fault = (faults.get(key) || []).shift();
    let start = 0;
    const rm = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    if (rm) start = Number(rm[1]);
    if (start > buf.length || (rm && start === buf.length)) {
      res.writeHead(416, { 'content-range': `bytes */${buf.length}` });
      res.end();
      return;
    }
    const body = buf.subarray(start);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'accept-ranges': 'bytes' };
    if (rm) headers['content-range'] = `bytes ${start}-${buf.length - 1}/${buf.length}`;
    res.writeHead(rm ? 206 : 200, headers);
    if (fault && (fault.kind === 'cut' || fault.kind === 'stall')) {
      const half = Math.floor(body.length / 2);
      res.write(body.subarray(0, half), () => {
        if (fault.kind === 'cut') setTimeout(() => req.socket.destroy(), 50);
        // a stall: nothing more, the socket stays open until the client gives up
      });
      return;
    }
    if (fault && fault.kind === 'slow') {
      // in 20 pieces over fault.ms: for progress output and for the page's progress bar
      const n = 20, step = Math.ceil(body.length / n);
      let i = 0;
      const tick = () => {
        if (req.socket.destroyed) return;
        if (i >= n) { res.end(); return; }
        res.write(body.subarray(i * step, (i + 1) * step));
        i++;
        setTimeout(tick, fault.ms / n);
      };
      tick();
      return;
    }
    res.end(body);
  });

  track(hub);
  track(cdn);
  const port = await listen(hub);
  cdnPort = await listen(cdn);
  const addFault = (repo, p, f) => {
    const k = `${repo}/${p}`;
    if (!faults.has(k)) faults.set(k, []);
    faults.get(k).push(f);
  };
  return {
    url: `http://127.0.0.1:${port}`,
    cdnUrl: `http://127.0.0.1:${cdnPort}`,
    requests,
    entries,
    file: (repo, p) => entries[repo][p].buf,
    cutNext: (repo, p) => addFault(repo, p, { kind: 'cut' }),
    stallNext: (repo, p) => addFault(repo, p, { kind: 'stall' }),
    slowNext: (repo, p, ms = 2000) => addFault(repo, p, { kind: 'slow', ms }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => hub.close(r)), new Promise((r) => cdn.close(r))]);
    },
  };
}
