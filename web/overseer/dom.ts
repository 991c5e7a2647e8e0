// Building the page: elements made with their text as text nodes (never parsed as HTML), so
// whatever a job carries is shown literally.

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's content. */
export function fill(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

/** A link to a dashboard route; each part is URL-encoded. */
export function link(text: Child, ...parts: string[]): HTMLAnchorElement {
  return h('a', { href: route(...parts) }, text);
}

export function route(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

/** A table with a header row; `empty` shown in one cell when there are no rows. */
export function table(headers: string[], rows: Child[][], empty = 'none'): HTMLTableElement {
  return h(
    'table',
    null,
    h('thead', null, h('tr', null, headers.map((t) => h('th', null, t)))),
    h('tbody', null, rows.length === 0 ? h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, empty)) : rows.map((r) => h('tr', null, r.map((c) => h('td', null, c))))),
  );
}

/** Pretty JSON as text in a <pre>. */
export function jsonBlock(value: unknown, className = 'json'): HTMLPreElement {
  return h('pre', { class: className }, value === undefined ? '—' : JSON.stringify(value, null, 2));
}

export function notice(text: string, kind: 'error' | 'ok' | 'info' = 'info'): HTMLParagraphElement {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}
