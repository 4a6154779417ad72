#!/usr/bin/env node
/**
 * The command line: `check` (one probe), `domain` (one mail domain), `serve` (the service).
 * Each subcommand is imported only when used, so `check` never loads the HTTP server, metrics
 * or domain mode.
 */
import module from 'node:module';

// Compiled code of our modules and dependencies is kept on disk (in the OS temp directory, or
// NODE_COMPILE_CACHE) and reused: a one-shot check starts much faster from the second run on.
module.enableCompileCache?.();

const USAGE = `Usage: smtp-tls-probe <command> [options]

Commands:
  check HOST     probe one host now and report (smtp-tls-probe check --help)
  domain DOMAIN  judge mail delivery to a domain: MX, MTA-STS, DANE, TLS-RPT, one
                 verdict per sender (smtp-tls-probe domain --help)
  serve          run the service: scheduled probes, HTTP API, Prometheus metrics
                 (smtp-tls-probe serve --help)
  demo           the Exchange hybrid case on loopback, with the service probing it
                 (smtp-tls-probe demo --help)

Options:
  -h, --help     show this help
  -V, --version  show the version
`;

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'check':
      return (await import('./check.js')).runCheck(rest, io);
    case 'domain':
      return (await import('./domain.js')).runDomain(rest, io);
    case 'serve':
      return (await import('./serve.js')).runServe(rest, io);
    case 'demo':
      return (await import('./demo.js')).runDemo(rest, io);
    case '-V':
    case '--version':
      // Imported here, not above: its ESM import of node:fs loads what `check` never uses.
      io.stdout(`${(await import('../version.js')).version()}\n`);
      return 0;
    case undefined:
    case '-h':
    case '--help':
      io.stdout(USAGE);
      return command === undefined ? 3 : 0;
    default:
      io.stderr(`smtp-tls-probe: unknown command "${command}" (try: check, domain, serve, demo, --help)\n`);
      return 3;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Flush, then exit: a probe's QUIT may still be closing; the result is out.
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    process.stderr.write(`smtp-tls-probe: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(3);
  },
);
