/**
 * Known queue rows and minute stats for the tests of rps-stats and its Dashboard example:
 * written straight into a store (queue operations and metrics.record, as the engine would),
 * so that every figure the node reports can be worked out by hand (see STATS_EXPECTED).
 *
 * The minute stats go into the two minutes before `now` and the minute of `now`, each with
 * the same sums: the "last full minute" is then the same whether or not a minute boundary
 * passes between writing and reading, and the hour and day windows hold all three.
 */
import { type Direction, MINUTE_MS, minuteOf, type StatsIncrement, TIME_BUCKETS } from '../../src/core/stats';
import type { DirectionSummary } from '../../src/nodes/rps-stats';
import type { Store } from '../../src/store/store';
import { draft, received } from '../store/contract/support';

/** The other process event of the rows (the main one is the caller's). */
export const OTHER_EVENT = 'Other event';
/** A remote system's rows that no deployed node stands for (filtered out by remote system). */
export const OTHER_REMOTE = 'elsewhere';
/** How long before `now` the oldest outbound and inbound rows that still wait were created / received. */
export const OUTBOUND_WAITING_SINCE_MS = 120_000;
export const INBOUND_WAITING_SINCE_MS = 30_000;

function inc(direction: Direction, remoteSystem: string, processEvent: string, minute: number, processed: number, errors: number, bucketCounts: Record<number, number>, timeSumMs: number): StatsIncrement {
  const buckets = new Array<number>(TIME_BUCKETS).fill(0);
  for (const [b, n] of Object.entries(bucketCounts)) buckets[Number(b)] = n;
  // lastAt: a time in the minute, as the engine's would be (no figure checked here reads it).
  return { direction, remoteSystem, processEvent, minute, processed, errors, timeSumMs, buckets, lastAt: processed > 0 ? minute : null };
}

/**
 * Per minute (three minutes): outbound `remote`/`event` 6 processed (5 in the ≤100 ms
 * bucket, 1 in ≤2500 ms; 600 ms in all) and 2 errors; outbound OTHER_REMOTE/`event` 10
 * processed (≤50 ms; 500 ms); outbound `remote`/OTHER_EVENT 1 processed (≤1000 ms;
 * 1000 ms) and 1 error; inbound `remote`/`event` 3 processed (≤50 ms; 60 ms). Plus a
 * minute two days ago that no window counts.
 *
 * Queues: outbound `remote`/`event` 4 rows: 1 processed, 1 error, 2 processing (the oldest
 * waiting ones, OUTBOUND_WAITING_SINCE_MS old); OTHER_REMOTE/`event` 2 ready
 * (younger); `remote`/OTHER_EVENT 1 error. Inbound `remote`/`event` 2 rows: 1 processed,
 * 1 ready (INBOUND_WAITING_SINCE_MS old).
 */
