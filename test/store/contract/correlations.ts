/** The correlations contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { draft, eachStore, received, type StoreFactory, T0 } from './support';

export function correlationsContract(factory: StoreFactory): void {
  describe('correlations', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('processing creates the correlation and queues one reply; a delete deactivates it', async () => {
      await store.inbound.accept('A', [received('inc', 'r1', 1), received('inc', 'r1', 2)], T0);
      const reply = draft('case', 'L1', { kind: 'correlation', operation: 'insert', target: { table: 'inc', id: 'r1' } });
      const [m1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      await store.inbound.finish([{ id: m1.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply }], T0);
      const link = await store.correlations.byRemote('A', 'inc', 'r1');
      assert.equal(link?.localId, 'L1');
      assert.equal((await store.correlations.byLocal('A', 'case', 'L1'))?.remoteId, 'r1');
      const [m2] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      const reply2 = { ...reply, id: 'another-reply' };
      await store.inbound.finish([{ id: m2.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply: reply2, deactivate: true }], T0);
      assert.equal((await store.correlations.byRemote('A', 'inc', 'r1'))?.state, 'inactive');
      const out = await store.outbound.claim('A', 10, T0, 'w', 1000);
      assert.deepEqual(
        out.map((r) => r.messageId),
        [reply.id],
        'one reply for the new link only',
      );
    });

    it('a correlation message links the records on arrival', async () => {
      const m = received('case', 'L9', 1, { kind: 'correlation', target: { table: 'inc', id: 'mine-1' } });
      assert.deepEqual(await store.inbound.accept('B', [m], T0), ['accepted']);
      const link = await store.correlations.byLocal('B', 'inc', 'mine-1');
      assert.deepEqual([link?.remoteTable, link?.remoteId, link?.state], ['case', 'L9', 'active']);
      const claim = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      assert.deepEqual(claim.rows, [], 'nothing for the flow to do');
      // The reply used sequence 1 of that record: its next change (2) is not a gap.
      await store.inbound.accept('B', [received('case', 'L9', 2)], T0);
      const next = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.equal(next.rows.length, 1);
    });
  });
}
