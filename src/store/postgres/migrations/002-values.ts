/** PostgreSQL migration 2. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 2,
  name: 'values and issued refresh tokens',
  sql: `
      -- Named values that must outlive the process (OAuth2 tokens we hold, states, keys).
      CREATE TABLE rps_value (
        key        text   PRIMARY KEY,
        value      text   NOT NULL,
        updated_at bigint NOT NULL
      );

      -- Refresh tokens our /rps/v1/token issued, by hash. A used one stays (used_at set)
      -- until it expires, so that presenting it again is recognised as a replay.
      CREATE TABLE rps_refresh_token (
        hash          text   PRIMARY KEY,
        remote_system text   NOT NULL,
        family        text   NOT NULL,
        credential    text   NOT NULL,
        expires_at    bigint NOT NULL,
        used_at       bigint
      );
      CREATE INDEX rps_refresh_token_family ON rps_refresh_token (family);
      CREATE INDEX rps_refresh_token_expiry ON rps_refresh_token (expires_at);
    `,
};
