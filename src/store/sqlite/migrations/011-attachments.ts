/** SQLite migration 11. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 11,
  name: 'attachments: sent attachments, inbound files',
  sql: `
      -- Origin side (attachments/types.ts AttachmentsOut): per remote system, the
      -- attachments of a record announced to it. A pull request names one by its key.
      CREATE TABLE rps_attachment_out (
        remote_system TEXT    NOT NULL,
        record_table  TEXT    NOT NULL,
        record_id     TEXT    NOT NULL,
        attachment_id TEXT    NOT NULL,
        hash          TEXT    NOT NULL,
        file_name     TEXT    NOT NULL,
        content_type  TEXT    NOT NULL,
        size          INTEGER NOT NULL,
        status        TEXT    NOT NULL CHECK (status IN ('sent', 'refused', 'removed')),
        reason        TEXT,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (remote_system, record_table, record_id, attachment_id)
      ) WITHOUT ROWID;
      -- hashesInUse: is a staged content still named by a 'sent' row.
      CREATE INDEX rps_attachment_out_sent ON rps_attachment_out (hash) WHERE status = 'sent';
      -- purge: the rows that no longer name content to send, oldest first.
      CREATE INDEX rps_attachment_out_gone ON rps_attachment_out (updated_at) WHERE status IN ('removed', 'refused');

      -- Receiver side (InboundFiles): one row per file a local record lacks. AUTOINCREMENT:
      -- the staged bytes are in <staging>/in/<id>, so an id is never given again after its
      -- row was purged (a leftover file must not pass for a new row's bytes).
      CREATE TABLE rps_inbound_file (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        remote_system   TEXT    NOT NULL,
        process_event   TEXT    NOT NULL,
        message_id      TEXT    NOT NULL,
        source_instance TEXT    NOT NULL,
        source_table    TEXT    NOT NULL,
        source_id       TEXT    NOT NULL,
        target_table    TEXT    NOT NULL,
        target_id       TEXT    NOT NULL,
        file_key        TEXT    NOT NULL,
        hash            TEXT    NOT NULL,
        file_name       TEXT    NOT NULL,
        content_type    TEXT    NOT NULL,
        size            INTEGER NOT NULL,
        status          TEXT    NOT NULL CHECK (status IN ('wanted', 'requested', 'staged', 'processing', 'stored', 'error', 'refused')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_at         INTEGER NOT NULL,
        received        INTEGER NOT NULL DEFAULT 0,
        transfer        TEXT,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        -- A message emitted again wants nothing twice (want).
        UNIQUE (remote_system, message_id, hash, file_name)
      );
      -- claimToRequest: the rows to ask for that are due (per status, a range of next_at);
      -- only the waiting ones are indexed.
      CREATE INDEX rps_inbound_file_ask ON rps_inbound_file (status, next_at) WHERE status IN ('wanted', 'requested');
      -- claimStaged: the staged rows of a process event in id order.
      CREATE INDEX rps_inbound_file_staged ON rps_inbound_file (process_event, id) WHERE status = 'staged';
      -- claimStaged's "an older file of this record is not finished" probe, and held.
      CREATE INDEX rps_inbound_file_record ON rps_inbound_file (target_table, target_id, id);
      -- releaseAtStart, purgeFiles and counts: by status, the oldest updated first.
      CREATE INDEX rps_inbound_file_age ON rps_inbound_file (status, updated_at);
    `,
};
