/**
 * The figures of the monitor, as rules without I/O: the minute a finished row is counted
 * in, the processing-time histogram's bucket bounds, and what is read back from summed
 * buckets (average, p95, success rate). The store keeps per-minute sums (store/metrics);
 * everything here works on those sums, so that no row is ever scanned in JavaScript.
 */

export type Direction = 'outbound' | 'inbound';

/** Length of one rolling-stats bucket. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Upper bounds (inclusive, in ms) of the processing-time histogram; one more bucket
 * counts what is slower than the last. Processing time is capture → processed on the
 * sender and received → completed on the receiver, so it spans a quick send (tens of ms)
 * to a remote that was away for hours.
 */
export const TIME_BOUNDS_MS: readonly number[] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];

/** Number of histogram buckets: one per bound and the overflow. */
export const TIME_BUCKETS = TIME_BOUNDS_MS.length + 1;

/** The start of the minute `at` falls in. */
export function minuteOf(at: number): number {
  return Math.floor(at / MINUTE_MS) * MINUTE_MS;
}

/** The histogram bucket of a processing time (negative times, a clock that went back, count as 0). */
export function bucketOf(ms: number): number {
  const t = Math.max(0, ms);
  for (let i = 0; i < TIME_BOUNDS_MS.length; i++) if (t <= TIME_BOUNDS_MS[i]) return i;
  return TIME_BOUNDS_MS.length;
}

/**
 * Rows that finished in one minute for one (direction, remote system, process event):
 * what the engine adds up as rows finish and the store sums into its minute row.
 */
export interface StatsIncrement {
  direction: Direction;
  /** The rows' remote_system (a link key, see engine/link-identity). */
  remoteSystem: string;
  processEvent: string;
  /** minuteOf the time the rows finished. */
  minute: number;
  processed: number;
  errors: number;
  /** Sum of the processed rows' processing times, in ms. */
  timeSumMs: number;
  /** Processed rows per histogram bucket (length TIME_BUCKETS). */
  buckets: number[];
  /**
   * The latest time (ms) among the processed rows; null when none was processed. The
   * store keeps the latest per minute row: the monitor's "last processed" comes from it,
   * so that finishing a row maintains no index of the queue for it.
   */
  lastAt: number | null;
}

/** The later of two times, either of which may be missing. */
function laterOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** Adds up finished rows by key, for one write of increments (see engine/metrics). */
export class StatsTally {
  private readonly byKey = new Map<string, StatsIncrement>();

  private entry(direction: Direction, remoteSystem: string, processEvent: string, at: number): StatsIncrement {
    const minute = minuteOf(at);
    // Names joined by NUL, which names do not hold in practice (at worst two figures would merge).
    const key = `${direction}\u0000${remoteSystem}\u0000${processEvent}\u0000${minute}`;
    let e = this.byKey.get(key);
    if (!e) {
      e = { direction, remoteSystem, processEvent, minute, processed: 0, errors: 0, timeSumMs: 0, buckets: new Array<number>(TIME_BUCKETS).fill(0), lastAt: null };
      this.byKey.set(key, e);
    }
    return e;
  }

  /** A row processed at `at` that took `ms` since it was captured (sender) or received (receiver). */
  processed(direction: Direction, remoteSystem: string, processEvent: string, at: number, ms: number): void {
    const e = this.entry(direction, remoteSystem, processEvent, at);
    e.processed += 1;
    e.timeSumMs += Math.max(0, ms);
    e.buckets[bucketOf(ms)] += 1;
    e.lastAt = laterOf(e.lastAt, at);
  }

  /** A row that went to `error` at `at`. */
  failed(direction: Direction, remoteSystem: string, processEvent: string, at: number): void {
    this.entry(direction, remoteSystem, processEvent, at).errors += 1;
  }

  /** Adds increments back (a write that failed: the sums go out with the next one). */
  add(increments: readonly StatsIncrement[]): void {
    for (const inc of increments) {
      const e = this.entry(inc.direction, inc.remoteSystem, inc.processEvent, inc.minute);
      e.processed += inc.processed;
      e.errors += inc.errors;
      e.timeSumMs += inc.timeSumMs;
      for (let i = 0; i < TIME_BUCKETS; i++) e.buckets[i] += inc.buckets[i] ?? 0;
      e.lastAt = laterOf(e.lastAt, inc.lastAt);
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The increments so far, and a fresh start. */
  take(): StatsIncrement[] {
    const out = [...this.byKey.values()];
    this.byKey.clear();
    return out;
  }
}

/** Sums over some minutes: what store/metrics answers for totals. */
export interface StatsSums {
  processed: number;
  errors: number;
  timeSumMs: number;
  buckets: number[];
}

export function emptySums(): StatsSums {
  return { processed: 0, errors: 0, timeSumMs: 0, buckets: new Array<number>(TIME_BUCKETS).fill(0) };
}

export function addSums(into: StatsSums, more: StatsSums): StatsSums {
  into.processed += more.processed;
  into.errors += more.errors;
  into.timeSumMs += more.timeSumMs;
  for (let i = 0; i < TIME_BUCKETS; i++) into.buckets[i] += more.buckets[i] ?? 0;
  return into;
}

/** Average processing time in ms, or null without processed rows. */
export function averageMs(s: StatsSums): number | null {
  return s.processed > 0 ? s.timeSumMs / s.processed : null;
}

/**
 * A quantile (0..1) of processing time from the histogram, in ms: the upper bound of the
 * bucket it falls in (so "p95 ≤ this"); null without processed rows. A quantile in the
 * overflow bucket answers the last bound (the most that can be said).
 */
export function quantileMs(s: StatsSums, q: number): number | null {
  const total = s.buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < s.buckets.length; i++) {
    seen += s.buckets[i];
    if (seen >= rank) return TIME_BOUNDS_MS[Math.min(i, TIME_BOUNDS_MS.length - 1)];
  }
  return TIME_BOUNDS_MS[TIME_BOUNDS_MS.length - 1];
}

/** Processed out of processed and failed, 0..1; null when nothing finished. */
export function successRate(s: Pick<StatsSums, 'processed' | 'errors'>): number | null {
  const n = s.processed + s.errors;
  return n > 0 ? s.processed / n : null;
}
