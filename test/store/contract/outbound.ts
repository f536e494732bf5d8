/** The outbound queue contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Message } from '../../../src/core/protocol';
import type { Store } from '../../../src/store/store';
import { draft, eachStore, type StoreFactory, T0 } from './support';

export function outboundContract(factory: StoreFactory): void {
  describe('outbound queue', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    const failAll = async (remote: string, n: number, kind: 'connection' | 'refused'): Promise<number[]> => {
      const q = await store.outbound.enqueue(
        Array.from({ length: n }, (_, i) => ({ remoteSystem: remote, message: draft('t', `r${i}`) })),
        T0,
      );
      const rows = await store.outbound.claim(remote, n, T0, 'w', 60_000);
      await store.outbound.fail(rows.map((r) => ({ id: r.id, error: 'x', kind })), T0);
      return q.map((e) => e.id);
    };

    it('gives each record its own sequence per remote system, starting at 1', async () => {
      const q = await store.outbound.enqueue(
        [
          { remoteSystem: 'B', message: draft('t', '1') },
          { remoteSystem: 'B', message: draft('t', '1') },
          { remoteSystem: 'B', message: draft('t', '2') },
          { remoteSystem: 'C', message: draft('t', '1') },
        ],
        T0,
      );
      assert.deepEqual(
        q.map((e) => e.sequence),
        [1, 2, 1, 1],
      );
      const row = await store.outbound.get(q[1].id);
      assert.equal(row?.status, 'ready');
      assert.equal((JSON.parse(row?.payload ?? '{}') as Message).sequence, 2, 'the stored payload carries its sequence');
    });

    it('claims oldest first and never two generations of a record out of order', async () => {
      const q = await store.outbound.enqueue(
        ['a', 'a', 'b', 'a', 'c'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
        T0,
      );
      const first = await store.outbound.claim('B', 2, T0, 'w1', 1000);
      assert.deepEqual(
        first.map((r) => r.id),
        [q[0].id, q[1].id],
      );
      // a's third row waits for its first two; b and c go.
      const second = await store.outbound.claim('B', 10, T0, 'w1', 1000);
      assert.deepEqual(
        second.map((r) => r.recordId),
        ['b', 'c'],
      );
      await store.outbound.markProcessed([q[0].id, q[1].id], T0);
      const third = await store.outbound.claim('B', 10, T0, 'w1', 1000);
      assert.deepEqual(
        third.map((r) => r.id),
        [q[3].id],
      );
      assert.equal(third[0].attempts, 1);
    });

    it('a retry waits for its time and holds back later rows of its record only', async () => {
      const q = await store.outbound.enqueue(
        ['a', 'a', 'b'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
        T0,
      );
      const [a1] = await store.outbound.claim('B', 1, T0, 'w1', 60_000);
      await store.outbound.retry([{ id: a1.id, error: 'ECONNREFUSED', nextAttemptAt: T0 + 5000, countTry: true }], T0);
      const now = await store.outbound.claim('B', 10, T0 + 1, 'w1', 60_000);
      assert.deepEqual(
        now.map((r) => r.recordId),
        ['b'],
      );
      assert.equal(await store.outbound.nextAttempt('B', T0 + 1), T0 + 5000);
      assert.equal(await store.outbound.nextAttempt('B', T0 + 5000), T0 + 1 + 60_000, 'then the end of the lease of the row in flight');
      const later = await store.outbound.claim('B', 10, T0 + 5000, 'w1', 60_000);
      assert.deepEqual(
        later.map((r) => r.id),
        [q[0].id, q[1].id],
      );
      assert.equal(later[0].attempts, 2);
      assert.equal(later[0].lastError, 'ECONNREFUSED');
    });

    it('a lease that ends exactly when the sender wakes for it is taken over then (bug: a sender woken at the end of a lease found nothing and never woke again)', async () => {
      await store.outbound.enqueue(
        ['a', 'a'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
        T0,
      );
      const [held] = await store.outbound.claim('B', 1, T0, 'dead worker', 1000);
      assert.deepEqual(await store.outbound.claim('B', 10, T0 + 999, 'w2', 1000), [], 'the lease is live until its end, and holds back the record');
      assert.equal(await store.outbound.nextAttempt('B', T0 + 999), T0 + 1000, 'the sender wakes at the end of the lease');
      const taken = await store.outbound.claim('B', 10, T0 + 1000, 'w2', 1000);
      assert.deepEqual(
        taken.map((r) => [r.id, r.attempts]),
        [
          [held.id, 2],
          [held.id + 1, 1],
        ],
        'at its end the row is taken over, and the next one of its record goes with it',
      );
    });

    it('an error row holds back its record until it is dealt with', async () => {
      await store.outbound.enqueue(
        ['a', 'a'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
        T0,
      );
      const [a1] = await store.outbound.claim('B', 1, T0, 'w1', 1000);
      await store.outbound.fail([{ id: a1.id, error: 'HTTP 400: bad', kind: 'refused' }], T0);
      assert.deepEqual(await store.outbound.claim('B', 10, T0, 'w1', 1000), []);
      const row = await store.outbound.get(a1.id);
      assert.equal(row?.status, 'error');
      assert.equal(row?.lastError, 'HTTP 400: bad');
      assert.deepEqual(await store.outbound.count('B'), { ready: 1, processing: 0, processed: 0, error: 1, skipped: 0 });
    });

    it('releases the rows an owner left in flight', async () => {
      await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'a') }], T0);
      const [row] = await store.outbound.claim('B', 1, T0, 'w1', 1000);
      assert.equal(await store.outbound.release('B', 'someone-else', T0), 0);
      assert.equal(await store.outbound.release('B', 'w1', T0), 1);
      const again = await store.outbound.claim('B', 1, T0, 'w2', 1000);
      assert.equal(again[0].id, row.id);
    });

    it('a restart takes back what a dead process left in flight', async () => {
      await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'a') }], T0);
      await store.outbound.claim('B', 1, T0, 'w1', 1000);
      const id = store.instanceId;
      store = await factory.reopen(store);
      assert.equal(store.instanceId, id, 'the instance id survives a restart');
      assert.equal((await store.outbound.claim('B', 1, Date.now(), 'w2', 1000)).length, 1);
    });

    it('re-queues error rows by kind and counts retries only when asked', async () => {
      const conn = await failAll('B', 2, 'connection');
      const refused = await failAll('C', 1, 'refused');
      assert.deepEqual(await store.outbound.requeue({ kinds: ['connection'] }, false, T0), conn);
      const row = await store.outbound.get(conn[0]);
      assert.deepEqual([row?.status, row?.tries, row?.retries, row?.errorKind], ['ready', 0, 0, null]);
      assert.deepEqual(await store.outbound.requeue({ remoteSystem: 'C', maxRetries: 1 }, true, T0), refused);
      assert.equal((await store.outbound.get(refused[0]))?.retries, 1);
      const [again] = await store.outbound.claim('C', 1, T0, 'w', 60_000);
      await store.outbound.fail([{ id: again.id, error: 'x', kind: 'refused' }], T0);
      assert.deepEqual(await store.outbound.requeue({ remoteSystem: 'C', maxRetries: 1 }, true, T0), [], 'no retries left');
    });

    it('skips named rows (error or ready), or every error row of a selection', async () => {
      const [e1] = await failAll('B', 1, 'refused');
      const [r1] = (await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'other') }], T0)).map((q) => q.id);
      assert.deepEqual(await store.outbound.skip({ remoteSystem: 'B' }, T0), [e1], 'without ids only error rows');
      assert.deepEqual(await store.outbound.skip({ ids: [r1] }, T0), [r1]);
      assert.equal((await store.outbound.get(r1))?.status, 'skipped');
    });
  });
}
