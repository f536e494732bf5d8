/** Field stamps in SQLite. */
import type { SqliteDb } from '../sqlite/database';
import { type FieldStamps, type StampedRecord, type StampRecord, stampsOf, type StampWrite } from './types';

function statements(db: SqliteDb['db']) {
  return {
    get: db.prepare<[string], StampRecord>(`
      SELECT s.record_table, s.record_id, s.field, s.at, s.instance
      FROM json_each(?) AS k
      JOIN rps_field_stamp s ON s.record_table = json_extract(k.value, '$[0]') AND s.record_id = json_extract(k.value, '$[1]')`),
    // Row values compare as compareStamps does: time first, then instance id.
    put: db.prepare<[string, string, string, number, string, number]>(`
      INSERT INTO rps_field_stamp (record_table, record_id, field, at, instance, written_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (record_table, record_id, field) DO UPDATE
        SET at = excluded.at, instance = excluded.instance, written_at = excluded.written_at
        WHERE (excluded.at, excluded.instance) > (rps_field_stamp.at, rps_field_stamp.instance)`),
    forget: db.prepare<[number, number]>(`
      DELETE FROM rps_field_stamp WHERE (record_table, record_id, field) IN (
        SELECT record_table, record_id, field FROM rps_field_stamp WHERE written_at < ? LIMIT ?)`),
  };
}

export class SqliteFieldStamps implements FieldStamps {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async get(records: readonly StampedRecord[]) {
    if (records.length === 0) return new Map();
    return stampsOf(this.sql.get.all(JSON.stringify(records.map((r) => [r.table, r.id]))));
  }

  async put(writes: readonly StampWrite[], now: number): Promise<void> {
    if (writes.length === 0) return;
    this.s.progress(() => {
      for (const w of writes) this.sql.put.run(w.table, w.id, w.field, w.at, w.instance, now);
    });
  }

  async forget(before: number, batch: number): Promise<number> {
    return this.s.progress(() => this.sql.forget.run(before, batch).changes);
  }
}
