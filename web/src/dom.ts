/** A tiny DOM builder. Text always goes in as text (never HTML): device ids and reasons are untrusted. */

export type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's content. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A text badge; the words carry the meaning, the colour only repeats it. */
export function badge(text: string, kind: string, title?: string): HTMLSpanElement {
  return h('span', { class: `badge badge-${kind}`, title: title ?? null }, text);
}

/** Runs `fn` at most once per animation frame however often it is asked for. */
export function coalesce(fn: () => void): () => void {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

/** A data table: column headings (`null` ones left out) and the body (usually one `tbody`). */
export function dataTable(
  columns: readonly (string | null)[],
  body: (Child | Child[])[],
  className = 'data',
): HTMLDivElement {
  const headings = columns.filter((t): t is string => t !== null).map((t) => h('th', { scope: 'col' }, t));
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', { class: className }, h('thead', null, h('tr', null, headings)), ...body),
  );
}
