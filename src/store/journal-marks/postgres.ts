/**
 * Journal marks in PostgreSQL: one statement per call, in the caller's transaction when
 * given one (the outbound enqueue, the inbound accept). Two processes marking the same
 * entry at once: the second waits for the first to commit and then finds the mark there
 * (ON CONFLICT DO NOTHING returns nothing), so only one of them sends the entry.
 */
import type { PgContext } from '../postgres/context';
import { type Db, rows, sql } from '../postgres/db';
import type { JournalMark, JournalMarks } from './types';

const MARK_NEW = sql('journal_mark_new', `
  INSERT INTO rps_journal_mark (remote_system, entry_id, marked_at)
  SELECT DISTINCT r, e, $3::bigint FROM unnest($1::text[], $2::text[]) AS u (r, e)
  ON CONFLICT DO NOTHING
  RETURNING remote_system, entry_id`);

const SEEN_ANY = sql('journal_mark_seen', 'SELECT DISTINCT entry_id FROM rps_journal_mark WHERE entry_id = ANY ($1::text[])');

/** First key of the two-key transaction locks on journal entries (`pg_advisory_xact_lock(ENTRY_LOCK, hashtext(id))`). */
export const ENTRY_LOCK = 539_451_503;

// The entries a received batch carries, locked until the accept commits, in one order
// (so two accepts do not deadlock; one that did would be run again by transaction()): an
// accept that carries the same entry from another
// remote waits, then finds it seen. A hash collision only makes one wait for nothing.
const LOCK_ENTRIES = sql('journal_mark_lock', `
  SELECT count(pg_advisory_xact_lock(${ENTRY_LOCK}, k)) AS n
  FROM (SELECT DISTINCT hashtext(e) AS k FROM unnest($1::text[]) AS e ORDER BY 1) l`);

const KNOWN = sql('journal_mark_known', 'SELECT entry_id FROM rps_journal_mark WHERE remote_system = $1::text AND entry_id = ANY ($2::text[])');

/** Marks each entry for its remote; returns the marks that are new. */
export async function markNew(db: Db, marks: readonly JournalMark[], now: number): Promise<JournalMark[]> {
  if (marks.length === 0) return [];
  const added = await rows<{ remote_system: string; entry_id: string }>(db, MARK_NEW, [marks.map((m) => m.remoteSystem), marks.map((m) => m.entryId), now]);
  return added.map((r) => ({ remoteSystem: r.remote_system, entryId: r.entry_id }));
}

/**
 * The entries of `entryIds` this store has a mark of, for any remote. In a transaction
 * (the accept's), and those entries stay locked until it ends: what another accept marks
 * meanwhile is seen here, or this one's marks there.
 */
export async function seenAny(db: Db, entryIds: readonly string[]): Promise<Set<string>> {
  if (entryIds.length === 0) return new Set();
  await rows(db, LOCK_ENTRIES, [[...entryIds]]);
  return new Set((await rows<{ entry_id: string }>(db, SEEN_ANY, [[...entryIds]])).map((r) => r.entry_id));
}

export class PostgresJournalMarks implements JournalMarks {
  constructor(private readonly p: PgContext) {}

  async known(remoteSystem: string, entryIds: readonly string[]): Promise<Set<string>> {
    if (entryIds.length === 0) return new Set();
    return new Set((await rows<{ entry_id: string }>(this.p.pool, KNOWN, [remoteSystem, [...entryIds]])).map((r) => r.entry_id));
  }
}
