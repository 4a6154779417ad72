// How a probe result, its history and the certificates seen are shown: shared by the target
// view and the probe-now form.
import { badge, commands, copyable, el, facts, when } from './dom.js';

/** Does a certificate name (maybe *.domain) cover this host name? */
function covers(pattern, name) {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p === n) return true;
  return p.startsWith('*.') && n.endsWith(p.slice(1)) && !n.slice(0, n.length - p.length + 1).includes('.');
}

/**
 * Ready-to-run commands when this service has seen, elsewhere, a valid certificate that covers
 * every name this address is missing: its thumbprint and TlsCertificateName fill the blanks.
 */
function suggested(a, sightings) {
  const missing = a.names.filter((n) => !n.matched).map((n) => n.name);
  if (missing.length === 0) return null;
  const fit = sightings.find(
    (s) => s.servedNow && s.thumbprint !== a.certificate?.thumbprint && Date.parse(s.notAfter) > Date.now() && missing.every((n) => s.dnsNames.some((d) => covers(d, n))),
  );
  if (!fit) return null;
  const server = (a.smtp.ehloHost ?? '').split('.')[0]?.toUpperCase() || 'SERVER';
  return el(
    'div',
    { class: 'suggested' },
    el('p', {}, `With the certificate this service sees at ${fit.target} (${fit.address}), which covers ${missing.join(', ')}: import it on the server if it is not there, then`),
    copyable(`Enable-ExchangeCertificate -Thumbprint ${fit.thumbprint} -Services SMTP`),
    copyable(`Set-ReceiveConnector '${server}\\Default Frontend ${server}' -TlsCertificateName '${fit.tlsCertificateName}'`),
    copyable('Restart-Service MSExchangeTransport'),
  );
}

function certificateFacts(c, names) {
  return facts([
    ['Thumbprint', c.thumbprint],
    ['Subject', c.subject],
    ['Issuer', c.selfSigned ? `${c.issuer} (self-signed)` : c.issuer],
    ['Alternate names', c.dnsNames.length ? c.dnsNames.join(', ') : '(none)'],
    ['IP names', c.ipAddresses.join(', ')],
    ['Valid', `${c.notBefore.slice(0, 10)} to ${c.notAfter.slice(0, 10)} (${c.daysRemaining} days left)`],
    ['TlsCertificateName', c.tlsCertificateName],
    ['Serial', c.serialNumber],
    ['Key', `${c.keyType} ${c.keyBits ?? '?'} bits, ${c.signatureAlgorithm}`],
    ...names.map((n) => [`Name ${n.name}`, n.matched ? `covered (${n.via})` : 'NOT covered']),
  ]);
}

/** One address of a result: reasons first, then what to do, then the facts. */
export function renderAddress(a, sightings = []) {
  const box = el('section', { class: `address st-border-${a.status}`, 'data-address': a.address }, el('h3', {}, a.address, ' ', badge(a.status)));
  if (a.reasons.length) {
    box.append(el('ul', { class: 'reasons' }, a.reasons.map((r) => el('li', {}, el('strong', { class: 'code' }, r.code), ' ', r.message))));
  } else {
    box.append(el('p', {}, 'No problem found.'));
  }
  if (a.exchangeOnline) {
    box.append(el('p', { class: 'eo' }, 'Exchange Online would defer mail with: ', el('code', {}, `${a.exchangeOnline.code} ${a.exchangeOnline.msg}`)));
  }
  if (a.remediation.length) {
    box.append(
      el('h4', {}, 'What to do'),
      el('ol', { class: 'remediation' }, a.remediation.map((hint) => el('li', {}, el('p', {}, hint), commands(hint).map(copyable)))),
    );
    const more = suggested(a, sightings);
    if (more) box.append(more);
  }
  if (a.certificate) box.append(el('h4', {}, 'Certificate served'), certificateFacts(a.certificate, a.names));
  box.append(
    el('h4', {}, 'Connection'),
    facts([
      ['Greeting', a.smtp.greeting],
      ['EHLO host', a.smtp.ehloHost],
      ['EHLO host over TLS', a.smtp.tlsEhloHost !== a.smtp.ehloHost ? a.smtp.tlsEhloHost : undefined],
      ['TLS', a.tls ? `${a.tls.protocol ?? '?'} ${a.tls.cipher ?? ''}, SNI ${a.tls.servername ?? '(none)'}` : undefined],
      ['Chain sent', a.chain.length > 1 ? a.chain.slice(1).map((c) => c.subject).join(' ← ') : a.certificate ? 'the certificate only' : undefined],
      ['Time', `${Math.round(a.timings.totalMs)} ms`],
    ]),
  );
  return box;
}

