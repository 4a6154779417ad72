/**
 * The series of scheduled results, rendered per target when its result (or its labels,
 * interval or certificate history) changes, and kept as UTF-8 bytes outside the JS heap: a
 * scrape then only copies bytes, in chunks that yield to the event loop, instead of
 * rebuilding a registry of ~23 series per target or joining one string of the whole text.
 * A target's series come from the same walk as addResultMetrics' (walkSeries), written the
 * way prom-client writes a gauge (labels in the order given, values as `${value}`, a labelset
 * set twice written once with its last value, at its first place), so the text is exactly
 * what one registry of all targets would give; a registry per target cost ten times as much.
 */
import { Registry } from 'prom-client';
import { families } from './registry-cache.js';
import { addResultMetrics, FAMILIES, walkSeries, type FamilyKey, type ResultEntry } from './result-metrics.js';

const FAMILY_KEYS = Object.keys(FAMILIES) as FamilyKey[];
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
function seriesOf(entry: ResultEntry, custom: readonly string[]): string[] {
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


/** Work done between two yields to the event loop, so that rendering never stalls requests. */
const SLICE_MS = 5;
/** Bytes of a scrape written between two yields. */
export const SCRAPE_CHUNK = 1024 * 1024;
const CHUNK = SCRAPE_CHUNK;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ResultSeriesCache {
  private readonly byTarget = new Map<string, RenderedTarget>();
  private readonly headers: string[];
  private custom: readonly string[] = [];

  constructor() {
    const empty = new Registry();
    addResultMetrics(empty, []);
    // Registry.metrics() of gauges without collect functions is synchronous work: read its text now.
    this.headers = [];
    this.ready = empty.metrics().then((text) => {
      this.headers.push(...families(text).map(([h]) => h));
      const names = this.headers.map((h) => /^# HELP (\S+)/.exec(h)?.[1]);
      if (names.join() !== FAMILY_KEYS.map((k) => FAMILIES[k].name).join()) throw new Error('result series: families out of order');
    });
  }

  private readonly ready: Promise<void>;

  /** Targets rendered now. */
  get size(): number {
    return this.byTarget.size;
  }

  has(name: string): boolean {
    return this.byTarget.has(name);
  }

  delete(name: string): void {
    this.byTarget.delete(name);
  }

  /**
   * The label names configured on any target (each target's series carry all of them, empty
   * where it has none). Returns false, and forgets every rendering, when they changed.
   */
  setLabelNames(names: readonly string[]): boolean {
    if (names.length === this.custom.length && names.every((n, i) => n === this.custom[i])) return true;
    this.custom = [...names];
    this.byTarget.clear();
    return false;
  }

  /** Render these entries (replacing what was kept for them), yielding to the loop between slices. */
  async render(entries: Iterable<ResultEntry>): Promise<number> {
    await this.ready;
    let n = 0;
    let slice = performance.now();
    for (const e of entries) {
      this.byTarget.set(e.name, pack(seriesOf(e, this.custom)));
      n++;
      if (performance.now() - slice > SLICE_MS) {
        await nextTurn();
        slice = performance.now();
      }
    }
    return n;
  }

  /** The renderings of these targets as they are now (a scrape reads one consistent set). */
  snapshot(names: Iterable<string>): RenderedTarget[] {
    const out: RenderedTarget[] = [];
    for (const name of names) {
      const r = this.byTarget.get(name);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * The families of these renderings, in the text format of one registry holding them all
   * (no trailing newline after the last family's header when it has no series), as chunks
   * with a turn of the event loop between them.
   */
  async *chunks(rendered: readonly RenderedTarget[]): AsyncGenerator<Buffer> {
    await this.ready;
    let out = Buffer.allocUnsafe(CHUNK);
    let used = 0;
    const flush = () => {
      const full = out.subarray(0, used);
      out = Buffer.allocUnsafe(CHUNK);
      used = 0;
      return full;
    };
    for (let h = 0; h < this.headers.length; h++) {
      const head = Buffer.from(`${h > 0 ? '\n' : ''}${this.headers[h]}\n`);
      if (used + head.length > CHUNK) {
        yield flush();
        await nextTurn();
      }
      out.set(head, used);
      used += head.length;
      for (const r of rendered) {
        const from = r.offsets[h]!;
        const to = r.offsets[h + 1]!;
        if (from === to) continue;
        if (used + (to - from) > CHUNK) {
          if (used > 0) yield flush();
          await nextTurn();
          if (to - from > CHUNK) {
            yield r.bytes.subarray(from, to);
            continue;
          }
        }
        // TypedArray.set: Buffer.copy costs about a microsecond a call, and a scrape makes ~20 a target.
        out.set(r.bytes.subarray(from, to), used);
        used += to - from;
      }
    }
    if (used > 0) yield out.subarray(0, used);
  }

  /** The whole text of these targets' families (tests, and what one string is wanted for). */
  async text(names: Iterable<string>): Promise<string> {
    const parts: Buffer[] = [];
    for await (const b of this.chunks(this.snapshot(names))) parts.push(b);
    // One registry's text has no newline after its last series: chunks() ends each line.
    return Buffer.concat(parts).toString('utf8').replace(/\n$/, '');
  }
}

/** The series of one target as one buffer of its own (not a slice of a shared pool). */
function pack(series: readonly string[]): RenderedTarget {
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
