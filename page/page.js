// The status page: an overview of every configured target, one target in detail (#target=NAME),
// and an on-demand probe (#probe). Renders from the JSON API with relative URLs.
import { api, badge, el, RANK, reasonCodes, unique, when } from './dom.js';
import { renderResult, renderSightings, renderTimeline } from './render.js';

const REFRESH_MS = 15_000;
const $ = (id) => document.getElementById(id);
/** The /probe token, when the service asks for one: in this page's memory only. */
let token = '';

function row(target, result) {
  const status = result?.status ?? 'pending';
  const codes = result ? reasonCodes(result) : [];
  const certs = result ? result.addresses.map((a) => a.certificate).filter(Boolean) : [];
  const days = certs.length ? Math.min(...certs.map((c) => c.daysRemaining)) : null;
  const subjects = unique(certs.map((c) => c.subject));
  const addresses = result && result.addresses.length > 1 ? result.addresses : [];
  const text = [target.name, target.host, status, ...codes, ...subjects, ...(result?.addresses ?? []).map((a) => a.address)].join(' ').toLowerCase();
  const tr = el(
    'tr',
    { class: `row-${status}`, 'data-name': target.name },
    el('td', { 'data-label': 'Target' }, el('a', { href: `#target=${encodeURIComponent(target.name)}` }, target.name), el('div', { class: 'muted' }, `${target.host}:${target.port}`)),
    el('td', { 'data-label': 'Status' }, badge(status)),
    el('td', { 'data-label': 'Reasons' }, codes.length ? codes.map((c) => el('span', { class: 'code' }, c)) : el('span', { class: 'muted' }, result ? 'none' : 'not probed yet')),
    el('td', { 'data-label': 'Certificate' }, subjects.join('; ')),
    el('td', { 'data-label': 'Days left', class: days !== null && days < 15 ? 'low' : null }, days === null ? '' : String(days)),
    el('td', { 'data-label': 'Status since' }, result?.statusSince ? when(result.statusSince) : ''),
    el('td', { 'data-label': 'Last probe' }, result ? [when(result.startedAt), ` in ${Math.round(result.durationMs)} ms`] : ''),
    el('td', { 'data-label': 'Addresses' }, addresses.map((a) => el('div', {}, `${a.address} `, badge(a.status)))),
  );
  return { tr, status, name: target.name, text };
}

let rows = [];

function applyFilter() {
  const words = $('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = rows.filter((r) => words.every((w) => r.text.includes(w)));
  $('overview').tBodies[0].replaceChildren(...shown.map((r) => r.tr));
  $('empty').hidden = shown.length > 0 || rows.length === 0;
}

async function refreshOverview() {
  try {
    const [targets, results] = await Promise.all([api('targets'), api('results')]);
    if (!targets.ok || !results.ok) throw new Error((targets.ok ? results : targets).body.message);
    const byName = new Map(results.body.map((r) => [r.name, r]));
    rows = targets.body.map((t) => row(t, byName.get(t.name))).sort((a, b) => RANK[a.status] - RANK[b.status] || a.name.localeCompare(b.name));
    // Only the rows are replaced: the filter and the scroll position stay.
    applyFilter();
    $('overview-error').hidden = true;
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.overview = 'loaded';
  } catch (e) {
    $('overview-error').textContent = `Could not load the results: ${e.message}`;
    $('overview-error').hidden = false;
  }
}

async function showTarget(name) {
  const view = $('target-view');
  const path = `results/${encodeURIComponent(name)}`;
  const [res, history, certificates] = await Promise.all([
    api(path),
    api(`${path}/history?limit=200`),
    api(`certificates?target=${encodeURIComponent(name)}`),
  ]);
  if (!res.ok) {
    view.replaceChildren(el('h2', {}, name), el('p', { class: 'error', role: 'alert' }, res.body.message ?? `HTTP ${res.status}`));
    return;
  }
  const r = res.body;
  const mine = certificates.ok ? certificates.body : [];
  const latest = r.latest;
  // Every target's certificates only when a name is missing: one of them may be the fix.
  const missing = latest?.addresses.some((a) => a.names.some((n) => !n.matched));
  const everywhere = missing ? await api('certificates') : null;
  const all = everywhere?.ok ? everywhere.body : mine;
  view.replaceChildren(
    el('p', {}, el('a', { href: '#' }, '← Overview')),
    el('h2', {}, name, ' ', badge(latest?.status ?? 'pending')),
    latest
      ? el(
          'p',
          {},
          `${latest.target.host}:${latest.target.port}${latest.target.implicitTls ? ' (implicit TLS)' : ''}, expecting ${latest.target.expect.join(', ')}. Status since `,
          when(r.statusSince),
          '; last probe ',
          when(latest.startedAt),
          ` in ${Math.round(latest.durationMs)} ms.`,
        )
      : el('p', { class: 'muted' }, 'Not probed yet.'),
    latest ? renderResult(latest, all) : '',
    el('h3', {}, 'Timeline'),
    history.ok && history.body.spans.length ? renderTimeline(history.body.spans) : el('p', { class: 'muted' }, 'No history yet.'),
    el('h3', {}, 'Certificates seen'),
    renderSightings(mine),
  );
  document.body.dataset.target = name;
}

async function probe(event) {
  event.preventDefault();
  const form = $('probe-form');
  const out = $('probe-result');
  const query = new URLSearchParams({ host: form.host.value.trim(), port: form.port.value });
  for (const name of form.expect.value.split(/[\s,]+/).filter(Boolean)) query.append('expect', name);
  if (!$('token-row').hidden) token = form.token.value;
  $('probe-submit').disabled = true;
  out.replaceChildren(el('p', { class: 'muted' }, `Probing ${form.host.value.trim()}…`));
  try {
    const res = await api(`probe?${query}`, token ? { authorization: `Bearer ${token}` } : {});
    if (res.status === 401) {
      $('token-row').hidden = false;
      form.token.focus();
    }
    if (!res.ok) {
      const b = res.body;
      out.replaceChildren(el('p', { class: 'error', role: 'alert' }, el('strong', {}, `HTTP ${res.status}${b.code ? ` ${b.code}` : ''}`), `: ${b.message ?? ''}`));
      return;
    }
    const r = res.body;
    out.replaceChildren(el('h3', {}, `${r.target.host}:${r.target.port} `, badge(r.status)), el('p', { class: 'muted' }, `${Math.round(r.durationMs)} ms`), renderResult(r));
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error', role: 'alert' }, `The probe failed: ${e.message}`));
  } finally {
    $('probe-submit').disabled = false;
  }
}

function route() {
  const hash = location.hash;
  const target = /^#target=(.+)$/.exec(hash);
  $('overview-view').hidden = Boolean(target) || hash === '#probe';
  $('target-view').hidden = !target;
  $('probe-view').hidden = hash !== '#probe';
  if (target) {
    $('target-view').replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    void showTarget(decodeURIComponent(target[1]));
    $('main').focus();
  } else if (hash === '#probe') {
    $('probe-host').focus();
  } else {
    void refreshOverview();
  }
}

$('filter').addEventListener('input', applyFilter);
$('probe-form').addEventListener('submit', probe);
addEventListener('hashchange', route);
setInterval(() => {
  if (!$('overview-view').hidden) void refreshOverview();
}, REFRESH_MS);
route();
