/**
 * Attachments in SQLite (one process owns the file): every method is one statement or
 * one transaction. Claims are one UPDATE each, choosing their rows in a subquery. A list
 * of remote systems is bound as one JSON array (json_each), so a statement's text does
 * not depend on the list's length.
 */
import type { SqliteDb } from '../sqlite/database';
import { type FileRow, FINISHED_SQL, fileCounts, inboundFile, lastPerKey, type OutRow, sentAttachment } from './shared';
import type { AttachmentsOut, FileOutcome, InboundFile, InboundFiles, InboundFileStatus, NewInboundFile, PullFailure, SentAttachment } from './types';

type Db = SqliteDb['db'];

const byId = (rs: FileRow[]): InboundFile[] => rs.sort((a, b) => a.id - b.id).map(inboundFile);

function outStatements(db: Db) {
  return {
    upsert: db.prepare<[string, string, string, string, string, string, string, number, string, string | null, number]>(`
      INSERT INTO rps_attachment_out (remote_system, record_table, record_id, attachment_id, hash, file_name, content_type, size, status, reason, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (remote_system, record_table, record_id, attachment_id) DO UPDATE SET
        hash = excluded.hash, file_name = excluded.file_name, content_type = excluded.content_type, size = excluded.size,
        status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at`),
    ofRecord: db.prepare<[string, string, string], OutRow>(
      'SELECT * FROM rps_attachment_out WHERE remote_system = ? AND record_table = ? AND record_id = ? ORDER BY attachment_id'),
    find: db.prepare<[string, string, string, string], OutRow>(
      'SELECT * FROM rps_attachment_out WHERE remote_system = ? AND record_table = ? AND record_id = ? AND attachment_id = ?'),
    inUse: db.prepare<[string], { hash: string }>(
      "SELECT DISTINCT hash FROM rps_attachment_out WHERE status = 'sent' AND hash IN (SELECT value FROM json_each(?))"),
    purge: db.prepare<[number, number]>(`
      DELETE FROM rps_attachment_out WHERE (remote_system, record_table, record_id, attachment_id) IN (
        SELECT remote_system, record_table, record_id, attachment_id FROM rps_attachment_out
        WHERE status IN ('removed', 'refused') AND updated_at < ? LIMIT ?)`),
  };
}

export class SqliteAttachmentsOut implements AttachmentsOut {
  private readonly sql: ReturnType<typeof outStatements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = outStatements(s.db);
  }

  async record(rows: readonly SentAttachment[]): Promise<void> {
    // Durable: the message that announces them may be sent once this resolves, and a pull asks for them by this row.
    await this.s.durable(() => {
      for (const r of lastPerKey(rows)) {
        this.sql.upsert.run(r.remoteSystem, r.table, r.recordId, r.attachmentId, r.hash, r.fileName, r.contentType, r.size, r.status, r.reason ?? null, r.updatedAt);
      }
    });
  }

  async ofRecord(remoteSystem: string, table: string, recordId: string): Promise<SentAttachment[]> {
    return this.sql.ofRecord.all(remoteSystem, table, recordId).map(sentAttachment);
  }

  async find(remoteSystem: string, table: string, recordId: string, attachmentId: string): Promise<SentAttachment | undefined> {
    const row = this.sql.find.get(remoteSystem, table, recordId, attachmentId);
    return row && sentAttachment(row);
  }

  async hashesInUse(hashes: readonly string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set();
    return new Set(this.sql.inUse.all(JSON.stringify(hashes)).map((r) => r.hash));
  }

  async purge(before: number, limit: number): Promise<number> {
    // Not durable: rows a power cut brings back are purged again at the next run.
    return this.s.progress(() => this.sql.purge.run(before, limit).changes);
  }
}

interface ClaimToRequest {
  remotes: string | null;
  now: number;
  limit: number;
  transfer: string;
  deadline: number;
}

interface ClaimStaged {
  remotes: string;
  processEvent: string;
  now: number;
  limit: number;
}

