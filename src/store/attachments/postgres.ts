/**
 * Attachments in PostgreSQL, shared by several processes: every method is one statement
 * or one transaction. The claims choose their rows with FOR UPDATE SKIP LOCKED, so two
 * workers never take the same file nor wait for each other, and are planned per call
 * (see Sql.perCall: the table fills and drains). A batch is bound as one jsonb array.
 */
import type { PgContext } from '../postgres/context';
import { query, rows, sql, transaction } from '../postgres/db';
import { type FileRow, FINISHED_SQL, fileCounts, inboundFile, lastPerKey, type OutRow, sentAttachment } from './shared';
import type { AttachmentsOut, FileOutcome, InboundFile, InboundFiles, InboundFileStatus, NewInboundFile, PullFailure, SentAttachment } from './types';

const byId = (rs: FileRow[]): InboundFile[] => rs.sort((a, b) => a.id - b.id).map(inboundFile);

const OUT_RECORD = sql('attachment_out_record', `
  INSERT INTO rps_attachment_out (remote_system, record_table, record_id, attachment_id, hash, file_name, content_type, size, status, reason, updated_at)
  SELECT j->>'remoteSystem', j->>'table', j->>'recordId', j->>'attachmentId', j->>'hash', j->>'fileName', j->>'contentType',
    (j->>'size')::bigint, j->>'status', j->>'reason', (j->>'updatedAt')::bigint
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e (j, n)
  ORDER BY e.n
  ON CONFLICT (remote_system, record_table, record_id, attachment_id) DO UPDATE SET
    hash = excluded.hash, file_name = excluded.file_name, content_type = excluded.content_type, size = excluded.size,
    status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at`);

const OUT_OF_RECORD = sql('attachment_out_of_record', `
  SELECT * FROM rps_attachment_out WHERE remote_system = $1::text AND record_table = $2::text AND record_id = $3::text ORDER BY attachment_id`);

const OUT_FIND = sql('attachment_out_find', `
  SELECT * FROM rps_attachment_out
  WHERE remote_system = $1::text AND record_table = $2::text AND record_id = $3::text AND attachment_id = $4::text`);

const OUT_IN_USE = sql('attachment_out_in_use', "SELECT DISTINCT hash FROM rps_attachment_out WHERE status = 'sent' AND hash = ANY ($1::text[])");

// Several cleaners may run at once: each deletes rows the others have not locked.
const OUT_PURGE = sql('attachment_out_purge', `
  DELETE FROM rps_attachment_out o
  USING (
    SELECT remote_system, record_table, record_id, attachment_id FROM rps_attachment_out
    WHERE status IN ('removed', 'refused') AND updated_at < $1::bigint
    LIMIT $2::integer
    FOR UPDATE SKIP LOCKED) old
  WHERE o.remote_system = old.remote_system AND o.record_table = old.record_table
    AND o.record_id = old.record_id AND o.attachment_id = old.attachment_id`, { perCall: true });

export class PostgresAttachmentsOut implements AttachmentsOut {
  constructor(private readonly p: PgContext) {}

  async record(list: readonly SentAttachment[]): Promise<void> {
    if (list.length === 0) return;
    await query(this.p.pool, OUT_RECORD, [JSON.stringify(lastPerKey(list))]);
  }

  async ofRecord(remoteSystem: string, table: string, recordId: string): Promise<SentAttachment[]> {
    return (await rows<OutRow>(this.p.pool, OUT_OF_RECORD, [remoteSystem, table, recordId])).map(sentAttachment);
  }

  async find(remoteSystem: string, table: string, recordId: string, attachmentId: string): Promise<SentAttachment | undefined> {
    const row = (await rows<OutRow>(this.p.pool, OUT_FIND, [remoteSystem, table, recordId, attachmentId]))[0];
    return row && sentAttachment(row);
  }

  async hashesInUse(hashes: readonly string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set();
    return new Set((await rows<{ hash: string }>(this.p.pool, OUT_IN_USE, [[...hashes]])).map((r) => r.hash));
  }

