/** The retention contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { draft, eachStore, type StoreFactory, T0 } from './support';

export function retentionContract(factory: StoreFactory): void {
  describe('retention', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('purges by status and age in bounded batches, never what is in flight, and keeps for ever on 0', async () => {
      const DAY = 86_400_000;
      const old = T0;
      const q = await store.outbound.enqueue(
        Array.from({ length: 5 }, (_, i) => ({ remoteSystem: 'B', message: draft('t', `p${i}`) })),
        old,
      );
      const rows = await store.outbound.claim('B', 3, old, 'w', 60_000);
      await store.outbound.markProcessed(rows.slice(0, 2).map((r) => r.id), old);
      // Now: 2 processed, 1 processing, 2 ready; all old.
      const policy = { processedMs: DAY, skippedMs: DAY, errorMs: DAY, readyMs: 0 };
      const first = await store.retention.purge(policy, old + 2 * DAY, 1);
      assert.deepEqual([first.outbound, first.more], [1, true]);
      const second = await store.retention.purge(policy, old + 2 * DAY, 1);
      assert.equal(second.outbound, 1);
      assert.deepEqual(await store.outbound.count('B'), { ready: 2, processing: 1, processed: 0, error: 0, skipped: 0 });
      const withReady = await store.retention.purge({ ...policy, readyMs: DAY }, old + 2 * DAY, 100);
      assert.equal(withReady.outbound, 2, 'ready rows too once the policy says so');
      assert.equal((await store.outbound.count('B')).processing, 1, 'never a row in flight');
      assert.ok(q.length === 5);
    });
  });
}