function fileStatements(db: Db) {
  return {
    insert: db.prepare<[string, string, string, string, string, string, string, string, string, string, string, string, number, number, number, number]>(`
      INSERT INTO rps_inbound_file (remote_system, process_event, message_id, source_instance, source_table, source_id, target_table, target_id,
        file_key, hash, file_name, content_type, size, status, next_at, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'wanted', ?, ?, ?)
      ON CONFLICT (remote_system, message_id, hash, file_name) DO NOTHING`),
    byKey: db.prepare<[string, string, string, string], FileRow>(
      'SELECT * FROM rps_inbound_file WHERE remote_system = ? AND message_id = ? AND hash = ? AND file_name = ?'),
    get: db.prepare<[number], FileRow>('SELECT * FROM rps_inbound_file WHERE id = ?'),
    // Due waiting rows, oldest first: a 'requested' row is due once its deadline (next_at) passed unanswered.
    claimToRequest: db.prepare<[ClaimToRequest], FileRow>(`
      UPDATE rps_inbound_file SET status = 'requested', transfer = @transfer, next_at = @deadline, attempts = attempts + 1, updated_at = @now
      WHERE id IN (
        SELECT id FROM rps_inbound_file
        WHERE status IN ('wanted', 'requested') AND next_at <= @now
          AND (@remotes IS NULL OR remote_system IN (SELECT value FROM json_each(@remotes)))
        ORDER BY id LIMIT @limit)
      RETURNING *`),
    inTransfer: db.prepare<[number, string], FileRow>("SELECT * FROM rps_inbound_file WHERE id = ? AND status = 'requested' AND transfer = ?"),
    setReceived: db.prepare<[number, number, number, string]>(
      "UPDATE rps_inbound_file SET received = ?, updated_at = ? WHERE id = ? AND status = 'requested' AND transfer = ?"),
    markStaged: db.prepare<[number, number, number, string]>(`
      UPDATE rps_inbound_file SET status = 'staged', attempts = 0, next_at = ?, transfer = NULL, updated_at = ?
      WHERE id = ? AND status = 'requested' AND transfer = ?`),
    failToWanted: db.prepare<[number, number, string, number, number]>(`
      UPDATE rps_inbound_file SET status = 'wanted', next_at = ?, received = ?, last_error = ?, transfer = NULL, updated_at = ?
      WHERE id = ? AND status IN ('wanted', 'requested')`),
    failFinal: db.prepare<[string, string, number, number]>(`
      UPDATE rps_inbound_file SET status = ?, last_error = ?, transfer = NULL, updated_at = ?
      WHERE id = ? AND status IN ('wanted', 'requested')`),
    // Per record in order: an older file of the record that is not finished (waiting, staged, with the flow) holds it back.
    claimStaged: db.prepare<[ClaimStaged], FileRow>(`
      UPDATE rps_inbound_file SET status = 'processing', updated_at = @now
      WHERE id IN (
        SELECT c.id FROM rps_inbound_file c
        WHERE c.status = 'staged' AND c.process_event = @processEvent AND c.next_at <= @now
          AND c.remote_system IN (SELECT value FROM json_each(@remotes))
          AND NOT EXISTS (
            SELECT 1 FROM rps_inbound_file p
            WHERE p.target_table = c.target_table AND p.target_id = c.target_id AND p.id < c.id AND p.status NOT IN ${FINISHED_SQL})
        ORDER BY c.id LIMIT @limit)
      RETURNING *`),
    stored: db.prepare<[number, number]>("UPDATE rps_inbound_file SET status = 'stored', updated_at = ? WHERE id = ? AND status = 'processing'"),
    restage: db.prepare<[number, string, number, number]>(`
      UPDATE rps_inbound_file SET status = 'staged', next_at = ?, attempts = attempts + 1, last_error = ?, updated_at = ?
      WHERE id = ? AND status = 'processing'`),
    failed: db.prepare<[string, number, number]>(
      "UPDATE rps_inbound_file SET status = 'error', last_error = ?, updated_at = ? WHERE id = ? AND status = 'processing'"),
    held: db.prepare<[{ table: string; id: string; remote: string | null }], { hash: string; file_name: string }>(`
      SELECT DISTINCT hash, file_name FROM rps_inbound_file
      WHERE target_table = @table AND target_id = @id AND (@remote IS NULL OR remote_system = @remote)
        AND status IN ('wanted', 'requested', 'staged', 'processing', 'stored')
      ORDER BY hash, file_name`),
    // Requested rows keep their status (their pushes died with the process) and are due at once.
    release: db.prepare<[number, number]>(`
      UPDATE rps_inbound_file SET status = CASE status WHEN 'processing' THEN 'staged' ELSE status END, next_at = ?, updated_at = ?
      WHERE status IN ('processing', 'requested')`),
    retry: db.prepare<[number, number, string]>(`
      UPDATE rps_inbound_file SET status = 'wanted', received = 0, attempts = 0, next_at = ?, transfer = NULL, updated_at = ?
      WHERE +status = 'error' AND id IN (SELECT value FROM json_each(?))`),
    counts: db.prepare<[{ remote: string | null }], { status: InboundFileStatus; n: number }>(
      'SELECT status, count(*) AS n FROM rps_inbound_file WHERE @remote IS NULL OR remote_system = @remote GROUP BY status'),
    errors: db.prepare<[{ remote: string | null; limit: number }], FileRow>(`
      SELECT * FROM rps_inbound_file WHERE status = 'error' AND (@remote IS NULL OR remote_system = @remote)
      ORDER BY updated_at DESC, id DESC LIMIT @limit`),
    // Errors are kept longer than finished files: an operator may still retry them.
    purge: db.prepare<[{ before: number; errorsBefore: number; limit: number }], { id: number }>(`
      DELETE FROM rps_inbound_file WHERE id IN (
        SELECT id FROM rps_inbound_file WHERE status IN ('stored', 'refused') AND updated_at < @before
        UNION ALL
        SELECT id FROM rps_inbound_file WHERE status = 'error' AND updated_at < @errorsBefore
        LIMIT @limit)
      RETURNING id`),
  };
}

