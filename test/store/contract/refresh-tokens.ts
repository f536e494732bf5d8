/** The issued refresh tokens contract: what both stores must do. */
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store';
import { eachStore, type StoreFactory, T0 } from './support';

export function refreshTokensContract(factory: StoreFactory): void {
  describe('issued refresh tokens', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);
    const presented = (hash: string) => ({ hash, remoteSystem: 'A', credential: 'c1' });

    it('rotates a refresh token once; presenting it again revokes the whole family', async () => {
      await store.refreshTokens.add({ hash: 'h1', remoteSystem: 'A', family: 'f', credential: 'c1', expiresAt: T0 + 1000 }, T0, 10);
      const first = await store.refreshTokens.rotate(presented('h1'), { hash: 'h2', expiresAt: T0 + 2000 }, T0, 100);
      assert.equal(first.status, 'rotated');
      // Within the grace time it is a retry (a lost answer): it gets a successor too.
      assert.equal((await store.refreshTokens.rotate(presented('h1'), { hash: 'h1b', expiresAt: T0 + 2000 }, T0 + 50, 100)).status, 'rotated');
      assert.deepEqual(await store.refreshTokens.rotate(presented('h1'), { hash: 'h3', expiresAt: T0 + 2000 }, T0 + 101, 100), { status: 'reused' });
      // The replay took the successor with it: whoever holds h2 must get a new grant.
      assert.deepEqual(await store.refreshTokens.rotate(presented('h2'), { hash: 'h4', expiresAt: T0 + 2000 }, T0 + 101, 100), { status: 'unknown' });
    });

    it('keeps the newest grants of a remote system only', async () => {
      for (let i = 0; i < 5; i++) {
        await store.refreshTokens.add({ hash: `g${i}`, remoteSystem: 'A', family: `f${i}`, credential: 'c1', expiresAt: T0 + 1000 + i }, T0, 3);
      }
      await store.refreshTokens.add({ hash: 'other', remoteSystem: 'B', family: 'fb', credential: 'c1', expiresAt: T0 + 1 }, T0, 3);
      const status = async (hash: string, remoteSystem = 'A') =>
        (await store.refreshTokens.rotate({ hash, remoteSystem, credential: 'c1' }, { hash: `${hash}-next`, expiresAt: T0 + 2000 }, T0, 0)).status;
      assert.deepEqual([await status('g0'), await status('g1'), await status('g4')], ['unknown', 'unknown', 'rotated']);
      assert.equal(await status('other', 'B'), 'rotated', 'other remote systems keep theirs');
    });

    it('refuses an expired token, one of another remote system, and one issued for an old credential', async () => {
      await store.refreshTokens.add({ hash: 'old', remoteSystem: 'A', family: 'f1', credential: 'c1', expiresAt: T0 + 10 }, T0, 10);
      assert.deepEqual(await store.refreshTokens.rotate(presented('old'), { hash: 'n1', expiresAt: T0 + 100 }, T0 + 10, 0), { status: 'expired' });
      await store.refreshTokens.add({ hash: 'a', remoteSystem: 'A', family: 'f2', credential: 'c1', expiresAt: T0 + 1000 }, T0, 10);
      assert.deepEqual(
        await store.refreshTokens.rotate({ hash: 'a', remoteSystem: 'B', credential: 'c1' }, { hash: 'n2', expiresAt: T0 + 100 }, T0, 0),
        { status: 'revoked' },
      );
      await store.refreshTokens.add({ hash: 'b', remoteSystem: 'A', family: 'f3', credential: 'c1', expiresAt: T0 + 1000 }, T0, 10);
      assert.deepEqual(
        await store.refreshTokens.rotate({ hash: 'b', remoteSystem: 'A', credential: 'c2' }, { hash: 'n3', expiresAt: T0 + 100 }, T0, 0),
        { status: 'revoked' },
      );
      assert.deepEqual(await store.refreshTokens.rotate(presented('b'), { hash: 'n4', expiresAt: T0 + 100 }, T0, 0), { status: 'unknown' }, 'revoked for good');
    });
  });
}
