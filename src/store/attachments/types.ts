/**
 * Attachment sync: what each side keeps of the files that travel beside the messages. The
 * origin registers, per remote system, which attachments of a record the remote has
 * (AttachmentsOut: sent in a queued message, or received from it), which decides what the
 * next message carries and which removals it announces; staged content stays while some
 * 'sent' row names its hash. The receiver keeps one
 * row per file it lacks (InboundFiles), from 'wanted' through a pull request and the
 * pushed bytes to 'staged', handed to the flow, and 'stored' (or a final 'error' /
 * 'refused'). Staged bytes live in `<staging>/in/<row id>`: row ids are never reused.
 */

/** Origin side: an attachment of a local record as registered for one remote system (its link key). */
export interface SentAttachment {
  /** Link key. */
  remoteSystem: string;
  table: string;
  recordId: string;
  attachmentId: string;
  /** sha256 hex, lower case. */
  hash: string;
  fileName: string;
  contentType: string;
  size: number;
  /** sent: its metadata went in a message; refused: kept back by the capture's limits; removed: the record no longer has it and the remote was told. */
  status: 'sent' | 'refused' | 'removed';
  /** Why refused (code). */
  reason?: string;
  updatedAt: number;
}

export interface AttachmentsOut {
  /** Upserts by (remoteSystem, table, recordId, attachmentId), all in one transaction. */
  record(rows: readonly SentAttachment[]): Promise<void>;
  /** The record's registered attachments for that remote system (any status), by attachmentId order. */
  ofRecord(remoteSystem: string, table: string, recordId: string): Promise<SentAttachment[]>;
  /** One registered attachment. */
  find(remoteSystem: string, table: string, recordId: string, attachmentId: string): Promise<SentAttachment | undefined>;
  /** Of `hashes`, those some row with status 'sent' still names (their staged content must stay). */
  hashesInUse(hashes: readonly string[]): Promise<Set<string>>;
  /**
   * Retention: deletes up to `limit` 'removed' and 'refused' rows last updated before `before`; returns how many.
   * A 'sent' row stays whatever its age: a pull may still name it.
   */
  purge(before: number, limit: number): Promise<number>;
}

/** Receiver side. */
export type InboundFileStatus = 'wanted' | 'requested' | 'staged' | 'processing' | 'stored' | 'error' | 'refused';

export const INBOUND_FILE_STATUSES: readonly InboundFileStatus[] = ['wanted', 'requested', 'staged', 'processing', 'stored', 'error', 'refused'];

export interface NewInboundFile {
  /** Link key. */
  remoteSystem: string;
  processEvent: string;
  /** The message that carried it. */
  messageId: string;
  source: { instanceId: string; table: string; id: string };
  /** The local record it belongs to. */
  target: { table: string; id: string };
  /** The origin's synthetic key (opaque here). */
  key: string;
  hash: string;
  /** Already made safe (core safeFileName). */
  fileName: string;
  contentType: string;
  size: number;
}

export interface InboundFile extends NewInboundFile {
  id: number;
  status: InboundFileStatus;
  /** Pull requests made for it (claimToRequest counts), and flow attempts after staged. */
  attempts: number;
  /** When claimToRequest may take it (wanted/requested), or claimStaged (staged). */
  nextAt: number;
  /** Bytes staged so far (resume offset). */
  received: number;
  /** The pull request it is in now. */
  transfer?: string;
  lastError?: string;
  createdAt: number;
  updatedAt: number;
}

/** How a failed pull leaves a file: wanted again later (from `received` bytes), or final. */
export type PullFailure = { status: 'wanted'; nextAt: number; received: number } | { status: 'error' | 'refused' };

/** How the flow ended a file. */
export type FileOutcome = { ok: true } | { ok: false; error: string; retryAt?: number };

