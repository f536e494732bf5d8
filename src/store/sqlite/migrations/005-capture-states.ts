/** SQLite migration 5. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 5,
  name: 'capture states',
  sql: `
      -- What each capture saw of a record, for its "changes…" conditions (capture-states/types.ts).
      CREATE TABLE rps_capture_state (
        capture      TEXT    NOT NULL,
        record_table TEXT    NOT NULL,
        record_id    TEXT    NOT NULL,
        state        TEXT    NOT NULL,
        updated_at   INTEGER NOT NULL,
        UNIQUE (capture, record_table, record_id)
      );
      -- Prune keeps the most recently written records of a capture.
      CREATE INDEX rps_capture_state_age ON rps_capture_state (capture, updated_at);
    `,
};
