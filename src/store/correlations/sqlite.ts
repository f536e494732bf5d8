/** Correlations in SQLite: batch lookups, and the writes of accept and finish (apply). */
import type { SqliteDb } from '../sqlite/database';
import type { CorrelationChanges } from '../../core/inbound-finish';
import { correlation, type Correlation, type CorrelationKey, type CorrelationRecord, type Correlations, type CorrelationSide, type CorrelationStateChange } from './types';

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
      VALUES (@remoteSystem, @localTable, @localId, @remoteTable, @remoteId, @state, @createdAt, @now)`),
    deactivate: db.prepare<[number, string, string, string]>(`
      UPDATE rps_correlation SET state = 'inactive', updated_at = ?
      WHERE remote_system = ? AND remote_table = ? AND remote_id = ?`),
    stateByLocal: db.prepare<[string, number, string, string, string, string]>(`
      UPDATE rps_correlation SET state = ?, updated_at = ?
      WHERE remote_system = ? AND local_table = ? AND local_id = ? AND state <> ?`),
    stateByRemote: db.prepare<[string, number, string, string, string, string]>(`
      UPDATE rps_correlation SET state = ?, updated_at = ?
      WHERE remote_system = ? AND remote_table = ? AND remote_id = ? AND state <> ?`),
  };
}

export class SqliteCorrelations implements Correlations {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  /** Applies a batch's correlation writes (see CorrelationChanges), in the caller's transaction (accept, finish). */
  apply(changes: CorrelationChanges, now: number): void {
    for (const d of changes.deactivations) this.sql.deactivate.run(now, d.remoteSystem, d.source.table, d.source.id);
    // Read before the links are removed: a link keeps the creation time of its local record's old link.
    const createdAt = changes.links.map((l) => this.sql.byLocal.get(l.remoteSystem, l.local.table, l.local.id)?.created_at ?? now);
    for (const c of changes.cleared) this.sql.unlink.run(c.remoteSystem, c.local.table, c.local.id, c.source.table, c.source.id);
    for (const [n, l] of changes.links.entries()) {
      this.sql.link.run({
        remoteSystem: l.remoteSystem,
        localTable: l.local.table,
        localId: l.local.id,
        remoteTable: l.source.table,
        remoteId: l.source.id,
        state: l.state,
        createdAt: createdAt[n],
        now,
      });
    }
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
      const r = this.sql.byRemote.get(k.remoteSystem, k.table, k.id);
      return r && correlation(r);
    });
  }

  async setState(side: CorrelationSide, changes: readonly CorrelationStateChange[], now: number): Promise<(Correlation | undefined)[]> {
    const update = side === 'local' ? this.sql.stateByLocal : this.sql.stateByRemote;
    // A person's decision that the message which asked for it acts on at once: on disk
    // before the answer, as a queued message is. One transaction, so that the answers
    // are the links as the batch leaves them.
    return this.s.durable(() => {
      for (const c of changes) update.run(c.state, now, c.remoteSystem, c.table, c.id, c.state);
      const read = side === 'local' ? this.sql.byLocal : this.sql.byRemote;
      return changes.map((c) => {
        const r = read.get(c.remoteSystem, c.table, c.id);
        return r && correlation(r);
      });
    });
  }
}
