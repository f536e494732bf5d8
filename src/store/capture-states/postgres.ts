/** Capture states in PostgreSQL: one statement per call, whatever the batch size. */
import type { Fields } from '../../core/protocol';
import type { PgContext } from '../postgres/context';
import { query, rows, sql } from '../postgres/db';
import type { CaptureStates, CaptureStateWrite } from './types';

const GET = sql('capture_state_get', `
  SELECT s.record_id, s.state FROM rps_capture_state s
  WHERE s.capture = $1::text AND s.record_table = $2::text AND s.record_id = ANY ($3::text[])`);

// A batch in order, in one statement: the last write of a record in the batch wins
// (DISTINCT ON keeps it), a null state forgets the record.
const PUT = sql('capture_state_put', `
  WITH w AS (
    SELECT DISTINCT ON (id) id, state
    FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u (id, state, ord)
    ORDER BY id, ord DESC
  ), forgotten AS (
    DELETE FROM rps_capture_state s USING w
    WHERE w.state IS NULL AND s.capture = $1::text AND s.record_table = $2::text AND s.record_id = w.id
  )
  INSERT INTO rps_capture_state (capture, record_table, record_id, state, updated_at)
  SELECT $1::text, $2::text, id, state, $5::bigint FROM w WHERE state IS NOT NULL
  ON CONFLICT (capture, record_table, record_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`);

// The records beyond the `keep` most recently written: one walk of rps_capture_state_age.
const PRUNE = sql('capture_state_prune', `
  DELETE FROM rps_capture_state WHERE id IN (
    SELECT id FROM rps_capture_state WHERE capture = $1::text ORDER BY updated_at DESC, id DESC OFFSET $2::integer)`);

const CLEAR = sql('capture_state_clear', 'DELETE FROM rps_capture_state WHERE capture = $1::text');

export class PostgresCaptureStates implements CaptureStates {
  constructor(private readonly p: PgContext) {}

  async get(capture: string, table: string, ids: readonly string[]): Promise<Map<string, Fields>> {
    if (ids.length === 0) return new Map();
    const found = await rows<{ record_id: string; state: string }>(this.p.pool, GET, [capture, table, [...new Set(ids)]]);
    return new Map(found.map((r) => [r.record_id, JSON.parse(r.state) as Fields]));
  }

  async put(capture: string, table: string, writes: readonly CaptureStateWrite[], now: number): Promise<void> {
    if (writes.length === 0) return;
    await query(this.p.pool, PUT, [capture, table, writes.map((w) => w.id), writes.map((w) => (w.fields === null ? null : JSON.stringify(w.fields))), now]);
  }

  async prune(capture: string, keep: number): Promise<number> {
    return (await query(this.p.pool, PRUNE, [capture, keep])).rowCount;
  }

  async clear(capture: string): Promise<void> {
    await query(this.p.pool, CLEAR, [capture]);
  }
}
