// Toasts: short notes about what a button did, in a polite live region.
import { $, h } from './dom.js';

export function toast(kind, title, detail) {
  const box = $('toasts');
  const t = h('div', { class: `toast ${kind}`, 'data-testid': 'toast', 'data-kind': kind,
    role: kind === 'error' ? 'alert' : 'status' },
  h('div', { class: 'toast-body' }, h('strong', { text: title }), detail ? h('span', { text: detail }) : null),
  h('button', { type: 'button', class: 'toast-x', 'aria-label': 'Dismiss', text: '×', onclick: () => t.remove() }));
  box.append(t);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 15000 : 5000);
}
