/**
 * Hot reload on a real filesystem: the ways a configuration file gets replaced (in place, an
 * editor's rename, a Kubernetes ConfigMap's `..data` symlink swap, a directory created anew),
 * a file caught half-written, and files that must not be applied.
 */
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigWatcher, type SettledChange } from '../../src/config/watch.js';
import { createLogger } from '../../src/log.js';
import { databaseFilesBeside, startService } from '../../src/service/service.js';
import type { Pki } from '../helpers/certs.js';
import type { FakeSmtp } from '../helpers/fake-smtp.js';
import { seedServers } from '../helpers/stack.js';
import { until } from '../helpers/until.js';

let ca: Pki;
let goodSrv: FakeSmtp;
let badSrv: FakeSmtp;
let root: string;
t.before(async () => {
  const servers = await seedServers();
  ({ ca, goodSrv, badSrv } = servers);
  root = await mkdtemp(join(tmpdir(), 'stp-reload-'));
  t.teardown(async () => {
    await servers.close();
    await rm(root, { recursive: true, force: true });
  });
});

function configText(targets: string[]): string {
  return [
    'listen: 127.0.0.1:0',
    'jitter: 0',
    // Nothing kept: the default storage.path is data/ in the working directory (the repo).
    'storage: { path: ":memory:" }',
    'defaults: { caFile: ca.pem, timeout: 3, schedule: "0 0 1 1 *" }',
    targets.length ? 'targets:' : 'targets: []',
    ...targets,
    '',
  ].join('\n');
}
const hybrid = () => `  - { name: hybrid, host: hybrid.domain.com, addresses: [127.0.0.2], port: ${goodSrv.port} }`;
const seed = () => `  - { name: seed, host: hybrid.domain.com, addresses: [127.0.0.3], port: ${badSrv.port} }`;

type Log = Record<string, any>;
const FAST = { debounceMs: 200, settleMs: 50, pollMs: 100 };

async function newDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  await writeFile(join(dir, 'ca.pem'), ca.root.certPem);
  return dir;
}

async function start(file: string, watchTiming: { debounceMs?: number; settleMs?: number; pollMs?: number } = FAST) {
  const logs: Log[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line)) });
  const service = await startService({
    configPath: file,
    logger,
    watchTiming,
    env: {},
    resolver: async () => {
      throw new Error('tests never resolve names');
    },
  });
  t.teardown(() => service.close(0));
  await service.scheduler.ready();
  const names = () => service.scheduler.targets().map((x) => x.target.name).sort();
  return { service, logs, names };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const reloaded = (logs: Log[]) => logs.filter((l) => l.msg === 'configuration reloaded');
const failures = (logs: Log[]) => logs.filter((l) => l.msg === 'configuration reload failed; the running configuration stays');

t.test('a file written in several parts is applied once, complete; never half', async (t) => {
  const dir = await newDir('half');
  const file = join(dir, 'probe.yaml');
  await writeFile(file, configText([]));
  // Default timing: 500 ms of quiet, then two reads that agree.
  const { logs, names } = await start(file, {});
  const seen = new Set<string>();
  const sampler = setInterval(() => seen.add(names().join()), 5);
  t.teardown(() => clearInterval(sampler));

  const full = configText([hybrid(), seed()]);
  const cutInLine = full.indexOf('addresses', full.indexOf('name: hybrid')); // invalid YAML so far
  const cutAtLine = full.indexOf('\n', cutInLine) + 1; // a valid file with hybrid only
  await writeFile(file, full.slice(0, cutInLine));
  await sleep(300);
  await appendFile(file, full.slice(cutInLine, cutAtLine));
  await sleep(300);
  await appendFile(file, full.slice(cutAtLine));
  await until('the reload', () => reloaded(logs).length > 0);
  await sleep(300);
  clearInterval(sampler);

  t.same(failures(logs), [], 'no error from a half-written file');
  t.same([...seen].sort(), ['', 'hybrid,seed'], 'no partial target list was ever running');
  t.equal(reloaded(logs).length, 1, 'one reload');
  t.match(reloaded(logs)[0], { trigger: 'file', added: ['hybrid', 'seed'], removed: [], changed: [], targets: 2 });
  const since = reloaded(logs)[0]!.sinceChangeMs;
  t.ok(since >= 600 + 500, `timed from the first change, which was ${since} ms before`);
  t.ok(reloaded(logs)[0]!.reads >= 2, 'read until two reads agreed');
});

