/**
 * The metrics contract: minute sums that add up, read back by key and filter and in steps;
 * queue figures from the queues' own rows, their last processed time from the minute rows'
 * last_at; old minutes pruned in bounded batches.
 */
import assert from 'node:assert/strict';
import { type Direction, emptySums, minuteOf, MINUTE_MS, type StatsIncrement, TIME_BUCKETS } from '../../../src/core/stats';
import type { Store } from '../../../src/store/store';
import { draft, eachStore, received, type StoreFactory, T0 } from './support';

/** Minute 0 of the suite: a whole minute, so that minutes are T + k·MINUTE_MS. */
const M0 = 100 * MINUTE_MS;

function inc(direction: Direction, remoteSystem: string, processEvent: string, minute: number, processed: number, errors = 0, bucket = 0, lastAt: number | null = null): StatsIncrement {
  const buckets = new Array<number>(TIME_BUCKETS).fill(0);
  buckets[bucket] = processed;
  return { direction, remoteSystem, processEvent, minute, processed, errors, timeSumMs: processed * 10, buckets, lastAt };
}

/** What the engine records for rows of one key processed at `ats` (and `errors` failed at the first). */
function done(direction: Direction, remoteSystem: string, processEvent: string, ats: readonly number[], errors = 0): StatsIncrement {
  return inc(direction, remoteSystem, processEvent, minuteOf(ats[0]), ats.length, errors, 0, ats.length > 0 ? Math.max(...ats) : null);
}

