/** The outbound queue: messages waiting to be sent to a remote system, in per-record order. */
import type { MessageDraft } from '../../core/protocol';
import type { ErrorKind, ListFilter, QueueFilter, QueueStatus, StatusCounts } from '../shared/queue';

export interface OutboundRow {
  id: number;
  messageId: string;
  remoteSystem: string;
  processEvent: string;
  recordTable: string;
  recordId: string;
  sequence: number;
  status: QueueStatus;
  /** The message as JSON text, exactly as it is sent. */
  payload: string;
  /** Delivery attempts in all. */
  attempts: number;
  /** Failed attempts since the row was last (re)queued: the "quick attempts" budget. */
  tries: number;
  /** Times the row went from `error` back to `ready` by the retry schedule or a person. */
  retries: number;
  nextAttemptAt: number;
  lastError: string | null;
  errorKind: ErrorKind | null;
  createdAt: number;
  firstAttemptAt: number | null;
  lastAttemptAt: number | null;
  processedAt: number | null;
}

export interface EnqueueItem {
  remoteSystem: string;
  message: MessageDraft;
  /**
   * The change is only its journal entries (comments, work notes): when the remote has
   * them all already, nothing is queued. See core/journal's journalsToSend.
   */
  journalOnly?: boolean;
}

export interface Enqueued {
  /** 0 when nothing was queued (`skipped`). */
  id: number;
  messageId: string;
  sequence: number;
  /** A journal-only change whose entries the remote has already: not queued. */
  skipped?: true;
}

export interface RetryItem {
  id: number;
  error: string;
  nextAttemptAt: number;
  /** False when the failure is not the row's (rate limiting, a sender that stops): its tries stay as they were. */
  countTry: boolean;
}

export interface FailItem {
  id: number;
  error: string;
  kind: ErrorKind;
}

export interface OutboundQueue {
  /**
   * Writes messages into the queue in one transaction, giving each its per-record
   * sequence. A message's journal entries go only to a remote that does not have them
   * yet; their marks are written in the same transaction (journal-marks/types.ts).
   */
  enqueue(items: readonly EnqueueItem[], now: number): Promise<Enqueued[]>;
  /** Takes up to `limit` sendable rows for one remote, oldest first, never two generations of one record out of order. */
  claim(remoteSystem: string, limit: number, now: number, owner: string, leaseMs: number): Promise<OutboundRow[]>;
  markProcessed(ids: readonly number[], now: number): Promise<void>;
  /** Back to `ready`, to be tried again at `nextAttemptAt`. */
  retry(items: readonly RetryItem[], now: number): Promise<void>;
  /** To `error`: it holds back later rows of its record until re-queued or skipped. */
  fail(items: readonly FailItem[], now: number): Promise<void>;
  /** `error` rows back to `ready` (tries start again); counted in `retries` when `countRetry`. Returns their ids. */
  requeue(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]>;
  /** `error` or `ready` rows to `skipped`: they will not be sent, and no longer hold back their record. */
  skip(filter: QueueFilter, now: number): Promise<number[]>;
  list(filter: ListFilter): Promise<OutboundRow[]>;
  /** Rows this owner left `processing` (e.g. a sender that was stopped) become `ready` again. */
  release(remoteSystem: string, owner: string, now: number): Promise<number>;
  /**
   * The earliest retry time after `now` among this remote's `ready` rows, or null.
   * (Rows already due but held behind an earlier row of their record need no timer:
   * the outcome of that earlier row wakes the sender.)
   */
  nextAttempt(remoteSystem: string, now: number): Promise<number | null>;
  count(remoteSystem?: string): Promise<StatusCounts>;
  get(id: number): Promise<OutboundRow | undefined>;
}

/** A row as both stores read it (snake_case columns, epoch-ms numbers). */
export interface OutboundRecord {
  id: number;
  message_id: string;
  remote_system: string;
  process_event: string;
  record_table: string;
  record_id: string;
  sequence: number;
  status: QueueStatus;
  payload: string;
  attempts: number;
  tries: number;
  retries: number;
  next_attempt_at: number;
  last_error: string | null;
  error_kind: ErrorKind | null;
  created_at: number;
  first_attempt_at: number | null;
  last_attempt_at: number | null;
  processed_at: number | null;
}

export function outboundRow(r: OutboundRecord): OutboundRow {
  return {
    id: r.id,
    messageId: r.message_id,
    remoteSystem: r.remote_system,
    processEvent: r.process_event,
    recordTable: r.record_table,
    recordId: r.record_id,
    sequence: r.sequence,
    status: r.status,
    payload: r.payload,
    attempts: r.attempts,
    tries: r.tries,
    retries: r.retries,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    errorKind: r.error_kind,
    createdAt: r.created_at,
    firstAttemptAt: r.first_attempt_at,
    lastAttemptAt: r.last_attempt_at,
    processedAt: r.processed_at,
  };
}

/**
 * Our stream towards a remote: this store and the link key (the remote's instance id once
 * known, see peers/types.ts). A record whose counter moved from another key keeps the
 * stream it counted in (`rps_sequence.out_stream`), so the remote sees no gap nor restart.
 */
export function outboundStream(instanceId: string, remoteSystem: string): string {
  return `${instanceId}/${remoteSystem}`;
}

/** The payload of a queued message: the draft with its stream and, last, its sequence. */
export function outboundPayload(item: EnqueueItem, stream: string, sequence: number): string {
  const before = payloadBeforeStream(item);
  return `${before.slice(0, -1)}${STREAM_MEMBER}${JSON.stringify(stream)}${SEQUENCE_MEMBER[0]}${sequence}${SEQUENCE_MEMBER[1]}`;
}

/**
 * The payload up to its stream: the JSON of an object, whose closing brace the stream
 * and sequence members go in front of (STREAM_MEMBER, the stream as a JSON string, then
 * the words of SEQUENCE_MEMBER). A store that gives streams and sequences in SQL
 * (PostgreSQL's enqueue, one statement) joins them there in the same way.
 */
export function payloadBeforeStream(item: EnqueueItem): string {
  return JSON.stringify(item.message);
}

export const STREAM_MEMBER = ',"stream":';
export const SEQUENCE_MEMBER = [',"sequence":', '}'] as const;
