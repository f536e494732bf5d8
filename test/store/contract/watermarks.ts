/** The watermarks contract: per node, forward only, kept across a restart, reset by hand. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { eachStore, type StoreFactory, T0 } from './support';

export function watermarksContract(factory: StoreFactory): void {
  describe('watermarks', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('has none until one is written, then the one written, per node, across a restart', async () => {
      assert.equal(await store.watermarks.read('n1'), undefined);
      assert.equal(await store.watermarks.write('n1', { updatedAfter: 1_000, idAfter: 'a' }, T0), true);
      assert.equal(await store.watermarks.write('n2', { updatedAfter: 5, idAfter: null }, T0), true);
      store = await factory.reopen(store);
      assert.deepEqual(await store.watermarks.read('n1'), { updatedAfter: 1_000, idAfter: 'a' });
      assert.deepEqual(await store.watermarks.read('n2'), { updatedAfter: 5, idAfter: null });
      assert.equal(await store.watermarks.read('n3'), undefined);
    });

    it('moves only forward: a write behind or at the stored watermark is refused and changes nothing', async () => {
      const w = store.watermarks;
      assert.equal(await w.write('n', { updatedAfter: 2_000, idAfter: '10' }, T0), true);
      for (const behind of [
        { updatedAfter: 1_999, idAfter: 'z' },
        { updatedAfter: 2_000, idAfter: '9' }, // integer ids compare as numbers: 9 < 10
        { updatedAfter: 2_000, idAfter: '10' },
        { updatedAfter: 2_000, idAfter: null },
        { updatedAfter: null, idAfter: null },
      ]) {
        assert.equal(await w.write('n', behind, T0), false, JSON.stringify(behind));
      }
      assert.deepEqual(await w.read('n'), { updatedAfter: 2_000, idAfter: '10' });
      assert.equal(await w.write('n', { updatedAfter: 2_000, idAfter: '11' }, T0), true);
      assert.equal(await w.write('n', { updatedAfter: 2_001, idAfter: 'a' }, T0), true);
      assert.deepEqual(await w.read('n'), { updatedAfter: 2_001, idAfter: 'a' });
    });

    it('keeps the later watermark when writes race', async () => {
      const marks = Array.from({ length: 20 }, (_, i) => ({ updatedAfter: 100 + i, idAfter: `r${i}` }));
      // Issued at once, in reverse order: whatever order they commit in, the latest stays.
      await Promise.all([...marks].reverse().map((m) => store.watermarks.write('n', m, T0)));
      assert.deepEqual(await store.watermarks.read('n'), marks.at(-1));
    });

    it('resets to a time (backwards too) or to nothing', async () => {
      const w = store.watermarks;
      await w.write('n', { updatedAfter: 9_000, idAfter: 'x' }, T0);
      await w.write('other', { updatedAfter: 9_000, idAfter: 'x' }, T0);
      await w.reset('n', 3_000, T0);
      assert.deepEqual(await w.read('n'), { updatedAfter: 3_000, idAfter: null });
      assert.equal(await w.write('n', { updatedAfter: 3_000, idAfter: 'a' }, T0), true, 'forward again from the reset');
      await w.reset('n', null, T0);
      store = await factory.reopen(store);
      assert.equal(await store.watermarks.read('n'), undefined);
      assert.equal(await store.watermarks.write('n', { updatedAfter: 1, idAfter: 'a' }, T0), true, 'anything is forward of nothing');
      assert.deepEqual(await store.watermarks.read('other'), { updatedAfter: 9_000, idAfter: 'x' }, 'other nodes keep theirs');
      await store.watermarks.reset('new', 42, T0);
      assert.deepEqual(await store.watermarks.read('new'), { updatedAfter: 42, idAfter: null });
    });
  });
}
