/** SQLite migration 6. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 6,
  name: 'journal marks',
  sql: `
      -- Which journal entries each remote has (journal-marks/types.ts).
      CREATE TABLE rps_journal_mark (
        remote_system TEXT    NOT NULL,
        entry_id      TEXT    NOT NULL,
        marked_at     INTEGER NOT NULL,
        PRIMARY KEY (remote_system, entry_id)
      ) WITHOUT ROWID;
      -- "Has this store seen the entry at all?", asked when one is received.
      CREATE INDEX rps_journal_mark_entry ON rps_journal_mark (entry_id);
    `,
};
