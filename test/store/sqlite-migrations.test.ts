/**
 * SQLite migration 4 (status checks) on a database made at the schema before it, with
 * rows in every table it rebuilds: ids and data are kept, the checks hold afterwards,
 * and a row the checks refuse leaves the file as it was. Migration 8 (peers) on the same
 * database: rows keyed by node ids move to the remote instances when they are learned.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migration as m1 } from '../../src/store/sqlite/migrations/001-queues';
import { migration as m2 } from '../../src/store/sqlite/migrations/002-values';
import { SqliteStore } from '../../src/store/sqlite';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations';
import { draft } from './contract';

const T0 = 1_000_000;

/** A database file at schema version 2, as the previous release left it, with rows in it. */
function databaseAtVersion2(outboundStatus = 'error'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'rps-migrate-')), 'store.sqlite');
  const db = new Database(path);
  db.exec('CREATE TABLE rps_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of [m1, m2]) {
    db.exec(m.sql);
    db.prepare('INSERT INTO rps_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, T0);
  }
  db.exec(`
    INSERT INTO rps_meta (key, value) VALUES ('instance_id', 'old-instance');
    INSERT INTO rps_outbound (id, message_id, remote_system, process_event, kind, operation, record_table, record_id,
                              sequence, status, payload, attempts, tries, retries, next_attempt_at, last_error, error_kind, created_at)
      VALUES (7, 'm7', 'B', 'PE', 'change', 'update', 't', '1', 1, 'processed', '{}', 1, 0, 0, ${T0}, NULL, NULL, ${T0}),
             (42, 'm42', 'B', 'PE', 'change', 'update', 't', '1', 2, '${outboundStatus}', '{"x":1}', 3, 2, 1, ${T0}, 'refused', 'refused', ${T0});
    INSERT INTO rps_inbound (id, message_id, remote_system, process_event, kind, operation, stream, source_table, source_id,
                             sequence, status, payload, attempts, retries, received_at, last_error)
      VALUES (5, 'i5', 'A', 'PE', 'change', 'update', 's', 'u', '9', 1, 'ready', '{"y":2}', 0, 0, ${T0}, NULL),
             (11, 'i11', 'A', 'PE', 'change', 'update', 's', 'u', '8', 1, 'skipped', '{}', 1, 0, ${T0}, 'stale');
    INSERT INTO rps_correlation (id, remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
      VALUES (3, 'A', 'lt', 'l1', 'u', '8', 'inactive', ${T0}, ${T0 + 1});
    INSERT INTO rps_error_queue (id, owner, message, error, retries, status, created_at, updated_at)
      VALUES (9, 'n1', '{"payload":1}', 'boom', 2, 'failed', ${T0}, ${T0});
    INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
      VALUES ('B', 'out', '', 't', '1', 2);
  `);
  db.close();
  return path;
}

