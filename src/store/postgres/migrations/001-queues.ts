/** PostgreSQL migration 1. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 1,
  name: 'queues, correlations, sequences',
  sql: `
      CREATE TABLE rps_meta (
        key   text PRIMARY KEY,
        value text NOT NULL
      );

      -- One row per (message, remote system). The id orders the queue: a later change of
      -- a record always has a higher id than an earlier one (enqueues of one record are
      -- serialised by its rps_sequence row, and a batch is inserted in its own order).
      CREATE TABLE rps_outbound (
        id               bigserial PRIMARY KEY,
        message_id       text    NOT NULL,
        remote_system    text    NOT NULL,
        process_event    text    NOT NULL,
        kind             text    NOT NULL,
        operation        text    NOT NULL,
        record_table     text    NOT NULL,
        record_id        text    NOT NULL,
        sequence         bigint  NOT NULL,
        status           text    NOT NULL CHECK (status IN ('ready', 'processing', 'processed', 'error', 'skipped')),
        payload          text    NOT NULL,
        attempts         integer NOT NULL DEFAULT 0,
        tries            integer NOT NULL DEFAULT 0,
        retries          integer NOT NULL DEFAULT 0,
        next_attempt_at  bigint  NOT NULL,
        last_error       text,
        error_kind       text,
        created_at       bigint  NOT NULL,
        first_attempt_at bigint,
        last_attempt_at  bigint,
        processed_at     bigint,
        -- The lease: who holds a processing row, and until when. A row whose lease has
        -- run out belongs to a worker that died: another owner takes it over.
        locked_by        text,
        locked_until     bigint,
        UNIQUE (remote_system, message_id)
      );
      -- The claim walks the live rows of one remote in id order. Partial, so that the
      -- history of processed rows does not slow down the claim.
      CREATE INDEX rps_outbound_claim ON rps_outbound (remote_system, id)
        WHERE status IN ('ready', 'processing');
      -- The order check asks "does this record have an earlier row that is not done?".
      CREATE INDEX rps_outbound_record ON rps_outbound (remote_system, record_table, record_id, id)
        WHERE status IN ('ready', 'processing', 'error');
      -- The cleaner looks for old rows of one status.
      CREATE INDEX rps_outbound_done_age ON rps_outbound (status, processed_at);
      CREATE INDEX rps_outbound_age ON rps_outbound (status, created_at);

      CREATE TABLE rps_inbound (
        id             bigserial PRIMARY KEY,
        message_id     text    NOT NULL,
        remote_system  text    NOT NULL,
        process_event  text    NOT NULL,
        kind           text    NOT NULL,
        operation      text    NOT NULL,
        -- The sender's sequence stream: sequences count per (stream, record).
        stream         text    NOT NULL,
        source_table   text    NOT NULL,
        source_id      text    NOT NULL,
        sequence       bigint  NOT NULL,
        status         text    NOT NULL CHECK (status IN ('ready', 'processing', 'processed', 'error', 'skipped')),
        payload        text    NOT NULL,
        attempts       integer NOT NULL DEFAULT 0,
        retries        integer NOT NULL DEFAULT 0,
        received_at    bigint  NOT NULL,
        started_at     bigint,
        processed_at   bigint,
        last_error     text,
        error_kind     text,
        locked_by      text,
        -- The store (its session lock, see postgres/session.ts) that emitted a processing row: when
        -- that session is gone, its process died and the row may be emitted again.
        locked_session integer,
        -- Applied once: a message id seen before from the same remote is a duplicate.
        UNIQUE (remote_system, message_id)
      );
      CREATE INDEX rps_inbound_claim ON rps_inbound (remote_system, process_event, id)
        WHERE status IN ('ready', 'processing');
      CREATE INDEX rps_inbound_record ON rps_inbound (remote_system, stream, source_table, source_id, status, sequence);
      CREATE INDEX rps_inbound_done_age ON rps_inbound (status, processed_at);
      CREATE INDEX rps_inbound_age ON rps_inbound (status, received_at);

      CREATE TABLE rps_correlation (
        id            bigserial PRIMARY KEY,
        remote_system text   NOT NULL,
        local_table   text   NOT NULL,
        local_id      text   NOT NULL,
        remote_table  text   NOT NULL,
        remote_id     text   NOT NULL,
        state         text   NOT NULL CHECK (state IN ('active', 'inactive')),
        created_at    bigint NOT NULL,
        updated_at    bigint NOT NULL,
        UNIQUE (remote_system, local_table, local_id),
        UNIQUE (remote_system, remote_table, remote_id)
      );

      -- Per-record, per-remote counters: direction 'out' is the last sequence given to a
      -- message of our record (stream ''); 'in' is the last sequence applied of theirs,
      -- per sender stream. The 'out' row is also the record's lock while it is enqueued.
      CREATE TABLE rps_sequence (
        remote_system text   NOT NULL,
        direction     text   NOT NULL,
        stream        text   NOT NULL,
        record_table  text   NOT NULL,
        record_id     text   NOT NULL,
        last_sequence bigint NOT NULL,
        PRIMARY KEY (remote_system, direction, stream, record_table, record_id)
      );

      -- Messages held by rps-queue-retry nodes (e.g. caught errors of a flow), with their
      -- error and how often they were tried again.
      CREATE TABLE rps_error_queue (
        id         bigserial PRIMARY KEY,
        owner      text    NOT NULL,
        message    text    NOT NULL,
        error      text    NOT NULL,
        retries    integer NOT NULL DEFAULT 0,
        status     text    NOT NULL CHECK (status IN ('error', 'retrying', 'processed', 'failed')),
        created_at bigint  NOT NULL,
        updated_at bigint  NOT NULL
      );
      CREATE INDEX rps_error_queue_owner ON rps_error_queue (owner, status, id);
      CREATE INDEX rps_error_queue_age ON rps_error_queue (status, updated_at);
    `,
};
