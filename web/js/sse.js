// The one reader of server-sent events on the page: the live event stream (/api/events) and the
// playground's streamed answers (POST /v1/chat/completions) both go through readSSE, so both
// parse the format the same way (WHATWG "event stream interpretation").
//
//   for await (const ev of readSSE(response.body, meta)) { ev.event, ev.data, ev.id }
//
// Lines end with LF, CRLF or CR; `data:` lines of one event are joined with LF; lines starting
// with ':' are comments (the daemon's keep-alives, load progress); an event with no data is not
// dispatched. `retry:` and `id:` are kept in `meta` (meta.retry in ms, meta.lastId) for the
// caller's reconnection. Unlike the spec, an event cut off by the end of the stream (no blank
// line after it) is still delivered: some servers end their last event with the connection.
// Leaving the loop early (break, an exception) cancels the stream.

const LINE_END = /\r\n|\r|\n/;

export async function* readSSE(stream, meta = {}) {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let name = '', data = [], hasData = false;
  const take = () => {
    const ev = { event: name || 'message', data: data.join('\n'), id: meta.lastId ?? '' };
    name = ''; data = []; hasData = false;
    return ev;
  };
  // One line; returns an event when the line ends one.
  const line = (l) => {
    if (l === '') return hasData ? take() : ((name = ''), null);
    if (l.charCodeAt(0) === 58 /* ':' */) return null;
    const c = l.indexOf(':');
    const field = c < 0 ? l : l.slice(0, c);
    let val = c < 0 ? '' : l.slice(c + 1);
    if (val.charCodeAt(0) === 32) val = val.slice(1);
    if (field === 'data') { data.push(val); hasData = true; }
    else if (field === 'event') name = val;
    else if (field === 'id') { if (!val.includes('\0')) meta.lastId = val; }
    else if (field === 'retry') { if (/^\d+$/.test(val)) meta.retry = Number(val); }
    return null;
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? dec.decode() : dec.decode(value, { stream: true });
      for (;;) {
        const m = LINE_END.exec(buf);
        // A CR at the very end may be the first half of a CRLF: wait for the next bytes.
        if (!m || (!done && m[0] === '\r' && m.index === buf.length - 1)) break;
        const ev = line(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
        if (ev) yield ev;
      }
      if (done) break;
    }
    if (buf) { const ev = line(buf); buf = ''; if (ev) yield ev; }
    if (hasData) yield take();
  } finally {
    reader.cancel().catch(() => {});
  }
}