  async purge(before: number, limit: number): Promise<number> {
    return (await query(this.p.pool, OUT_PURGE, [before, limit])).rowCount;
  }
}

// A file wanted already (same remote, message, hash and name) is left as it is; one that
// another transaction is inserting makes this wait for it, then find it (FILE_WANTED).
const FILE_WANT = sql('inbound_file_want', `
  INSERT INTO rps_inbound_file (remote_system, process_event, message_id, source_instance, source_table, source_id, target_table, target_id,
    file_key, hash, file_name, content_type, size, status, next_at, created_at, updated_at)
  SELECT j->>'remoteSystem', j->>'processEvent', j->>'messageId', j->'source'->>'instanceId', j->'source'->>'table', j->'source'->>'id',
    j->'target'->>'table', j->'target'->>'id', j->>'key', j->>'hash', j->>'fileName', j->>'contentType', (j->>'size')::bigint,
    'wanted', $2::bigint, $2::bigint, $2::bigint
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e (j, n)
  ORDER BY e.n
  ON CONFLICT (remote_system, message_id, hash, file_name) DO NOTHING`);

const FILE_WANTED = sql('inbound_file_wanted', `
  SELECT f.* FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e (j, n)
  JOIN rps_inbound_file f
    ON f.remote_system = j->>'remoteSystem' AND f.message_id = j->>'messageId' AND f.hash = j->>'hash' AND f.file_name = j->>'fileName'
  ORDER BY e.n`);

const FILE_GET = sql('inbound_file_get', 'SELECT * FROM rps_inbound_file WHERE id = $1::bigint');

// Due waiting rows, oldest first: a 'requested' row is due once its deadline (next_at) passed unanswered.
const FILE_CLAIM_TO_REQUEST = sql('inbound_file_claim_to_request', `
  UPDATE rps_inbound_file f
  SET status = 'requested', transfer = $4::text, next_at = $5::bigint, attempts = f.attempts + 1, updated_at = $2::bigint
  FROM (
    SELECT c.id FROM rps_inbound_file c
    WHERE c.status IN ('wanted', 'requested') AND c.next_at <= $2::bigint
      AND ($1::text[] IS NULL OR c.remote_system = ANY ($1::text[]))
    ORDER BY c.id
    LIMIT $3::integer
    FOR UPDATE SKIP LOCKED) pick
  WHERE f.id = pick.id
  RETURNING f.*`, { perCall: true });

const FILE_IN_TRANSFER = sql('inbound_file_in_transfer', "SELECT * FROM rps_inbound_file WHERE id = $1::bigint AND status = 'requested' AND transfer = $2::text");

const FILE_SET_RECEIVED = sql('inbound_file_set_received', `
  UPDATE rps_inbound_file SET received = $3::bigint, updated_at = $4::bigint WHERE id = $1::bigint AND status = 'requested' AND transfer = $2::text`);

const FILE_MARK_STAGED = sql('inbound_file_mark_staged', `
  UPDATE rps_inbound_file SET status = 'staged', attempts = 0, next_at = $3::bigint, transfer = NULL, updated_at = $3::bigint
  WHERE id = $1::bigint AND status = 'requested' AND transfer = $2::text`);

const FILE_FAIL_TO_WANTED = sql('inbound_file_fail_to_wanted', `
  UPDATE rps_inbound_file SET status = 'wanted', next_at = $2::bigint, received = $3::bigint, last_error = $4::text, transfer = NULL, updated_at = $5::bigint
  WHERE id = $1::bigint AND status IN ('wanted', 'requested')`);

const FILE_FAIL_FINAL = sql('inbound_file_fail_final', `
  UPDATE rps_inbound_file SET status = $2::text, last_error = $3::text, transfer = NULL, updated_at = $4::bigint
  WHERE id = $1::bigint AND status IN ('wanted', 'requested')`);

