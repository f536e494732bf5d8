/** The error queue of rps-queue-retry nodes in SQLite. */
import type { SqliteDb } from '../sqlite/database';
import { errorCounts, errorItem, type ErrorItem, type ErrorItemRecord, type ErrorItemStatus, type ErrorQueue, type NewErrorItem } from './types';

function statements(db: SqliteDb['db']) {
  return {
    add: db.prepare<[string, string, string, number, number]>(`
      INSERT INTO rps_error_queue (owner, message, error, status, created_at, updated_at) VALUES (?, ?, ?, 'error', ?, ?)`),
    // A held message that failed again: its tries so far decide whether it gets another.
    fail: db.prepare<[string, number, number, number, string], { status: ErrorItemStatus }>(`
      UPDATE rps_error_queue
      SET error = ?, status = CASE WHEN retries >= ? THEN 'failed' ELSE 'error' END, updated_at = ?
      WHERE id = ? AND owner = ?
      RETURNING status`),
    due: db.prepare<[string, number, number], { id: number }>(`
      SELECT id FROM rps_error_queue WHERE owner = ? AND status = 'error' AND retries < ? ORDER BY id LIMIT ?`),
    take: db.prepare<[number, number], ErrorItemRecord>(`
      UPDATE rps_error_queue SET status = 'retrying', retries = retries + 1, updated_at = ?
      WHERE id = ? AND status = 'error'
      RETURNING *`),
    settle: db.prepare<[number, string, number]>(`
      UPDATE rps_error_queue SET status = 'processed', updated_at = ?
      WHERE owner = ? AND status = 'retrying' AND updated_at < ?`),
    reset: db.prepare<[number, string]>(`
      UPDATE rps_error_queue SET status = 'error', updated_at = ? WHERE owner = ? AND status = 'retrying'`),
    count: db.prepare<[string], { status: ErrorItemStatus; n: number }>('SELECT status, count(*) AS n FROM rps_error_queue WHERE owner = ? GROUP BY status'),
  };
}

export class SqliteErrorQueue implements ErrorQueue {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async add(items: readonly NewErrorItem[], now: number): Promise<number[]> {
    return this.s.durable(() => items.map((i) => Number(this.sql.add.run(i.owner, i.message, i.error, now, now).lastInsertRowid)));
  }

  async fail(owner: string, id: number, error: string, maxRetries: number, now: number): Promise<ErrorItemStatus | undefined> {
    return (await this.s.durable(() => this.sql.fail.get(error, maxRetries, now, id, owner)))?.status;
  }

  async take(owner: string, maxRetries: number, limit: number, now: number): Promise<ErrorItem[]> {
    return this.s.progress(() => {
      const items: ErrorItem[] = [];
      for (const { id } of this.sql.due.all(owner, maxRetries, limit)) {
        const r = this.sql.take.get(now, id);
        if (r) items.push(errorItem(r));
      }
      return items;
    });
  }

  async settle(owner: string, retryingBefore: number, now: number): Promise<number> {
    return this.sql.settle.run(now, owner, retryingBefore).changes;
  }

  async reset(owner: string, now: number): Promise<number> {
    return this.sql.reset.run(now, owner).changes;
  }

  async count(owner: string): Promise<Record<ErrorItemStatus, number>> {
    return errorCounts(this.sql.count.all(owner));
  }
}
