// A minimal WebSocket client (RFC 6455) over node:net, for the tunnel tests: Node 20 has no
// WebSocket server and only an experimental client, and the tests need control a library
// hides (pausing the socket, the raw answer of a refused upgrade).
//
//   const ws = await wsConnect(`${gg.url}/upstream/m/ws`, { headers: { Origin: 'http://x' } });
//   ws.status (101, or the refusal's status with ws.body), ws.headers (lower-case names)
//   ws.sendText('hi'); ws.sendBinary(buf); const m = await ws.next(); // { op, data: Buffer }
//   ws.pause(); ws.resume(); ws.close(); await ws.closed;
import net from 'node:net';
import crypto from 'node:crypto';

export function wsConnect(url, { headers = {}, timeout = 30000 } = {}) {
  const u = new URL(url);
  const key = crypto.randomBytes(16).toString('base64');
  const sock = net.connect(Number(u.port), u.hostname);
  const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Upgrade: websocket',
    'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  sock.write(`${lines.join('\r\n')}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let ws = null;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer to the upgrade of ${url} within ${timeout} ms`)); }, timeout);
    const closed = new Promise((r) => sock.on('close', r));
    sock.on('error', (e) => { if (!ws) { clearTimeout(timer); reject(e); } });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!ws) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(head[0].split(' ')[1]);
        const hdrs = {};
        for (const l of head.slice(1)) {
          const i = l.indexOf(':');
          hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        buf = buf.subarray(end + 4);
        clearTimeout(timer);
        ws = makeWs(sock, status, hdrs, key, closed);
        if (status !== 101) {
          // The refusal's body: what follows the head, until the connection ends.
          const chunks = [buf];
          sock.removeAllListeners('data');
          sock.on('data', (x) => chunks.push(x));
          sock.on('close', () => { ws.body = Buffer.concat(chunks).toString(); resolve(ws); });
          return;
        }
        resolve(ws);
      }
      if (ws && ws.status === 101) buf = ws._feed(buf);
    });
  });
}

function makeWs(sock, status, headers, key, closed) {
  const queue = [];
  const waiters = [];
  let ended = false;
  const push = (m) => { const w = waiters.shift(); if (w) w.resolve(m); else queue.push(m); };
  sock.on('close', () => { ended = true; for (const w of waiters.splice(0)) w.reject(new Error('websocket closed')); });
  const frame = (op, data) => {
    const mask = crypto.randomBytes(4);
    const n = data.length;
    const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n])
      : n < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 255])
        : Buffer.concat([Buffer.from([0x80 | op, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    const body = Buffer.from(data);
    for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
    return sock.write(Buffer.concat([head, mask, body]));
  };
  const expect = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return {
    status, headers, body: '', closed,
    acceptOk: headers['sec-websocket-accept'] === expect,
    bytes: 0, // payload bytes received
    _feed(buf) {
      for (;;) {
        if (buf.length < 2) return buf;
        let n = buf[1] & 0x7f;
        let hl = 2;
        if (n === 126) { if (buf.length < 4) return buf; n = buf.readUInt16BE(2); hl = 4; }
        else if (n === 127) { if (buf.length < 10) return buf; n = Number(buf.readBigUInt64BE(2)); hl = 10; }
        if (buf.length < hl + n) return buf;
        const op = buf[0] & 0x0f;
        const data = Buffer.from(buf.subarray(hl, hl + n));
        this.bytes += n;
        buf = buf.subarray(hl + n);
        push({ op, data, text: op === 1 ? data.toString() : undefined });
      }
    },
    sendText(s) { return frame(1, Buffer.from(s)); },
    sendBinary(b) { return frame(2, b); },
    sendClose(code = 1000) { const b = Buffer.alloc(2); b.writeUInt16BE(code); return frame(8, b); },
    ping(s = 'p') { return frame(9, Buffer.from(s)); },
    next(timeout = 15000) {
      if (queue.length) return Promise.resolve(queue.shift());
      if (ended) return Promise.reject(new Error('websocket closed'));
      return new Promise((resolve, reject) => {
        const w = { resolve: (m) => { clearTimeout(t); resolve(m); }, reject: (e) => { clearTimeout(t); reject(e); } };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); reject(new Error(`no websocket message within ${timeout} ms`)); }, timeout);
        waiters.push(w);
      });
    },
    get ended() { return ended; },
    pause() { sock.pause(); },
    resume() { sock.resume(); },
    destroy() { sock.destroy(); },
    close() { sock.end(); },
  };
}
