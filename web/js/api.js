// JSON calls to the daemon's API, with errors turned into messages a person can act on.

export async function api(method, url) {
  let res;
  try {
    res = await fetch(url, { method, headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new Error(`cannot reach ggswap (${e.message || e})`);
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) throw new Error(`${errorText(body, text) || res.statusText} (HTTP ${res.status})`);
  if (body && body.ok === false) throw new Error(body.error?.message || body.message || 'failed');
  return body || {};
}

// The message of an OpenAI-shaped or plain error body.
export function errorText(body, text = '') {
  return body?.error?.message || body?.message || (typeof body?.error === 'string' ? body.error : '') ||
    String(text).trim().slice(0, 300);
}