/** A whole result: the target's own reasons (DNS...) and each address. */
export function renderResult(result, sightings = []) {
  const out = el('div', { class: 'result' });
  if (result.reasons.length) {
    out.append(el('ul', { class: 'reasons' }, result.reasons.map((r) => el('li', {}, el('strong', { class: 'code' }, r.code), ' ', r.message))));
  }
  for (const a of result.addresses) out.append(renderAddress(a, sightings));
  return out;
}

const short = (thumbprint) => (thumbprint ? `${thumbprint.slice(0, 8)}…` : 'none');

/**
 * History spans (newest first, from /results/NAME/history) as a timeline of what changed:
 * the status, the reasons, and the certificate at each address.
 */
export function renderTimeline(spans) {
  const events = [];
  let previous = null;
  const lastThumbprint = new Map();
  for (const span of [...spans].reverse()) {
    const lines = [];
    if (!previous) lines.push('first probe in the history kept');
    else if (previous.status !== span.status) lines.push(`status ${previous.status.toUpperCase()} → ${span.status.toUpperCase()}`);
    for (const a of span.addresses) {
      const before = lastThumbprint.get(a.address);
      if (a.thumbprint && before && before !== a.thumbprint) {
        lines.push(el('span', { class: 'cert-change' }, `certificate changed at ${a.address}: ${short(before)} → ${short(a.thumbprint)}`));
      }
      if (a.thumbprint) lastThumbprint.set(a.address, a.thumbprint);
    }
    const reasons = [...span.reasons, ...span.addresses.flatMap((a) => a.reasons.map((r) => `${r} (${a.address})`))];
    if (lines.length === 0) lines.push('reasons changed');
    events.push(
      el(
        'li',
        {},
        el('div', {}, when(span.firstSeen), ' ', badge(span.status), ' ', lines.flatMap((l, i) => (i ? ['; ', l] : [l]))),
        el('div', { class: 'muted' }, `${reasons.length ? reasons.join(', ') : 'no reasons'}; ${span.count} probe${span.count === 1 ? '' : 's'}, last ${span.lastSeen}`),
      ),
    );
    previous = span;
  }
  return el('ol', { class: 'timeline', reversed: true }, events.reverse());
}

/** Every certificate seen at each address of a target. */
export function renderSightings(sightings) {
  if (sightings.length === 0) return el('p', { class: 'muted' }, 'No certificate seen yet.');
  const rows = sightings.map((s) =>
    el(
      'tr',
      {},
      el('td', { 'data-label': 'Address' }, s.address),
      el('td', { 'data-label': 'Thumbprint' }, el('code', {}, s.thumbprint), s.servedNow ? el('span', { class: 'now' }, ' served now') : ''),
      el('td', { 'data-label': 'Subject' }, s.subject),
      el('td', { 'data-label': 'Issuer' }, s.issuer),
      el('td', { 'data-label': 'Not after' }, s.notAfter.slice(0, 10)),
      el('td', { 'data-label': 'Seen' }, `${s.firstSeen.slice(0, 16).replace('T', ' ')} to ${s.lastSeen.slice(0, 16).replace('T', ' ')} (${s.count}×)`),
    ),
  );
  return el(
    'table',
    { class: 'sightings' },
    el('thead', {}, el('tr', {}, ['Address', 'Thumbprint', 'Subject', 'Issuer', 'Not after', 'Seen'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows),
  );
}
