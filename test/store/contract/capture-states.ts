/** The capture-states contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { eachStore, type StoreFactory, T0 } from './support';

export function captureStatesContract(factory: StoreFactory): void {
  describe('capture states', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('keeps the last state written of each record, per capture and table, across a restart', async () => {
      const states = () => store.captureStates;
      await states().put('cap1', 'incident', [
        { id: 'r1', fields: { state: 'new', priority: 3 } },
        { id: 'r2', fields: { state: 'new' } },
        { id: 'r1', fields: { state: 'resolved', priority: 3 } },
      ], T0);
      await states().put('cap2', 'incident', [{ id: 'r1', fields: { state: 'other capture' } }], T0);
      await states().put('cap1', 'problem', [{ id: 'r1', fields: { state: 'other table' } }], T0);
      store = await factory.reopen(store);
      const got = await states().get('cap1', 'incident', ['r1', 'r2', 'r3', 'r1']);
      assert.deepEqual([...got.entries()].sort(), [
        ['r1', { state: 'resolved', priority: 3 }],
        ['r2', { state: 'new' }],
      ]);
      assert.deepEqual([...(await states().get('cap2', 'incident', ['r1'])).values()], [{ state: 'other capture' }]);
      assert.deepEqual([...(await states().get('cap1', 'problem', ['r1'])).values()], [{ state: 'other table' }]);
    });

    it('forgets a record written as null, in batch order', async () => {
      await store.captureStates.put('cap', 't', [{ id: 'a', fields: { x: 1 } }, { id: 'b', fields: { x: 1 } }], T0);
      await store.captureStates.put('cap', 't', [{ id: 'a', fields: null }, { id: 'b', fields: null }, { id: 'b', fields: { x: 2 } }], T0 + 1);
      assert.deepEqual([...(await store.captureStates.get('cap', 't', ['a', 'b'])).entries()], [['b', { x: 2 }]]);
    });

    it('prunes a capture down to its most recently written records, and clears one capture only', async () => {
      for (let i = 0; i < 5; i++) await store.captureStates.put('cap', 't', [{ id: `r${i}`, fields: { i } }], T0 + i);
      await store.captureStates.put('cap', 't', [{ id: 'r0', fields: { i: 10 } }], T0 + 10);
      await store.captureStates.put('keep', 't', [{ id: 'r0', fields: { i: 0 } }], T0);
      assert.equal(await store.captureStates.prune('cap', 2), 3);
      assert.deepEqual([...(await store.captureStates.get('cap', 't', ['r0', 'r1', 'r2', 'r3', 'r4'])).keys()].sort(), ['r0', 'r4']);
      assert.equal(await store.captureStates.prune('cap', 2), 0);
      await store.captureStates.clear('cap');
      assert.equal((await store.captureStates.get('cap', 't', ['r0', 'r4'])).size, 0);
      assert.equal((await store.captureStates.get('keep', 't', ['r0'])).size, 1);
    });
  });
}
