/**
 * The status page in a real browser (Debian's chromium driven by playwright-core), against the
 * service on loopback with scripted SMTP servers: overview, target view, timeline, hostile
 * text, the probe form. One browser for the whole file.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Page } from 'playwright-core';
import { createLogger } from '../../src/log.js';
import { PAGE_CSP } from '../../src/http/routes/page.js';
import { startService, type Service } from '../../src/service/service.js';
import { CHROMIUM, haveChromium, openBrowser } from '../helpers/browser.js';
import { fakeSmtp, type ServedCert } from '../helpers/fake-smtp.js';
import { seedServers } from '../helpers/stack.js';

const XSS_GREETING = '220 <img src=x onerror=alert(1)>';
const XSS_SUBJECT = 'CN=<script>alert(1)</script>';

t.test('the page files: relative URLs only, no markup from data', async (t) => {
  const dir = new URL('../../page/', import.meta.url);
  for (const file of await readdir(dir)) {
    const text = await readFile(new URL(file, dir), 'utf8');
    t.notMatch(text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, `${file} builds no markup from strings`);
    t.notMatch(text, /(?:src|href|action)="\/|fetch\(['`"]\/|api\(['`"]\//, `${file} uses relative URLs (path prefix)`);
    t.notMatch(text, /https?:\/\//, `${file} loads nothing from another origin`);
  }
});

if (!haveChromium()) {
  const why = `browser tests need ${CHROMIUM} (apt-get install --no-install-recommends chromium; .ci/run installs it)`;
  if (process.env.CI) t.fail(why);
  else t.test(`SKIPPED: ${why}`, { skip: why }, async () => {});
} else {
  await browserTests();
}

async function browserTests(): Promise<void> {
  const servers = await seedServers();
  const chain = (m: { keyPem: string; certPem: string }): ServedCert => ({ key: m.keyPem, cert: m.certPem + servers.ca.intermediate.certPem });
  const xssCert = await servers.ca.leaf({ subject: XSS_SUBJECT, dns: ['xss.test'] });
  const xssSrv = await fakeSmtp({ host: '127.0.0.5', greeting: `${XSS_GREETING}\r\n`, tls: { key: xssCert.keyPem, cert: xssCert.certPem + servers.ca.intermediate.certPem } });
  const before = await servers.ca.leaf({ subject: 'CN=rotate.test', dns: ['rotate.test'], notAfterDays: 20 });
  const after = await servers.ca.leaf({ subject: 'CN=rotate.test', dns: ['rotate.test'], notAfterDays: 300 });
  let served = chain(before);
  const rotating = await fakeSmtp({ host: '127.0.0.6', tls: () => served });
  const { goodSrv, badSrv } = servers;
  // Two servers behind one name and port, one of them misconfigured.
  const pairCert = await servers.ca.leaf({ subject: 'CN=mx.pair.test', dns: ['mx.pair.test'] });
  const pairGood = await fakeSmtp({ host: '127.0.0.7', tls: chain(pairCert) });
  const pairBad = await fakeSmtp({ host: '127.0.0.8', port: pairGood.port, tls: { key: servers.server1.keyPem, cert: servers.server1.certPem } });

  const dir = await mkdtemp(join(tmpdir(), 'stp-page-'));
  await writeFile(join(dir, 'ca.pem'), servers.ca.root.certPem);
  const configPath = join(dir, 'probe.yaml');
  await writeFile(
    configPath,
    [
      'listen: 127.0.0.1:0',
      'jitter: 0',
      'storage: { path: ":memory:" }',
      'defaults: { caFile: ca.pem, timeout: 3, schedule: "* * * * * *" }',
      `onDemand: { refuseAddresses: [private], ports: [${goodSrv.port}] }`,
      'targets:',
      `  - { name: hybrid, host: hybrid.domain.com, addresses: [127.0.0.2], port: ${goodSrv.port} }`,
      `  - { name: seed, host: hybrid.domain.com, addresses: [127.0.0.3], port: ${badSrv.port} }`,
      `  - { name: xss, host: xss.test, addresses: [127.0.0.5], port: ${xssSrv.port} }`,
      `  - { name: rotating, host: rotate.test, addresses: [127.0.0.6], port: ${rotating.port} }`,
      `  - { name: pair, host: mx.pair.test, addresses: [127.0.0.7, 127.0.0.8], port: ${pairGood.port} }`,
    ].join('\n'),
  );
  const service: Service = await startService({
    configPath,
    logger: createLogger('silent'),
    watch: false,
    env: {},
    resolver: async (host) => {
      if (host === 'hybrid.domain.com') return ['127.0.0.2'];
      // A name that resolves into a refused class: refused before any connection.
      if (host === 'refused.test') return ['10.20.30.40'];
      throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    },
  });
  await service.scheduler.ready();
  const base = `http://127.0.0.1:${service.address.port}/`;

  // The rotating server changes certificate: wait until a probe has seen the new one.
  served = chain(after);
  for (let i = 0; i < 100 && service.store.get('rotating')?.latest.addresses[0]?.certificate?.thumbprint !== after.thumbprint; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }

  const browser = await openBrowser();
  const { context } = browser;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base.slice(0, -1) });
  const dialogs: string[] = [];
  const cspErrors: string[] = [];
  const requests: string[] = [];
  const open = async (hash = ''): Promise<Page> => {
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(base + hash);
    return page;
  };

  t.teardown(async () => {
    await browser.close();
    await service.close(0);
    await Promise.all([servers.close(), xssSrv.close(), rotating.close(), pairGood.close(), pairBad.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  t.test('the page and its assets are served with a strict CSP', async (t) => {
    for (const path of ['', 'page.css', 'page.js', 'dom.js', 'render.js']) {
      const res = await fetch(base + path);
      t.equal(res.status, 200, path || '/');
      t.equal(res.headers.get('content-security-policy'), PAGE_CSP, `${path || '/'} CSP`);
      t.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    t.match(PAGE_CSP, /script-src 'self';/);
    t.notMatch(PAGE_CSP, /unsafe-inline|unsafe-eval|https?:/);
    // The API keeps its own, stricter policy.
    t.equal((await fetch(`${base}results`)).headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
  });

  t.test('overview: status words worst first, a filter that survives the refresh', async (t) => {
    const page = await context.newPage();
    page.on('dialog', (d) => void dialogs.push(d.message()));
    await page.clock.install();
    await page.goto(base);
    await page.waitForSelector('body[data-overview="loaded"]');
    const names = await page.locator('#overview tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));
    t.same(names, ['pair', 'seed', 'hybrid', 'rotating', 'xss'], 'the critical ones first, then the ok ones, by name');
    const status = (name: string) => page.locator(`tr[data-name="${name}"] .st`).first().textContent();
    t.equal(await status('seed'), 'CRITICAL');
    t.equal(await status('hybrid'), 'OK');
    t.match(await page.locator('tr[data-name="seed"]').textContent(), /cert_name_mismatch/);
    t.match(await page.locator('tr[data-name="seed"]').textContent(), /CN=SERVER1/);
    t.match(await page.locator('tr[data-name="hybrid"]').textContent(), /CN=hybrid\.domain\.com/);
    // One bad server out of two shows at a glance.
    t.same(await page.locator('tr[data-name="pair"] td[data-label="Addresses"] div').allTextContents(), ['127.0.0.7 OK', '127.0.0.8 CRITICAL']);
    t.equal(await page.locator('tr[data-name="hybrid"] td[data-label="Addresses"] div').count(), 0, 'one address: not repeated');

    await mkdir('.tap/artifacts', { recursive: true });
    await page.screenshot({ path: '.tap/artifacts/page-overview.png', fullPage: true });

    await page.fill('#filter', 'hybrid.domain mismatch');
    t.same(await page.locator('#overview tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))), ['seed']);
    const stale = await page.locator('tr[data-name="seed"]').elementHandle();
    await page.clock.runFor(15_500);
    await page.waitForFunction((old) => !document.contains(old), stale);
    t.equal(await page.inputValue('#filter'), 'hybrid.domain mismatch', 'the filter stays');
    t.same(await page.locator('#overview tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))), ['seed'], 'and still applies');

    // On a phone the rows are cards, and a refresh keeps the scroll position.
    await page.setViewportSize({ width: 390, height: 400 });
    await page.fill('#filter', '');
    t.equal(await page.locator('#overview thead').evaluate((e) => getComputedStyle(e).position), 'absolute', 'no table header on a phone');
    t.equal(await page.locator('tr[data-name="seed"] td').first().evaluate((e) => getComputedStyle(e, '::before').content), '"Target"', 'each value labelled');
    await page.evaluate(() => scrollTo(0, 500));
    const row = await page.locator('tr[data-name="seed"]').elementHandle();
    await page.clock.runFor(15_500);
    await page.waitForFunction((old) => !document.contains(old), row);
    t.equal(await page.evaluate(() => scrollY), 500, 'the scroll position stays');
    await page.close();
  });

  t.test('a target: reasons, the Exchange Online deferral, copyable remediation, certificate facts', async (t) => {
    const page = await open('#target=seed');
    await page.waitForSelector('body[data-target="seed"]');
    const view = page.locator('#target-view');
    t.match(await view.locator('.reasons').first().textContent(), /cert_name_mismatch.*hybrid\.domain\.com/s);
    t.match(await view.locator('.eo').textContent(), /Exchange Online would defer mail with: 4\d\d /);
    const commands = await view.locator('.cmd code').allTextContents();
    const set = commands.find((c) => c.startsWith('Set-ReceiveConnector'));
    t.ok(set, 'a Set-ReceiveConnector command');
    t.match(set, /-TlsCertificateName '<I>/);
    t.ok(commands.some((c) => /^Enable-ExchangeCertificate -Thumbprint \S+ -Services SMTP$/.test(c)), 'Enable-ExchangeCertificate');
    // hybrid serves the right certificate: the suggestion fills in its real values.
    const good = service.store.get('hybrid')!.latest.addresses[0]!.certificate!;
    // Exchange's connector is named after the server, which its EHLO reply names.
    const server = service.store.get('seed')!.latest.addresses[0]!.smtp.ehloHost!.split('.')[0]!.toUpperCase();
    const setLine = `Set-ReceiveConnector '${server}\\Default Frontend ${server}' -TlsCertificateName '${good.tlsCertificateName}'`;
    t.ok(commands.includes(setLine), 'the value read off hybrid');
    t.ok(commands.includes(`Enable-ExchangeCertificate -Thumbprint ${good.thumbprint} -Services SMTP`));
    const button = view.locator('.cmd', { hasText: `-TlsCertificateName '${good.tlsCertificateName}'` }).locator('button');
    await button.click();
    t.equal(await page.evaluate(() => navigator.clipboard.readText()), setLine, 'the copy button copies the command');
    t.equal(await button.textContent(), 'Copied');
    const facts = await view.locator('.facts').first().textContent();
    const served = service.store.get('seed')!.latest.addresses[0]!.certificate!;
    t.match(facts, served.thumbprint);
    t.match(facts, 'CN=SERVER1');
    t.match(facts, `TlsCertificateName${served.tlsCertificateName}`);
    t.match(await view.locator('.sightings').textContent(), served.thumbprint, 'the certificate seen at the address');
    await page.close();
  });

  t.test('a certificate change shows in the timeline, and both certificates are listed', async (t) => {
    const page = await open('#target=rotating');
    await page.waitForSelector('body[data-target="rotating"]');
    t.match(
      await page.locator('.timeline .cert-change').first().textContent(),
      `certificate changed at 127.0.0.6: ${before.thumbprint.slice(0, 8)}… → ${after.thumbprint.slice(0, 8)}…`,
    );
    const sightings = await page.locator('.sightings').textContent();
    t.match(sightings, before.thumbprint);
    t.match(sightings, `${after.thumbprint} served now`);
    await page.close();
  });

  t.test('hostile text from a server is shown as text and runs nothing', async (t) => {
    const page = await open('#target=xss');
    await page.waitForSelector('body[data-target="xss"]');
    const text = await page.locator('#target-view').textContent();
    t.match(text, XSS_GREETING, 'the greeting, literally');
    const subject = service.store.get('xss')!.latest.addresses[0]!.certificate!.subject;
    t.match(subject, '<script>alert(1)</script>');
    t.match(text, subject, 'the subject, literally');
    t.equal(await page.locator('img').count(), 0, 'no img element came from the greeting');
    t.equal(await page.evaluate(() => document.scripts.length), 1, 'no script element came from the subject');
    await page.goto(base);
    await page.waitForSelector('body[data-overview="loaded"]');
    t.match(await page.locator('tr[data-name="xss"]').textContent(), subject);
    t.equal(await page.locator('img').count(), 0);
    await page.close();
  });

  t.test('probe now: a result, and a 403 for a refused address', async (t) => {
    const page = await open('#probe');
    await page.fill('#probe-host', '127.0.0.2');
    await page.fill('#probe-port', String(goodSrv.port));
    await page.fill('#probe-expect', 'hybrid.domain.com');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#probe-result > h3');
    t.match(await page.locator('#probe-result > h3').textContent(), `127.0.0.2:${goodSrv.port} OK`);
    t.match(await page.locator('#probe-result .facts').first().textContent(), 'CN=hybrid.domain.com');

    await page.fill('#probe-host', 'refused.test');
    await page.click('#probe-submit');
    await page.waitForSelector('#probe-result .error');
    t.match(await page.locator('#probe-result .error').textContent(), /^HTTP 403 address_not_allowed: refused\.test resolves to 10\.20\.30\.40 \(private\)/);
    t.ok(await page.locator('#token-row').isHidden(), 'no token asked for when none is configured');

    // A token now protects /probe: the form asks for it, and keeps it in memory only.
    const token = 'page-test-token-0123456789';
    await writeFile(configPath, (await readFile(configPath, 'utf8')).replace('onDemand: { ', `onDemand: { token: ${token}, `));
    t.equal(service.reload().ok, true);
    await page.fill('#probe-host', '127.0.0.2');
    await page.click('#probe-submit');
    await page.waitForSelector('#token-row:not([hidden])');
    t.match(await page.locator('#probe-result .error').textContent(), /^HTTP 401 unauthorized/);
    t.ok(await page.evaluate(() => document.activeElement?.id === 'probe-token'), 'the token field has the focus');
    await page.fill('#probe-token', token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#probe-result > h3');
    t.match(await page.locator('#probe-result > h3').textContent(), `127.0.0.2:${goodSrv.port} OK`);
    t.same(
      await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie, location.href.includes('token')]),
      [0, 0, '', false],
      'the token is stored nowhere and not in the URL',
    );
    await page.close();
  });

  t.test('behind a reverse proxy under a path prefix', async (t) => {
    // A minimal proxy: /stp/X goes to the service's /X; anything else is its own 404.
    const proxy = createServer((req, res) => {
      if (!req.url?.startsWith('/stp/')) return void res.writeHead(404).end('not under /stp/');
      const upstream = httpRequest(`${base}${req.url.slice('/stp/'.length)}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const prefixed = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/stp/`;
    const page = await context.newPage();
    const missed: string[] = [];
    page.on('response', (r) => void (r.status() === 404 && missed.push(r.url())));
    await page.goto(prefixed);
    await page.waitForSelector('body[data-overview="loaded"]');
    t.equal(await page.locator('#overview tbody tr').count(), 5, 'the overview loads through the prefix');
    await page.click('tr[data-name="seed"] a');
    await page.waitForSelector('body[data-target="seed"]');
    t.match(await page.locator('#target-view .reasons').first().textContent(), /cert_name_mismatch/);
    t.same(missed, [], 'no request left the prefix');
    await page.close();
  });

  t.test('nothing else happened', async (t) => {
    t.same(dialogs, [], 'no dialog ever opened');
    t.same(cspErrors, [], 'the page runs under its own CSP');
    t.same(requests.filter((u) => !u.startsWith(base)), [], 'every request went to the service');
  });
}
