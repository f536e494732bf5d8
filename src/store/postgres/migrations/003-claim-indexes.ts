/** PostgreSQL migration 3. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 3,
  name: 'queue indexes: claims walk the claim index whatever the statistics',
  sql: `
      -- The claims walk rps_outbound_claim / rps_inbound_claim one row at a time and probe
      -- the record indexes (see the claims in outbound/postgres.ts and inbound/postgres.ts). The
      -- cleaner's indexes of migration 1 held every row under a leading status, which
      -- cost twice: every claim and every completion wrote two more index entries per
      -- row; and the planner could answer a claim's status test from them, so with
      -- statistics that said "nothing processing" it read every in-flight row once per
      -- candidate. Now each status the cleaner deletes by has a partial index of its own,
      -- and a row in flight is in none of them. (The purge statements name their status,
      -- so that these predicates match.) PostgreSQL only: SQLite's next migration takes
      -- number 4, so that the numbers keep meaning one change in both stores.
      DROP INDEX rps_outbound_done_age;
      DROP INDEX rps_outbound_age;
      CREATE INDEX rps_outbound_purge_done ON rps_outbound (status, processed_at) WHERE status IN ('processed', 'skipped');
      CREATE INDEX rps_outbound_purge_error ON rps_outbound ((coalesce(last_attempt_at, created_at))) WHERE status = 'error';
      CREATE INDEX rps_outbound_purge_ready ON rps_outbound (created_at) WHERE status = 'ready';

      DROP INDEX rps_inbound_done_age;
      DROP INDEX rps_inbound_age;
      CREATE INDEX rps_inbound_purge_done ON rps_inbound (status, processed_at) WHERE status IN ('processed', 'skipped');
      CREATE INDEX rps_inbound_purge_error ON rps_inbound ((coalesce(started_at, received_at))) WHERE status = 'error';
      CREATE INDEX rps_inbound_purge_ready ON rps_inbound (received_at) WHERE status = 'ready';
      -- The dispatcher's timeout check (inbound.expire), every few seconds: the rows in the
      -- flow only, not the whole backlog of one process event.
      CREATE INDEX rps_inbound_processing ON rps_inbound (remote_system, process_event, started_at) WHERE status = 'processing';

      -- Every row of the queues is updated twice (claimed, then finished): the default
      -- thresholds (a fifth of the table changed before a vacuum, a tenth before an analyze)
      -- let a large history leave the claim and record indexes full of dead entries that
      -- each claim steps over. Vacuum and analyze the queues after far less change. (The
      -- claims' plans do not depend on the statistics; the other statements' do.)
      ALTER TABLE rps_outbound SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
      ALTER TABLE rps_inbound SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
    `,
};
