/** The cleaner's pruning of the monitor's minute stats, on a real SQLite store. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StatsIncrement, MINUTE_MS, TIME_BUCKETS } from '../../src/core/stats';
import { Cleaner, DEFAULT_RETENTION, METRICS_KEEP_MS } from '../../src/engine/cleaner';
import { SqliteStore } from '../../src/store/sqlite';

const minuteRow = (minute: number, remoteSystem: string): StatsIncrement => ({
  direction: 'outbound',
  remoteSystem,
  processEvent: 'PE',
  minute,
  processed: 1,
  errors: 0,
  timeSumMs: 5,
  lastAt: minute,
  buckets: new Array<number>(TIME_BUCKETS).fill(0).map((_, i) => (i === 0 ? 1 : 0)),
});

describe('Cleaner', () => {
  it('prunes minute stats older than METRICS_KEEP_MS in batches, and keeps the rest', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-cleaner-')), 'store.sqlite'));
    try {
      const now = 1_000 * MINUTE_MS + METRICS_KEEP_MS;
      const cut = now - METRICS_KEEP_MS;
      // Five old minutes with two keys each (ten rows, more than one batch), and the cut minute itself.
      const old = [1, 2, 3, 4, 5].flatMap((k) => [minuteRow(cut - k * MINUTE_MS, 'B'), minuteRow(cut - k * MINUTE_MS, 'C')]);
      await store.metrics.record([...old, minuteRow(cut, 'B'), minuteRow(now - MINUTE_MS, 'B')]);
      const cleaner = new Cleaner({ store, policy: DEFAULT_RETENTION, intervalMs: 60_000, firstRunMs: 60_000, batch: 3, now: () => now });
      await cleaner.run();
      const left = await store.metrics.series({}, 0, MINUTE_MS);
      assert.deepEqual(
        left.map((p) => p.at),
        [cut, now - MINUTE_MS],
      );
      await cleaner.stop();
    } finally {
      await store.close();
    }
  });
});
