/** SQLite migration 9. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 9,
  name: 'watermarks',
  sql: `
      -- Each delta-load node's watermark (watermarks/types.ts): every record at or before
      -- (updated_after, id_after) has been handled. No row: the node has none yet.
      CREATE TABLE rps_watermark (
        node_id       TEXT    NOT NULL PRIMARY KEY,
        updated_after INTEGER,
        id_after      TEXT,
        updated_at    INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
};
