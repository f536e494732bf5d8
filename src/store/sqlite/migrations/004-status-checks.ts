/**
 * SQLite migration 4: the status checks PostgreSQL has had from migration 1. SQLite
 * cannot add a CHECK to a table, so each table is rebuilt: created anew with the check,
 * filled from the old one (ids kept), the old one dropped, the new one renamed, its
 * indexes made again. It runs inside the migration's IMMEDIATE transaction: a failure
 * (a row whose status the check refuses) leaves the file as it was.
 */
import type { Migration } from '../../shared/migration';

const QUEUE_STATUS = "CHECK (status IN ('ready', 'processing', 'processed', 'error', 'skipped'))";

export const migration: Migration = {
  id: 4,
  name: 'status checks, as in PostgreSQL',
  sql: `
      CREATE TABLE rps_outbound_new (
        id               INTEGER PRIMARY KEY,
        message_id       TEXT    NOT NULL,
        remote_system    TEXT    NOT NULL,
        process_event    TEXT    NOT NULL,
        kind             TEXT    NOT NULL,
        operation        TEXT    NOT NULL,
        record_table     TEXT    NOT NULL,
        record_id        TEXT    NOT NULL,
        sequence         INTEGER NOT NULL,
        status           TEXT    NOT NULL ${QUEUE_STATUS},
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
      INSERT INTO rps_outbound_new (id, message_id, remote_system, process_event, kind, operation, record_table, record_id,
                                    sequence, status, payload, attempts, tries, retries, next_attempt_at, last_error, error_kind,
                                    created_at, first_attempt_at, last_attempt_at, processed_at, locked_by, locked_until)
        SELECT id, message_id, remote_system, process_event, kind, operation, record_table, record_id,
               sequence, status, payload, attempts, tries, retries, next_attempt_at, last_error, error_kind,
               created_at, first_attempt_at, last_attempt_at, processed_at, locked_by, locked_until
        FROM rps_outbound;
      DROP TABLE rps_outbound;
      ALTER TABLE rps_outbound_new RENAME TO rps_outbound;
      CREATE INDEX rps_outbound_claim ON rps_outbound (remote_system, status, id);
      CREATE INDEX rps_outbound_record ON rps_outbound (remote_system, record_table, record_id, status, id);
      CREATE INDEX rps_outbound_done_age ON rps_outbound (status, processed_at);
      CREATE INDEX rps_outbound_age ON rps_outbound (status, created_at);

      CREATE TABLE rps_inbound_new (
        id            INTEGER PRIMARY KEY,
        message_id    TEXT    NOT NULL,
        remote_system TEXT    NOT NULL,
        process_event TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        operation     TEXT    NOT NULL,
        stream        TEXT    NOT NULL,
        source_table  TEXT    NOT NULL,
        source_id     TEXT    NOT NULL,
        sequence      INTEGER NOT NULL,
        status        TEXT    NOT NULL ${QUEUE_STATUS},
        payload       TEXT    NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        retries       INTEGER NOT NULL DEFAULT 0,
        received_at   INTEGER NOT NULL,
        started_at    INTEGER,
        processed_at  INTEGER,
        last_error    TEXT,
        error_kind    TEXT,
        locked_by     TEXT,
        UNIQUE (remote_system, message_id)
      );
      INSERT INTO rps_inbound_new (id, message_id, remote_system, process_event, kind, operation, stream, source_table, source_id,
                                   sequence, status, payload, attempts, retries, received_at, started_at, processed_at,
                                   last_error, error_kind, locked_by)
        SELECT id, message_id, remote_system, process_event, kind, operation, stream, source_table, source_id,
               sequence, status, payload, attempts, retries, received_at, started_at, processed_at,
               last_error, error_kind, locked_by
        FROM rps_inbound;
      DROP TABLE rps_inbound;
      ALTER TABLE rps_inbound_new RENAME TO rps_inbound;
      CREATE INDEX rps_inbound_claim ON rps_inbound (remote_system, process_event, status, id);
      CREATE INDEX rps_inbound_record ON rps_inbound (remote_system, stream, source_table, source_id, status, sequence);
      CREATE INDEX rps_inbound_done_age ON rps_inbound (status, processed_at);
      CREATE INDEX rps_inbound_age ON rps_inbound (status, received_at);

      CREATE TABLE rps_correlation_new (
        id            INTEGER PRIMARY KEY,
        remote_system TEXT    NOT NULL,
        local_table   TEXT    NOT NULL,
        local_id      TEXT    NOT NULL,
        remote_table  TEXT    NOT NULL,
        remote_id     TEXT    NOT NULL,
        state         TEXT    NOT NULL CHECK (state IN ('active', 'inactive')),
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        UNIQUE (remote_system, local_table, local_id),
        UNIQUE (remote_system, remote_table, remote_id)
      );
      INSERT INTO rps_correlation_new (id, remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
        SELECT id, remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at
        FROM rps_correlation;
      DROP TABLE rps_correlation;
      ALTER TABLE rps_correlation_new RENAME TO rps_correlation;

      CREATE TABLE rps_error_queue_new (
        id         INTEGER PRIMARY KEY,
        owner      TEXT    NOT NULL,
        message    TEXT    NOT NULL,
        error      TEXT    NOT NULL,
        retries    INTEGER NOT NULL DEFAULT 0,
        status     TEXT    NOT NULL CHECK (status IN ('error', 'retrying', 'processed', 'failed')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      INSERT INTO rps_error_queue_new (id, owner, message, error, retries, status, created_at, updated_at)
        SELECT id, owner, message, error, retries, status, created_at, updated_at
        FROM rps_error_queue;
      DROP TABLE rps_error_queue;
      ALTER TABLE rps_error_queue_new RENAME TO rps_error_queue;
      CREATE INDEX rps_error_queue_owner ON rps_error_queue (owner, status, id);
      CREATE INDEX rps_error_queue_age ON rps_error_queue (status, updated_at);
  `,
};
