// Helpers of the status page. Everything that came from a remote server (banners, certificate
// names) reaches the document as text nodes or attribute values, never as markup: there is no
// HTML parsing of strings anywhere in this page.

/** An element with attributes and children; strings become text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const RANK = { critical: 0, unknown: 1, warning: 2, ok: 3, pending: 4 };

/** Status as a word and a colour: it reads without colour too. */
export function badge(status) {
  return el('span', { class: `st st-${status}` }, status.toUpperCase());
}

export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A time as "5 min ago", with the exact time on hover and for screen readers' details. */
export function when(iso) {
  return iso ? el('time', { datetime: iso, title: iso }, ago(iso)) : el('span', { class: 'muted' }, 'never');
}

export const unique = (items) => [...new Set(items)];

/** Reason codes of a result, the target's and every address's, once each. */
export function reasonCodes(result) {
  return unique([...result.reasons, ...result.addresses.flatMap((a) => a.reasons)].map((r) => r.code));
}

const CMDLET = /\b(?:Get|Set|Enable|Restart|New|Import|Remove)-[A-Z][A-Za-z]+/g;

/**
 * The PowerShell commands inside a remediation hint, so that each gets a copy button. A command
 * runs from its cmdlet to the closing parenthesis, the end of the sentence, or the first bare
 * lowercase word outside quotes and braces (the prose resuming).
 */
export function commands(text) {
  const out = [];
  CMDLET.lastIndex = 0;
  let m;
  while ((m = CMDLET.exec(text))) {
    let end = text.length;
    let quote = null;
    let depth = 0;
    for (let i = m.index + m[0].length; i < text.length; i++) {
      const c = text[i];
      if (quote) {
        if (c === quote) quote = null;
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === '{') {
        depth++;
      } else if (c === '}') {
        depth--;
      } else if (depth === 0) {
        const next = text[i + 1];
        if (c === '(' || c === ')' || (/[.,;]/.test(c) && (next === undefined || next === ' ')) || (c === ' ' && next !== undefined && /[a-z]/.test(next))) {
          end = i;
          break;
        }
      }
    }
    out.push(text.slice(m.index, end).trim());
    CMDLET.lastIndex = end;
  }
  return out;
}

/** A command shown as code with a copy button (the clipboard API where allowed, else a selection copy). */
export function copyable(command) {
  const code = el('code', {}, command);
  const button = el('button', { type: 'button', class: 'copy', 'aria-label': `Copy: ${command.slice(0, 60)}` }, 'Copy');
  button.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(command);
      ok = true;
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      ok = document.execCommand('copy');
    }
    button.textContent = ok ? 'Copied' : 'Select and copy';
    setTimeout(() => (button.textContent = 'Copy'), 2000);
  });
  return el('div', { class: 'cmd' }, code, button);
}

/** GET (or a /probe) against the JSON API, relative to the page: works under a path prefix. */
export async function api(path, headers = {}) {
  const response = await fetch(path, { headers: { accept: 'application/json', ...headers }, cache: 'no-store' });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { message: `HTTP ${response.status} without a JSON body` };
  }
  return { status: response.status, ok: response.ok, body };
}

/** A definition list of label/value pairs, skipping empty values. */
export function facts(rows) {
  const dl = el('dl', { class: 'facts' });
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    dl.append(el('dt', {}, label), el('dd', {}, value));
  }
  return dl;
}
