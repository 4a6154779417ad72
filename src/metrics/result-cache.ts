/**
 * The series of scheduled results (series-text.ts renders a target's when its result, labels,
 * interval or certificate history change), family by family: each family's series of all
 * targets in one buffer (an arena), in scrape order, outside the JS heap. The new renderings
 * are written in by a background sync every second (and whatever is still pending at a
 * scrape): over the old bytes when the lengths stay, else the family is copied once around the
 * changes. A scrape then sends the arenas as they are. Copying each target's ~20 pieces at
 * every scrape (230,000 at 10,000 targets) took 120 ms, and a registry per target ten times more.
 */
import { Registry } from 'prom-client';
import { families } from './registry-cache.js';
import { addResultMetrics, FAMILIES, type ResultEntry } from './result-metrics.js';
import { FAMILY_KEYS, pack, seriesOf, type RenderedTarget } from './series-text.js';

/**
 * One family's series of every member, in member order: member i is bytes[at[i], at[i + 1]),
 * and bytes[0, at[members]) the family's text. `spare` is the buffer the family was in before
 * its last rebuild: the next rebuild writes there when it fits and no scrape is still sending
 * it, so that a steady service allocates next to nothing for its series.
 */
interface Arena {
  bytes: Buffer;
  at: Uint32Array;
  spare: Buffer | null;
}

/** A scrape's text: `parts` one after the other, `length` bytes in all; release() once sent. */
export interface Scrape {
  readonly parts: readonly Buffer[];
  readonly length: number;
  release(): void;
}

/** Work done between two yields to the event loop, so that rendering never stalls requests. */
const SLICE_MS = 5;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Room left for growth when a family needs a bigger buffer: durations and counts change length. */
const HEADROOM = 1.1;

export class ResultSeriesCache {
  /** The targets in the arenas, in their order, and each one's place. */
  private members: string[] = [];
  private place = new Map<string, number>();
  private arenas: Arena[] = [];
  /** Renderings not yet in the arenas. */
  private readonly pending = new Map<string, RenderedTarget>();
  /** Members deleted since the arenas were last brought up to date. */
  private readonly removed = new Set<string>();
  private readonly headers: Buffer[] = [];
  private custom: readonly string[] = [];
  /** Arena buffers that scrapes are sending, and how many: never written over meanwhile. */
  private readonly held = new Map<Buffer, number>();
  /** The arenas are changed by one sync at a time; scrapes take them between syncs. */
  private syncing: Promise<void> = Promise.resolve();
  private readonly sliceMs: number;
  /** Counts changes of the label names: a sync that saw one in its course keeps nothing. */
  private generation = 0;
  /** The families' headers are known (read from an empty registry). */
  private readonly ready: Promise<void>;

