/**
 * Running statements on PostgreSQL: one SQL operation per named statement, run on the
 * pool or on the client of an open transaction (`Db`); every failure of a server that
 * cannot be reached becomes StoreUnavailableError (see faults.ts).
 */
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { unreachable } from './faults';

/** Where a statement runs: the pool (a statement of its own) or an open transaction's client. */
export type Db = Pool | PoolClient;

/** One statement. Parameters are cast where they are first used: a prepared statement's parameter types are fixed when it is parsed. */
export interface Sql {
  /** Its prepared-statement name (per connection). */
  name: string;
  text: string;
  /**
   * Planned afresh at every call, sent unnamed. A named statement settles, after five
   * calls, on a generic plan that it keeps for the life of the connection; for a claim
   * that is the plan that suited the queue's size then: made on an empty queue (just
   * after a start) it is a sort of the whole table at every step, kept while the queue
   * fills up. Planning a claim takes well under a millisecond; a claim moves a batch.
   */
  perCall?: boolean;
}

/** A named statement (`rps_<name>`). */
export function sql(name: string, text: string, options: { perCall?: boolean } = {}): Sql {
  return { name: `rps_${name}`, text, perCall: options.perCall };
}

export async function query<R extends QueryResultRow>(db: Db, s: Sql, values: readonly unknown[] = []): Promise<{ rows: R[]; rowCount: number }> {
  try {
    const r = await db.query<R>(s.perCall ? { text: s.text, values: values as unknown[] } : { name: s.name, text: s.text, values: values as unknown[] });
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  } catch (err) {
    throw unreachable(err);
  }
}

export async function rows<R extends QueryResultRow>(db: Db, s: Sql, values: readonly unknown[] = []): Promise<R[]> {
  return (await query<R>(db, s, values)).rows;
}

/** Rows in id order (RETURNING gives none). */
export const byId = <T extends { id: number }>(rs: T[]): T[] => rs.sort((a, b) => a.id - b.id);

/** PostgreSQL's SQLSTATE of an error, if it has one. */
function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Runs `work` in one transaction on one pooled connection; retried when PostgreSQL broke a deadlock by aborting it. */
export async function transaction<T>(pool: Pool, work: (c: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const c = await pool.connect().catch((err: unknown) => {
      throw unreachable(err);
    });
    let broken: Error | undefined;
    // A checked-out client has no listener of the pool's, and pg emits 'error' when its
    // connection ends (a server restart), between statements or during one: unhandled,
    // that error would end the process. The statement in progress fails by itself.
    const lost = (err: Error): void => {
      broken = err;
    };
    c.on('error', lost);
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: Error) => {
        broken ??= e; // the connection is gone: the pool must not hand it out again
      });
      // 40P01 deadlock_detected: the other transaction went on; this one can run again.
      if (sqlState(err) === '40P01' && attempt < 3) continue;
      throw unreachable(err);
    } finally {
      c.off('error', lost);
      c.release(broken);
    }
  }
}
