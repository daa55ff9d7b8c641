// The playground: a chat with one model through POST /v1/chat/completions, streamed and read
// with the page's one SSE reader (sse.js). The conversation box is not a live region: a screen
// reader would announce every token. The finished answer (or the error, or "Stopped.") is
// announced once, through the visually hidden #pg-announce.
import { $, h, setText } from './dom.js';
import { errorText } from './api.js';
import { toast } from './toast.js';
import { S, watch, effState, CHAT_KINDS, findModel } from './state.js';
import { readSSE } from './sse.js';

const PG = { history: [], ctrl: null };

function renderModels() {
  const sel = $('pg-model');
  const cur = sel.value;
  const chat = S.models.filter((m) => !m.kind || CHAT_KINDS.has(m.kind));
  const other = S.models.filter((m) => m.kind && !CHAT_KINDS.has(m.kind));
  const key = S.models.map((m) => `${m.id}|${m.kind}`).join('\n');
  if (sel._key !== key) {
    sel._key = key;
    const opt = (m) => h('option', { value: m.id, text: m.id });
    const kids = [];
    if (chat.length) kids.push(h('optgroup', { label: 'Chat' }, ...chat.map(opt)));
    if (other.length) kids.push(h('optgroup', { label: 'Not for chat' }, ...other.map(opt)));
    if (!kids.length) kids.push(h('option', { value: '', text: 'no models' }));
    sel.replaceChildren(...kids);
    const ids = S.models.map((m) => m.id);
    const best = chat.find((m) => effState(m) === 'ready') || chat[0] || other[0];
    sel.value = ids.includes(cur) ? cur : best ? best.id : '';
  }
  markStates();
}

function markStates() {
  for (const o of $('pg-model').querySelectorAll('option[value]')) {
    const m = findModel(o.value);
    if (!m) continue;
    setText(o, effState(m) === 'ready' ? `${m.id} (loaded)` : m.id);
  }
}

function bubble(role, text) {
  const out = $('pg-out');
  $('pg-hint')?.remove();
  const b = h('div', { class: `msg ${role}`, 'data-role': role },
    h('div', { class: 'who', text: role === 'user' ? 'You' : role === 'assistant' ? $('pg-model').value : 'Error' }),
    h('div', { class: 'text', text: text || '' }));
  out.append(b);
  out.scrollTop = out.scrollHeight;
  return b;
}

function busy(on) {
  $('pg-send').disabled = on;
  $('pg-send').textContent = on ? 'Sending…' : 'Send';
  $('pg-stop').disabled = !on;
  $('pg-model').disabled = on;
}

// Say it once to assistive technology (the streamed tokens were not).
function announce(text) {
  const a = $('pg-announce');
  a.textContent = '';
  // A new text node in a cleared region is announced even when the text repeats.
  setTimeout(() => { a.textContent = text; }, 50);
}

// One streamed (or, from a server that ignored stream:true, whole) answer; calls onDelta for
// each piece and returns { timings, usage }.
async function readAnswer(res, onDelta) {
  const ctype = res.headers.get('content-type') || '';
  if (!ctype.includes('text/event-stream')) {
    const j = await res.json();
    if (j.error) throw new Error(j.error.message || 'error');
    onDelta({ content: j.choices?.[0]?.message?.content || '' });
    return { usage: j.usage };
  }
  let timings = null, usage = null;
  for await (const ev of readSSE(res.body)) {
    if (ev.data.trim() === '[DONE]') break;
    let j;
    try { j = JSON.parse(ev.data); } catch {
      if (ev.event === 'error') throw new Error(ev.data);
      continue;
    }
    if (ev.event === 'error' || j.error) {
      const e = j.error;
      throw new Error((typeof e === 'string' ? e : e?.message) || j.message || 'the model reported an error');
    }
    if (j.timings) timings = j.timings;
    if (j.usage) usage = j.usage;
    onDelta(j.choices?.[0]?.delta || {});
  }
  return { timings, usage };
}

