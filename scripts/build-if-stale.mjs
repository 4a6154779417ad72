#!/usr/bin/env node
// `npm start` and `npm run demo` build first only when dist/ is older than what it is built
// from: a compile costs seconds on every start, and dist/ is usually current.
// Stale: a source under src/ without its .js in dist/, or newer than it; or a tsconfig newer
// than the oldest output. `--dry-run` prints the decision and builds nothing (for tests).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Why dist/ must be rebuilt, or null when it is current. */
export function staleReason(root = process.cwd()) {
  const src = join(root, 'src');
  let oldestOutput = Infinity;
  for (const file of sources(src)) {
    const out = join(root, 'dist', relative(src, file)).replace(/\.ts$/, '.js');
    if (!existsSync(out)) return `${relative(root, out)} is missing`;
    const built = statSync(out).mtimeMs;
    if (statSync(file).mtimeMs > built) return `${relative(root, file)} changed since the last build`;
    oldestOutput = Math.min(oldestOutput, built);
  }
  for (const config of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) {
    const path = join(root, config);
    if (existsSync(path) && statSync(path).mtimeMs > oldestOutput) return `${config} changed since the last build`;
  }
  return null;
}

const reason = staleReason();
if (process.argv.includes('--dry-run')) {
  process.stdout.write(reason ? `stale: ${reason}\n` : 'current\n');
} else if (reason) {
  process.stderr.write(`building: ${reason}\n`);
  const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
  process.exit(build.status ?? 1);
}
