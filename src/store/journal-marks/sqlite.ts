/**
 * Journal marks in SQLite. The statement-level functions run inside the caller's
 * transaction (the outbound enqueue, the inbound accept).
 */
import type { SqliteDb } from '../sqlite/database';
import type { JournalMark, JournalMarks } from './types';

type Db = SqliteDb['db'];

const statements = new WeakMap<Db, ReturnType<typeof prepare>>();

function prepare(db: Db) {
  return {
    mark: db.prepare<[string, string, number]>('INSERT INTO rps_journal_mark (remote_system, entry_id, marked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    has: db.prepare<[string, string], { n: number }>('SELECT 1 AS n FROM rps_journal_mark WHERE remote_system = ? AND entry_id = ?'),
    seen: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM rps_journal_mark WHERE entry_id = ? LIMIT 1'),
  };
}

function sql(db: Db): ReturnType<typeof prepare> {
  let s = statements.get(db);
  if (!s) statements.set(db, (s = prepare(db)));
  return s;
}

/** Marks each entry for its remote; returns the marks that are new (in the caller's transaction). */
export function markNew(db: Db, marks: readonly JournalMark[], now: number): JournalMark[] {
  const s = sql(db);
  return marks.filter((m) => s.mark.run(m.remoteSystem, m.entryId, now).changes === 1);
}

/** The entries of `entryIds` this store has a mark of, for any remote. */
export function seenAny(db: Db, entryIds: readonly string[]): Set<string> {
  const s = sql(db);
  return new Set(entryIds.filter((id) => s.seen.get(id) !== undefined));
}

export class SqliteJournalMarks implements JournalMarks {
  constructor(private readonly s: SqliteDb) {}

  async known(remoteSystem: string, entryIds: readonly string[]): Promise<Set<string>> {
    const s = sql(this.s.db);
    return new Set(entryIds.filter((id) => s.has.get(remoteSystem, id) !== undefined));
  }
}
