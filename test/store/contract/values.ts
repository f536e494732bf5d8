/** The values contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { eachStore, type StoreFactory, T0 } from './support';

export function valuesContract(factory: StoreFactory): void {
  describe('values', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('keeps values across a restart, and the first init wins', async () => {
      assert.equal(await store.values.read('k'), undefined);
      await store.values.write('k', 'v1', T0);
      await store.values.write('k', 'v2', T0);
      assert.equal(await store.values.init('key', 'first', T0), 'first');
      assert.equal(await store.values.init('key', 'second', T0), 'first');
      store = await factory.reopen(store);
      assert.equal(await store.values.read('k'), 'v2');
      assert.equal(await store.values.read('key'), 'first');
      await store.values.write('k', undefined, T0);
      assert.equal(await store.values.read('k'), undefined);
    });

    it('lists values by key prefix, in key order, taking the prefix literally', async () => {
      for (const key of ['oauth-token:b', 'oauth-token:a', 'oauth-tokenX', 'other', 'a_b', 'axb', '100%', '1000']) await store.values.write(key, `v ${key}`, T0);
      assert.deepEqual(await store.values.list('oauth-token:'), [
        { key: 'oauth-token:a', value: 'v oauth-token:a' },
        { key: 'oauth-token:b', value: 'v oauth-token:b' },
      ]);
      assert.deepEqual((await store.values.list('a_')).map((v) => v.key), ['a_b'], '_ is no wildcard');
      assert.deepEqual((await store.values.list('100%')).map((v) => v.key), ['100%'], '% is no wildcard');
      assert.deepEqual((await store.values.list('other')).map((v) => v.key), ['other'], 'a whole key is its own prefix');
      assert.deepEqual(await store.values.list('none:'), []);
    });

    it('replaces values that still hold what was read, in one call, and nothing else (compare-and-set)', async () => {
      await store.values.write('s1', 'plain 1', T0);
      await store.values.write('s2', 'plain 2', T0);
      await store.values.write('s3', 'plain 3', T0);
      // s2 changed since it was read (a rotated token): it stays; a missing key is not created.
      await store.values.write('s2', 'rotated 2', T0);
      const replaced = await store.values.replace(
        [
          { key: 's1', expected: 'plain 1', value: 'sealed 1' },
          { key: 's2', expected: 'plain 2', value: 'sealed 2' },
          { key: 's3', expected: 'plain 3', value: 'sealed 3' },
          { key: 'gone', expected: 'x', value: 'y' },
        ],
        T0,
      );
      assert.deepEqual([...replaced].sort(), ['s1', 's3']);
      assert.deepEqual(await store.values.replace([], T0), []);
      store = await factory.reopen(store);
      assert.deepEqual(await store.values.list('s'), [
        { key: 's1', value: 'sealed 1' },
        { key: 's2', value: 'rotated 2' },
        { key: 's3', value: 'sealed 3' },
      ]);
      assert.equal(await store.values.read('gone'), undefined);
      // Two callers that read the same value: the first one's replacement wins, the second finds it changed.
      const [first, second] = await Promise.all([
        store.values.replace([{ key: 's1', expected: 'sealed 1', value: 'mine' }], T0),
        store.values.replace([{ key: 's1', expected: 'sealed 1', value: 'theirs' }], T0),
      ]);
      assert.deepEqual([first.length + second.length, await store.values.read('s1')], [1, first.length === 1 ? 'mine' : 'theirs']);
    });
  });
}
