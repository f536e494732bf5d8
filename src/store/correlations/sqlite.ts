/** Correlations in SQLite. `link`, `recordByRemote` and `deactivate` run in the caller's transaction (accept, finish). */
import type { SqliteDb } from '../sqlite/database';
import { correlation, type Correlation, type CorrelationKey, type CorrelationRecord, type Correlations, type RecordRef } from './types';

function statements(db: SqliteDb['db']) {
  return {
    byLocal: db.prepare<[string, string, string], CorrelationRecord>(`
      SELECT * FROM rps_correlation WHERE remote_system = ? AND local_table = ? AND local_id = ?`),
    byRemote: db.prepare<[string, string, string], CorrelationRecord>(`
      SELECT * FROM rps_correlation WHERE remote_system = ? AND remote_table = ? AND remote_id = ?`),
    // A link replaces any older link of either of its two records: one local record has
    // one twin per remote, and one remote record has one twin here.
    unlink: db.prepare<[string, string, string, string, string]>(`
      DELETE FROM rps_correlation
      WHERE remote_system = ? AND ((local_table = ? AND local_id = ?) OR (remote_table = ? AND remote_id = ?))`),
    link: db.prepare(`
      INSERT INTO rps_correlation (remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
      VALUES (@remoteSystem, @localTable, @localId, @remoteTable, @remoteId, 'active', @createdAt, @now)`),
    deactivate: db.prepare<[number, string, string, string]>(`
      UPDATE rps_correlation SET state = 'inactive', updated_at = ?
      WHERE remote_system = ? AND remote_table = ? AND remote_id = ?`),
  };
}

export class SqliteCorrelations implements Correlations {
  private readonly sql: ReturnType<typeof statements>;

  constructor(s: SqliteDb) {
    this.sql = statements(s.db);
  }

  /** Links a local record to a remote one; the local record's link keeps its creation time. */
  link(remoteSystem: string, local: RecordRef, remote: RecordRef, now: number): void {
    const old = this.sql.byLocal.get(remoteSystem, local.table, local.id);
    this.sql.unlink.run(remoteSystem, local.table, local.id, remote.table, remote.id);
    this.sql.link.run({
      remoteSystem,
      localTable: local.table,
      localId: local.id,
      remoteTable: remote.table,
      remoteId: remote.id,
      createdAt: old?.created_at ?? now,
      now,
    });
  }

  recordByRemote(remoteSystem: string, remote: RecordRef): CorrelationRecord | undefined {
    return this.sql.byRemote.get(remoteSystem, remote.table, remote.id);
  }

  deactivate(remoteSystem: string, remote: RecordRef, now: number): void {
    this.sql.deactivate.run(now, remoteSystem, remote.table, remote.id);
  }

  // In-process statements cost no round trip: a batch is a loop in one read.
  async byLocal(keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]> {
    return keys.map((k) => {
      const r = this.sql.byLocal.get(k.remoteSystem, k.table, k.id);
      return r && correlation(r);
    });
  }

  async byRemote(keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]> {
    return keys.map((k) => {
      const r = this.recordByRemote(k.remoteSystem, k);
      return r && correlation(r);
    });
  }
}