/** In key order (code points, as the expectations are written). */
function byKey<T extends { direction: string; remoteSystem: string; processEvent: string }>(xs: readonly T[]): T[] {
  const key = (x: T): string => `${x.direction}/${x.remoteSystem}/${x.processEvent}`;
  return [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export function metricsContract(factory: StoreFactory): void {
  describe('metrics', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('adds increments of one key up, in one batch and across batches, and keeps them across a restart', async () => {
      const m = store.metrics;
      const a = inc('outbound', 'B', 'PE', M0, 2, 1, 3);
      await m.record([a, a]);
      await m.record([{ ...a, timeSumMs: 7.4 }]);
      await m.record([]);
      store = await factory.reopen(store);
      const [t] = await store.metrics.totals({}, M0);
      const buckets = emptySums().buckets;
      buckets[3] = 6;
      assert.deepEqual(t, { direction: 'outbound', remoteSystem: 'B', processEvent: 'PE', processed: 6, errors: 3, timeSumMs: 47, buckets });
    });

    it('totals the minutes at or after `since` by key, filtered by remote systems, process event and direction', async () => {
      const m = store.metrics;
      await m.record([
        inc('outbound', 'B', 'PE', M0 - MINUTE_MS, 100), // before since: not counted
        inc('outbound', 'B', 'PE', M0, 1, 0, 0),
        inc('outbound', 'B', 'PE', M0 + MINUTE_MS, 2, 1, TIME_BUCKETS - 1),
        inc('outbound', 'C', 'PE', M0, 4),
        inc('outbound', 'B', 'other', M0, 8),
        inc('inbound', 'B', 'PE', M0, 16, 2),
      ]);
      const all = byKey(await m.totals({}, M0));
      assert.deepEqual(
        all.map((t) => [t.direction, t.remoteSystem, t.processEvent, t.processed, t.errors, t.timeSumMs]),
        [
          ['inbound', 'B', 'PE', 16, 2, 160],
          ['outbound', 'B', 'PE', 3, 1, 30],
          ['outbound', 'B', 'other', 8, 0, 80],
          ['outbound', 'C', 'PE', 4, 0, 40],
        ],
      );
      const bpe = all.find((t) => t.direction === 'outbound' && t.remoteSystem === 'B' && t.processEvent === 'PE')!;
      assert.equal(bpe.buckets[0], 1);
      assert.equal(bpe.buckets[TIME_BUCKETS - 1], 2);
      assert.equal(bpe.buckets.length, TIME_BUCKETS);
      const keys = async (f: Parameters<Store['metrics']['totals']>[0]): Promise<string[]> =>
        byKey(await m.totals(f, M0)).map((t) => `${t.direction}/${t.remoteSystem}/${t.processEvent}`);
      assert.deepEqual(await keys({ remoteSystems: ['C'] }), ['outbound/C/PE']);
      assert.deepEqual(await keys({ remoteSystems: ['B', 'C'], processEvent: 'PE', direction: 'outbound' }), ['outbound/B/PE', 'outbound/C/PE']);
      assert.deepEqual(await keys({ direction: 'inbound' }), ['inbound/B/PE']);
      assert.deepEqual(await keys({ remoteSystems: [] }), []);
      assert.deepEqual(await keys({ processEvent: 'none' }), []);
      assert.deepEqual(await m.totals({}, M0 + 2 * MINUTE_MS), []);
    });

    it('gives the series in steps from `since`, by direction, leaving out steps without rows', async () => {
      const m = store.metrics;
      const step = 5 * MINUTE_MS;
      await m.record([
        inc('outbound', 'B', 'PE', M0 - MINUTE_MS, 100),
        inc('outbound', 'B', 'PE', M0, 1, 1),
        inc('outbound', 'C', 'PE', M0 + 4 * MINUTE_MS, 2),
        inc('outbound', 'B', 'PE', M0 + 5 * MINUTE_MS, 4),
        inc('inbound', 'B', 'PE', M0 + 2 * MINUTE_MS, 8, 3),
        inc('outbound', 'B', 'PE', M0 + 17 * MINUTE_MS, 16), // step 3; step 2 has nothing
      ]);
      assert.deepEqual(await m.series({}, M0, step), [
        { at: M0, direction: 'inbound', processed: 8, errors: 3 },
        { at: M0, direction: 'outbound', processed: 3, errors: 1 },
        { at: M0 + step, direction: 'outbound', processed: 4, errors: 0 },
        { at: M0 + 3 * step, direction: 'outbound', processed: 16, errors: 0 },
      ]);
      assert.deepEqual(await m.series({ remoteSystems: ['C'] }, M0, step), [{ at: M0, direction: 'outbound', processed: 2, errors: 0 }]);
      assert.deepEqual(await m.series({ direction: 'inbound', processEvent: 'PE' }, M0, MINUTE_MS), [{ at: M0 + 2 * MINUTE_MS, direction: 'inbound', processed: 8, errors: 3 }]);
      // A `since` off the minute grid: steps start at since.
      assert.deepEqual(await m.series({ direction: 'outbound' }, M0 + 1, 10 * MINUTE_MS), [
        { at: M0 + 1, direction: 'outbound', processed: 6, errors: 0 },
        { at: M0 + 1 + 10 * MINUTE_MS, direction: 'outbound', processed: 16, errors: 0 },
      ]);
    });

    it('figures both queues by remote system and process event: counts, oldest waiting, last processed from the minute stats', async () => {
      assert.deepEqual(await store.metrics.queues({}), []);
      const out = store.outbound;
      // B/PE: created at T0, T0+1, T0+2, T0+3; C/other: one at T0+10.
      const rows = await out.enqueue(
        [0, 1, 2, 3].map((i) => ({ remoteSystem: 'B', message: draft('t', `r${i}`) })),
        T0,
      );
      await out.enqueue([{ remoteSystem: 'C', message: draft('t', 'c', { processEvent: 'other' }) }], T0 + 10);
      const claimed = await out.claim('B', 3, T0 + 20, 'o', 60_000);
      assert.equal(claimed.length, 3);
      await out.markProcessed([rows[0].id], T0 + 30);
      await out.markProcessed([rows[1].id], T0 + 40);
      await out.fail([{ id: rows[2].id, error: 'boom', kind: 'refused' }], T0 + 50);
      // rows[3] stays ready; C's row stays ready.

      const inbound = store.inbound;
      await inbound.accept('A', [received('s', 'x', 1), received('s', 'y', 1)], T0 + 5);
      await inbound.accept('A', [received('s', 'z', 1)], T0 + 6);
      const ins = (await inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 2, now: T0 + 60, owner: 'o', gapWaitMs: 0 })).rows;
      assert.equal(ins.length, 2);
      await inbound.finish([{ id: ins[0].id, attempt: 1, status: 'processed' }], T0 + 70);
      // ins[1] stays processing (received at T0+5), the third stays ready (T0+6).

      // What the engine records for the rows that finished (the queues themselves record
      // nothing), and stats of a key whose rows have all left the queue: no group for it.
      await store.metrics.record([
        done('outbound', 'B', 'PE', [T0 + 30, T0 + 40], 1),
        done('inbound', 'A', 'PE', [T0 + 70]),
        done('outbound', 'gone', 'PE', [T0 + 45]),
        done('inbound', 'B', 'PE', [T0 + 99]), // another direction's B/PE
      ]);

      const figures = byKey(await store.metrics.queues({}));
      const counts = (ready: number, processing: number, processed: number, error: number) => ({ ready, processing, processed, error, skipped: 0 });
      assert.deepEqual(figures, [
        { direction: 'inbound', remoteSystem: 'A', processEvent: 'PE', counts: counts(1, 1, 1, 0), oldestWaitingAt: T0 + 5, lastProcessedAt: T0 + 70 },
        { direction: 'outbound', remoteSystem: 'B', processEvent: 'PE', counts: counts(1, 0, 2, 1), oldestWaitingAt: T0, lastProcessedAt: T0 + 40 },
        { direction: 'outbound', remoteSystem: 'C', processEvent: 'other', counts: counts(1, 0, 0, 0), oldestWaitingAt: T0 + 10, lastProcessedAt: null },
      ]);

      assert.deepEqual((await store.metrics.queues({ direction: 'outbound', remoteSystems: ['C'] })).map((q) => q.remoteSystem), ['C']);
      assert.deepEqual((await store.metrics.queues({ processEvent: 'PE' })).map((q) => `${q.direction}/${q.remoteSystem}`).sort(), ['inbound/A', 'outbound/B']);
      assert.deepEqual(await store.metrics.queues({ direction: 'inbound', remoteSystems: ['B'] }), []);
      assert.equal((await store.metrics.queues({ direction: 'outbound', remoteSystems: ['B'] }))[0].lastProcessedAt, T0 + 40);

      // Nothing waits any more: no oldest waiting row.
      assert.equal((await out.claim('B', 3, T0 + 75, 'o', 60_000)).length, 1);
      await out.markProcessed([rows[3].id], T0 + 80);
      await out.skip({ remoteSystem: 'B' }, T0 + 90);
      await store.metrics.record([done('outbound', 'B', 'PE', [T0 + 80])]);
      const [b] = await store.metrics.queues({ remoteSystems: ['B'] });
      assert.deepEqual(b.counts, { ready: 0, processing: 0, processed: 3, error: 0, skipped: 1 });
      assert.equal(b.oldestWaitingAt, null);
      assert.equal(b.lastProcessedAt, T0 + 80, 'a skipped row is not a processed one');
    });

    it('keeps the latest last_at of a minute row and of the kept minutes: null is no time, an earlier one lowers nothing', async () => {
      await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'r') }], T0);
      const m = store.metrics;
      const last = async (): Promise<number | null> => (await m.queues({ remoteSystems: ['B'] }))[0].lastProcessedAt;
      const key = ['outbound', 'B', 'PE'] as const;
      // A minute row with errors only: no time yet; then a time comes (null, then a value).
      await m.record([inc(...key, M0, 0, 2)]);
      assert.equal(await last(), null);
      await m.record([inc(...key, M0, 1, 0, 0, M0 + 20)]);
      assert.equal(await last(), M0 + 20);
      // An error-only increment (a value, then null) and an earlier time leave it.
      await m.record([inc(...key, M0, 0, 1), inc(...key, M0, 1, 0, 0, M0 + 5)]);
      assert.equal(await last(), M0 + 20);
      // The same key twice in one batch: the later one.
      await m.record([inc(...key, M0, 1, 0, 0, M0 + 30), inc(...key, M0, 1, 0, 0, M0 + 25)]);
      assert.equal(await last(), M0 + 30);
      // Across minutes: the latest of them; kept across a restart.
      await m.record([inc(...key, M0 + MINUTE_MS, 1, 0, 0, M0 + MINUTE_MS + 1), inc(...key, M0 + 2 * MINUTE_MS, 0, 3)]);
      store = await factory.reopen(store);
      assert.equal((await store.metrics.queues({ remoteSystems: ['B'] }))[0].lastProcessedAt, M0 + MINUTE_MS + 1);
      const [t] = await store.metrics.totals({}, M0);
      assert.deepEqual([t.processed, t.errors], [5, 6]);
    });

    it('lists the rows in error of each queue, newest first, filtered, at most `limit`', async () => {
      const out = store.outbound;
      await out.enqueue(
        ['a', 'b', 'c'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })).concat([{ remoteSystem: 'C', message: draft('t', 'd', { processEvent: 'Other' }) }]),
        T0,
      );
      const claimedB = await out.claim('B', 10, T0 + 1, 'o', 60_000);
      const claimedC = await out.claim('C', 10, T0 + 1, 'o', 60_000);
      await out.fail([...claimedB, ...claimedC].filter((r) => r.recordId !== 'b').map((r) => ({ id: r.id, error: `bad ${r.recordId}`, kind: 'refused' as const })), T0 + 2);
      await out.markProcessed(claimedB.filter((r) => r.recordId === 'b').map((r) => r.id), T0 + 2);
      const m = store.metrics;
      assert.deepEqual((await m.outboundErrors({}, 10)).map((r) => r.recordId), ['d', 'c', 'a']);
      assert.deepEqual((await m.outboundErrors({}, 2)).map((r) => r.recordId), ['d', 'c']);
      assert.deepEqual((await m.outboundErrors({ remoteSystems: ['B'] }, 10)).map((r) => [r.recordId, r.lastError]), [['c', 'bad c'], ['a', 'bad a']]);
      assert.deepEqual((await m.outboundErrors({ processEvent: 'Other' }, 10)).map((r) => r.recordId), ['d']);
      await store.inbound.accept('A', [received('s', 'x', 1), received('s', 'y', 1)], T0);
      const ins = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 2, now: T0 + 1, owner: 'o', gapWaitMs: 0 })).rows;
      await store.inbound.finish(ins.map((r) => ({ id: r.id, attempt: r.attempts, status: 'error' as const, error: `flow ${r.sourceId}` })), T0 + 2);
      assert.deepEqual((await m.inboundErrors({}, 10)).map((r) => r.sourceId), ['y', 'x']);
      assert.deepEqual(await m.inboundErrors({ remoteSystems: ['B'] }, 10), []);
    });

    it('prunes minutes older than `before`, oldest first, at most `limit` at a time', async () => {
      const m = store.metrics;
      await m.record([0, 1, 2, 3, 4].flatMap((k) => [inc('outbound', 'B', 'PE', M0 + k * MINUTE_MS, 1), inc('inbound', 'B', 'PE', M0 + k * MINUTE_MS, 1)]));
      const before = M0 + 3 * MINUTE_MS; // minutes 0..2: six rows
      assert.equal(await m.prune(before, 4), 4);
      assert.equal(await m.prune(before, 4), 2);
      assert.equal(await m.prune(before, 4), 0);
      const left = await m.series({}, M0, MINUTE_MS);
      assert.deepEqual([...new Set(left.map((p) => p.at))], [M0 + 3 * MINUTE_MS, M0 + 4 * MINUTE_MS]);
    });
  });
}
