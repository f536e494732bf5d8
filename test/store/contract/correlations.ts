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
      assert.deepEqual(await store.inbound.finish([{ id: m1.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply }], T0), ['replied'], 'the sender is told a reply waits');
      const link = await one(store.correlations.byRemote([{ remoteSystem: 'A', table: 'inc', id: 'r1' }]));
      assert.equal(link?.localId, 'L1');
      assert.equal((await one(store.correlations.byLocal([{ remoteSystem: 'A', table: 'case', id: 'L1' }])))?.remoteId, 'r1');
      const [m2] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      const reply2 = { ...reply, id: 'another-reply' };
      assert.deepEqual(await store.inbound.finish([{ id: m2.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply: reply2, deactivate: true }], T0), ['finished']);
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

    it('a batch of correlation messages, several for one record and out of order, leaves the links as one by one would, and moves the cursor over them all', async () => {
      const link = (id: string, sequence: number, target: string) => received('case', id, sequence, { kind: 'correlation', target: { table: 'inc', id: target } });
      // L1 links to m2, then to m1 (m2 loses it); L2 then takes m1 from L1.
      await store.inbound.accept('B', [link('L1', 2, 'm2'), link('L1', 1, 'm1'), link('L2', 1, 'm1')], T0);
      const byLocal = await store.correlations.byLocal(['m1', 'm2'].map((id) => ({ remoteSystem: 'B', table: 'inc', id })));
      assert.deepEqual(byLocal.map((c) => c && [c.remoteId, c.state]), [['L2', 'active'], undefined]);
      assert.equal(await one(store.correlations.byRemote([{ remoteSystem: 'B', table: 'case', id: 'L1' }])), undefined);
      // Both of L1's sequences are done: its change 3 goes at once, without a gap wait.
      await store.inbound.accept('B', [received('case', 'L1', 3)], T0);
      const next = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 60_000 });
      assert.deepEqual(next.rows.map((r) => [r.sourceId, r.sequence]), [['L1', 3]]);
    });

    it("a link that replaces its local record's old one keeps that link's creation time", async () => {
      await store.inbound.accept('B', [received('case', 'L5', 1, { kind: 'correlation', target: { table: 'inc', id: 'm5' } })], T0);
      await store.inbound.accept('B', [received('case', 'L6', 1, { kind: 'correlation', target: { table: 'inc', id: 'm5' } })], T0 + 1000);
      const c = await one(store.correlations.byLocal([{ remoteSystem: 'B', table: 'inc', id: 'm5' }]));
      assert.deepEqual([c?.remoteId, c?.createdAt, c?.updatedAt], ['L6', T0, T0 + 1000]);
    });

    it('one finish of several messages links, takes over and deactivates as one by one would', async () => {
      await store.inbound.accept('A', [received('inc', 's3', 1, { kind: 'correlation', target: { table: 'case', id: 'l3' } })], T0);
      await store.inbound.accept('A', [received('inc', 's1', 1), received('inc', 's2', 1), received('inc', 's3', 2)], T0);
      const rows = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      const row = (id: string) => rows.find((r) => r.sourceId === id)?.id ?? -1;
      const l1 = { table: 'case', id: 'l1' };
      await store.inbound.finish(
        [
          { id: row('s1'), attempt: 1, status: 'processed', local: l1 },
          { id: row('s2'), attempt: 1, status: 'processed', local: l1 },
          { id: row('s3'), attempt: 1, status: 'processed', local: { table: 'case', id: 'l3' }, deactivate: true },
        ],
        T0,
      );
      const links = await store.correlations.byRemote(['s1', 's2', 's3'].map((id) => ({ remoteSystem: 'A', table: 'inc', id })));
      assert.deepEqual(links.map((c) => c && [c.localId, c.state]), [undefined, ['l1', 'active'], ['l3', 'inactive']]);
    });

    it('sets the state of links by either record, in one batch, answering the links as the batch leaves them', async () => {
      await store.inbound.accept('B', [
        received('case', 'L1', 1, { kind: 'correlation', target: { table: 'inc', id: 'm1' } }),
        received('case', 'L2', 1, { kind: 'correlation', target: { table: 'inc', id: 'm2' } }),
      ], T0);
      const local = (id: string, state: 'active' | 'inactive') => ({ remoteSystem: 'B', table: 'inc', id, state });
      // m1 twice (its last state wins), a record without a link, and m2 already active.
      const set = await store.correlations.setState('local', [local('m1', 'active'), local('nobody', 'inactive'), local('m1', 'inactive'), local('m2', 'active')], T0 + 5);
      assert.deepEqual(set.map((c) => c && [c.localId, c.remoteId, c.state, c.updatedAt]), [
        ['m1', 'L1', 'inactive', T0 + 5],
        undefined,
        ['m1', 'L1', 'inactive', T0 + 5],
        ['m2', 'L2', 'active', T0],
      ], 'a link already in that state is not written');
      assert.equal((await one(store.correlations.byRemote([{ remoteSystem: 'B', table: 'case', id: 'L1' }])))?.state, 'inactive');
      assert.equal(await one(store.correlations.byLocal([{ remoteSystem: 'B', table: 'inc', id: 'nobody' }])), undefined, 'no link is made');
      // By the remote record: reactivated, with its twins and creation time as they were.
      const back = await one(store.correlations.setState('remote', [{ remoteSystem: 'B', table: 'case', id: 'L1', state: 'active' }], T0 + 9));
      assert.deepEqual(back && [back.localTable, back.localId, back.remoteTable, back.remoteId, back.state, back.createdAt, back.updatedAt], ['inc', 'm1', 'case', 'L1', 'active', T0, T0 + 9]);
      assert.equal((await one(store.correlations.byLocal([{ remoteSystem: 'B', table: 'inc', id: 'm1' }])))?.state, 'active');
      assert.equal(await one(store.correlations.setState('remote', [{ remoteSystem: 'other', table: 'case', id: 'L1', state: 'inactive' }], T0)), undefined, 'another remote system has no such link');
      assert.equal((await one(store.correlations.byLocal([{ remoteSystem: 'B', table: 'inc', id: 'm1' }])))?.state, 'active');
      assert.deepEqual(await store.correlations.setState('local', [], T0), []);
    });

    it('a processed message that names no local record leaves an inactive link inactive (complete of a message of an inactive link)', async () => {
      await store.inbound.accept('A', [received('inc', 'r7', 1, { kind: 'correlation', target: { table: 'case', id: 'L7' } })], T0);
      await store.correlations.setState('remote', [{ remoteSystem: 'A', table: 'inc', id: 'r7', state: 'inactive' }], T0);
      await store.inbound.accept('A', [received('inc', 'r7', 2)], T0);
      const [m2] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      assert.deepEqual(await store.inbound.finish([{ id: m2.id, attempt: 1, status: 'processed' }], T0), ['finished']);
      const link = await one(store.correlations.byRemote([{ remoteSystem: 'A', table: 'inc', id: 'r7' }]));
      assert.deepEqual(link && [link.localId, link.state], ['L7', 'inactive']);
      assert.deepEqual(await store.outbound.claim('A', 10, T0, 'w', 1000), [], 'no correlation reply');
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
