/**
 * Watermarks in PostgreSQL. Several processes may run the same flows on one store: a
 * write (and a reset) takes a lock on the node's watermark, then compares and writes in
 * one transaction, so the later watermark wins whatever order the writes come in.
 */
import { compareWatermarks, type Watermark } from '../../core/delta';
import type { PgContext } from '../postgres/context';
import { query, rows, sql, transaction } from '../postgres/db';
import type { Watermarks } from './types';

interface Row {
  updated_after: number | null;
  id_after: string | null;
}

const READ = sql('watermark_read', 'SELECT updated_after, id_after FROM rps_watermark WHERE node_id = $1::text');

/** First key of the transaction locks that serialise the writes of one node's watermark (`pg_advisory_xact_lock(WRITE_LOCK, hashtext(node))`). */
const WRITE_LOCK = 539_451_509;

// Held until the write commits: a second writer reads the watermark the first one wrote.
const LOCK = sql('watermark_lock', `SELECT pg_advisory_xact_lock(${WRITE_LOCK}, hashtext($1::text))`);

const WRITE = sql('watermark_write', `
  INSERT INTO rps_watermark (node_id, updated_after, id_after, updated_at) VALUES ($1::text, $2::bigint, $3::text, $4::bigint)
  ON CONFLICT (node_id) DO UPDATE SET updated_after = excluded.updated_after, id_after = excluded.id_after, updated_at = excluded.updated_at`);

const FORGET = sql('watermark_forget', 'DELETE FROM rps_watermark WHERE node_id = $1::text');

const watermark = (r: Row): Watermark => ({ updatedAfter: r.updated_after, idAfter: r.id_after });

export class PostgresWatermarks implements Watermarks {
  constructor(private readonly p: PgContext) {}

  async read(node: string): Promise<Watermark | undefined> {
    const row = (await rows<Row>(this.p.pool, READ, [node]))[0];
    return row && watermark(row);
  }

  async write(node: string, to: Watermark, now: number): Promise<boolean> {
    return transaction(this.p.pool, async (c) => {
      await query(c, LOCK, [node]);
      const stored = (await rows<Row>(c, READ, [node]))[0];
      if (stored && compareWatermarks(to, watermark(stored)) <= 0) return false;
      await query(c, WRITE, [node, to.updatedAfter, to.idAfter, now]);
      return true;
    });
  }

  async reset(node: string, to: number | null, now: number): Promise<void> {
    // Under the same lock: a write that read the watermark before the reset cannot put it back after.
    await transaction(this.p.pool, async (c) => {
      await query(c, LOCK, [node]);
      if (to === null) await query(c, FORGET, [node]);
      else await query(c, WRITE, [node, to, null, now]);
    });
  }
}