export async function fillStatsRows(store: Store, remote: string, event: string, now: number): Promise<void> {
  const m = minuteOf(now);
  const increments: StatsIncrement[] = [];
  for (const minute of [m - 2 * MINUTE_MS, m - MINUTE_MS, m]) {
    increments.push(
      inc('outbound', remote, event, minute, 6, 2, { 1: 5, 5: 1 }, 600),
      inc('outbound', OTHER_REMOTE, event, minute, 10, 0, { 0: 10 }, 500),
      inc('outbound', remote, OTHER_EVENT, minute, 1, 1, { 4: 1 }, 1000),
      inc('inbound', remote, event, minute, 3, 0, { 0: 3 }, 60),
    );
  }
  increments.push(inc('outbound', remote, event, m - 2 * 24 * 60 * MINUTE_MS, 100, 100, { 0: 100 }, 100));
  await store.metrics.record(increments);

  const out = store.outbound;
  const created = now - OUTBOUND_WAITING_SINCE_MS;
  const mine = await out.enqueue(
    ['R1', 'R2', 'R3', 'R4'].map((id) => ({ remoteSystem: remote, message: draft('incident', id, { processEvent: event }) })),
    created,
  );
  await out.enqueue(['E1', 'E2'].map((id) => ({ remoteSystem: OTHER_REMOTE, message: draft('incident', id, { processEvent: event }) })), now - 1000);
  const [otherEvent] = await out.enqueue([{ remoteSystem: remote, message: draft('incident', 'O1', { processEvent: OTHER_EVENT }) }], now - 1000);
  const claimed = await out.claim(remote, 3, now, 'stats-test', 3_600_000);
  if (claimed.length !== 3) throw new Error(`claimed ${claimed.length} of the 3 rows to process`);
  await out.markProcessed([mine[0].id], now);
  await out.fail([{ id: mine[1].id, error: 'refused by the remote', kind: 'refused' }], now);
  // Then the remote's last two, oldest first: mine[3] stays processing, the other event's row fails.
  const next = await out.claim(remote, 2, now, 'stats-test', 3_600_000);
  if (next.map((r) => r.id).join() !== [mine[3].id, otherEvent.id].join()) throw new Error(`claimed ${next.map((r) => r.recordId).join()}, not R4 and O1`);
  await out.fail([{ id: otherEvent.id, error: 'refused by the remote', kind: 'refused' }], now);
  // mine[2] and mine[3] stay processing (waiting since `created`).

  const inbound = store.inbound;
  await inbound.accept(remote, [received('case', 'C1', 1, { processEvent: event }), received('case', 'C2', 1, { processEvent: event })], now - INBOUND_WAITING_SINCE_MS);
  const { rows } = await inbound.claim({ remoteSystem: remote, processEvent: event, limit: 1, now, owner: 'stats-test', gapWaitMs: 0 });
  if (rows.length !== 1) throw new Error(`claimed ${rows.length} inbound rows, not 1`);
  await inbound.finish([{ id: rows[0].id, attempt: 1, status: 'processed' }], now);
}

/** One direction's summary as rps-stats reports it, leaving out the oldest waiting row's age (it grows with the clock). */
export type ExpectedDirection = Omit<DirectionSummary, 'oldestWaitingSeconds'>;

/** The summaries of fillStatsRows' rows, worked out by hand, by filter. */
export const STATS_EXPECTED: Record<'all' | 'remote' | 'remoteAndEvent', Record<Direction, ExpectedDirection>> = {
  // Per minute 17 processed (10 ≤50, 5 ≤100, 1 ≤1000, 1 ≤2500) and 3 errors; 2100 ms.
  // p95 of 51: rank 49 > 48 (≤1000) → 2500. Average 6300 / 51 = 123.5.
  all: {
    outbound: { waiting: 4, error: 2, perMinute: 17, perHour: 51, perDay: 51, errorsPerDay: 9, successPercent: 85, averageMs: 124, p95Ms: 2500 },
    inbound: { waiting: 1, error: 0, perMinute: 3, perHour: 9, perDay: 9, errorsPerDay: 0, successPercent: 100, averageMs: 20, p95Ms: 50 },
  },
  // Without OTHER_REMOTE: per minute 7 processed, 3 errors, 1600 ms; 21 / 30 = 70 %; 4800 / 21 = 228.6.
  remote: {
    outbound: { waiting: 2, error: 2, perMinute: 7, perHour: 21, perDay: 21, errorsPerDay: 9, successPercent: 70, averageMs: 229, p95Ms: 2500 },
    inbound: { waiting: 1, error: 0, perMinute: 3, perHour: 9, perDay: 9, errorsPerDay: 0, successPercent: 100, averageMs: 20, p95Ms: 50 },
  },
  // Only `remote`/`event`: per minute 6 processed, 2 errors; 18 / 24 = 75 %; 1800 / 18 = 100; rank 18 of 18 → 2500.
  remoteAndEvent: {
    outbound: { waiting: 2, error: 1, perMinute: 6, perHour: 18, perDay: 18, errorsPerDay: 6, successPercent: 75, averageMs: 100, p95Ms: 2500 },
    inbound: { waiting: 1, error: 0, perMinute: 3, perHour: 9, perDay: 9, errorsPerDay: 0, successPercent: 100, averageMs: 20, p95Ms: 50 },
  },
};
