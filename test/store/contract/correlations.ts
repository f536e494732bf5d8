/** The correlations contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { draft, eachStore, received, type StoreFactory, T0 } from './support';

/** The answer of a lookup of one key. */
async function one<T>(answers: Promise<T[]>): Promise<T> {
  const all = await answers;
  assert.equal(all.length, 1);
  return all[0];
}

export function correlationsContract(factory: StoreFactory): void {
  describe('correlations', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('processing creates the correlation and queues one reply; a delete deactivates it', async () => {
      await store.inbound.accept('A', [received('inc', 'r1', 1), received('inc', 'r1', 2)], T0);
      const reply = draft('case', 'L1', { kind: 'correlation', operation: 'insert', target: { table: 'inc', id: 'r1' } });
      const [m1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      await store.inbound.finish([{ id: m1.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply }], T0);
      const link = await one(store.correlations.byRemote([{ remoteSystem: 'A', table: 'inc', id: 'r1' }]));
      assert.equal(link?.localId, 'L1');
      assert.equal((await one(store.correlations.byLocal([{ remoteSystem: 'A', table: 'case', id: 'L1' }])))?.remoteId, 'r1');
      const [m2] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      const reply2 = { ...reply, id: 'another-reply' };
      await store.inbound.finish([{ id: m2.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply: reply2, deactivate: true }], T0);
      assert.equal((await one(store.correlations.byRemote([{ remoteSystem: 'A', table: 'inc', id: 'r1' }])))?.state, 'inactive');
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
      const link = await one(store.correlations.byLocal([{ remoteSystem: 'B', table: 'inc', id: 'mine-1' }]));
      assert.deepEqual([link?.remoteTable, link?.remoteId, link?.state], ['case', 'L9', 'active']);
      const claim = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      assert.deepEqual(claim.rows, [], 'nothing for the flow to do');
      // The reply used sequence 1 of that record: its next change (2) is not a gap.
      await store.inbound.accept('B', [received('case', 'L9', 2)], T0);
      const next = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.equal(next.rows.length, 1);
    });

    it('looks up a batch of records in one call, answering in the order asked', async () => {
      await store.inbound.accept('B', [
        received('case', 'L1', 1, { kind: 'correlation', target: { table: 'inc', id: 'm1' } }),
        received('case', 'L3', 1, { kind: 'correlation', target: { table: 'inc', id: 'm3' } }),
      ], T0);
      const keys = ['m3', 'nobody', 'm1', 'm3'].map((id) => ({ remoteSystem: 'B', table: 'inc', id }));
      const local = await store.correlations.byLocal(keys);
      assert.deepEqual(local.map((c) => c?.remoteId), ['L3', undefined, 'L1', 'L3']);
      const remote = await store.correlations.byRemote([
        { remoteSystem: 'B', table: 'case', id: 'L1' },
        { remoteSystem: 'other', table: 'case', id: 'L1' },
      ]);
      assert.deepEqual(remote.map((c) => c?.localId), ['m1', undefined]);
      assert.deepEqual(await store.correlations.byLocal([]), []);
    });
  });
}
