/** The error queue of rps-queue-retry nodes in PostgreSQL: one statement per call. */
import type { PgContext } from '../postgres/context';
import { byId, query, rows, sql } from '../postgres/db';
import { errorCounts, errorItem, type ErrorItem, type ErrorItemRecord, type ErrorItemStatus, type ErrorQueue, type NewErrorItem } from './types';

const ADD = sql('error_queue_add', `
  INSERT INTO rps_error_queue (owner, message, error, status, created_at, updated_at)
  SELECT o, m, e, 'error', $4::bigint, $4::bigint
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u (o, m, e, ord)
  ORDER BY ord
  RETURNING id`);

// A held message that failed again: its tries so far decide whether it gets another.
const FAIL = sql('error_queue_fail', `
  UPDATE rps_error_queue
  SET error = $1::text, status = CASE WHEN retries >= $2::integer THEN 'failed' ELSE 'error' END, updated_at = $3::bigint
  WHERE id = $4::bigint AND owner = $5::text
  RETURNING status`);

// Two processes running the same retry node take different items.
const TAKE = sql('error_queue_take', `
  WITH due AS (
    SELECT id FROM rps_error_queue
    WHERE owner = $1::text AND status = 'error' AND retries < $2::integer
    ORDER BY id
    LIMIT $3::integer
    FOR UPDATE SKIP LOCKED)
  UPDATE rps_error_queue e SET status = 'retrying', retries = e.retries + 1, updated_at = $4::bigint
  FROM due
  WHERE e.id = due.id
  RETURNING e.*`);

const SETTLE = sql('error_queue_settle', `
  UPDATE rps_error_queue SET status = 'processed', updated_at = $1::bigint
  WHERE owner = $2::text AND status = 'retrying' AND updated_at < $3::bigint`);

const RESET = sql('error_queue_reset', `
  UPDATE rps_error_queue SET status = 'error', updated_at = $1::bigint WHERE owner = $2::text AND status = 'retrying'`);

const COUNT = sql('error_queue_count', 'SELECT status, count(*) AS n FROM rps_error_queue WHERE owner = $1::text GROUP BY status');
export class PostgresErrorQueue implements ErrorQueue {
  constructor(private readonly p: PgContext) {}

  async add(items: readonly NewErrorItem[], now: number): Promise<number[]> {
    if (items.length === 0) return [];
    const r = await rows<{ id: number }>(this.p.pool, ADD, [items.map((i) => i.owner), items.map((i) => i.message), items.map((i) => i.error), now]);
    // Inserted in the items' order, so their ids rise in that order.
    return r.map((x) => x.id).sort((a, b) => a - b);
  }

  async fail(owner: string, id: number, error: string, maxRetries: number, now: number): Promise<ErrorItemStatus | undefined> {
    const [r] = await rows<{ status: ErrorItemStatus }>(this.p.pool, FAIL, [error, maxRetries, now, id, owner]);
    return r?.status;
  }

  async take(owner: string, maxRetries: number, limit: number, now: number): Promise<ErrorItem[]> {
    return byId(await rows<ErrorItemRecord>(this.p.pool, TAKE, [owner, maxRetries, limit, now])).map(errorItem);
  }

  async settle(owner: string, retryingBefore: number, now: number): Promise<number> {
    return (await query(this.p.pool, SETTLE, [now, owner, retryingBefore])).rowCount;
  }

  async reset(owner: string, now: number): Promise<number> {
    return (await query(this.p.pool, RESET, [now, owner])).rowCount;
  }

  async count(owner: string): Promise<Record<ErrorItemStatus, number>> {
    return errorCounts(await rows<{ status: ErrorItemStatus; n: number }>(this.p.pool, COUNT, [owner]));
  }
}
