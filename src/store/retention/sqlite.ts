/** Retention in SQLite: one short DELETE per step of the purge plan. */
import type { Statement } from 'better-sqlite3';
import type { SqliteDb } from '../sqlite/database';
import { PURGE_PLAN, type PurgeResult, type PurgeStep, type Retention, type RetentionPolicy, runPurge } from './types';

export class SqliteRetention implements Retention {
  private readonly steps: (PurgeStep & { stmt: Statement<[string, number, number]> })[];

  constructor(s: SqliteDb) {
    // Deletes up to `batch` rows of one status older than `before` (by `column`, which may
    // be an expression: error rows age from their last attempt, not from when they were queued).
    this.steps = PURGE_PLAN.map((step) => ({
      ...step,
      stmt: s.db.prepare<[string, number, number]>(`
        DELETE FROM ${step.sqlTable} WHERE id IN (
          SELECT id FROM ${step.sqlTable} WHERE status = ? AND ${step.column} < ? LIMIT ?)`),
    }));
  }

  async purge(policy: RetentionPolicy, now: number, batch: number): Promise<PurgeResult> {
    return runPurge(this.steps, policy, now, batch, (p, before) => p.stmt.run(p.status, before, batch).changes);
  }
}
