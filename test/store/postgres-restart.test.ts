/**
 * The PostgreSQL store while its server restarts (issue 10): a private server (see
 * test/harness/pg-server.ts) is stopped with `pg_ctl stop -m immediate`, or its
 * postmaster killed with SIGKILL, while a transaction of the store is in flight and its
 * pool and session hold connections. No error may escape as an unhandled 'error' event
 * (it would end the Node-RED process, and every flow in it); calls fail as
 * "unavailable" while the server is away; once it is back the store works again by
 * itself, its session lock held again.
 */
import assert from 'node:assert/strict';
import { Client } from 'pg';
import { StoreUnavailableError } from '../../src/store/opening';
import { PostgresStore } from '../../src/store/postgres';
import { isUnreachable } from '../../src/store/postgres/faults';
import { PgServer, until } from '../harness/pg-server';
import { draft, received } from './contract';

const T0 = 1_000_000;
/** The first key of the store's two-key session lock (see Session in src/store/postgres/session.ts). */
const SESSION_LOCK = 539_451_502;


describe('PostgreSQL store while its server restarts (a private server)', function () {
  this.timeout(120_000);
  let server: PgServer;
  const stores: PostgresStore[] = [];
  const clients: Client[] = [];

  before(async () => {
    server = await PgServer.create();
  });
  after(async () => {
    await server?.destroy();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(`--- PostgreSQL log ---\n${server.serverLog()}`);
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
    for (const s of stores.splice(0)) await s.close();
    // A test that failed half-way may leave the server down.
    if (!server.running) await server.start();
  });

  async function open(schema: string): Promise<PostgresStore> {
    const store = await PostgresStore.open({ connectionString: server.url, password: server.password, schema, pool: { max: 4 } });
    stores.push(store);
    return store;
  }

  /** A connection of the test's own, whose loss is expected. */
  async function connect(): Promise<Client> {
    const c = new Client({ connectionString: server.urlWithPassword });
    c.on('error', () => undefined);
    clients.push(c);
    await c.connect();
    return c;
  }

  /** The backends (pids) holding a session lock of a store in `schema`'s database. */
  async function sessionLockHolders(): Promise<number[]> {
    const rows = await server.query<{ pid: number }>(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2 AND granted",
      [SESSION_LOCK],
    );
    return rows.map((r) => r.pid);
  }

  const ways: [string, () => Promise<void>][] = [
    ['stopped with pg_ctl stop -m immediate', () => server.stopImmediate()],
    ['killed (SIGKILL to the postmaster)', () => server.killPostmaster()],
  ];
  for (const [how, bringDown] of ways) {
    it(`${how} during a transaction: nothing escapes, calls fail as unavailable, and the store works again once the server is back`, async () => {
      const schema = `rps_restart_${how.startsWith('stopped') ? 'stop' : 'kill'}`;
      const store = await open(schema);
      // Connections in the pool: several calls at once each take one.
      await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], T0);
      await Promise.all(Array.from({ length: 4 }, () => store.outbound.count('B')));
      assert.equal((await sessionLockHolders()).length, 1, 'the store holds its session lock');

      // A transaction in flight: the next enqueue of record x waits for the lock another
      // connection holds on x's sequence row, inside the store's transaction.
      const blocker = await connect();
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM ${schema}.rps_sequence WHERE record_id = 'x' FOR UPDATE`);
      const inFlight = store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], T0);
      inFlight.catch(() => undefined);
      // (Asked on a connection of its own: one in a transaction sees pg_stat_activity as it was when it first looked.)
      await until('the enqueue to wait for the row lock', async () => (await server.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).length > 0);

      await bringDown();

      await assert.rejects(inFlight, StoreUnavailableError, 'the transaction in flight fails as "unavailable"');
      await assert.rejects(store.outbound.count(), StoreUnavailableError, 'a call while the server is away fails as "unavailable"');
      await assert.rejects(
        store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'me', gapWaitMs: 0 }),
        StoreUnavailableError,
        'a claim that needs the session lock too',
      );

      await server.start();

      // The session lock is taken again by itself, before any call needs it.
      await until('the session lock to be held again', async () => (await sessionLockHolders()).length === 1);

      // Outbound: what was committed before is there; enqueue, claim and complete work again.
      await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'y') }], T0);
      const claimed = await store.outbound.claim('B', 10, T0, 'me', 60_000);
      assert.deepEqual(
        claimed.map((r) => [r.recordId, r.sequence]),
        [
          ['x', 1],
          ['y', 1],
        ],
        'the committed rows, and not the enqueue that failed',
      );
      await store.outbound.markProcessed(
        claimed.map((r) => r.id),
        T0,
      );
      assert.deepEqual(await store.outbound.count('B'), { ready: 0, processing: 0, processed: 2, error: 0, skipped: 0 });

      // Inbound: a claimed row is stamped with a session whose lock is held.
      await store.inbound.accept('A', [received('t', 'r', 1)], T0);
      const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'me', gapWaitMs: 0 })).rows;
      assert.ok(row, 'the received row is claimed');
      const stamped = await server.query(
        `SELECT 1 FROM ${schema}.rps_inbound i JOIN pg_locks l ON l.locktype = 'advisory' AND l.classid = $1 AND l.objid = i.locked_session::oid AND l.objsubid = 2
         WHERE i.id = $2`,
        [SESSION_LOCK, row.id],
      );
      assert.equal(stamped.length, 1, "the claimed row's session lock is held");
      assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0), ['finished']);
    });
  }
});

describe('which PostgreSQL failures mean "cannot be reached"', () => {
  const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });
  it('a cut connection, a refused one, a server shutting down or starting: unreachable', () => {
    for (const err of [
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('connection failure', '08006'),
    ]) {
      assert.equal(isUnreachable(err), true, err.message);
    }
  });
  it('a statement that failed for its own sake: not unreachable', () => {
    for (const err of [
      withCode('deadlock detected', '40P01'),
      withCode('duplicate key value violates unique constraint', '23505'),
      withCode('syntax error at or near "x"', '42601'),
      withCode('password authentication failed for user "postgres"', '28P01'),
      new Error('Cannot use a pool after calling end on the pool'),
    ]) {
      assert.equal(isUnreachable(err), false, err.message);
    }
  });
});
