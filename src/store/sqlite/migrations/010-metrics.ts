/** SQLite migration 10. Shipped: never edit it; add the next number. */
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
        minute        INTEGER NOT NULL,
        direction     TEXT    NOT NULL CHECK (direction IN ('outbound', 'inbound')),
        remote_system TEXT    NOT NULL,
        process_event TEXT    NOT NULL,
        processed     INTEGER NOT NULL DEFAULT 0,
        errors        INTEGER NOT NULL DEFAULT 0,
        time_sum_ms   INTEGER NOT NULL DEFAULT 0,
        h0            INTEGER NOT NULL DEFAULT 0,
        h1            INTEGER NOT NULL DEFAULT 0,
        h2            INTEGER NOT NULL DEFAULT 0,
        h3            INTEGER NOT NULL DEFAULT 0,
        h4            INTEGER NOT NULL DEFAULT 0,
        h5            INTEGER NOT NULL DEFAULT 0,
        h6            INTEGER NOT NULL DEFAULT 0,
        h7            INTEGER NOT NULL DEFAULT 0,
        h8            INTEGER NOT NULL DEFAULT 0,
        h9            INTEGER NOT NULL DEFAULT 0,
        h10           INTEGER NOT NULL DEFAULT 0,
        h11           INTEGER NOT NULL DEFAULT 0,
        h12           INTEGER NOT NULL DEFAULT 0,
        h13           INTEGER NOT NULL DEFAULT 0,
        -- The latest processed_at among the rows counted in processed (null: none): the
        -- monitor's "last processed" of a queue is the max over the kept minutes, so that
        -- completing a row maintains no extra index of the queue for it.
        last_at       INTEGER,
        PRIMARY KEY (minute, direction, remote_system, process_event)
      ) WITHOUT ROWID;

      -- The last processed time of a key (metrics.queues): max(last_at) under the key, one
      -- probe whatever the number of minutes kept (a scan of 8 days of minute rows took
      -- 190 ms in SQLite). Written once per key and batch of increments, not per row.
      CREATE INDEX rps_stats_minute_last ON rps_stats_minute (direction, remote_system, process_event, last_at);

      -- The queue figures (metrics.queues) read indexes only, never the rows with their
      -- payloads: the counts by (status, remote system, process event) scan this one in
      -- its order (no sort), and the oldest waiting row of a group is its first entry
      -- under 'ready' or 'processing'.
      CREATE INDEX rps_outbound_monitor ON rps_outbound (status, remote_system, process_event, created_at);
      CREATE INDEX rps_inbound_monitor ON rps_inbound (status, remote_system, process_event, received_at);
      -- With them, (status, created_at|received_at) of migration 4 is one index too many on
      -- every status change. The cleaner's purge of ready and error rows (retention/sqlite.ts:
      -- status = ? AND created_at|received_at|coalesce(...) < ? LIMIT n) still searches an
      -- index by status (EXPLAIN QUERY PLAN: the monitor index, covering, for ready; the
      -- done_age index or the monitor index for error), never the table: the ready rows are
      -- walked per group in time order, under 1 ms for a batch with 1,000,000 rows. The
      -- done_age indexes stay: processed and skipped rows age by processed_at.
      DROP INDEX rps_outbound_age;
      DROP INDEX rps_inbound_age;
    `,
};
