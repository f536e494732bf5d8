/** SQLite migration 1. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 1,
  name: 'queues, correlations, sequences',
  sql: `
      CREATE TABLE rps_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      -- One row per (message, remote system). The rowid orders the queue: a later
      -- change of a record always has a higher id than an earlier one.
      CREATE TABLE rps_outbound (
        id               INTEGER PRIMARY KEY,
        message_id       TEXT    NOT NULL,
        remote_system    TEXT    NOT NULL,
        process_event    TEXT    NOT NULL,
        kind             TEXT    NOT NULL,
        operation        TEXT    NOT NULL,
        record_table     TEXT    NOT NULL,
        record_id        TEXT    NOT NULL,
        sequence         INTEGER NOT NULL,
        status           TEXT    NOT NULL,
        payload          TEXT    NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        tries            INTEGER NOT NULL DEFAULT 0,
        retries          INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        last_error       TEXT,
        error_kind       TEXT,
        created_at       INTEGER NOT NULL,
        first_attempt_at INTEGER,
        last_attempt_at  INTEGER,
        processed_at     INTEGER,
        locked_by        TEXT,
        locked_until     INTEGER,
        UNIQUE (remote_system, message_id)
      );
      -- The claim walks the ready rows of one remote in id order.
      CREATE INDEX rps_outbound_claim ON rps_outbound (remote_system, status, id);
      -- The order check asks "does this record have an earlier row that is not done?".
      CREATE INDEX rps_outbound_record ON rps_outbound (remote_system, record_table, record_id, status, id);
      -- The cleaner looks for old rows of one status.
      CREATE INDEX rps_outbound_done_age ON rps_outbound (status, processed_at);
      CREATE INDEX rps_outbound_age ON rps_outbound (status, created_at);

      CREATE TABLE rps_inbound (
        id            INTEGER PRIMARY KEY,
        message_id    TEXT    NOT NULL,
        remote_system TEXT    NOT NULL,
        process_event TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        operation     TEXT    NOT NULL,
        -- The sender's sequence stream: sequences count per (stream, record).
        stream        TEXT    NOT NULL,
        source_table  TEXT    NOT NULL,
        source_id     TEXT    NOT NULL,
        sequence      INTEGER NOT NULL,
        status        TEXT    NOT NULL,
        payload       TEXT    NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        retries       INTEGER NOT NULL DEFAULT 0,
        received_at   INTEGER NOT NULL,
        started_at    INTEGER,
        processed_at  INTEGER,
        last_error    TEXT,
        error_kind    TEXT,
        locked_by     TEXT,
        -- Applied once: a message id seen before from the same remote is a duplicate.
        UNIQUE (remote_system, message_id)
      );
      CREATE INDEX rps_inbound_claim ON rps_inbound (remote_system, process_event, status, id);
      CREATE INDEX rps_inbound_record ON rps_inbound (remote_system, stream, source_table, source_id, status, sequence);
      CREATE INDEX rps_inbound_done_age ON rps_inbound (status, processed_at);
      CREATE INDEX rps_inbound_age ON rps_inbound (status, received_at);

      CREATE TABLE rps_correlation (
        id            INTEGER PRIMARY KEY,
        remote_system TEXT    NOT NULL,
        local_table   TEXT    NOT NULL,
        local_id      TEXT    NOT NULL,
        remote_table  TEXT    NOT NULL,
        remote_id     TEXT    NOT NULL,
        state         TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        UNIQUE (remote_system, local_table, local_id),
        UNIQUE (remote_system, remote_table, remote_id)
      );

      -- Per-record, per-remote counters: direction 'out' is the last sequence given
      -- to a message of our record (stream ''); 'in' is the last sequence applied of
      -- theirs, per sender stream.
      CREATE TABLE rps_sequence (
        remote_system TEXT    NOT NULL,
        direction     TEXT    NOT NULL,
        stream        TEXT    NOT NULL,
        record_table  TEXT    NOT NULL,
        record_id     TEXT    NOT NULL,
        last_sequence INTEGER NOT NULL,
        PRIMARY KEY (remote_system, direction, stream, record_table, record_id)
      ) WITHOUT ROWID;

      -- Messages held by rps-queue-retry nodes (e.g. caught errors of a flow), with their
      -- error and how often they were tried again.
      CREATE TABLE rps_error_queue (
        id         INTEGER PRIMARY KEY,
        owner      TEXT    NOT NULL,
        message    TEXT    NOT NULL,
        error      TEXT    NOT NULL,
        retries    INTEGER NOT NULL DEFAULT 0,
        status     TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX rps_error_queue_owner ON rps_error_queue (owner, status, id);
      CREATE INDEX rps_error_queue_age ON rps_error_queue (status, updated_at);
    `,
};
