/** PostgreSQL migration 7. Shipped: never edit it; add the next number. */
import type { Migration } from '../../shared/migration';

export const migration: Migration = {
  id: 7,
  name: 'field stamps, conflicts of inbound rows',
  sql: `
      -- When and where each field value of a local record was written (field-stamps/types.ts).
      CREATE TABLE rps_field_stamp (
        record_table text   NOT NULL,
        record_id    text   NOT NULL,
        field        text   NOT NULL,
        at           bigint NOT NULL,
        instance     text   NOT NULL,
        written_at   bigint NOT NULL,
        PRIMARY KEY (record_table, record_id, field)
      );
      -- The retention cleaner forgets stamps long after any change that could conflict with them.
      CREATE INDEX rps_field_stamp_age ON rps_field_stamp (written_at);
      -- The fields of an inbound update that the conflict policy did not write, and why (JSON).
      ALTER TABLE rps_inbound ADD COLUMN conflicts text;
    `,
};
