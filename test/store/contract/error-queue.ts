/** The error queue contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { eachStore, type StoreFactory, T0 } from './support';

export function errorQueueContract(factory: StoreFactory): void {
  describe('error queue', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('holds messages for a retry node: take, fail again, give up after the retries, settle', async () => {
      const [a, b] = await store.errorQueue.add(
        [
          { owner: 'n1', message: '{"payload":1}', error: 'e1' },
          { owner: 'n1', message: '{"payload":2}', error: 'e2' },
        ],
        T0,
      );
      await store.errorQueue.add([{ owner: 'n2', message: '{}', error: 'other node' }], T0);
      const taken = await store.errorQueue.take('n1', 2, 10, T0);
      assert.deepEqual(
        taken.map((i) => [i.id, i.status, i.retries]),
        [
          [a, 'retrying', 1],
          [b, 'retrying', 1],
        ],
      );
      assert.equal(await store.errorQueue.fail('n1', a, 'again', 2, T0), 'error');
      assert.equal(await store.errorQueue.settle('n1', T0 + 1, T0 + 1), 1, 'b did not come back: done');
      await store.errorQueue.take('n1', 2, 10, T0 + 2);
      assert.equal(await store.errorQueue.fail('n1', a, 'still', 2, T0 + 3), 'failed');
      assert.deepEqual(await store.errorQueue.count('n1'), { error: 0, retrying: 0, processed: 1, failed: 1 });
      assert.equal(await store.errorQueue.fail('n2', a, 'not mine', 2, T0), undefined, 'another node cannot touch it');
    });

    it('after a restart, held messages that were out are held again', async () => {
      await store.errorQueue.add([{ owner: 'n1', message: '{}', error: 'e' }], T0);
      await store.errorQueue.take('n1', 5, 10, T0);
      assert.equal(await store.errorQueue.reset('n1', T0), 1);
      assert.equal((await store.errorQueue.take('n1', 5, 10, T0)).length, 1);
    });
  });
}
