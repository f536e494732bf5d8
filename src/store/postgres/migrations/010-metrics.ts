/** PostgreSQL migration 10. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 10,
  name: 'metrics: minute stats, monitor indexes',
  sql: `
      -- The monitor's rolling sums (metrics/types.ts, core/stats.ts): per minute and
      -- (direction, remote system, process event), the rows that finished in it and a
      -- histogram of their processing times, h0..h13 one per bucket of TIME_BOUNDS_MS and
      -- the overflow. Keyed by minute first: totals, series and the pruning all read a
      -- range of minutes.
      CREATE TABLE rps_stats_minute (
        minute        bigint  NOT NULL,
        direction     text    NOT NULL CHECK (direction IN ('outbound', 'inbound')),
        remote_system text    NOT NULL,
        process_event text    NOT NULL,
        processed     bigint  NOT NULL DEFAULT 0,
        errors        bigint  NOT NULL DEFAULT 0,
        time_sum_ms   bigint  NOT NULL DEFAULT 0,
        h0            bigint  NOT NULL DEFAULT 0,
        h1            bigint  NOT NULL DEFAULT 0,
        h2            bigint  NOT NULL DEFAULT 0,
        h3            bigint  NOT NULL DEFAULT 0,
        h4            bigint  NOT NULL DEFAULT 0,
        h5            bigint  NOT NULL DEFAULT 0,
        h6            bigint  NOT NULL DEFAULT 0,
        h7            bigint  NOT NULL DEFAULT 0,
        h8            bigint  NOT NULL DEFAULT 0,
        h9            bigint  NOT NULL DEFAULT 0,
        h10           bigint  NOT NULL DEFAULT 0,
        h11           bigint  NOT NULL DEFAULT 0,
        h12           bigint  NOT NULL DEFAULT 0,
        h13           bigint  NOT NULL DEFAULT 0,
        -- The latest processed_at among the rows counted in processed (null: none): the
        -- monitor's "last processed" of a queue is the max over the kept minutes, so that
        -- completing a row maintains no extra index of the queue for it.
        last_at       bigint,
        PRIMARY KEY (minute, direction, remote_system, process_event)
      );

      -- The last processed time of a key (metrics.queues): max(last_at) under the key, one
      -- probe whatever the number of minutes kept (a scan of 8 days of minute rows took
      -- 190 ms in SQLite). Written once per key and batch of increments, not per row.
      CREATE INDEX rps_stats_minute_last ON rps_stats_minute (direction, remote_system, process_event, last_at);

      -- Created in the migration's transaction, under its advisory lock (../migrate.ts):
      -- a second process starting at once waits, then finds number 10 applied.
      -- The queue figures (metrics.queues) read indexes only (index-only scans, as far as
      -- the visibility map allows: the queues are vacuumed often, see migration 3), never
      -- the rows with their payloads: the counts by (remote system, process event, status)
      -- scan this one, and the oldest waiting row of a group is its first entry under
      -- 'ready' or 'processing'.
      -- Remote system first, status third, unlike SQLite's: led by status, the planner took
      -- this index for the inbound claim's "is anything of this record processing / in
      -- error" probes (status and remote system as the index condition, the record as a
      -- filter) whenever the statistics said those statuses were rare, e.g. analyzed when
      -- every row was processed and read when most are ready: every in-flight row of the
      -- remote once per candidate, which migration 3 removed. With remote system first
      -- and no condition on the process event there, its bounds are only the remote
      -- system's rows, whatever the statistics say about status, so the record and claim
      -- indexes always bound a claim's reads more closely (EXPLAIN checked).
      CREATE INDEX rps_outbound_monitor ON rps_outbound (remote_system, process_event, status, created_at);
      CREATE INDEX rps_inbound_monitor ON rps_inbound (remote_system, process_event, status, received_at);
    `,
};
