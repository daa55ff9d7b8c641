// DOM helpers shared by every panel: element lookup, element building, and patching in place.
// Panels never rebuild what did not change: a cell's content is rebuilt only when its key (the
// figures it shows) changed, so focus, selection and an opened <details> survive updates.

export const $ = (id) => document.getElementById(id);

// h('td', { class: 'num', text: '3' }, child...): attributes, `text`, and on<event> listeners.
// No `style` attribute: the page runs under a CSP without 'unsafe-inline' (use classes, or
// el.style.x from script, which the CSP allows).
export function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

// Set an element's text only when it differs (no mutation, no re-announcement, no reflow).
export function setText(el, text) {
  text = String(text);
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el, name, value) {
  if (value == null || value === false) { if (el.hasAttribute(name)) el.removeAttribute(name); return; }
  const v = value === true ? '' : String(value);
  if (el.getAttribute(name) !== v) el.setAttribute(name, v);
}

// Rebuild el's children with build() only when `key` differs from the last one it was built for.
// Returns true when it rebuilt.
export function patch(el, key, build) {
  if (el._key === key) return false;
  el._key = key;
  const kids = build();
  el.replaceChildren(...(Array.isArray(kids) ? kids : [kids]).filter((k) => k != null));
  return true;
}

// A table whose columns are addressed by key: columns = [{ key, label, class }]. Each row gets
// tr.td[key]; keyOf(row) names rows (data attribute `attr`) so updates find and patch them.
export class KeyedTable {
  constructor(tbody, { columns, attr, testid, rowClass }) {
    this.body = tbody;
    this.columns = columns;
    this.attr = attr;
    this.testid = testid;
    this.rowClass = rowClass;
    this.rows = new Map();
  }

  get(key) { return this.rows.get(String(key)) || null; }

  // The row for key, created (detached) when missing; `fresh` says it was just made.
  ensure(key) {
    key = String(key);
    let tr = this.rows.get(key);
    if (tr) return { tr, fresh: false };
    tr = h('tr', { class: this.rowClass, 'data-testid': this.testid });
    tr.dataset[this.attr] = key;
    tr.td = {};
    for (const c of this.columns) {
      const td = h('td', { class: c.class, 'data-label': c.label });
      tr.td[c.key] = td;
      tr.append(td);
    }
    this.rows.set(key, tr);
    return { tr, fresh: true };
  }

  remove(key) {
    key = String(key);
    const tr = this.rows.get(key);
    if (tr) { tr.remove(); this.rows.delete(key); }
  }

  clear() {
    this.body.replaceChildren();
    this.rows.clear();
  }

  // Keep only `keys`, in that order, moving rows only when they are out of place.
  order(keys) {
    const want = new Set(keys.map(String));
    for (const k of [...this.rows.keys()]) if (!want.has(k)) this.remove(k);
    let prev = null;
    for (const k of keys) {
      const tr = this.rows.get(String(k));
      if (!tr) continue;
      const at = prev ? prev.nextSibling : this.body.firstChild;
      if (at !== tr) this.body.insertBefore(tr, at);
      prev = tr;
    }
  }

  get size() { return this.rows.size; }
}
