/** What both stores' attachment modules share: the rows as read (migration 11's columns) and their mapping. */
import { INBOUND_FILE_STATUSES, type InboundFile, type InboundFileStatus, type SentAttachment } from './types';

/** A row of rps_attachment_out. */
export interface OutRow {
  remote_system: string;
  record_table: string;
  record_id: string;
  attachment_id: string;
  hash: string;
  file_name: string;
  content_type: string;
  size: number;
  status: SentAttachment['status'];
  reason: string | null;
  updated_at: number;
}

/** A row of rps_inbound_file. */
export interface FileRow {
  id: number;
  remote_system: string;
  process_event: string;
  message_id: string;
  source_instance: string;
  source_table: string;
  source_id: string;
  target_table: string;
  target_id: string;
  file_key: string;
  hash: string;
  file_name: string;
  content_type: string;
  size: number;
  status: InboundFileStatus;
  attempts: number;
  next_at: number;
  received: number;
  transfer: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** The statuses a file no longer moves out of by itself: they block no later file of its record. */
export const FINISHED_SQL = "('stored', 'error', 'refused')";

export function sentAttachment(r: OutRow): SentAttachment {
  return {
    remoteSystem: r.remote_system,
    table: r.record_table,
    recordId: r.record_id,
    attachmentId: r.attachment_id,
    hash: r.hash,
    fileName: r.file_name,
    contentType: r.content_type,
    size: r.size,
    status: r.status,
    ...(r.reason === null ? {} : { reason: r.reason }),
    updatedAt: r.updated_at,
  };
}

export function inboundFile(r: FileRow): InboundFile {
  return {
    id: r.id,
    remoteSystem: r.remote_system,
    processEvent: r.process_event,
    messageId: r.message_id,
    source: { instanceId: r.source_instance, table: r.source_table, id: r.source_id },
    target: { table: r.target_table, id: r.target_id },
    key: r.file_key,
    hash: r.hash,
    fileName: r.file_name,
    contentType: r.content_type,
    size: r.size,
    status: r.status,
    attempts: r.attempts,
    nextAt: r.next_at,
    received: r.received,
    ...(r.transfer === null ? {} : { transfer: r.transfer }),
    ...(r.last_error === null ? {} : { lastError: r.last_error }),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Every status, counted (0 for those with no rows). */
export function fileCounts(rows: readonly { status: InboundFileStatus; n: number }[]): Record<InboundFileStatus, number> {
  const counts = Object.fromEntries(INBOUND_FILE_STATUSES.map((s) => [s, 0])) as Record<InboundFileStatus, number>;
  for (const r of rows) counts[r.status] = Number(r.n);
  return counts;
}

/**
 * The rows of a batch to upsert, one per key, the last one of a key winning (as upserting them one by one
 * would): PostgreSQL refuses to update one row twice in a statement.
 */
export function lastPerKey(rows: readonly SentAttachment[]): SentAttachment[] {
  const byKey = new Map<string, SentAttachment>();
  for (const r of rows) byKey.set(JSON.stringify([r.remoteSystem, r.table, r.recordId, r.attachmentId]), r);
  // In key order: two batches writing the same rows take their locks in one order (no deadlock).
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}
