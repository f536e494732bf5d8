/** PostgreSQL migration 11. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 11,
  name: 'attachments: sent attachments, inbound files',
  sql: `
      -- Origin side (attachments/types.ts AttachmentsOut): per remote system, the
      -- attachments of a record announced to it. A pull request names one by its key.
      CREATE TABLE rps_attachment_out (
        remote_system text    NOT NULL,
        record_table  text    NOT NULL,
        record_id     text    NOT NULL,
        attachment_id text    NOT NULL,
        hash          text    NOT NULL,
        file_name     text    NOT NULL,
        content_type  text    NOT NULL,
        size          bigint  NOT NULL,
        status        text    NOT NULL CHECK (status IN ('sent', 'refused', 'removed')),
        reason        text,
        updated_at    bigint  NOT NULL,
        PRIMARY KEY (remote_system, record_table, record_id, attachment_id)
      );
      -- hashesInUse: is a staged content still named by a 'sent' row.
      CREATE INDEX rps_attachment_out_sent ON rps_attachment_out (hash) WHERE status = 'sent';
      -- purge: the rows that no longer name content to send, oldest first.
      CREATE INDEX rps_attachment_out_gone ON rps_attachment_out (updated_at) WHERE status IN ('removed', 'refused');

      -- Receiver side (InboundFiles): one row per file a local record lacks. bigserial:
      -- the staged bytes are in <staging>/in/<id>, so an id is never given again after its
      -- row was purged (a leftover file must not pass for a new row's bytes).
      CREATE TABLE rps_inbound_file (
        id              bigserial PRIMARY KEY,
        remote_system   text    NOT NULL,
        process_event   text    NOT NULL,
        message_id      text    NOT NULL,
        source_instance text    NOT NULL,
        source_table    text    NOT NULL,
        source_id       text    NOT NULL,
        target_table    text    NOT NULL,
        target_id       text    NOT NULL,
        file_key        text    NOT NULL,
        hash            text    NOT NULL,
        file_name       text    NOT NULL,
        content_type    text    NOT NULL,
        size            bigint  NOT NULL,
        status          text    NOT NULL CHECK (status IN ('wanted', 'requested', 'staged', 'processing', 'stored', 'error', 'refused')),
        attempts        bigint  NOT NULL DEFAULT 0,
        next_at         bigint  NOT NULL,
        received        bigint  NOT NULL DEFAULT 0,
        transfer        text,
        last_error      text,
        created_at      bigint  NOT NULL,
        updated_at      bigint  NOT NULL,
        -- A message emitted again wants nothing twice (want).
        UNIQUE (remote_system, message_id, hash, file_name)
      );
      -- claimToRequest: the waiting rows in id order (the claim's order), with their next_at
      -- to filter on. Only the waiting ones are indexed, so whatever the statistics say
      -- (a walk of the primary key over finished rows is what they may suggest instead),
      -- this index is the cheaper way to the oldest due rows: EXPLAIN checked. (SQLite's
      -- is by (status, next_at): its planner chose a status index and a sort over this.)
      CREATE INDEX rps_inbound_file_ask ON rps_inbound_file (id, next_at) WHERE status IN ('wanted', 'requested');
      -- claimStaged: the staged rows of a process event in id order.
      CREATE INDEX rps_inbound_file_staged ON rps_inbound_file (process_event, id) WHERE status = 'staged';
      -- claimStaged's "an older file of this record is not finished" probe, and held.
      CREATE INDEX rps_inbound_file_record ON rps_inbound_file (target_table, target_id, id);
      -- releaseAtStart, purgeFiles and counts: by status, the oldest updated first.
      CREATE INDEX rps_inbound_file_age ON rps_inbound_file (status, updated_at);
    `,
};
