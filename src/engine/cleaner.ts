/**
 * Retention: deletes old queue rows by status and age, in bounded batches with a
 * pause between them, so delivery never waits long behind a large delete. Field stamps
 * go when no message that could conflict with them can still be waiting (stampKeepMs);
 * the monitor's minute stats after METRICS_KEEP_MS.
 */
import { STORE_NUMBERS } from '../core/settings';
import type { PurgeResult, RetentionPolicy, Store } from '../store/store';

const DAY = 24 * 60 * 60 * 1000;

/** RPS's defaults: the days an rps-store keeps rows of each status when its form leaves them empty. */
export const DEFAULT_RETENTION: RetentionPolicy = {
  processedMs: STORE_NUMBERS.keepProcessed.value * DAY,
  skippedMs: STORE_NUMBERS.keepSkipped.value * DAY,
  errorMs: STORE_NUMBERS.keepError.value * DAY,
  readyMs: STORE_NUMBERS.keepReady.value * DAY,
};

/** How long the monitor's minute stats are kept: its longest window (7 days) and a day to spare. */
export const METRICS_KEEP_MS = 8 * DAY;

/**
 * How long field stamps are kept: as long as a ready or error row may be (a message held
 * that long may still arrive and be decided against them); for ever when either is.
 */
export function stampKeepMs(policy: RetentionPolicy): number {
  return policy.readyMs > 0 && policy.errorMs > 0 ? Math.max(policy.readyMs, policy.errorMs) : 0;
}

export interface CleanerOptions {
  store: Store;
  policy: RetentionPolicy;
  /** How often to clean. */
  intervalMs: number;
  /** The first run, after start (not at once: a starting instance has other work). */
  firstRunMs: number;
  /** Rows per table and status in one transaction. */
  batch: number;
  onPurged?: (total: PurgeResult) => void;
  onFault?: (err: Error) => void;
  now?: () => number;
}

export class Cleaner {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<PurgeResult> | undefined;

  constructor(private readonly o: CleanerOptions) {}

  start(): void {
    this.schedule(this.o.firstRunMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Cleans until nothing old is left (or the cleaner is stopped); resolves with what was deleted. */
  run(): Promise<PurgeResult> {
    this.running ??= this.clean().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.run()
        .catch((err: unknown) => this.o.onFault?.(err instanceof Error ? err : new Error(String(err))))
        .finally(() => this.schedule(this.o.intervalMs));
    }, ms);
    this.timer.unref();
  }

  private async clean(): Promise<PurgeResult> {
    const total: PurgeResult = { outbound: 0, inbound: 0, errorQueue: 0, undelivered: 0, more: false };
    for (;;) {
      const r = await this.o.store.retention.purge(this.o.policy, (this.o.now ?? Date.now)(), this.o.batch);
      total.outbound += r.outbound;
      total.inbound += r.inbound;
      total.errorQueue += r.errorQueue;
      total.undelivered += r.undelivered;
      if (!r.more || this.stopped) break;
      // Let delivery and the flows run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const keep = stampKeepMs(this.o.policy);
    while (keep > 0 && !this.stopped && (await this.o.store.fieldStamps.forget((this.o.now ?? Date.now)() - keep, this.o.batch)) >= this.o.batch) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    while (!this.stopped && (await this.o.store.metrics.prune((this.o.now ?? Date.now)() - METRICS_KEEP_MS, this.o.batch)) >= this.o.batch) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total.outbound + total.inbound + total.errorQueue > 0) this.o.onPurged?.(total);
    return total;
  }
}
