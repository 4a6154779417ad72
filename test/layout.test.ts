/**
 * The shape the brief asks for, checked on the import graph: data flows one way, the probe
 * knows nothing of HTTP, scheduling, metrics or storage, and `check` loads only the probe.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const SPEC = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(SPEC)].map((m) => (m[1] ?? m[2])!);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const toTs = (from: string, spec: string) => resolve(dirname(from), spec).replace(/\.js$/, '.ts');

/** Every module reachable from `entry` through static imports (dynamic ones are lazy by design). */
function staticClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SPEC)) {
      if (!m[1]) continue; // dynamic import
      if (m[1].startsWith('.')) visit(toTs(file, m[1]));
      else packages.add(m[1]);
    }
  };
  visit(entry);
  return { files, packages };
}

const SERVICE_PACKAGES = /^(fastify|@fastify\/|prom-client|node-cron|pino|yaml|@sinclair\/typebox)/;

t.test('src/probe imports nothing of HTTP, scheduling, metrics, storage or the CLI', async (t) => {
  const probeDir = join(src, 'probe');
  for (const file of filesUnder(probeDir)) {
    for (const spec of importsOf(file)) {
      const name = relative(root, file);
      t.notMatch(spec, SERVICE_PACKAGES, `${name} imports ${spec}`);
      if (spec.startsWith('.')) {
        t.ok(toTs(file, spec).startsWith(probeDir), `${name} stays inside src/probe (${spec})`);
      }
    }
  }
});

t.test('check loads only the probe engine and Node itself: no npm package at all', async (t) => {
  const { files, packages } = staticClosure(join(src, 'cli', 'check.ts'));
  for (const p of packages) t.notMatch(p, SERVICE_PACKAGES, `check pulls in ${p}`);
  // Every package costs start-up time; the ASN.1 stack alone was 86 files (issue 12).
  t.same([...packages].filter((p) => !p.startsWith('node:')), [], 'nothing from node_modules');
  const outside = [...files].map((f) => relative(src, f)).filter((f) => !f.startsWith(`probe${sep}`));
  t.same(outside.sort(), ['cli/check-args.ts', 'cli/check.ts', 'cli/report.ts', 'config/read-file.ts'].map((f) => f.split('/').join(sep)), 'besides the probe, only the check command itself');
  t.ok([...files].some((f) => f.includes(join('src', 'probe'))), 'the closure was walked');
  // Domain mode (DNS client, MTA-STS, orchestration) is loaded by `domain` only.
  for (const dir of [join('src', 'probe', 'domain'), join('src', 'probe', 'dns', 'client'), join('src', 'cli', 'domain')]) {
    t.notOk([...files].some((f) => f.includes(dir)), `check does not load ${dir}`);
  }
  t.ok(staticClosure(join(src, 'cli', 'domain.ts')).files.has(join(src, 'probe', 'domain', 'domain.ts')), 'the domain command does');
});

t.test('the built check is one file of that same closure, importing only Node itself', async (t) => {
  // `npm run build` bundles dist/cli/check.js (scripts/bundle-check.mjs): one module for the
  // compile cache to serve instead of ~30. It must hold exactly the modules the rule above
  // allows, so what is checked on the sources holds for what runs.
  const dist = join(root, 'dist', 'cli');
  const bundle = readFileSync(join(dist, 'check.js'), 'utf8');
  const specs = [...bundle.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => (m[1] ?? m[2] ?? m[3])!,
  );
  t.ok(specs.length > 0, 'its imports were read');
  t.same(specs.filter((s) => !s.startsWith('node:')), [], 'no module of ours, no npm package: only node: builtins');
  const map = JSON.parse(readFileSync(join(dist, 'check.js.map'), 'utf8')) as { sources: string[] };
  const built = map.sources.map((s) => relative(src, resolve(dist, s))).sort();
  const closure = [...staticClosure(join(src, 'cli', 'check.ts')).files].map((f) => relative(src, f));
  // Modules of types only compile to nothing, and nothing imports them at run time.
  const typesOnly = (f: string) =>
    readFileSync(join(root, 'dist', f.replace(/\.ts$/, '.js')), 'utf8')
      .replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '')
      .trim() === 'export {};';
  t.same(built, closure.filter((f) => !typesOnly(f)).sort(), 'built from exactly the static closure of src/cli/check.ts');
  t.ok(closure.filter(typesOnly).length < 6, 'a few modules of types only');
});