describe('SQLite migration 4: status checks', () => {
  it('rebuilds the tables with their checks, keeping ids, data and the next id', async () => {
    const path = databaseAtVersion2();
    const store = new SqliteStore(path);
    try {
      assert.equal(store.instanceId, 'old-instance');
      const out = await store.outbound.get(42);
      assert.equal(out?.status, 'error');
      assert.equal(out?.payload, '{"x":1}');
      assert.deepEqual([out?.attempts, out?.tries, out?.retries, out?.lastError, out?.errorKind], [3, 2, 1, 'refused', 'refused']);
      assert.equal((await store.outbound.get(7))?.status, 'processed');
      assert.equal((await store.inbound.get(5))?.payload, '{"y":2}');
      assert.equal((await store.inbound.get(11))?.lastError, 'stale');
      const c = (await store.correlations.byRemote([{ remoteSystem: 'A', table: 'u', id: '8' }]))[0];
      assert.deepEqual([c?.localId, c?.state, c?.updatedAt], ['l1', 'inactive', T0 + 1]);
      assert.equal((await store.errorQueue.count('n1')).failed, 1);
      // Ids go on after the kept ones, and sequences after the kept counters.
      const [next] = await store.outbound.enqueue([{ remoteSystem: 'B', message: { id: 'm43', kind: 'change', processEvent: 'PE', source: { instanceId: 'x', table: 't', id: '1' }, operation: 'update', capturedAt: new Date(0).toISOString(), interactive: true, fields: {}, changedFields: [], journal: [], attachments: [] } }], T0);
      assert.deepEqual([next.id, next.sequence], [43, 3]);
    } finally {
      await store.close();
    }
    const db = new Database(path);
    try {
      assert.deepEqual(db.prepare('SELECT id FROM rps_migrations ORDER BY id').all(), SQLITE_MIGRATIONS.map((m) => ({ id: m.id })));
      assert.throws(() => db.prepare("UPDATE rps_outbound SET status = 'bogus' WHERE id = 7").run(), /CHECK constraint failed/);
      assert.throws(() => db.prepare("UPDATE rps_inbound SET status = 'bogus' WHERE id = 5").run(), /CHECK constraint failed/);
      assert.throws(() => db.prepare("UPDATE rps_correlation SET state = 'bogus' WHERE id = 3").run(), /CHECK constraint failed/);
      assert.throws(() => db.prepare("UPDATE rps_error_queue SET status = 'ready' WHERE id = 9").run(), /CHECK constraint failed/);
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'rps_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      for (const name of ['rps_outbound_claim', 'rps_outbound_record', 'rps_inbound_claim', 'rps_inbound_record', 'rps_error_queue_owner']) {
        assert.ok(indexes.includes(name), `index ${name} made again`);
      }
    } finally {
      db.close();
    }
  });

  it('leaves the file as it was when a row breaks a check', () => {
    const path = databaseAtVersion2('bogus');
    assert.throws(() => new SqliteStore(path), /CHECK constraint failed/);
    const db = new Database(path);
    try {
      assert.deepEqual(db.prepare('SELECT id FROM rps_migrations ORDER BY id').all(), [{ id: 1 }, { id: 2 }]);
      assert.equal((db.prepare('SELECT status FROM rps_outbound WHERE id = 42').get() as { status: string }).status, 'bogus');
      assert.equal((db.prepare('SELECT count(*) AS n FROM rps_inbound').get() as { n: number }).n, 2);
    } finally {
      db.close();
    }
  });
});

describe('SQLite migration 8: peers', () => {
  it('a store of an earlier release, keyed by node ids, is adopted by the remote instances without losing a row; a record goes on in its stream', async () => {
    const path = databaseAtVersion2();
    const store = new SqliteStore(path);
    try {
      assert.equal(await store.peers.resolve('B', 'http://b.example'), undefined, 'nothing learned yet: the rows keep their node ids');
      assert.equal((await store.outbound.get(42))?.remoteSystem, 'B');
      await store.peers.learn('B', 'http://b.example', 'instance-B', T0);
      assert.deepEqual(await store.peers.adopt('B', 'instance-B', T0), { correlations: 0, outbound: 2, inbound: 0, dropped: 0 });
      assert.deepEqual(await store.peers.adopt('A', 'instance-A', T0), { correlations: 1, outbound: 0, inbound: 2, dropped: 0 });
      assert.equal((await store.outbound.get(42))?.remoteSystem, 'instance-B');
      assert.equal((await store.inbound.get(5))?.remoteSystem, 'instance-A');
      const [link] = await store.correlations.byRemote([{ remoteSystem: 'instance-A', table: 'u', id: '8' }]);
      assert.equal(link?.localId, 'l1');
      // Record t/1 had sequences 1 and 2 in the stream <instance>/B: its next one is 3 there.
      const [next] = await store.outbound.enqueue([{ remoteSystem: 'instance-B', message: draft('t', '1') }], T0);
      assert.equal(next.sequence, 3);
      assert.equal(JSON.parse((await store.outbound.get(next.id))!.payload).stream, 'old-instance/B');
    } finally {
      await store.close();
    }
  });
});
