/**
 * OpeningStore: what stands in for a store that opens in the background (PostgreSQL on
 * rps-store). The store behind it is a real SQLite store; the opener decides when it
 * fails, as a server that is down would.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpeningStore, StoreUnavailableError } from '../../src/store/opening';
import { SqliteStore } from '../../src/store/sqlite';
import { withOperations } from './with-operations';
import type { Store } from '../../src/store/store';

const FAST = { baseMs: 5, maxMs: 20 };

describe('OpeningStore', () => {
  let dir: string;
  const open: Store[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rps-opening-'));
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const track = <S extends Store>(s: S): S => {
    open.push(s);
    return s;
  };

  /** An opener that fails `failures` times (a server that is down), then opens a real store. */
  function opener(failures: number): { open: () => Promise<Store>; attempts: () => number } {
    let attempts = 0;
    return {
      attempts: () => attempts,
      open: async () => {
        attempts += 1;
        if (attempts <= failures) throw new Error(`connect ECONNREFUSED (attempt ${attempts})`);
        return new SqliteStore(join(dir, 'store.sqlite'));
      },
    };
  }

  it('an operation called while the store opens waits for it; the instance id is known once open', async () => {
    const o = opener(0);
    const store = track(new OpeningStore('sqlite', 'test store', o.open, {}, FAST));
    assert.throws(() => store.instanceId, StoreUnavailableError, 'not known before the store is open');
    const counts = await store.outbound.count();
    assert.equal(counts.ready, 0);
    await store.opened();
    assert.match(store.instanceId, /^[0-9a-f-]{36}$/);
    assert.equal(o.attempts(), 1);
  });

  it('while the server is down, operations fail at once with the reason; it is tried again until it opens', async () => {
    const o = opener(3);
    const failures: { message: string; retryInMs: number }[] = [];
    let openedAfter = 0;
    const store = track(
      new OpeningStore('sqlite', 'test store', o.open, {
        onFailure: (err, retryInMs) => failures.push({ message: err.message, retryInMs }),
        onOpen: (attempts) => {
          openedAfter = attempts;
        },
      }, FAST),
    );
    // The first attempt is in progress: this waits for it and shares its failure.
    await assert.rejects(store.outbound.enqueue([], 1), (err: Error) => err instanceof StoreUnavailableError && /not open: connect ECONNREFUSED \(attempt 1\)/.test(err.message));
    // Between attempts: at once, with the last reason.
    await assert.rejects(store.values.read('k'), StoreUnavailableError);
    await assert.rejects(store.opened(), StoreUnavailableError);
    // With untilOpen, through every failed attempt.
    await store.opened(true);
    assert.equal(openedAfter, 4);
    assert.deepEqual(
      failures.map((f) => f.retryInMs),
      [5, 10, 20],
      'the delay doubles up to the maximum',
    );
    await store.values.write('k', 'v', 1);
    assert.equal(await store.values.read('k'), 'v');
  });

  it('closed before it opened: waiters are told, and a store that opens late is closed again', async () => {
    let release: (() => void) | undefined;
    let late: SqliteStore | undefined;
    const store = new OpeningStore(
      'sqlite',
      'test store',
      () =>
        new Promise<Store>((resolve) => {
          release = () => {
            late = new SqliteStore(join(dir, 'late.sqlite'));
            resolve(late);
          };
        }),
      {},
      FAST,
    );
    const waiting = store.opened(true);
    const closing = store.close();
    assert.ok(release);
    release();
    await closing;
    await assert.rejects(waiting, /closed/);
    await assert.rejects(store.inbound.count(), /closed/);
    assert.ok(late);
    await assert.rejects(late.outbound.count(), /not open/, 'the late store was closed');
  });
  it('an open store whose server goes away: reported once when a call first fails, once when one works again, not per call', async () => {
    const real = track(new SqliteStore(join(dir, 'store.sqlite')));
    let down = false;
    // What PostgresStore does while its server restarts: calls fail as unavailable. A
    // statement that fails for its own sake (values.read here) is no outage.
    const flaky = withOperations(real, {
      values: { read: () => Promise.reject(new Error('relation "rps_value" does not exist')) },
      outbound: {
        count: (remoteSystem?: string) =>
          down ? Promise.reject(new StoreUnavailableError('the PostgreSQL server cannot be reached: Connection terminated unexpectedly')) : real.outbound.count(remoteSystem),
      },
    });
    const events: string[] = [];
    const store = new OpeningStore('sqlite', 'test store', async () => flaky, {
      onUnavailable: (err) => events.push(`unavailable: ${err.message}`),
      onAvailable: (failed) => events.push(`available after ${failed} failed`),
    }, FAST);
    await store.outbound.count();
    await assert.rejects(store.values.read('k'), /does not exist/);
    down = true;
    for (let i = 0; i < 3; i++) await assert.rejects(store.outbound.count(), StoreUnavailableError);
    down = false;
    await store.outbound.count();
    await store.outbound.count();
    assert.deepEqual(events, ['unavailable: the PostgreSQL server cannot be reached: Connection terminated unexpectedly', 'available after 3 failed']);
  });
});
