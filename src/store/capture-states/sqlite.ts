/** Capture states in SQLite. */
import type { Fields } from '../../core/protocol';
import type { SqliteDb } from '../sqlite/database';
import type { CaptureStates, CaptureStateWrite } from './types';

function statements(db: SqliteDb['db']) {
  return {
    get: db.prepare<[string, string, string], { state: string }>('SELECT state FROM rps_capture_state WHERE capture = ? AND record_table = ? AND record_id = ?'),
    put: db.prepare<[string, string, string, string, number]>(`
      INSERT INTO rps_capture_state (capture, record_table, record_id, state, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (capture, record_table, record_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`),
    forget: db.prepare<[string, string, string]>('DELETE FROM rps_capture_state WHERE capture = ? AND record_table = ? AND record_id = ?'),
    // The records beyond the `keep` most recently written: one walk of rps_capture_state_age.
    prune: db.prepare<[string, number]>(`
      DELETE FROM rps_capture_state WHERE rowid IN (
        SELECT rowid FROM rps_capture_state WHERE capture = ? ORDER BY updated_at DESC, rowid DESC LIMIT -1 OFFSET ?)`),
    clear: db.prepare<[string]>('DELETE FROM rps_capture_state WHERE capture = ?'),
  };
}

export class SqliteCaptureStates implements CaptureStates {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async get(capture: string, table: string, ids: readonly string[]): Promise<Map<string, Fields>> {
    const out = new Map<string, Fields>();
    for (const id of new Set(ids)) {
      const row = this.sql.get.get(capture, table, id);
      if (row) out.set(id, JSON.parse(row.state) as Fields);
    }
    return out;
  }

  async put(capture: string, table: string, writes: readonly CaptureStateWrite[], now: number): Promise<void> {
    if (writes.length === 0) return;
    // A state is what a later capture compares with: a process crash may lose it along
    // with the message in flight, but a written one must not be half there.
    this.s.progress(() => {
      for (const w of writes) {
        if (w.fields === null) this.sql.forget.run(capture, table, w.id);
        else this.sql.put.run(capture, table, w.id, JSON.stringify(w.fields), now);
      }
    });
  }

  async prune(capture: string, keep: number): Promise<number> {
    return this.s.progress(() => this.sql.prune.run(capture, keep).changes);
  }

  async clear(capture: string): Promise<void> {
    this.s.progress(() => this.sql.clear.run(capture));
  }
}