  /** `sliceMs`: work between two yields to the event loop (tests make it -1: a yield every time). */
  constructor(options: { sliceMs?: number } = {}) {
    this.sliceMs = options.sliceMs ?? SLICE_MS;
    const empty = new Registry();
    addResultMetrics(empty, []);
    // Registry.metrics() of gauges without collect functions is synchronous work: read its text now.
    this.ready = empty.metrics().then((text) => {
      const headers = families(text).map(([h]) => h);
      const names = headers.map((h) => /^# HELP (\S+)/.exec(h)?.[1]);
      if (names.join() !== FAMILY_KEYS.map((k) => FAMILIES[k].name).join()) throw new Error('result series: families out of order');
      // A blank line between families; the last family's header ends the text when it has no series.
      this.headers.push(...headers.map((h, i) => Buffer.from(`${i > 0 ? '\n' : ''}${h}\n`)));
      this.arenas = headers.map(() => emptyArena());
    });
  }

  /** Targets rendered now. */
  get size(): number {
    let n = this.pending.size;
    for (const name of this.members) if (!this.pending.has(name) && !this.removed.has(name)) n++;
    return n;
  }

  has(name: string): boolean {
    return this.pending.has(name) || (this.place.has(name) && !this.removed.has(name));
  }

  delete(name: string): void {
    this.pending.delete(name);
    // Even when not a member yet: a rebuild may be adding it.
    this.removed.add(name);
  }

  /** For tests: arena buffers that scrapes still hold. */
  get heldBuffers(): number {
    return this.held.size;
  }

  /**
   * The label names configured on any target (each target's series carry all of them, empty
   * where it has none). Returns false, and forgets every rendering, when they changed.
   */
  setLabelNames(names: readonly string[]): boolean {
    if (names.length === this.custom.length && names.every((n, i) => n === this.custom[i])) return true;
    this.custom = [...names];
    this.generation++;
    this.pending.clear();
    this.removed.clear();
    // Members stay (their places are still right); each is rendered again before it is shown.
    for (const name of this.members) this.removed.add(name);
    return false;
  }

  /** Render these entries (replacing what was kept for them), yielding to the loop between slices. */
  async render(entries: Iterable<ResultEntry>): Promise<number> {
    await this.ready;
    let n = 0;
    let slice = performance.now();
    for (const e of entries) {
      this.removed.delete(e.name);
      this.pending.set(e.name, pack(seriesOf(e, this.custom)));
      n++;
      if (performance.now() - slice > this.sliceMs) {
        await nextTurn();
        slice = performance.now();
      }
    }
    return n;
  }

  /**
   * Bring the arenas up to date for these targets (those rendered, in this order): the
   * pending renderings are written in, in slices that yield to the event loop. Done in the
   * background as results arrive, so that a scrape finds little to do.
   */
  sync(names: readonly string[]): Promise<void> {
    const run = this.syncing.then(() => this.bringUpToDate(names));
    this.syncing = run.catch(() => undefined);
    return run;
  }

  /**
   * These targets' families (after a sync), with `before` and `after` around them: the text
   * of one registry holding them all, each series line ending in a newline, as buffers to
   * send one after the other. No copy: the arenas themselves, which no sync writes over until
   * `release()` (call it once the response is sent, or has failed).
   */
  async scrape(names: readonly string[], before: readonly Buffer[] = [], after: readonly Buffer[] = []): Promise<Scrape> {
    const run = this.syncing.then(async () => {
      await this.bringUpToDate(names);
      const parts: Buffer[] = [...before];
      const held: Buffer[] = [];
      for (let h = 0; h < this.headers.length; h++) {
        const a = this.arenas[h]!;
        parts.push(this.headers[h]!, a.bytes.subarray(0, a.at[a.at.length - 1]));
        held.push(a.bytes);
        this.held.set(a.bytes, (this.held.get(a.bytes) ?? 0) + 1);
      }
      parts.push(...after);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        for (const b of held) {
          const n = this.held.get(b)! - 1;
          if (n > 0) this.held.set(b, n);
          else this.held.delete(b);
        }
      };
      return { parts, length: parts.reduce((n, p) => n + p.length, 0), release };
    });
    this.syncing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The whole text of these targets' families (tests, and what one string is wanted for). */
  async text(names: readonly string[]): Promise<string> {
    const scrape = await this.scrape(names);
    const text = Buffer.concat(scrape.parts).toString('utf8');
    scrape.release();
    // One registry's text has no newline after its last series: each series line ends in one here.
    return text.replace(/\n$/, '');
  }

  private async bringUpToDate(names: readonly string[]): Promise<void> {
    await this.ready;
    const members = names.filter((name) => this.has(name));
    // What this sync writes in: renderings made meanwhile stay pending for the next.
    const taken = new Map<string, RenderedTarget>();
    for (const name of members) {
      const r = this.pending.get(name);
      if (r) taken.set(name, r);
    }
    const sameMembers = this.removed.size === 0 && members.length === this.members.length && members.every((name, i) => this.members[i] === name);
    const generation = this.generation;
    const removed = [...this.removed];
    if (sameMembers) await this.fold(taken);
    else await this.rebuild(members, taken);
    if (generation !== this.generation) {
      // The label names changed meanwhile: what was written has the old ones. Every target is
      // rendered again (setLabelNames said so); until then, none is shown.
      this.members = [];
      this.place = new Map();
      this.arenas = this.arenas.map(() => emptyArena());
      this.removed.clear();
      return;
    }
    // Deleted meanwhile: gone at the next sync.
    for (const name of removed) this.removed.delete(name);
    for (const [name, r] of taken) if (this.pending.get(name) === r) this.pending.delete(name);
  }

  /** Same members in the same order: the new renderings written over the old, family by family. */
  private async fold(taken: ReadonlyMap<string, RenderedTarget>): Promise<void> {
    if (taken.size === 0) return;
    const changes: Array<{ i: number; r: RenderedTarget }> = [];
    for (const [name, r] of taken) changes.push({ i: this.place.get(name)!, r });
    changes.sort((a, b) => a.i - b.i);
    let slice = performance.now();
    for (let h = 0; h < this.arenas.length; h++) {
      const arena = this.arenas[h]!;
      const at = arena.at;
      let delta = 0;
      for (const { i, r } of changes) delta += r.offsets[h + 1]! - r.offsets[h]! - (at[i + 1]! - at[i]!);
      const sameLengths = delta === 0 && changes.every(({ i, r }) => r.offsets[h + 1]! - r.offsets[h]! === at[i + 1]! - at[i]!);
      if (sameLengths && !this.held.has(arena.bytes)) {
        // Each change fits its place, and no scrape is sending these bytes: written over them.
        for (const { i, r } of changes) r.bytes.copy(arena.bytes, at[i], r.offsets[h], r.offsets[h + 1]);
      } else {
        const spare = arena.spare && !this.held.has(arena.spare) ? arena.spare : null;
        this.arenas[h] = refolded(arena, spare, changes, h, at[at.length - 1]! + delta);
      }
      if (performance.now() - slice > this.sliceMs) {
        await nextTurn();
        slice = performance.now();
      }
    }
  }

  /** Members came, went or moved: every family again, target by target. */
  private async rebuild(members: readonly string[], taken: ReadonlyMap<string, RenderedTarget>): Promise<void> {
    const arenas: Arena[] = [];
    let slice = performance.now();
    for (let h = 0; h < this.arenas.length; h++) {
      const old = this.arenas[h]!;
      const at = new Uint32Array(members.length + 1);
      let length = 0;
      for (let i = 0; i < members.length; i++) {
        const r = taken.get(members[i]!);
        const k = this.place.get(members[i]!)!;
        length += r ? r.offsets[h + 1]! - r.offsets[h]! : old.at[k + 1]! - old.at[k]!;
      }
      const bytes = Buffer.allocUnsafeSlow(Math.ceil(length * HEADROOM));
      let used = 0;
      for (let i = 0; i < members.length; i++) {
        if ((i & 1023) === 1023 && performance.now() - slice > this.sliceMs) {
          await nextTurn();
          slice = performance.now();
        }
        at[i] = used;
        const r = taken.get(members[i]!);
        if (r) used += r.bytes.copy(bytes, used, r.offsets[h], r.offsets[h + 1]);
        else {
          const k = this.place.get(members[i]!)!;
          used += old.bytes.copy(bytes, used, old.at[k], old.at[k + 1]);
        }
      }
      at[members.length] = used;
      arenas.push({ bytes, at, spare: null });
      if (performance.now() - slice > this.sliceMs) {
        await nextTurn();
        slice = performance.now();
      }
    }
    this.arenas = arenas;
    this.members = [...members];
    this.place = new Map(members.map((name, i) => [name, i]));
  }
}

function emptyArena(): Arena {
  return { bytes: Buffer.alloc(0), at: new Uint32Array(1), spare: null };
}

/**
 * Family h with these changes (sorted by place) into a buffer of `length` bytes at least:
 * the unchanged runs between them copied whole. Writes into `spare` (a buffer no scrape is
 * sending) when it fits.
 */
function refolded(arena: Arena, spare: Buffer | null, changes: ReadonlyArray<{ i: number; r: RenderedTarget }>, h: number, length: number): Arena {
  const old = arena.at;
  const n = old.length - 1;
  const bytes = spare && spare.length >= length ? spare : Buffer.allocUnsafeSlow(Math.ceil(length * HEADROOM));
  const at = new Uint32Array(old.length);
  let used = 0;
  let next = 0;
  const keep = (to: number) => {
    // The unchanged members before `to`, in one copy, their places shifted alike.
    const shift = used - old[next]!;
    used += arena.bytes.copy(bytes, used, old[next], old[to]);
    for (let k = next; k < to; k++) at[k] = old[k]! + shift;
  };
  for (const { i, r } of changes) {
    keep(i);
    at[i] = used;
    used += r.bytes.copy(bytes, used, r.offsets[h], r.offsets[h + 1]);
    next = i + 1;
  }
  keep(n);
  at[n] = used;
  return { bytes, at, spare: arena.bytes };
}
