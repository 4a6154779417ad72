/**
 * One target's series as exposition text, by family: written straight from the same walk as
 * addResultMetrics' (walkSeries), the way prom-client writes a gauge (labels in the order
 * given, values as `${value}`, a labelset set twice written once with its last value, at its
 * first place), so that the text is exactly what one registry of all targets would give; a
 * registry per target cost ten times as much. Kept as UTF-8 bytes outside the JS heap.
 */
import { FAMILIES, walkSeries, type FamilyKey, type ResultEntry } from './result-metrics.js';

export const FAMILY_KEYS = Object.keys(FAMILIES) as FamilyKey[];
const FAMILY_INDEX = new Map(FAMILY_KEYS.map((k, i) => [k, i]));

/** A label value as the exposition format (and prom-client) escapes it. */
const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** A sample value as prom-client writes it. */
function valueText(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/** One entry's series lines, by family index (labels already holding every configured name). */
export function seriesOf(entry: ResultEntry, custom: readonly string[]): string[] {
  const lines: string[][] = FAMILY_KEYS.map(() => []);
  const places: Array<Map<string, number> | undefined> = [];
  walkSeries([entry], custom, (key, labels, value) => {
    const f = FAMILY_INDEX.get(key)!;
    let body = '';
    for (const name in labels) body += `${body ? ',' : ''}${name}="${escapeLabel(labels[name]!)}"`;
    const line = `${FAMILIES[key].name}{${body}} ${valueText(value)}`;
    const at = (places[f] ??= new Map()).get(body);
    if (at === undefined) places[f]!.set(body, lines[f]!.push(line) - 1);
    else lines[f]![at] = line;
  });
  return lines.map((l) => (l.length ? `${l.join('\n')}\n` : ''));
}

/** One target's series: family h is bytes[offsets[h], offsets[h + 1]), each line ending in \n. */
export interface RenderedTarget {
  readonly bytes: Buffer;
  readonly offsets: Uint32Array;
}

/** The series of one target as one buffer of its own (not a slice of a shared pool). */
export function pack(series: readonly string[]): RenderedTarget {
  const offsets = new Uint32Array(series.length + 1);
  let length = 0;
  for (let h = 0; h < series.length; h++) {
    offsets[h] = length;
    length += Buffer.byteLength(series[h]!);
  }
  offsets[series.length] = length;
  const bytes = Buffer.allocUnsafeSlow(length);
  for (let h = 0; h < series.length; h++) bytes.write(series[h]!, offsets[h]!);
  return { bytes, offsets };
}
