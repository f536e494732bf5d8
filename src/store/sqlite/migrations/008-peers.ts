/** SQLite migration 8. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 8,
  name: 'peers',
  sql: `
      -- Which instance each remote system is (peers/types.ts): by remote-system node id
      -- (kind 'node') and by the remote's base URL (kind 'url'). Rows keyed by a remote
      -- system are keyed by that instance id once it is known; rows of older versions,
      -- keyed by node id, move to it the first time the remote is reached (adopt).
      CREATE TABLE rps_peer (
        kind        TEXT    NOT NULL CHECK (kind IN ('node', 'url')),
        name        TEXT    NOT NULL,
        instance_id TEXT    NOT NULL,
        learned_at  INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
      ) WITHOUT ROWID;

      -- The stream an 'out' counter counts in, when it is not this link's own
      -- ('<instance id>/<remote_system>', see outbound/types.ts): a record's counter that
      -- moved to another link key goes on counting in the stream the remote knows.
      ALTER TABLE rps_sequence ADD COLUMN out_stream TEXT;
    `,
};
