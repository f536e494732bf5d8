/**
 * The secrets in the store (engine/secrets.ts), on SQLite and on a real PostgreSQL:
 * sealed on write, opened on read; values in clear from an earlier version sealed once
 * the store is open, without overwriting a value written meanwhile; a value sealed
 * with another credential secret treated as absent (reported once), and the signing
 * key made anew, one key for every process that shares the store; what becomes of the
 * tokens we issued with the old key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveSealKey, isSealed, type SealKey, unseal } from '../../src/core/seal';
import { oauthTokenName, type SealKeys, SIGNING_KEY, StoreSecrets } from '../../src/engine/secrets';
import { TokenIssuer, type TokenSubject } from '../../src/engine/tokens';
import { PostgresStore } from '../../src/store/postgres';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { decodeJwt } from '../../src/transport/jwt';
import { assertPgReachable, TEST_PG_URL, TestSchemas } from '../../tools/pg';
import { withOperations } from '../store/with-operations';

const T0 = 1_000_000;
const TOKEN = oauthTokenName('rs');

function sqlite(): SqliteStore {
  return new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-secrets-')), 'store.sqlite'));
}

/** A StoreSecrets with fixed keys that records what it reports unreadable. */
function secretsWith(current: SealKey | undefined, previous: SealKey[] = []): StoreSecrets & { unreadable: string[] } {
  const unreadable: string[] = [];
  const keys: SealKeys = { current, previous };
  const secrets = new StoreSecrets(async () => keys, { unreadable: (_store, name) => unreadable.push(name) });
  return Object.assign(secrets, { unreadable });
}