async function send() {
  const input = $('pg-input');
  const text = input.value.trim();
  const model = $('pg-model').value;
  if (!text || PG.ctrl) return;
  if (!model) { toast('error', 'No model to talk to', 'Add a model first (see Models).'); return; }
  input.value = '';
  bubble('user', text);
  PG.history.push({ role: 'user', content: text });
  const b = bubble('assistant', '');
  b.classList.add('streaming');
  const textEl = b.querySelector('.text');
  let thinkEl = null;
  const ctrl = new AbortController();
  PG.ctrl = ctrl;
  busy(true);
  const stats = $('pg-stats');
  stats.textContent = 'Waiting for the model (it is loaded on first use)…';
  const t0 = performance.now();
  let first = 0, chunks = 0, answer = '';
  const out = $('pg-out');
  const append = (s) => {
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 30;
    textEl.append(s);
    if (atEnd) out.scrollTop = out.scrollHeight;
  };
  const onDelta = (delta) => {
    const reasoning = delta.reasoning_content || delta.reasoning;
    if (reasoning) {
      if (!thinkEl) {
        thinkEl = h('details', { class: 'think' }, h('summary', { text: 'Thinking' }), h('div', { class: 'think-text' }));
        b.insertBefore(thinkEl, textEl);
      }
      thinkEl.lastElementChild.append(reasoning);
    }
    if (delta.content) {
      if (!first) first = performance.now();
      chunks++;
      answer += delta.content;
      append(delta.content);
      stats.textContent = `${chunks} chunks…`;
    }
  };
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST', signal: ctrl.signal,
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ model, messages: PG.history, stream: true }),
    });
    if (!res.ok) {
      const t = await res.text();
      let j = null;
      try { j = JSON.parse(t); } catch { /* keep the text */ }
      throw new Error(`${errorText(j, t.slice(0, 500)) || res.statusText} (HTTP ${res.status})`);
    }
    const { timings, usage } = await readAnswer(res, onDelta);
    PG.history.push({ role: 'assistant', content: answer });
    const secs = (performance.now() - t0) / 1000;
    const n = timings?.predicted_n ?? usage?.completion_tokens ?? chunks;
    const tps = timings?.predicted_per_second ?? (first && chunks > 1 ? chunks / ((performance.now() - first) / 1000) : null);
    stats.textContent = `${n} tokens in ${secs.toFixed(1)} s${tps ? ` · ${tps.toFixed(1)} tok/s` : ''}${first ? ` · first token after ${((first - t0) / 1000).toFixed(1)} s` : ''}`;
    if (!answer) textEl.append(h('span', { class: 'muted', text: '(empty answer)' }));
    announce(`${model} answered: ${answer || '(empty answer)'}`);
  } catch (e) {
    if (e.name === 'AbortError') {
      textEl.append(h('span', { class: 'muted', text: answer ? ' [stopped]' : '[stopped]' }));
      if (answer) PG.history.push({ role: 'assistant', content: answer });
      else PG.history.pop();
      stats.textContent = 'Stopped.';
      announce(answer ? `Stopped. ${model} had answered: ${answer}` : 'Stopped.');
    } else {
      if (answer) PG.history.push({ role: 'assistant', content: answer });
      else { PG.history.pop(); b.remove(); }
      const eb = bubble('error', e.message || String(e));
      eb.setAttribute('data-testid', 'playground-error');
      stats.textContent = '';
      announce(`Error: ${e.message || e}`);
    }
  } finally {
    b.classList.remove('streaming');
    PG.ctrl = null;
    busy(false);
    input.focus();
  }
}

export function init() {
  $('pg-form').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('pg-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  $('pg-stop').addEventListener('click', () => PG.ctrl?.abort());
  $('pg-clear').addEventListener('click', () => {
    PG.ctrl?.abort();
    PG.history = [];
    $('pg-out').replaceChildren();
    $('pg-stats').textContent = '';
  });
  watch('service', renderModels);
  watch('model', markStates);
}
