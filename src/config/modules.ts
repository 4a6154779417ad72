/**
 * Probe modules, as blackbox_exporter users know them: named probe profiles chosen with
 * `module=` on GET /probe, or by a scheduled target's `module:`. A module's values go through
 * the same parsers as the /probe parameters they stand for (src/probe/host.ts), and its port
 * through the on-demand port policy at request time: naming a module never lets a caller reach
 * what the parameters could not.
 */
import { Type } from '@sinclair/typebox';
import { parseExpectName, parseServerName } from '../probe/host.js';
import type { ProbeTarget } from '../probe/types.js';

/** minTls in the config → Node's names. */
export const TLS_VERSIONS = { '1.0': 'TLSv1', '1.1': 'TLSv1.1', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' } as const;

export const MODULE_NAME = '^[A-Za-z0-9_.-]{1,100}$';

export const ModuleSchema = Type.Object(
  {
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    expect: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1, maxItems: 20 })),
    /** false: send no SNI. */
    sni: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 254 }), Type.Literal(false)])),
    implicitTls: Type.Optional(Type.Boolean()),
    caFile: Type.Optional(Type.String({ minLength: 1 })),
    minTls: Type.Optional(Type.Union([Type.Literal('1.0'), Type.Literal('1.1'), Type.Literal('1.2'), Type.Literal('1.3')])),
    warnDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 })),
    timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 600 })),
    ehlo: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[^\\s/@]+$' })),
  },
  { additionalProperties: false },
);

export const ModulesSchema = Type.Record(Type.String({ pattern: MODULE_NAME }), ModuleSchema, {
  maxProperties: 100,
  additionalProperties: false,
});

type RawModule = (typeof ModuleSchema)['static'];

/** A module after parsing: only the settings it sets. */
export interface ProbeModule {
  port?: number;
  expect?: string[];
  /** null: send no SNI. */
  sni?: string | null;
  implicitTls?: boolean;
  /** PEM text of the trust anchors. */
  ca?: string;
  minTlsVersion?: ProbeTarget['minTlsVersion'];
  warnDays?: number;
  timeoutMs?: number;
  ehloName?: string;
}

/** Present unless the configuration defines a module of the same name. */
export const BUILTIN_MODULES: Readonly<Record<string, ProbeModule>> = {
  smtp_starttls: { port: 25 },
  smtps: { port: 465, implicitTls: true },
  submission: { port: 587 },
};

/**
 * The configured modules over the built-in ones; every problem pushed with its path.
 * @param readCa reads a caFile (relative to the config) or records why it cannot.
 */
export function buildModules(
  raw: Record<string, RawModule> | undefined,
  readCa: (file: string, path: string) => string | undefined,
  problems: string[],
): Map<string, ProbeModule> {
  const modules = new Map(Object.entries(BUILTIN_MODULES));
  for (const [name, m] of Object.entries(raw ?? {})) {
    const at = `modules.${name}`;
    const built: ProbeModule = {};
    if (m.port !== undefined) built.port = m.port;
    if (m.expect) {
      built.expect = [];
      m.expect.forEach((e, i) => {
        const parsed = parseExpectName(e);
        if (parsed.ok) built.expect!.push(parsed.value);
        else problems.push(`${at}.expect[${i}]: ${JSON.stringify(e)} is not a host name or IP address: it ${parsed.problem}`);
      });
    }
    if (m.sni === false) built.sni = null;
    else if (m.sni !== undefined) {
      const sni = parseServerName(m.sni);
      if (sni.ok) built.sni = sni.value;
      else problems.push(`${at}.sni: ${JSON.stringify(m.sni)} is not a server name: it ${sni.problem}`);
    }
    if (m.implicitTls !== undefined) built.implicitTls = m.implicitTls;
    if (m.caFile !== undefined) {
      const ca = readCa(m.caFile, `${at}.caFile`);
      if (ca) built.ca = ca;
    }
    if (m.minTls) built.minTlsVersion = TLS_VERSIONS[m.minTls];
    if (m.warnDays !== undefined) built.warnDays = m.warnDays;
    if (m.timeout !== undefined) built.timeoutMs = Math.round(m.timeout * 1000);
    if (m.ehlo !== undefined) built.ehloName = m.ehlo;
    modules.set(name, built);
  }
  return modules;
}

/** The probe settings a module gives (the timeout is applied by the caller). */
export function moduleSettings(m: ProbeModule): Partial<ProbeTarget> {
  const { timeoutMs: _timeout, ...settings } = m;
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as Partial<ProbeTarget>;
}