describe('secrets in the store (sealed with the credential secret)', function () {
  this.timeout(60_000);
  let one: SealKey;
  let two: SealKey;
  let stores: Store[] = [];
  const track = <S extends Store>(s: S): S => {
    stores.push(s);
    return s;
  };
  before(async () => {
    [one, two] = await Promise.all([deriveSealKey('credential secret one'), deriveSealKey('credential secret two')]);
  });
  afterEach(async () => {
    for (const s of stores) await s.close();
    stores = [];
  });

  it('writes sealed (the raw row shows nothing of the value) and reads back; deletes', async () => {
    const store = track(sqlite());
    const secrets = secretsWith(one);
    const value = JSON.stringify({ v: 1, accessToken: 'access-7Gd2', refreshToken: 'refresh-4Kp9' });
    await secrets.write(store, TOKEN, value, T0);
    const raw = (await store.values.read(TOKEN))!;
    assert.ok(isSealed(raw) && !raw.includes('access-7Gd2') && !raw.includes('refresh-4Kp9'));
    assert.equal(unseal(one, TOKEN, raw), value);
    assert.equal(await secrets.read(store, TOKEN), value);
    await secrets.write(store, TOKEN, undefined, T0);
    assert.equal(await store.values.read(TOKEN), undefined);
    assert.deepEqual(secrets.unreadable, []);
  });

  it('reads values in clear from an earlier version, and sealAll seals every secret (and only secrets), once', async () => {
    const store = track(sqlite());
    await store.values.write(TOKEN, '{"v":1,"accessToken":"old-clear"}', T0);
    await store.values.write(oauthTokenName('other'), '{"v":1,"accessToken":"other-clear"}', T0);
    await store.values.write(SIGNING_KEY, 'c2lnbmluZy1rZXktaW4tY2xlYXI', T0);
    await store.values.write('activation:rs', '{"outbound":true}', T0);
    const secrets = secretsWith(one);
    assert.equal(await secrets.read(store, TOKEN), '{"v":1,"accessToken":"old-clear"}', 'usable before it is sealed');

    assert.equal(await secrets.sealAll(store, T0), 3);
    for (const name of [TOKEN, oauthTokenName('other'), SIGNING_KEY]) assert.ok(isSealed((await store.values.read(name))!), name);
    assert.equal(await store.values.read('activation:rs'), '{"outbound":true}', 'not a secret: left as it is');
    assert.equal(await secrets.read(store, TOKEN), '{"v":1,"accessToken":"old-clear"}');
    assert.equal(await secrets.read(store, SIGNING_KEY), 'c2lnbmluZy1rZXktaW4tY2xlYXI');
    assert.equal(await secrets.sealAll(store, T0), 0, 'nothing left to do at the next open');
    assert.deepEqual(secrets.unreadable, []);
  });

  it('sealAll never overwrites a value written after it was read (a token rotated meanwhile)', async () => {
    const base = track(sqlite());
    await base.values.write(TOKEN, '{"refreshToken":"r1"}', T0);
    await base.values.write(SIGNING_KEY, 'a2V5', T0);
    const secrets = secretsWith(one);
    // Between the read of the values and their replacement, the token source saves a rotated token.
    const racing = withOperations(base, {
      values: {
        replace: async (...args: Parameters<Store['values']['replace']>) => {
          await secrets.write(base, TOKEN, '{"refreshToken":"r2"}', T0);
          return base.values.replace(...args);
        },
      },
    });
    assert.equal(await secrets.sealAll(racing, T0), 1, 'the signing key only');
    assert.equal(await secrets.read(base, TOKEN), '{"refreshToken":"r2"}', 'the rotated token stays');
    assert.equal(await secrets.read(base, SIGNING_KEY), 'a2V5');
  });

  it('a value sealed with another credential secret is absent (reported once), left alone by sealAll, replaced when written', async () => {
    const store = track(sqlite());
    await secretsWith(one).write(store, TOKEN, 'held with secret one', T0);
    const before = await store.values.read(TOKEN);
    const secrets = secretsWith(two);
    assert.equal(await secrets.read(store, TOKEN), undefined);
    assert.equal(await secrets.read(store, TOKEN), undefined);
    assert.equal(await secrets.sealAll(store, T0), 0);
    assert.equal(await store.values.read(TOKEN), before, 'kept: it may still be of use to whoever has secret one');
    assert.deepEqual(secrets.unreadable, [TOKEN], 'told once, whatever the number of reads');
    await secrets.write(store, TOKEN, 'obtained again', T0);
    assert.equal(await secrets.read(store, TOKEN), 'obtained again');
  });

  it("what Node-RED's previous secret sealed opens, and sealAll seals it again with the current one", async () => {
    const store = track(sqlite());
    await secretsWith(one).write(store, TOKEN, 'sealed with the generated secret', T0);
    const moving = secretsWith(two, [one]);
    assert.equal(await moving.read(store, TOKEN), 'sealed with the generated secret');
    assert.equal(await moving.sealAll(store, T0), 1);
    assert.equal(unseal(two, TOKEN, (await store.values.read(TOKEN))!), 'sealed with the generated secret');
    // Once Node-RED has forgotten the generated secret, the value still opens.
    assert.equal(await secretsWith(two).read(store, TOKEN), 'sealed with the generated secret');
    assert.deepEqual(moving.unreadable, []);
  });

  it('without a key (credentialSecret false) values are kept in clear, as Node-RED keeps its credentials', async () => {
    const store = track(sqlite());
    await secretsWith(one).write(store, oauthTokenName('a'), 'sealed before', T0);
    await secretsWith(two).write(store, oauthTokenName('b'), 'sealed with a secret long gone', T0);
    const clear = secretsWith(undefined, [one]);
    await clear.write(store, TOKEN, 'in clear', T0);
    assert.equal(await store.values.read(TOKEN), 'in clear');
    assert.equal(await clear.read(store, oauthTokenName('a')), 'sealed before');
    assert.equal(await clear.sealAll(store, T0), 1, 'what the previous secret sealed is written in clear');
    assert.equal(await store.values.read(oauthTokenName('a')), 'sealed before');
    assert.equal(await clear.read(store, oauthTokenName('b')), undefined);
    assert.deepEqual(clear.unreadable, [oauthTokenName('b')]);
  });

  describe('the token signing key', () => {
    const CREDS = { user: 'remote-a', password: 'api-password-1' };
    const subjectOf = (store: Store): TokenSubject => ({ id: 'rs', store, credentials: CREDS, tokenLifetimeSec: 60 });

    it('is made once and sealed; a store opened with another credential secret makes a new one, and the tokens issued with the old one are refused', async () => {
      const store = track(sqlite());
      const clock = T0 * 1000;
      const before = new TokenIssuer(() => clock, secretsWith(one));
      const key = await before.key(store);
      const raw = (await store.values.read(SIGNING_KEY))!;
      assert.ok(isSealed(raw) && !raw.includes(key.toString('base64url')));
      assert.deepEqual(await new TokenIssuer(() => clock, secretsWith(one)).key(store), key, 'the same key after a restart');
      const issued = await before.issue(subjectOf(store), ['offline_access']);
      assert.ok(issued.refresh_token);

      const secrets = secretsWith(two);
      const after = new TokenIssuer(() => clock, secrets);
      const newKey = await after.key(store);
      assert.notDeepEqual(newKey, key);
      assert.deepEqual(secrets.unreadable, [SIGNING_KEY]);
      assert.equal(unseal(two, SIGNING_KEY, (await store.values.read(SIGNING_KEY))!), newKey.toString('base64url'));
      // The access token signed with the old key: refused (the remote asks for a new one at its 401).
      assert.equal(await after.check(decodeJwt(issued.access_token)!, subjectOf(store)), 'bad signature');
      // The refresh token: its credential fingerprint was keyed with the old key, so it is revoked.
      assert.deepEqual(await after.refresh(subjectOf(store), issued.refresh_token), { ok: false, reason: 'refresh token revoked' });
      // A new grant works at once.
      const fresh = await after.issue(subjectOf(store), ['offline_access']);
      assert.equal(await after.check(decodeJwt(fresh.access_token)!, subjectOf(store)), undefined);
      assert.equal((await after.refresh(subjectOf(store), fresh.refresh_token!)).ok, true);
    });

    describe('PostgreSQL store shared by several processes', () => {
      const schemas = new TestSchemas();
      before(assertPgReachable);
      after(() => schemas.drop());
      const open = (schema: string): Promise<PostgresStore> => PostgresStore.open({ connectionString: TEST_PG_URL, schema, pool: { max: 2 } }).then(track);

      it('four processes whose credential secret changed agree on ONE new key', async () => {
        const schema = schemas.next();
        const first = await open(schema);
        const old = await new TokenIssuer(Date.now, secretsWith(one)).key(first);
        const processes = await Promise.all(Array.from({ length: 4 }, () => open(schema)));
        const keys = await Promise.all(processes.map((store) => new TokenIssuer(Date.now, secretsWith(two)).key(store)));
        const distinct = new Set(keys.map((k) => k.toString('hex')));
        assert.equal(distinct.size, 1, 'one key for all');
        assert.notDeepEqual(keys[0], old);
        assert.equal(unseal(two, SIGNING_KEY, (await first.values.read(SIGNING_KEY))!), keys[0].toString('base64url'), 'and it is the stored one');
      });

      it('processes sealing the same values in clear at once: each value is sealed once, and reads the same for all', async () => {
        const schema = schemas.next();
        const first = await open(schema);
        for (let i = 0; i < 20; i++) await first.values.write(oauthTokenName(`rs${i}`), `{"accessToken":"clear-${i}"}`, T0);
        const processes = await Promise.all(Array.from({ length: 3 }, () => open(schema)));
        const counts = await Promise.all(processes.map((store) => secretsWith(one).sealAll(store, T0)));
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          20,
          `every value sealed by exactly one of them (${counts.join(', ')})`,
        );
        for (let i = 0; i < 20; i++) assert.equal(await secretsWith(one).read(first, oauthTokenName(`rs${i}`)), `{"accessToken":"clear-${i}"}`);
      });
    });
  });
});