// Per record in order: an older file of the record that is not finished (waiting, staged,
// with the flow) holds it back. A worker that skips an older row locked by another still
// sees it unfinished here, so two workers never hand two files of one record to the flow.
const FILE_CLAIM_STAGED = sql('inbound_file_claim_staged', `
  UPDATE rps_inbound_file f SET status = 'processing', updated_at = $3::bigint
  FROM (
    SELECT c.id FROM rps_inbound_file c
    WHERE c.status = 'staged' AND c.process_event = $2::text AND c.next_at <= $3::bigint AND c.remote_system = ANY ($1::text[])
      AND NOT EXISTS (
        SELECT 1 FROM rps_inbound_file p
        WHERE p.target_table = c.target_table AND p.target_id = c.target_id AND p.id < c.id AND p.status NOT IN ${FINISHED_SQL})
    ORDER BY c.id
    LIMIT $4::integer
    FOR UPDATE SKIP LOCKED) pick
  WHERE f.id = pick.id
  RETURNING f.*`, { perCall: true });

const FILE_STORED = sql('inbound_file_stored', "UPDATE rps_inbound_file SET status = 'stored', updated_at = $2::bigint WHERE id = $1::bigint AND status = 'processing'");

const FILE_RESTAGE = sql('inbound_file_restage', `
  UPDATE rps_inbound_file SET status = 'staged', next_at = $2::bigint, attempts = attempts + 1, last_error = $3::text, updated_at = $4::bigint
  WHERE id = $1::bigint AND status = 'processing'`);

const FILE_FAILED = sql('inbound_file_failed', `
  UPDATE rps_inbound_file SET status = 'error', last_error = $2::text, updated_at = $3::bigint WHERE id = $1::bigint AND status = 'processing'`);

const FILE_HELD = sql('inbound_file_held', `
  SELECT DISTINCT hash, file_name FROM rps_inbound_file
  WHERE target_table = $1::text AND target_id = $2::text AND ($3::text IS NULL OR remote_system = $3::text)
    AND status IN ('wanted', 'requested', 'staged', 'processing', 'stored')
  ORDER BY hash, file_name`);

// Requested rows keep their status (their pushes died with the process) and are due at once.
const FILE_RELEASE = sql('inbound_file_release', `
  UPDATE rps_inbound_file SET status = CASE status WHEN 'processing' THEN 'staged' ELSE status END, next_at = $1::bigint, updated_at = $1::bigint
  WHERE status IN ('processing', 'requested')`);

const FILE_RETRY = sql('inbound_file_retry', `
  UPDATE rps_inbound_file SET status = 'wanted', received = 0, attempts = 0, next_at = $2::bigint, transfer = NULL, updated_at = $2::bigint
  WHERE id = ANY ($1::bigint[]) AND status = 'error'`);

const FILE_COUNTS = sql('inbound_file_counts', `
  SELECT status, count(*) AS n FROM rps_inbound_file WHERE $1::text IS NULL OR remote_system = $1::text GROUP BY status`);

const FILE_ERRORS = sql('inbound_file_errors', `
  SELECT * FROM rps_inbound_file WHERE status = 'error' AND ($1::text IS NULL OR remote_system = $1::text)
  ORDER BY updated_at DESC, id DESC LIMIT $2::integer`);

// Several cleaners may run at once: each deletes rows the others have not locked. Errors
// are kept longer than finished files: an operator may still retry them.
const FILE_PURGE = sql('inbound_file_purge', `
  DELETE FROM rps_inbound_file f
  USING (
    SELECT id FROM rps_inbound_file
    WHERE (status IN ('stored', 'refused') AND updated_at < $1::bigint) OR (status = 'error' AND updated_at < $2::bigint)
    LIMIT $3::integer
    FOR UPDATE SKIP LOCKED) old
  WHERE f.id = old.id
  RETURNING f.id`, { perCall: true });

export class PostgresInboundFiles implements InboundFiles {
  constructor(private readonly p: PgContext) {}

  async want(files: readonly NewInboundFile[], now: number): Promise<InboundFile[]> {
    if (files.length === 0) return [];
    const batch = JSON.stringify(files);
    const found = await transaction(this.p.pool, async (c) => {
      await query(c, FILE_WANT, [batch, now]);
      return rows<FileRow>(c, FILE_WANTED, [batch]);
    });
    return found.map(inboundFile);
  }