t.test("an editor's rename-replace is picked up and timed", async (t) => {
  const dir = await newDir('editor');
  const file = join(dir, 'probe.yaml');
  await writeFile(file, configText([hybrid()]));
  const { logs, names } = await start(file);
  await writeFile(`${file}.tmp`, configText([seed()]));
  await rename(`${file}.tmp`, file);
  await until('the reload', () => names().join() === 'seed');
  t.match(reloaded(logs), [{ trigger: 'file', added: ['seed'], removed: ['hybrid'], sinceChangeMs: Number, reads: Number }]);
  // A change elsewhere in the directory, or the same content written again, is no reload.
  await writeFile(join(dir, 'notes.txt'), 'hello');
  await writeFile(file, await readFile(file));
  await until('the file touch to be seen', () => logs.filter((l) => l.msg === 'configuration file touched; nothing changed').length >= 1);
  t.equal(reloaded(logs).length, 1, 'still one reload');
});

t.test('a Kubernetes ConfigMap update (the ..data symlink swap) is picked up', async (t) => {
  const dir = await newDir('configmap');
  await rm(join(dir, 'ca.pem'));
  // The kubelet's layout: files are symlinks through ..data to a timestamped directory.
  const version = async (stamp: string, text: string) => {
    await mkdir(join(dir, stamp));
    await writeFile(join(dir, stamp, 'probe.yaml'), text);
    await writeFile(join(dir, stamp, 'ca.pem'), ca.root.certPem);
  };
  await version('..2026_11_28_05_00_00.1', configText([hybrid()]));
  await symlink('..2026_11_28_05_00_00.1', join(dir, '..data'));
  await symlink('..data/probe.yaml', join(dir, 'probe.yaml'));
  await symlink('..data/ca.pem', join(dir, 'ca.pem'));
  const { logs, names } = await start(join(dir, 'probe.yaml'));
  t.same(names(), ['hybrid']);

  await version('..2026_11_28_05_01_00.2', configText([hybrid(), seed()]));
  await symlink('..2026_11_28_05_01_00.2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await rm(join(dir, '..2026_11_28_05_00_00.1'), { recursive: true });
  await until('the swap to be applied', () => names().join() === 'hybrid,seed');
  t.match(reloaded(logs), [{ trigger: 'file', added: ['seed'] }]);
  t.same(failures(logs), []);
});

t.test('a directory removed and created again is watched anew', async (t) => {
  const dir = await newDir('recreated');
  const file = join(dir, 'probe.yaml');
  await writeFile(file, configText([hybrid()]));
  const { logs, names } = await start(file);

  await rm(dir, { recursive: true });
  await sleep(400); // past the quiet time: the watcher finds the directory gone
  await newDir('recreated');
  await writeFile(file, configText([seed()]));
  await until('the new directory to be read', () => names().join() === 'seed');
  t.ok(logs.some((l) => l.level === 40 && /configuration directory .*recreated is gone/.test(l.msg)), 'the gap is logged');

  await writeFile(file, configText([hybrid(), seed()]));
  await until('a change in the new directory', () => names().join() === 'hybrid,seed');
  t.same(failures(logs), []);
});

t.test('a changed file that is invalid, or an alias bomb, leaves the running config; a fix applies', async (t) => {
  const dir = await newDir('invalid');
  const file = join(dir, 'probe.yaml');
  await writeFile(file, configText([hybrid()]));
  const { service, logs, names } = await start(file);
  const bomb = new URL('../fixtures/config/invalid-alias-bomb.yaml', import.meta.url);
  await writeFile(file, await readFile(bomb));
  await until('the failure', () => failures(logs).length === 1);
  t.match(failures(logs)[0], { trigger: 'file', errors: [/^YAML: aliases expand the document/] });
  t.same(names(), ['hybrid'], 'the running configuration stays');
  t.equal(service.config().targets.length, 1);
  await writeFile(join(dir, 'unrelated'), 'x');
  await sleep(400);
  t.equal(failures(logs).length, 1, 'an event elsewhere does not repeat the error');
  await writeFile(file, configText([seed()]));
  await until('the fix', () => names().join() === 'seed');
});

t.test('the watcher reads a file that changes without events until two reads agree', async (t) => {
  // The file is a symlink into a directory nobody watches: writes there raise no event here.
  const dir = await newDir('unwatched-writes');
  const elsewhere = await newDir('elsewhere');
  await writeFile(join(elsewhere, 'real.yaml'), '');
  await symlink(join(elsewhere, 'real.yaml'), join(dir, 'probe.yaml'));
  const changes: SettledChange[] = [];
  // Reads 300 ms apart, a write every 20 ms: no two reads agree until the writes stop. The gap
  // is wide so that a loaded machine, which delays a write past the next read, does not let two
  // reads agree early (seen with 150 ms at a load average of 9 on 2 cores).
  const timing = { debounceMs: 100, settleMs: 300 };
  const watcher = new ConfigWatcher({ path: join(dir, 'probe.yaml'), ...timing, onChange: (c) => changes.push(c), onWarning: () => undefined });
  watcher.start();
  t.teardown(() => watcher.close());
  await writeFile(join(dir, 'trigger'), 'x'); // one event; the writes below come after it
  for (let i = 0; i < 30; i++) {
    appendFileSync(join(elsewhere, 'real.yaml'), `line${i}: ${i}\n`);
    await sleep(20);
  }
  await until('the settled change', () => changes.length > 0);
  await sleep(200);
  t.equal(changes.length, 1);
  t.match(changes[0], { read: { text: /line29: 29\n$/ } }, 'the complete text, not a prefix');
  t.ok(changes[0]!.reads > 2, `read ${changes[0]!.reads} times`);
});

t.test('the results database beside the configuration: its writes are no change of the configuration', async (t) => {
  // Each of its writes made the service read and parse the configuration again: a second of
  // a busy event loop with 10,000 targets, every time SQLite wrote its file or WAL.
  const dir = await newDir('database-beside');
  await writeFile(join(dir, 'probe.yaml'), 'targets: []\n');
  t.same(databaseFilesBeside(join(dir, 'probe.yaml'), join(dir, 'results.db')), ['results.db', 'results.db-wal', 'results.db-shm', 'results.db-journal']);
  t.same(databaseFilesBeside(join(dir, 'probe.yaml'), join(dir, 'data', 'results.db')), [], 'elsewhere: nothing to ignore');
  t.same(databaseFilesBeside(join(dir, 'probe.yaml'), ':memory:'), []);
  t.same(databaseFilesBeside(join(dir, 'probe.yaml'), join(dir, 'probe.yaml')), ['probe.yaml-wal', 'probe.yaml-shm', 'probe.yaml-journal'], 'never the configuration itself');
  const changes: SettledChange[] = [];
  const watcher = new ConfigWatcher({
    path: join(dir, 'probe.yaml'),
    debounceMs: 50,
    settleMs: 50,
    ignoreNames: databaseFilesBeside(join(dir, 'probe.yaml'), join(dir, 'results.db')),
    onChange: (c) => changes.push(c),
    onWarning: () => undefined,
  });
  watcher.start();
  t.teardown(() => watcher.close());
  for (let i = 0; i < 10; i++) {
    await writeFile(join(dir, 'results.db'), `page ${i}`);
    await writeFile(join(dir, 'results.db-wal'), `frame ${i}`);
    await sleep(20);
  }
  await sleep(400);
  t.equal(changes.length, 0, 'no read for the database files');
  await writeFile(join(dir, 'probe.yaml'), 'targets: [] # edited\n');
  await until('the edit', () => changes.length === 1);
  t.match(changes[0], { read: { text: /edited/ } }, 'the configuration itself is still watched');
});
