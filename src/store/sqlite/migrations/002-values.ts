/** SQLite migration 2. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 2,
  name: 'values and issued refresh tokens',
  sql: `
      -- Named values that must outlive the process (OAuth2 tokens we hold, states, keys).
      CREATE TABLE rps_value (
        key        TEXT    PRIMARY KEY,
        value      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Refresh tokens our /rps/v1/token issued, by hash. A used one stays (used_at set)
      -- until it expires, so that presenting it again is recognised as a replay.
      CREATE TABLE rps_refresh_token (
        hash          TEXT    PRIMARY KEY,
        remote_system TEXT    NOT NULL,
        family        TEXT    NOT NULL,
        credential    TEXT    NOT NULL,
        expires_at    INTEGER NOT NULL,
        used_at       INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX rps_refresh_token_family ON rps_refresh_token (family);
      CREATE INDEX rps_refresh_token_expiry ON rps_refresh_token (expires_at);
    `,
};
