/**
 * The series of scheduled domain results (domain mode), rendered per domain into a registry
 * of its own and kept until that domain's result or labels change: a scrape then only joins
 * text. The text is exactly what one registry of all domains would give. Host targets, far
 * more numerous, have their own byte cache fed by the store's notices (result-cache.ts);
 * domains are few and keep this simpler path, compared by identity at each refresh.
 */
import { Registry } from 'prom-client';

/** Writes the series of some entries into a registry (addDomainMetrics). */
export type RenderSeries<E> = (registry: Registry, entries: readonly E[]) => void;

interface CacheEntry {
  name: string;
  labels: Record<string, string>;
  result: unknown;
}

interface Rendered {
  result: unknown;
  signature: string;
  /** Series lines of each family, by the index of its header in `headers`; empty when none. */
  series: string[];
}

/** Blocks of prom-client's text: families joined by a blank line, header lines first. */
export function families(text: string): Array<[header: string, series: string]> {
  return text
    .replace(/\n$/, '')
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n');
      return [lines.slice(0, 2).join('\n'), lines.slice(2).join('\n')];
    });
}

/**
 * A copy of the text that holds no reference to the string it was cut from: V8 keeps a
 * substring as a slice of its parent, so each kept series would otherwise keep the whole
 * rendering of its target (every HELP line included) alive, about 6 KB a target.
 */
const detached = (text: string) => (text ? Buffer.from(text, 'utf8').toString('utf8') : text);

/** Work done between two yields to the event loop, so a refresh never stalls requests. */
const SLICE_MS = 5;

export class RegistrySeriesCache<E extends CacheEntry> {
  /** @param render the series of one kind of result. */
  constructor(private readonly render: RenderSeries<E>) {}

  private readonly byTarget = new Map<string, Rendered>();
  private headers: string[] = [];
  private custom = '';
  private running: Promise<void> | null = null;

  /** Targets rendered now (for tests). */
  get size(): number {
    return this.byTarget.size;
  }

  /**
   * Render what changed since the last call and forget removed targets. Calls while one runs
   * wait for it and then run again, so the caller always sees its entries.
   */
  async refresh(entries: readonly E[]): Promise<void> {
    while (this.running) await this.running;
    this.running = this.update(entries).finally(() => (this.running = null));
    return this.running;
  }

  /** The families of all targets, in the text format of one registry holding them all. */
  async text(entries: readonly E[]): Promise<string> {
    await this.refresh(entries);
    const rendered = entries.map((e) => this.byTarget.get(e.name)?.series);
    // One join of everything: '' before a header makes the blank line between families.
    const parts: string[] = [];
    this.headers.forEach((header, h) => {
      if (h > 0) parts.push('');
      parts.push(header);
      for (const series of rendered) {
        const lines = series?.[h];
        if (lines) parts.push(lines);
      }
    });
    return parts.join('\n');
  }

  private async update(entries: readonly E[]): Promise<void> {
    if (this.headers.length === 0) {
      const empty = new Registry();
      this.render(empty, []);
      this.headers = families(await empty.metrics()).map(([h]) => h);
    }
    // A label name one target has is a label (empty) of every target's series.
    const custom = [...new Set(entries.flatMap((e) => Object.keys(e.labels)))].sort();
    const customKey = JSON.stringify(custom);
    if (customKey !== this.custom) {
      this.custom = customKey;
      this.byTarget.clear();
    }
    const names = new Set<string>();
    let slice = performance.now();
    for (const e of entries) {
      names.add(e.name);
      // Whatever else the entry carries (labels, interval, certificate history) is part of its series.
      const { name: _name, result: _result, ...rest } = e;
      const signature = JSON.stringify(rest);
      const known = this.byTarget.get(e.name);
      if (known && known.result === e.result && known.signature === signature) continue;
      const registry = new Registry();
      const labels = Object.fromEntries(custom.map((k) => [k, e.labels[k] ?? '']));
      this.render(registry, [{ ...e, labels }]);
      const rendered: string[] = [];
      for (const [header, series] of families(await registry.metrics())) {
        let h = this.headers.indexOf(header);
        if (h === -1) h = this.headers.push(header) - 1;
        rendered[h] = detached(series);
      }
      this.byTarget.set(e.name, { result: e.result, signature, series: rendered });
      if (performance.now() - slice > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
    }
    for (const name of this.byTarget.keys()) if (!names.has(name)) this.byTarget.delete(name);
  }
}
