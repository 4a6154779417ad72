#!/usr/bin/env node
// Part of `npm run build`, after tsc: rewrites dist/cli/check.js, the module `check` loads, as
// one file holding it and every module of ours it imports (the probe engine, the report).
// A one-shot check is mostly start-up: loading ~30 small modules, each resolved, read (from
// Node's compile cache) and linked apart, cost more than one file of the same code (issue
// 12, figures in README "Performance"). Only dist/cli/check.js changes: the service and the
// other commands load the modules as tsc wrote them, and npm packages are never inlined
// (check loads none; test/layout.test.ts holds both to that).
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/cli/check.js'],
  outfile: 'dist/cli/check.js',
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  packages: 'external',
  // Chained to tsc's maps: stack traces (node --enable-source-maps) still name src/*.ts.
  sourcemap: true,
  logLevel: 'warning',
});