  async claimToRequest(remoteSystems: readonly string[] | undefined, now: number, limit: number, transfer: string, deadline: number): Promise<InboundFile[]> {
    const remotes = remoteSystems === undefined ? null : [...remoteSystems];
    return byId(await rows<FileRow>(this.p.pool, FILE_CLAIM_TO_REQUEST, [remotes, now, limit, transfer, deadline]));
  }

  async get(id: number): Promise<InboundFile | undefined> {
    const row = (await rows<FileRow>(this.p.pool, FILE_GET, [id]))[0];
    return row && inboundFile(row);
  }

  async inTransfer(transfer: string, id: number): Promise<InboundFile | undefined> {
    const row = (await rows<FileRow>(this.p.pool, FILE_IN_TRANSFER, [id, transfer]))[0];
    return row && inboundFile(row);
  }

  async setReceived(id: number, transfer: string, bytes: number, now: number): Promise<boolean> {
    return (await query(this.p.pool, FILE_SET_RECEIVED, [id, transfer, bytes, now])).rowCount === 1;
  }

  async markStaged(id: number, transfer: string, now: number): Promise<boolean> {
    return (await query(this.p.pool, FILE_MARK_STAGED, [id, transfer, now])).rowCount === 1;
  }

  async failPull(id: number, to: PullFailure, error: string, now: number): Promise<void> {
    if (to.status === 'wanted') await query(this.p.pool, FILE_FAIL_TO_WANTED, [id, to.nextAt, to.received, error, now]);
    else await query(this.p.pool, FILE_FAIL_FINAL, [id, to.status, error, now]);
  }

  async claimStaged(remoteSystems: readonly string[], processEvent: string, now: number, limit: number): Promise<InboundFile[]> {
    if (remoteSystems.length === 0) return [];
    return byId(await rows<FileRow>(this.p.pool, FILE_CLAIM_STAGED, [[...remoteSystems], processEvent, now, limit]));
  }

  async finish(id: number, outcome: FileOutcome, now: number): Promise<boolean> {
    const done = outcome.ok
      ? await query(this.p.pool, FILE_STORED, [id, now])
      : outcome.retryAt !== undefined
        ? await query(this.p.pool, FILE_RESTAGE, [id, outcome.retryAt, outcome.error, now])
        : await query(this.p.pool, FILE_FAILED, [id, outcome.error, now]);
    return done.rowCount === 1;
  }

  async held(targetTable: string, targetId: string, remoteSystem?: string): Promise<{ hash: string; fileName: string }[]> {
    return (await rows<{ hash: string; file_name: string }>(this.p.pool, FILE_HELD, [targetTable, targetId, remoteSystem ?? null])).map((r) => ({ hash: r.hash, fileName: r.file_name }));
  }

  /**
   * Every 'processing' row, whichever process claimed it: call it only when no other
   * process hands files to a flow (e.g. at a start where this process is the only one).
   */
  async releaseAtStart(now: number): Promise<number> {
    return (await query(this.p.pool, FILE_RELEASE, [now])).rowCount;
  }

  async retry(ids: readonly number[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    return (await query(this.p.pool, FILE_RETRY, [[...ids], now])).rowCount;
  }

  async counts(remoteSystem?: string): Promise<Record<InboundFileStatus, number>> {
    return fileCounts(await rows<{ status: InboundFileStatus; n: number }>(this.p.pool, FILE_COUNTS, [remoteSystem ?? null]));
  }

  async errors(remoteSystem: string | undefined, limit: number): Promise<InboundFile[]> {
    return (await rows<FileRow>(this.p.pool, FILE_ERRORS, [remoteSystem ?? null, limit])).map(inboundFile);
  }

  async purgeFiles(before: number, errorsBefore: number, limit: number): Promise<number[]> {
    return (await rows<{ id: number }>(this.p.pool, FILE_PURGE, [before, errorsBefore, limit])).map((r) => r.id).sort((a, b) => a - b);
  }
}
