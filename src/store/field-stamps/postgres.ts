/** Field stamps in PostgreSQL: one statement per call, whatever the batch size. */
import type { PgContext } from '../postgres/context';
import { query, rows, sql } from '../postgres/db';
import { type FieldStamps, type StampedRecord, type StampRecord, stampsOf, type StampWrite } from './types';

const GET = sql('field_stamp_get', `
  SELECT s.record_table, s.record_id, s.field, s.at, s.instance
  FROM unnest($1::text[], $2::text[]) AS k (record_table, record_id)
  JOIN rps_field_stamp s USING (record_table, record_id)`);

// The latest write of a field in the batch (DISTINCT ON, by compareStamps' order), and a
// stored stamp moves only forward: row values compare time first, then instance id.
const PUT = sql('field_stamp_put', `
  INSERT INTO rps_field_stamp (record_table, record_id, field, at, instance, written_at)
  SELECT DISTINCT ON (t, i, f) t, i, f, a, n, $6::bigint
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS w (t, i, f, a, n)
  ORDER BY t, i, f, a DESC, n DESC
  ON CONFLICT (record_table, record_id, field) DO UPDATE
    SET at = excluded.at, instance = excluded.instance, written_at = excluded.written_at
    WHERE (excluded.at, excluded.instance) > (rps_field_stamp.at, rps_field_stamp.instance)`);

const FORGET = sql('field_stamp_forget', `
  DELETE FROM rps_field_stamp WHERE (record_table, record_id, field) IN (
    SELECT record_table, record_id, field FROM rps_field_stamp WHERE written_at < $1::bigint LIMIT $2::integer)`);

export class PostgresFieldStamps implements FieldStamps {
  constructor(private readonly p: PgContext) {}

  async get(records: readonly StampedRecord[]) {
    if (records.length === 0) return new Map();
    return stampsOf(await rows<StampRecord>(this.p.pool, GET, [records.map((r) => r.table), records.map((r) => r.id)]));
  }

  async put(writes: readonly StampWrite[], now: number): Promise<void> {
    if (writes.length === 0) return;
    await query(this.p.pool, PUT, [writes.map((w) => w.table), writes.map((w) => w.id), writes.map((w) => w.field), writes.map((w) => w.at), writes.map((w) => w.instance), now]);
  }

  async forget(before: number, batch: number): Promise<number> {
    return (await query(this.p.pool, FORGET, [before, batch])).rowCount;
  }
}
