/**
 * Watching the configuration file for complete changes. The directory is watched, not the
 * file: editors replace the file by a rename, Kubernetes swaps a `..data` symlink next to it,
 * and either leaves a watch on the old inode blind. A change is read only after `debounceMs`
 * without further events, then again every `settleMs` until two reads agree, so a file still
 * being written is never handed over. A directory removed and created again is found by its
 * identity (device and inode) and watched anew.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readConfigText } from './yaml-text.js';

export interface SettledChange {
  /** The file's text, the same in the last two reads; or why it could not be read. */
  read: { text: string } | { problem: string };
  /** From the first event of this change to now. */
  sinceChangeMs: number;
  /** Reads it took for two in a row to agree. */
  reads: number;
}

export interface ConfigWatchOptions {
  path: string;
  onChange(change: SettledChange): void;
  /** Something that needs an operator (the directory is gone); the watch goes on. */
  onWarning(message: string, err?: unknown): void;
  /** Quiet time after the last event before reading (default 500 ms). */
  debounceMs?: number;
  /** Time between the reads that must agree (default 100 ms). */
  settleMs?: number;
  /** How often to look for a directory that has gone (default 1 s). */
  pollMs?: number;
  /**
   * Names of files in the directory whose changes never concern the configuration: the
   * results database when it sits next to it, written all the time (each event would read
   * and parse the configuration again: a second of a busy loop at 10,000 targets).
   */
  ignoreNames?: readonly string[];
}

export class ConfigWatcher {
  private readonly path: string;
  private readonly dir: string;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private readonly pollMs: number;
  private watcher: FSWatcher | null = null;
  private dirId: string | null = null;
  /** One timer at a time: debounce, settle or poll. An event resets it to the debounce. */
  private timer: NodeJS.Timeout | undefined;
  private firstEventAt: number | null = null;
  private pending: { read: SettledChange['read']; reads: number } | null = null;
  private dirGoneWarned = false;
  private closed = false;
  private readonly ignored: ReadonlySet<string>;

  constructor(private readonly options: ConfigWatchOptions) {
    this.path = resolve(options.path);
    this.dir = dirname(this.path);
    this.debounceMs = options.debounceMs ?? 500;
    this.settleMs = options.settleMs ?? 100;
    this.pollMs = options.pollMs ?? 1000;
    this.ignored = new Set(options.ignoreNames ?? []);
  }

  /** Throws when the directory cannot be watched at all (the caller falls back to SIGHUP). */
  start(): void {
    this.watchDir(true);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = null;
  }

  private identity(): string | null {
    try {
      const s = statSync(this.dir);
      return s.isDirectory() ? `${s.dev}:${s.ino}` : null;
    } catch {
      return null;
    }
  }

  private watchDir(throwing = false): boolean {
    this.watcher?.close();
    this.watcher = null;
    const id = this.identity();
    try {
      // No name (some platforms give none): it may be the configuration.
      const w = watch(this.dir, (_event, name) => (name !== null && this.ignored.has(String(name)) ? undefined : this.changed()));
      // Errors come with the directory going away: look at it again, as for an event.
      w.on('error', () => this.changed());
      this.watcher = w;
      this.dirId = id;
      return true;
    } catch (err) {
      if (throwing) throw err;
      return false;
    }
  }

  private changed(): void {
    if (this.closed) return;
    this.firstEventAt ??= Date.now();
    this.pending = null;
    this.arm(this.debounceMs, () => this.check());
  }

  private arm(ms: number, then: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(then, ms);
  }

  private check(): void {
    const id = this.identity();
    if (id === null || id !== this.dirId) {
      // Gone, or replaced: a watch on the old directory sees nothing of the new one.
      if (id === null || !this.watchDir()) {
        this.watcher?.close();
        this.watcher = null;
        this.dirId = null;
        if (!this.dirGoneWarned) this.options.onWarning(`the configuration directory ${this.dir} is gone; waiting for it to come back`);
        this.dirGoneWarned = true;
        this.arm(this.pollMs, () => this.check());
        return;
      }
      // Back, or new: what is in it may still be being written; wait for quiet as for an event.
      this.dirGoneWarned = false;
      this.changed();
      return;
    }
    this.pending = { read: readConfigText(this.path), reads: 1 };
    this.arm(this.settleMs, () => this.settle());
  }

  private settle(): void {
    const before = this.pending;
    if (!before) return;
    const now = readConfigText(this.path);
    if (JSON.stringify(now) !== JSON.stringify(before.read)) {
      this.pending = { read: now, reads: before.reads + 1 };
      this.arm(this.settleMs, () => this.settle());
      return;
    }
    const sinceChangeMs = Date.now() - (this.firstEventAt ?? Date.now());
    this.firstEventAt = null;
    this.pending = null;
    this.options.onChange({ read: now, sinceChangeMs, reads: before.reads + 1 });
  }
}
