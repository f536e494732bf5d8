/** The field-stamps contract (and the conflict notes of inbound rows): what both stores must do. */
import assert from 'node:assert/strict';
import type { Stamp } from '../../../src/core/conflict';
import { stampedKey, type Store } from '../../../src/store/store';
import { eachStore, received, type StoreFactory, T0 } from './support';

const asObject = (m: Map<string, Map<string, Stamp>>): Record<string, Record<string, Stamp>> =>
  Object.fromEntries([...m.entries()].map(([k, v]) => [k, Object.fromEntries(v.entries())]));

export function fieldStampsContract(factory: StoreFactory): void {
  describe('field stamps', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('keeps each field of each record with its stamp, per table, across a restart; a batch reads the records asked', async () => {
      await store.fieldStamps.put([
        { table: 'incident', id: 'r1', field: 'state', at: T0, instance: 'A' },
        { table: 'incident', id: 'r1', field: 'priority', at: T0 + 5, instance: 'B' },
        { table: 'incident', id: 'r2', field: 'state', at: T0 + 1, instance: 'A' },
        { table: 'problem', id: 'r1', field: 'state', at: T0 + 2, instance: 'A' },
      ], T0);
      store = await factory.reopen(store);
      const got = await store.fieldStamps.get([{ table: 'incident', id: 'r1' }, { table: 'problem', id: 'r1' }, { table: 'incident', id: 'none' }]);
      assert.deepEqual(asObject(got), {
        [stampedKey('incident', 'r1')]: { state: { at: T0, instance: 'A' }, priority: { at: T0 + 5, instance: 'B' } },
        [stampedKey('problem', 'r1')]: { state: { at: T0 + 2, instance: 'A' } },
      });
      assert.equal((await store.fieldStamps.get([])).size, 0);
    });

    it('moves a stamp only forward: a later time wins, at the same time the greater instance id, whatever the order of the writes', async () => {
      const key = stampedKey('t', 'r');
      const put = (at: number, instance: string) => store.fieldStamps.put([{ table: 't', id: 'r', field: 'f', at, instance }], T0);
      await put(T0 + 10, 'B');
      await put(T0 + 5, 'Z');
      assert.deepEqual((await store.fieldStamps.get([{ table: 't', id: 'r' }])).get(key)?.get('f'), { at: T0 + 10, instance: 'B' });
      await put(T0 + 10, 'A');
      assert.deepEqual((await store.fieldStamps.get([{ table: 't', id: 'r' }])).get(key)?.get('f'), { at: T0 + 10, instance: 'B' });
      await put(T0 + 10, 'C');
      assert.deepEqual((await store.fieldStamps.get([{ table: 't', id: 'r' }])).get(key)?.get('f'), { at: T0 + 10, instance: 'C' });
      // Within one batch, too.
      await store.fieldStamps.put([
        { table: 't', id: 'r', field: 'g', at: T0 + 3, instance: 'A' },
        { table: 't', id: 'r', field: 'g', at: T0 + 1, instance: 'A' },
      ], T0);
      assert.deepEqual((await store.fieldStamps.get([{ table: 't', id: 'r' }])).get(key)?.get('g'), { at: T0 + 3, instance: 'A' });
    });

    it('forgets stamps written before a time, a batch at a time', async () => {
      await store.fieldStamps.put([1, 2, 3].map((n) => ({ table: 't', id: `r${n}`, field: 'f', at: T0, instance: 'A' })), T0);
      await store.fieldStamps.put([{ table: 't', id: 'new', field: 'f', at: T0, instance: 'A' }], T0 + 100);
      assert.equal(await store.fieldStamps.forget(T0 + 1, 2), 2);
      assert.equal(await store.fieldStamps.forget(T0 + 1, 2), 1);
      assert.equal(await store.fieldStamps.forget(T0 + 1, 2), 0);
      assert.deepEqual([...(await store.fieldStamps.get([1, 2, 3].map((n) => ({ table: 't', id: `r${n}` })).concat([{ table: 't', id: 'new' }]))).keys()], [stampedKey('t', 'new')]);
    });

    it('notes the conflicts of inbound rows (the last note of a row wins) and shows them on the row', async () => {
      await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'y', 1)], T0);
      const rows = await store.inbound.list({ limit: 10 });
      const [x, y] = rows.sort((a, b) => a.id - b.id);
      assert.equal(x.conflicts, null);
      await store.inbound.noteConflicts([
        { id: x.id, conflicts: '[{"field":"a"}]' },
        { id: x.id, conflicts: '[{"field":"b"}]' },
        { id: y.id, conflicts: '[]' },
      ]);
      store = await factory.reopen(store);
      assert.equal((await store.inbound.get(x.id))?.conflicts, '[{"field":"b"}]');
      assert.equal((await store.inbound.get(y.id))?.conflicts, '[]');
      await store.inbound.noteConflicts([]);
    });
  });
}
