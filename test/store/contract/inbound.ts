/** The inbound queue contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { eachStore, received, type StoreFactory, T0 } from './support';

export function inboundContract(factory: StoreFactory): void {
  describe('inbound queue', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('a skipped inbound message lets the next one of its record go at once', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'x', 2)], T0);
      const [x1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
      await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'error', error: 'boom' }], T0);
      assert.equal((await store.inbound.get(x1.id))?.errorKind, 'flow');
      assert.deepEqual(await store.inbound.skip({ remoteSystem: 'A' }, T0), [x1.id]);
      const next = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.deepEqual(
        next.rows.map((r) => r.sequence),
        [2],
      );
    });

    it('accepts a message once per remote system: a repeat is a duplicate', async () => {
      const m = received('t', 'x', 1);
      assert.deepEqual(await store.inbound.accept('A', [m], T0), ['accepted']);
      assert.deepEqual(await store.inbound.accept('A', [m, received('t', 'y', 1)], T0), ['duplicate', 'accepted']);
      assert.deepEqual(await store.inbound.accept('C', [m], T0), ['accepted'], 'another remote is another queue');
      assert.deepEqual(await store.inbound.count('A'), { ready: 2, processing: 0, processed: 0, error: 0, skipped: 0 });
    });

    it('emits one message per record at a time, in sequence order', async () => {
      await store.inbound.accept('A', [received('t', 'x', 2), received('t', 'x', 1), received('t', 'y', 1)], T0);
      const c1 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 30_000 });
      assert.deepEqual(
        c1.rows.map((r) => [r.sourceId, r.sequence]),
        [
          ['x', 1],
          ['y', 1],
        ],
      );
      const c2 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 30_000 });
      assert.deepEqual(c2.rows, [], 'x#2 waits for x#1');
      const x1 = c1.rows[0];
      assert.deepEqual(await store.inbound.finish([{ id: x1.id, attempt: x1.attempts, status: 'processed' }], T0), ['finished']);
      const c3 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 30_000 });
      assert.deepEqual(
        c3.rows.map((r) => [r.sourceId, r.sequence]),
        [['x', 2]],
      );
    });

    it('waits for a missing sequence, then goes ahead after the gap wait', async () => {
      await store.inbound.accept('A', [received('t', 'x', 2)], T0);
      const early = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0 + 1000, owner: 'o', gapWaitMs: 5000 });
      assert.deepEqual(early.rows, []);
      assert.equal(early.waitingUntil, T0 + 5000);
      const unasked = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0 + 1000, owner: 'o', gapWaitMs: 5000, askGapEnd: false });
      assert.deepEqual([unasked.rows, unasked.waitingUntil], [[], undefined], 'not asked: not said');
      const late = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0 + 5000, owner: 'o', gapWaitMs: 5000 });
      assert.equal(late.rows.length, 1);
    });

    it('a record waiting for a missing sequence does not hold back other records', async () => {
      await store.inbound.accept('A', [received('t', 'x', 2), received('t', 'z', 3), received('t', 'y', 1)], T0);
      const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 5000 });
      assert.deepEqual(
        c.rows.map((r) => r.sourceId),
        ['y'],
      );
      const next = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 5000 });
      assert.deepEqual(next.rows, []);
      assert.equal(next.waitingUntil, T0 + 5000);
    });

    it('skips a message at or below the last applied sequence as stale', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1)], T0);
      const [x1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'processed' }], T0);
      await store.inbound.accept('A', [received('t', 'x', 1)], T0);
      const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      assert.deepEqual(c.rows, []);
      assert.equal(c.stale.length, 1);
      assert.equal((await store.inbound.get(c.stale[0].id))?.status, 'skipped');
    });

    it('an error holds back later messages of the record, not of others', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'x', 2), received('t', 'y', 1)], T0);
      const c1 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      const x1 = c1.rows.find((r) => r.sourceId === 'x');
      assert.ok(x1);
      await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'error', error: 'write failed' }], T0);
      const c2 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      assert.deepEqual(c2.rows, []);
      const row = await store.inbound.get(x1.id);
      assert.equal(row?.status, 'error');
      assert.equal(row?.lastError, 'write failed');
    });

    it('only the attempt that is out can finish a message', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1)], T0);
      const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts + 1, status: 'processed' }], T0), ['stale']);
      assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0), ['finished']);
      assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0), ['stale'], 'not twice');
    });

    it('a late completion still finishes a message that timed out', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1)], T0);
      const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      const expired = await store.inbound.expire('A', 'PE', T0 + 1, 'timeout', T0 + 1);
      assert.deepEqual(
        expired.map((r) => r.id),
        [row.id],
      );
      assert.equal((await store.inbound.get(row.id))?.lastError, 'timeout');
      assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0 + 2), ['finished']);
    });

    it('a new sender stream starts at 1 again without its messages taken for old ones', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1, { stream: 'old' }), received('t', 'x', 2, { stream: 'old' })], T0);
      for (let i = 0; i < 2; i++) {
        const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
        await store.inbound.finish([{ id: row.id, attempt: 1, status: 'processed' }], T0);
      }
      await store.inbound.accept('A', [received('t', 'x', 1, { stream: 'new' })], T0);
      const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.deepEqual(c.stale, []);
      assert.deepEqual(
        c.rows.map((r) => [r.stream, r.sequence]),
        [['new', 1]],
      );
    });

    it('a correlation message that overtakes a change of its record does not make that change stale', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1)], T0);
      await store.inbound.accept('A', [received('t', 'x', 2, { kind: 'correlation', target: { table: 'mine', id: 'm1' } })], T0);
      const [change1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
      assert.equal(change1?.sequence, 1, 'the change is still emitted');
      await store.inbound.finish([{ id: change1.id, attempt: 1, status: 'processed' }], T0);
      // The cursor moved over the correlation message: sequence 3 is next, not a gap.
      await store.inbound.accept('A', [received('t', 'x', 3)], T0);
      const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.deepEqual(
        c.rows.map((r) => r.sequence),
        [3],
      );
    });

    it('skipping a waiting message out of turn does not drop the earlier one when it is reprocessed', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'x', 2), received('t', 'x', 3)], T0);
      const [x1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
      await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'error', error: 'boom' }], T0);
      const all = await store.inbound.list({ remoteSystem: 'A', limit: 10 });
      const x2 = all.find((r) => r.sequence === 2);
      assert.ok(x2);
      assert.deepEqual(await store.inbound.skip({ ids: [x2.id] }, T0), [x2.id]);
      await store.inbound.requeue({ ids: [x1.id] }, true, T0);
      const again = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.deepEqual(again.stale, [], 'sequence 1 is not stale');
      assert.deepEqual(
        again.rows.map((r) => r.sequence),
        [1],
      );
      await store.inbound.finish([{ id: again.rows[0].id, attempt: 2, status: 'processed' }], T0);
      const last = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.deepEqual(
        last.rows.map((r) => r.sequence),
        [3],
        'then 3, over the skipped 2, without a gap wait',
      );
    });

    it('a restart emits again what was in the flow when the process died', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1)], T0);
      const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      store = await factory.reopen(store);
      const [again] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o2', gapWaitMs: 0 })).rows;
      assert.equal(again.id, row.id);
      assert.equal(again.attempts, 2, 'the second emission is counted, so the flow can tell');
    });
  });
}
