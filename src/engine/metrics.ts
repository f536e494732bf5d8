/**
 * The monitor's rolling statistics, kept as rows finish: each sender and inbound
 * dispatcher tells the recorder of its store which rows were processed (and how long
 * they took) or went to `error`; the recorder adds them up by minute (core/stats) and
 * writes the sums to the store at most once a second, in one transaction. What it holds
 * is figures, not data: a crash loses at most the last second's counts, never a row.
 * Listeners (the Prometheus counters, the monitor's push) hear of each finished row as
 * it is counted.
 */
import { EventEmitter } from 'node:events';
import { type Direction, StatsTally } from '../core/stats';
import type { Store } from '../store/store';

export interface FinishedRows {
  direction: Direction;
  remoteSystem: string;
  processEvent: string;
  /** Processing times (ms) of the rows processed. */
  processedMs: readonly number[];
  errors: number;
}

export interface StatsRecorderEvents {
  finished: [rows: FinishedRows];
  /** A write of the sums failed (the store is away): they are kept and written with the next. */
  fault: [error: Error];
}

export class StatsRecorder extends EventEmitter<StatsRecorderEvents> {
  private tally = new StatsTally();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly flushMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** Rows one (direction, remote system, process event) finished just now. */
  record(rows: FinishedRows): void {
    if (rows.processedMs.length === 0 && rows.errors === 0) return;
    const at = this.now();
    for (const ms of rows.processedMs) this.tally.processed(rows.direction, rows.remoteSystem, rows.processEvent, at, ms);
    for (let i = 0; i < rows.errors; i++) this.tally.failed(rows.direction, rows.remoteSystem, rows.processEvent, at);
    this.emit('finished', rows);
    if (!this.timer && !this.stopped) this.timer = setTimeout(() => void this.flush(), this.flushMs);
  }

  /**
   * Rows of one direction that finished now, each with its remote system and process
   * event; `since` (queued or received) for a processed row, undefined for one that
   * went to `error`.
   */
  rows(direction: Direction, rows: readonly { remoteSystem: string; processEvent: string; since?: number }[]): void {
    const now = this.now();
    const groups = new Map<string, { remoteSystem: string; processEvent: string; processedMs: number[]; errors: number }>();
    for (const r of rows) {
      const key = `${r.remoteSystem}\u0000${r.processEvent}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { remoteSystem: r.remoteSystem, processEvent: r.processEvent, processedMs: [], errors: 0 }));
      if (r.since === undefined) g.errors += 1;
      else g.processedMs.push(now - r.since);
    }
    for (const g of groups.values()) this.record({ direction, ...g });
  }

  /** Writes what was counted so far; resolves when it is in the store (or the write failed). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return this.writing.then(() => (this.tally.size > 0 ? this.flush() : undefined));
    if (this.tally.size === 0) return Promise.resolve();
    const taken = this.tally.take();
    const writing = this.store.metrics
      .record(taken)
      .catch((err: unknown) => {
        // Kept for the next write, added to what was counted meanwhile (one entry per key:
        // the store adds each increment to its minute row).
        this.tally.add(taken);
        if (!this.timer && !this.stopped) this.timer = setTimeout(() => void this.flush(), Math.max(this.flushMs, 5000));
        this.emit('fault', err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        this.writing = undefined;
      });
    this.writing = writing;
    return writing;
  }

  /** Writes what is left and stops counting. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }
}
