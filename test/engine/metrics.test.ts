/**
 * The monitor's statistics as the engine keeps them (engine/metrics.ts): finished rows
 * are added up by minute and written to the store's minute sums, at most once a second
 * and in one write; a write the store refuses is kept and goes out with the next one.
 * Real SQLite store.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bucketOf, MINUTE_MS, minuteOf } from '../../src/core/stats';
import type { InboundDelivery } from '../../src/engine/inbox';
import { StatsRecorder } from '../../src/engine/metrics';
import { SqliteStore } from '../../src/store/sqlite';
import { draft, received } from '../store/contract/support';
import { testInbox } from './support';

function tempStore(): SqliteStore {
  return new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-metrics-')), 'store.sqlite'));
}

describe('engine/metrics: StatsRecorder', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = tempStore();
  });
  afterEach(async () => {
    await store.close();
  });

  it('adds finished rows up by remote system, process event and minute, and writes them in one write', async () => {
    let clock = minuteOf(Date.now()) + 1000;
    const recorder = new StatsRecorder(store, 60_000, () => clock);
    const writes: number[] = [];
    const record = store.metrics.record.bind(store.metrics);
    store.metrics.record = (increments) => {
      writes.push(increments.length);
      return record(increments);
    };
    const heard: string[] = [];
    recorder.on('finished', (rows) => heard.push(`${rows.direction} ${rows.remoteSystem} ${rows.processEvent} ${rows.processedMs.length}/${rows.errors}`));
    recorder.rows('outbound', [
      { remoteSystem: 'B', processEvent: 'PE', since: clock - 30 },
      { remoteSystem: 'B', processEvent: 'PE', since: clock - 3000 },
      { remoteSystem: 'B', processEvent: 'PE' },
      { remoteSystem: 'C', processEvent: 'PE', since: clock - 10 },
    ]);
    recorder.rows('inbound', [{ remoteSystem: 'B', processEvent: 'PE', since: clock - 70 }]);
    clock += MINUTE_MS;
    recorder.rows('outbound', [{ remoteSystem: 'B', processEvent: 'PE', since: clock - 40 }]);
    assert.deepEqual(heard, ['outbound B PE 2/1', 'outbound C PE 1/0', 'inbound B PE 1/0', 'outbound B PE 1/0']);
    await recorder.flush();
    assert.deepEqual(writes, [4], 'one write of four minute rows');
    const totals = await store.metrics.totals({ direction: 'outbound', remoteSystems: ['B'] }, 0);
    assert.equal(totals.length, 1);
    assert.equal(totals[0].processed, 3);
    assert.equal(totals[0].errors, 1);
    assert.equal(totals[0].timeSumMs, 30 + 3000 + 40);
    assert.equal(totals[0].buckets[bucketOf(30)], 2);
    assert.equal(totals[0].buckets[bucketOf(3000)], 1);
    const series = await store.metrics.series({ direction: 'outbound' }, 0, MINUTE_MS);
    assert.deepEqual(
      series.map((p) => [p.at - minuteOf(clock - MINUTE_MS), p.processed, p.errors]),
      [
        [0, 3, 1],
        [MINUTE_MS, 1, 0],
      ],
    );
    await recorder.stop();
  });

  it('writes by itself after the flush interval', async () => {
    const recorder = new StatsRecorder(store, 20);
    const written = new Promise<void>((resolve) => {
      const record = store.metrics.record.bind(store.metrics);
      store.metrics.record = async (increments) => {
        await record(increments);
        resolve();
      };
    });
    recorder.rows('inbound', [{ remoteSystem: 'B', processEvent: 'PE', since: Date.now() }]);
    await written;
    const [t] = await store.metrics.totals({}, 0);
    assert.equal(t.processed, 1);
    await recorder.stop();
  });

  it('keeps counts whose write failed (a store fault injected: a full disk cannot be had here) and writes them with the next', async () => {
    const recorder = new StatsRecorder(store, 60_000);
    const record = store.metrics.record.bind(store.metrics);
    let fail = true;
    store.metrics.record = (increments) => (fail ? Promise.reject(new Error('disk full')) : record(increments));
    const fault = once(recorder, 'fault');
    recorder.rows('outbound', [{ remoteSystem: 'B', processEvent: 'PE', since: Date.now() }]);
    await recorder.flush();
    assert.equal(((await fault)[0] as Error).message, 'disk full');
    fail = false;
    recorder.rows('outbound', [{ remoteSystem: 'B', processEvent: 'PE', since: Date.now() }, { remoteSystem: 'B', processEvent: 'PE' }]);
    await recorder.stop();
    const totals = await store.metrics.totals({}, 0);
    assert.equal(totals.reduce((n, t) => n + t.processed, 0), 2, 'the first write’s count came with the second');
    assert.equal(totals.reduce((n, t) => n + t.errors, 0), 1);
  });
});

describe('engine/metrics: rows the inbound dispatcher finishes', () => {
  it('counts a message whose completion also queued a correlation reply (finish answers "replied") as processed', async () => {
    const store = tempStore();
    const stats = new StatsRecorder(store, 60_000);
    const emitted: InboundDelivery[] = [];
    const delivered = new EventEmitter();
    const inbox = testInbox(store, {
      stats,
      emit: (d) => {
        emitted.push(d);
        delivered.emit('row');
      },
    });
    try {
      await store.inbound.accept('A', [received('case', 'r1', 1, { operation: 'insert' })], Date.now());
      const first = once(delivered, 'row');
      inbox.start();
      await first;
      const d = emitted[0];
      const reply = draft('inc', 'L1', { kind: 'correlation', target: { table: 'case', id: 'r1' } });
      const result = await inbox.finish({ id: d.row.id, attempt: d.attempt, status: 'processed', local: { table: 'inc', id: 'L1' }, reply });
      assert.equal(result, 'replied');
      await stats.flush();
      const [t] = await store.metrics.totals({ direction: 'inbound' }, 0);
      assert.equal(t?.processed, 1);
    } finally {
      await inbox.stop();
      await stats.stop();
      await store.close();
    }
  });
});