export class SqliteInboundFiles implements InboundFiles {
  private readonly sql: ReturnType<typeof fileStatements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = fileStatements(s.db);
  }

  async want(files: readonly NewInboundFile[], now: number): Promise<InboundFile[]> {
    // Durable: the flow goes on once the record's missing files are written down.
    return this.s.durable(() =>
      files.map((f) => {
        this.sql.insert.run(f.remoteSystem, f.processEvent, f.messageId, f.source.instanceId, f.source.table, f.source.id, f.target.table, f.target.id,
          f.key, f.hash, f.fileName, f.contentType, f.size, now, now, now);
        return inboundFile(this.sql.byKey.get(f.remoteSystem, f.messageId, f.hash, f.fileName) as FileRow);
      }),
    );
  }

  async claimToRequest(remoteSystems: readonly string[] | undefined, now: number, limit: number, transfer: string, deadline: number): Promise<InboundFile[]> {
    const remotes = remoteSystems === undefined ? null : JSON.stringify(remoteSystems);
    // A claim lost to a power cut leaves the rows wanted: they are asked for again.
    return byId(this.s.progress(() => this.sql.claimToRequest.all({ remotes, now, limit, transfer, deadline })));
  }

  async get(id: number): Promise<InboundFile | undefined> {
    const row = this.sql.get.get(id);
    return row && inboundFile(row);
  }

  async inTransfer(transfer: string, id: number): Promise<InboundFile | undefined> {
    const row = this.sql.inTransfer.get(id, transfer);
    return row && inboundFile(row);
  }

  async setReceived(id: number, transfer: string, bytes: number, now: number): Promise<boolean> {
    // Durable: the next push resumes from this offset, so it must not fall behind the bytes the file has.
    return this.s.durable(() => this.sql.setReceived.run(bytes, now, id, transfer).changes === 1);
  }

  async markStaged(id: number, transfer: string, now: number): Promise<boolean> {
    return this.s.durable(() => this.sql.markStaged.run(now, now, id, transfer).changes === 1);
  }

  async failPull(id: number, to: PullFailure, error: string, now: number): Promise<void> {
    await this.s.durable(() =>
      to.status === 'wanted' ? this.sql.failToWanted.run(to.nextAt, to.received, error, now, id) : this.sql.failFinal.run(to.status, error, now, id),
    );
  }

  async claimStaged(remoteSystems: readonly string[], processEvent: string, now: number, limit: number): Promise<InboundFile[]> {
    if (remoteSystems.length === 0) return [];
    // Processing rows are taken back at open (releaseAtStart): a lost claim hands the file to the flow again.
    return byId(this.s.progress(() => this.sql.claimStaged.all({ remotes: JSON.stringify(remoteSystems), processEvent, now, limit })));
  }

  async finish(id: number, outcome: FileOutcome, now: number): Promise<boolean> {
    return this.s.durable(() => {
      if (outcome.ok) return this.sql.stored.run(now, id).changes === 1;
      if (outcome.retryAt !== undefined) return this.sql.restage.run(outcome.retryAt, outcome.error, now, id).changes === 1;
      return this.sql.failed.run(outcome.error, now, id).changes === 1;
    });
  }

  async held(targetTable: string, targetId: string, remoteSystem?: string): Promise<{ hash: string; fileName: string }[]> {
    return this.sql.held.all({ table: targetTable, id: targetId, remote: remoteSystem ?? null }).map((r) => ({ hash: r.hash, fileName: r.file_name }));
  }

  async releaseAtStart(now: number): Promise<number> {
    return this.s.progress(() => this.sql.release.run(now, now).changes);
  }

  async retry(ids: readonly number[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    return this.s.durable(() => this.sql.retry.run(now, now, JSON.stringify(ids)).changes);
  }

  async counts(remoteSystem?: string): Promise<Record<InboundFileStatus, number>> {
    return fileCounts(this.sql.counts.all({ remote: remoteSystem ?? null }));
  }

  async errors(remoteSystem: string | undefined, limit: number): Promise<InboundFile[]> {
    return this.sql.errors.all({ remote: remoteSystem ?? null, limit }).map(inboundFile);
  }

  async purgeFiles(before: number, errorsBefore: number, limit: number): Promise<number[]> {
    return this.s
      .progress(() => this.sql.purge.all({ before, errorsBefore, limit }))
      .map((r) => r.id)
      .sort((a, b) => a - b);
  }
}
