/**
 * The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): `v=STSv1; id=<1-32 alphanumerics>`,
 * other fields ignored. Its `id` tells senders when to fetch the policy again.
 */
import type { DnsAnswer } from '../dns/types.js';
import { classifyTxt, duplicateField, parseTagRecord } from './tag-record.js';
import type { MtaStsFacts } from './types.js';

export const STS_VERSION = 'v=STSv1';

const ID = /^[A-Za-z0-9]{1,32}$/;

/** One record that starts with `v=STSv1`: its id, or what is wrong with it. */
export function parseStsRecord(text: string): { ok: true; id: string } | { ok: false; problem: string } {
  const parsed = parseTagRecord(text, STS_VERSION);
  if (!parsed.ok) return parsed;
  const twice = duplicateField(parsed.fields, ['id', 'v']);
  if (twice) return { ok: false, problem: `has the field ${twice} twice` };
  const id = parsed.fields.find(([name]) => name === 'id')?.[1];
  if (id === undefined) return { ok: false, problem: 'has no id field (required)' };
  if (!ID.test(id)) return { ok: false, problem: `has id=${JSON.stringify(id.slice(0, 40))}; the id must be 1 to 32 letters and digits` };
  return { ok: true, id };
}

/** The record facts from the TXT answer at `_mta-sts.<domain>`. */
export function judgeStsRecord(answer: DnsAnswer<'TXT'>): MtaStsFacts['record'] {
  const { facts, kept } = classifyTxt(answer, STS_VERSION);
  if (facts.status !== 'valid') return facts;
  const parsed = parseStsRecord(kept[0]!);
  if (!parsed.ok) return { ...facts, status: 'invalid', problem: `the record ${parsed.problem}` };
  return { ...facts, id: parsed.id };
}