export interface InboundFiles {
  /**
   * Inserts the files not there yet — unique by (remoteSystem, messageId, hash, fileName), so a message emitted again
   * wants nothing twice — and returns the row of each input (new or existing), in input order. One transaction.
   */
  want(files: readonly NewInboundFile[], now: number): Promise<InboundFile[]>;
  /**
   * Claims up to `limit` rows to ask for, in one statement: status 'wanted', or 'requested' whose deadline passed,
   * with nextAt <= now, of `remoteSystems` (undefined: any), oldest id first. Sets status 'requested', transfer,
   * nextAt = deadline, attempts + 1. PostgreSQL: FOR UPDATE SKIP LOCKED.
   */
  claimToRequest(remoteSystems: readonly string[] | undefined, now: number, limit: number, transfer: string, deadline: number): Promise<InboundFile[]>;
  get(id: number): Promise<InboundFile | undefined>;
  /** The row of `id` if it is 'requested' in `transfer` (what a push and a completion address), else undefined. */
  inTransfer(transfer: string, id: number): Promise<InboundFile | undefined>;
  /** Bytes staged so far (resume offset). Only while 'requested' in `transfer`; returns whether it was. */
  setReceived(id: number, transfer: string, bytes: number, now: number): Promise<boolean>;
  /** Verified: 'requested' in `transfer` → 'staged', attempts reset to 0 (they count flow attempts from here). Returns whether it was. */
  markStaged(id: number, transfer: string, now: number): Promise<boolean>;
  /**
   * A pull failed for this file: back to 'wanted' at `nextAt` (retry), received reset to `received`, or to the final
   * `error` / `refused` (not retried: refused = the origin refused the key, or the name/size cannot be stored).
   * Only from 'wanted' or 'requested'.
   */
  failPull(id: number, to: PullFailure, error: string, now: number): Promise<void>;
  /**
   * Claims up to `limit` 'staged' rows of (remoteSystems, processEvent) whose nextAt <= now to hand to the flow:
   * → 'processing', oldest id first. Files of one target record go in order: a row is not claimed while an older
   * row of the same target record is not finished ('stored', 'error', 'refused'), so at most one file of a record
   * is with the flow at a time. PostgreSQL: SKIP LOCKED.
   */
  claimStaged(remoteSystems: readonly string[], processEvent: string, now: number, limit: number): Promise<InboundFile[]>;
  /**
   * The flow ended a file: 'processing' → 'stored' (ok), or → 'staged' again at `retryAt` (attempts + 1, lastError),
   * or → 'error' (final, lastError). Returns false when the row was not 'processing' (finished already).
   */
  finish(id: number, outcome: FileOutcome, now: number): Promise<boolean>;
  /** What a local record holds: (hash, fileName) of its 'stored', 'staged' and 'processing' rows and of rows waiting ('wanted', 'requested'). */
  held(targetTable: string, targetId: string, remoteSystem?: string): Promise<{ hash: string; fileName: string }[]>;
  /**
   * At a start, what a previous process had in hand: 'processing' rows (handed to a flow)
   * → 'staged', and 'requested' rows (whose pushes ended with it) due now, so they are
   * asked for again at once, from the bytes received. Returns how many.
   */
  releaseAtStart(now: number): Promise<number>;
  /** Operator retry: 'error' rows → 'wanted' (received 0, attempts 0, nextAt now). Returns how many. */
  retry(ids: readonly number[], now: number): Promise<number>;
  /** Counts by status (monitor). */
  counts(remoteSystem?: string): Promise<Record<InboundFileStatus, number>>;
  /** The rows in 'error' of `remoteSystem` (undefined: any), newest updated first, at most `limit` (monitor). */
  errors(remoteSystem: string | undefined, limit: number): Promise<InboundFile[]>;
  /**
   * Retention: deletes up to `limit` 'stored' and 'refused' rows last updated before `before`, and 'error' rows
   * last updated before `errorsBefore` (kept longer: an operator may still retry them), returning their ids
   * (the caller removes their staged files).
   */
  purgeFiles(before: number, errorsBefore: number, limit: number): Promise<number[]>;
}
