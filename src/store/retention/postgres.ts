/** Retention in PostgreSQL: one short DELETE per step of the purge plan. */
import type { PgContext } from '../postgres/context';
import { query, sql } from '../postgres/db';
import { PURGE_PLAN, type PurgeResult, type Retention, type RetentionPolicy, runPurge } from './types';

/** Deletes up to `batch` rows of one status older than `before` (by `column`); the cleaner's unit of work. */
function purgeStatement(table: string, status: string, column: string): string {
  // Locked and skipped when locked: a row that a claim holds is not deleted under it,
  // and the cleaner never waits for a worker. column may be an expression: error rows
  // age from their last attempt, not from when they were queued. The status is written
  // in (one of PURGE_PLAN's, not input): the indexes the cleaner reads are partial, one
  // per status (PostgreSQL migration 3), and a parameter would not show the planner which.
  return `
    DELETE FROM ${table} WHERE id IN (
      SELECT id FROM ${table} WHERE status = '${status}' AND ${column} < $1::bigint LIMIT $2::integer FOR UPDATE SKIP LOCKED)`;
}

const STEPS = PURGE_PLAN.map((step) => ({ ...step, stmt: sql(`purge_${step.sqlTable}_${step.status}`, purgeStatement(step.sqlTable, step.status, step.column)) }));

export class PostgresRetention implements Retention {
  constructor(private readonly p: PgContext) {}

  async purge(policy: RetentionPolicy, now: number, batch: number): Promise<PurgeResult> {
    return runPurge(STEPS, policy, now, batch, async (step, before) => (await query(this.p.pool, step.stmt, [before, batch])).rowCount);
  }
}
