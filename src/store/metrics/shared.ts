/** What both stores' metrics modules share: the histogram columns, and reading their aggregate rows. */
import { type Direction, type StatsIncrement, TIME_BUCKETS } from '../../core/stats';
import { countsOf, emptyCounts, type QueueStatus } from '../shared/queue';
import type { QueueFigures, StatsTotal } from './types';

/** rps_stats_minute's histogram columns, h0..h13 (migration 10), one per TIME_BUCKETS. */
export const BUCKET_COLUMNS: readonly string[] = Array.from({ length: TIME_BUCKETS }, (_, i) => `h${i}`);

/** The summed columns of rps_stats_minute, in order: counts, time sum, histogram. */
export const SUM_COLUMNS: readonly string[] = ['processed', 'errors', 'time_sum_ms', ...BUCKET_COLUMNS];

/** One row of a totals query: the key and the sums, named as the columns. */
export interface TotalRecord extends Record<string, string | number> {
  direction: Direction;
  remote_system: string;
  process_event: string;
}

export function statsTotal(r: TotalRecord): StatsTotal {
  return {
    direction: r.direction,
    remoteSystem: r.remote_system,
    processEvent: r.process_event,
    processed: Number(r.processed),
    errors: Number(r.errors),
    timeSumMs: Number(r.time_sum_ms),
    buckets: BUCKET_COLUMNS.map((c) => Number(r[c])),
  };
}

/**
 * One queue's groups, given the store's WHERE fragment of the filter's remote systems and
 * process event. The counts by (status, remote system, process event) read the monitor
 * index only (its columns in another order in PostgreSQL, see its migration 10); the
 * oldest waiting of a group is one index probe (min of the index's last column under the
 * three fixed others), so it does not depend on how many rows wait. The last processed
 * comes from the minute stats, not from the queue (an index of the queue for it would
 * cost every completion): the latest last_at of the group's key, one probe of
 * rps_stats_minute_last, so it does not depend on how many minutes are kept either. A key
 * of the stats without rows in the queue makes no group. Nothing reads the rows.
 */
export function queueGroupsSql(direction: Direction, filter: string): string {
  const table = direction === 'outbound' ? 'rps_outbound' : 'rps_inbound';
  const waitingSince = direction === 'outbound' ? 'created_at' : 'received_at';
  return `
    WITH g AS (
      SELECT status, remote_system, process_event, count(*) AS n FROM ${table}
      WHERE ${filter}
      GROUP BY status, remote_system, process_event)
    SELECT status, remote_system, process_event, n,
      CASE WHEN status IN ('ready', 'processing') THEN
        (SELECT min(${waitingSince}) FROM ${table} w
         WHERE w.status = g.status AND w.remote_system = g.remote_system AND w.process_event = g.process_event) END AS oldest,
      (SELECT max(last_at) FROM rps_stats_minute s
       WHERE s.direction = '${direction}' AND s.remote_system = g.remote_system AND s.process_event = g.process_event) AS last
    FROM g`;
}

/** One row of a queue-figures query: a (status, remote system, process event) group. */
export interface QueueGroupRecord {
  status: QueueStatus;
  remote_system: string;
  process_event: string;
  n: number;
  /** The group's earliest created_at / received_at; asked for 'ready' and 'processing' only. */
  oldest: number | null;
  /** The latest last_at of the key's kept minute stats (the same for each status of a key). */
  last: number | string | null;
}

/** The groups of one queue, per (remote system, process event): counts by status, the oldest waiting, the last processed. */
export function queueFigures(direction: Direction, groups: readonly QueueGroupRecord[]): QueueFigures[] {
  const byKey = new Map<string, { figures: QueueFigures; rows: QueueGroupRecord[] }>();
  for (const g of groups) {
    const key = JSON.stringify([g.remote_system, g.process_event]);
    let e = byKey.get(key);
    if (!e) {
      e = {
        figures: { direction, remoteSystem: g.remote_system, processEvent: g.process_event, counts: emptyCounts(), oldestWaitingAt: null, lastProcessedAt: null },
        rows: [],
      };
      byKey.set(key, e);
    }
    e.rows.push(g);
    if (g.oldest !== null) e.figures.oldestWaitingAt = Math.min(e.figures.oldestWaitingAt ?? Infinity, Number(g.oldest));
    if (g.last !== null) e.figures.lastProcessedAt = Math.max(e.figures.lastProcessedAt ?? -Infinity, Number(g.last));
  }
  return [...byKey.values()].map(({ figures, rows }) => ({ ...figures, counts: countsOf(rows.map((r) => ({ status: r.status, n: Number(r.n) }))) }));
}

/** The directions a filter asks for. */
export function directionsOf(direction: Direction | undefined): Direction[] {
  return direction ? [direction] : ['outbound', 'inbound'];
}

/** An increment as JSON for the one-statement upsert of a batch (both stores unpack it in SQL). */
export function incrementsJson(increments: readonly StatsIncrement[]): string {
  return JSON.stringify(
    increments.map((i) => ({
      d: i.direction,
      r: i.remoteSystem,
      e: i.processEvent,
      m: i.minute,
      p: i.processed,
      x: i.errors,
      t: Math.round(i.timeSumMs),
      b: BUCKET_COLUMNS.map((_, k) => i.buckets[k] ?? 0),
      l: i.lastAt,
    })),
  );
}
