/**
 * The `Store` interface (DESIGN.md §6): where every durable piece of state lives.
 * Implementations: SQLite (embedded default) and, later, PostgreSQL; both pass the
 * same tests. Times are epoch milliseconds, passed in by the caller so that tests
 * control the clock.
 */
import type { Message, MessageDraft, ResultStatus } from '../core/protocol';

export type QueueStatus = 'ready' | 'processing' | 'processed' | 'error' | 'skipped';

export type StatusCounts = Record<QueueStatus, number>;

/**
 * Why a row is in `error`. It decides what may put the row back to `ready` without a
 * person: a remote that answers again takes back `connection` and `auth` rows (the
 * messages were never the problem); the others wait for the retry schedule or a
 * person (reprocess or skip).
 */
export type ErrorKind = 'connection' | 'auth' | 'refused' | 'flow' | 'timeout';

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
}

export interface Enqueued {
  id: number;
  messageId: string;
  sequence: number;
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

/** Selects queue rows for the retry schedule and for people's reprocess / skip. */
export interface QueueFilter {
  remoteSystem?: string;
  processEvent?: string;
  ids?: readonly number[];
  kinds?: readonly ErrorKind[];
  /** Only rows re-queued fewer times than this. */
  maxRetries?: number;
}

export interface ListFilter {
  remoteSystem?: string;
  processEvent?: string;
  statuses?: readonly QueueStatus[];
  /** Rows with a larger id than this (paging). */
  afterId?: number;
  limit: number;
}

/** How long rows are kept, per status, in ms; 0 keeps them for ever. */
export interface RetentionPolicy {
  processedMs: number;
  skippedMs: number;
  errorMs: number;
  readyMs: number;
}

export interface PurgeResult {
  outbound: number;
  inbound: number;
  errorQueue: number;
  /** Of the outbound and inbound rows: those never delivered or applied (ready, error). */
  undelivered: number;
  /** True when the batch limit was reached: call again (later) for the rest. */
  more: boolean;
}

export type ErrorItemStatus = 'error' | 'retrying' | 'processed' | 'failed';

/** One message held by an rps-queue-retry node's durable error queue. */
export interface ErrorItem {
  id: number;
  /** The rps-queue-retry node that holds it. */
  owner: string;
  /** The Node-RED message as JSON text. */
  message: string;
  error: string;
  retries: number;
  status: ErrorItemStatus;
  createdAt: number;
  updatedAt: number;
}

export interface InboundRow {
  id: number;
  messageId: string;
  remoteSystem: string;
  processEvent: string;
  /** The sender's sequence stream (see Message.stream). */
  stream: string;
  sourceTable: string;
  sourceId: string;
  sequence: number;
  status: QueueStatus;
  payload: string;
  attempts: number;
  retries: number;
  receivedAt: number;
  startedAt: number | null;
  processedAt: number | null;
  lastError: string | null;
  errorKind: ErrorKind | null;
}

export interface InboundClaimOptions {
  remoteSystem: string;
  processEvent: string;
  limit: number;
  now: number;
  owner: string;
  /** A row whose earlier sequence has not arrived waits this long, then is processed anyway. */
  gapWaitMs: number;
}

export interface InboundClaim {
  rows: InboundRow[];
  /** Rows marked `skipped` because their sequence is at or below the last one applied. */
  stale: InboundRow[];
  /** When a row held back by a sequence gap may go ahead, if any is waiting. */
  waitingUntil?: number;
  /** Claimed rows that went ahead after the gap wait with earlier sequences missing. */
  gaps: { row: InboundRow; applied: number }[];
}

/** The end of one inbound message's processing, as `rps-complete` reports it. */
export interface InboundOutcome {
  id: number;
  /** The attempt that is being completed: a late answer for an earlier attempt is ignored. */
  attempt: number;
  status: 'processed' | 'error';
  error?: string;
  /** Defaults to `flow`. */
  errorKind?: ErrorKind;
  /** The local record the message was applied to: creates or updates the correlation. */
  local?: { table: string; id: string };
  /** Marks the correlation inactive (the record was deleted). */
  deactivate?: boolean;
  /** Sent back to the remote when the correlation is new or changed, so it can address the twin. */
  reply?: MessageDraft;
}

export type FinishResult = 'finished' | 'stale';

export type CorrelationState = 'active' | 'inactive';

export interface Correlation {
  remoteSystem: string;
  localTable: string;
  localId: string;
  remoteTable: string;
  remoteId: string;
  state: CorrelationState;
  createdAt: number;
  updatedAt: number;
}

/** A refresh token we issued at `/rps/v1/token`, known by its hash only. */
export interface IssuedRefreshToken {
  /** SHA-256 of the token (base64url): the token itself is never stored. */
  hash: string;
  remoteSystem: string;
  /** Every token rotated from one grant shares the family: a reused token revokes it all. */
  family: string;
  /** Fingerprint of the credential it was issued for: a changed credential revokes it. */
  credential: string;
  expiresAt: number;
}

export interface StoredValue {
  key: string;
  value: string;
}

export interface ValueChange {
  key: string;
  /** The value it must still hold to be replaced. */
  expected: string;
  value: string;
}

export type RefreshRotation =
  | { status: 'rotated'; previous: IssuedRefreshToken }
  /** Presented again after it was rotated: stolen or replayed, so its whole family is revoked. */
  | { status: 'reused' }
  | { status: 'unknown' | 'expired' | 'revoked' };

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** This instance's id: generated once, when the store is created. */
  readonly instanceId: string;
  /**
   * Resolves once the store can be used; read `instanceId` only after this. A PostgreSQL
   * store chosen on rps-store opens in the background and tries again while the server
   * cannot be reached (see OpeningStore): this rejects when the attempt in progress
   * fails, or, with `untilOpen`, only when the store is closed before it opened.
   */
  opened(untilOpen?: boolean): Promise<void>;

  /** Writes messages into the outbound queue in one transaction, giving each its per-record sequence. */
  enqueueOutbound(items: readonly EnqueueItem[], now: number): Promise<Enqueued[]>;
  /** Takes up to `limit` sendable rows for one remote, oldest first, never two generations of one record out of order. */
  claimOutbound(remoteSystem: string, limit: number, now: number, owner: string, leaseMs: number): Promise<OutboundRow[]>;
  markOutboundProcessed(ids: readonly number[], now: number): Promise<void>;
  /** Back to `ready`, to be tried again at `nextAttemptAt`. */
  retryOutbound(items: readonly RetryItem[], now: number): Promise<void>;
  /** To `error`: it holds back later rows of its record until re-queued or skipped. */
  failOutbound(items: readonly FailItem[], now: number): Promise<void>;
  /** `error` rows back to `ready` (tries start again); counted in `retries` when `countRetry`. Returns their ids. */
  requeueOutbound(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]>;
  /** `error` or `ready` rows to `skipped`: they will not be sent, and no longer hold back their record. */
  skipOutbound(filter: QueueFilter, now: number): Promise<number[]>;
  listOutbound(filter: ListFilter): Promise<OutboundRow[]>;
  /** Rows this owner left `processing` (e.g. a sender that was stopped) become `ready` again. */
  releaseOutbound(remoteSystem: string, owner: string, now: number): Promise<number>;
  /**
   * The earliest retry time after `now` among this remote's `ready` rows, or null.
   * (Rows already due but held behind an earlier row of their record need no timer:
   * the outcome of that earlier row wakes the sender.)
   */
  nextOutboundAttempt(remoteSystem: string, now: number): Promise<number | null>;
  countOutbound(remoteSystem?: string): Promise<StatusCounts>;
  getOutbound(id: number): Promise<OutboundRow | undefined>;

  /**
   * Persists a received batch in one transaction and says, per message, whether it
   * was new (`accepted`) or already known (`duplicate`). Correlation messages are
   * applied on the spot.
   */
  acceptInbound(remoteSystem: string, messages: readonly Message[], now: number): Promise<ResultStatus[]>;
  /** Takes the next message of each record that may be processed now, in sequence order. */
  claimInbound(options: InboundClaimOptions): Promise<InboundClaim>;
  finishInbound(outcomes: readonly InboundOutcome[], now: number): Promise<FinishResult[]>;
  /** Rows `processing` since before `startedBefore` become `error` with `error` as their reason. */
  expireInbound(remoteSystem: string, processEvent: string, startedBefore: number, error: string, now: number): Promise<InboundRow[]>;
  /** Of these rows, those still `processing` since before `startedBefore` become `ready` again; returns their ids. */
  reclaimInbound(ids: readonly number[], startedBefore: number, now: number): Promise<number[]>;
  countInbound(remoteSystem?: string): Promise<StatusCounts>;
  getInbound(id: number): Promise<InboundRow | undefined>;
  /** `error` rows back to `ready`, counted in `retries` when `countRetry`. Returns their ids. */
  requeueInbound(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]>;
  /**
   * `error` or `ready` rows to `skipped`. A skipped message counts as applied for the
   * order of its record: the next one goes ahead without waiting for a gap.
   */
  skipInbound(filter: QueueFilter, now: number): Promise<number[]>;
  listInbound(filter: ListFilter): Promise<InboundRow[]>;

  /** Holds messages for an rps-queue-retry node; returns their ids. */
  addErrorItems(items: readonly { owner: string; message: string; error: string }[], now: number): Promise<number[]>;
  /** A held message failed again: back to `error`, or `failed` once it has been retried `maxRetries` times. */
  failErrorItem(owner: string, id: number, error: string, maxRetries: number, now: number): Promise<ErrorItemStatus | undefined>;
  /** Takes up to `limit` held messages due for another try (fewer than `maxRetries` tries), marking them `retrying`. */
  takeErrorItems(owner: string, maxRetries: number, limit: number, now: number): Promise<ErrorItem[]>;
  /** `retrying` items that did not come back within the settle time are done: `processed`. */
  settleErrorItems(owner: string, retryingBefore: number, now: number): Promise<number>;
  /** After a restart: `retrying` items may not have been tried; they are `error` again. */
  resetErrorItems(owner: string, now: number): Promise<number>;
  countErrorItems(owner: string): Promise<Record<ErrorItemStatus, number>>;

  /** Deletes rows older than the policy allows, at most `batch` per table; never a row in flight. */
  purge(policy: RetentionPolicy, now: number, batch: number): Promise<PurgeResult>;

  findCorrelationByLocal(remoteSystem: string, table: string, id: string): Promise<Correlation | undefined>;
  findCorrelationByRemote(remoteSystem: string, table: string, id: string): Promise<Correlation | undefined>;

  /**
   * Small named values that must survive a restart: OAuth2 tokens we obtained (a
   * rotated refresh token exists nowhere else), remote-system states, signing keys.
   */
  readValue(key: string): Promise<string | undefined>;
  /** Sets (or, with undefined, deletes) a value; committed when the promise resolves. */
  writeValue(key: string, value: string | undefined, now: number): Promise<void>;
  /** Sets the value only when it has none and returns the value stored: two processes agree on one. */
  initValue(key: string, value: string, now: number): Promise<string>;
  /** The values whose key starts with `prefix`, in key order. */
  listValues(prefix: string): Promise<StoredValue[]>;
  /**
   * Compare-and-set, in one transaction: sets each value that still holds `expected`;
   * one written meanwhile (a rotated token, another process's key) stays as it is.
   * Returns the keys that were set. What was replaced is not left readable in the
   * store's own files (SQLite overwrites it and empties its write-ahead log; PostgreSQL
   * keeps a dead row version, never dumped, until vacuum).
   */
  replaceValues(changes: readonly ValueChange[], now: number): Promise<string[]>;

  /** Records a refresh token issued by our token endpoint; the remote system keeps its `maxFamilies` newest grants. */
  addRefreshToken(token: IssuedRefreshToken, now: number, maxFamilies: number): Promise<void>;
  /**
   * Exchanges a refresh token for its successor in one transaction: the old one is
   * marked used (kept until it expires, to detect reuse) and `next` inherits its
   * family and credential. Refused unless the token belongs to `remoteSystem` and was
   * issued for `credential`; a mismatch, or a reuse later than `graceMs` after its first
   * use, revokes the whole family.
   */
  rotateRefreshToken(
    presented: { hash: string; remoteSystem: string; credential: string },
    next: { hash: string; expiresAt: number },
    now: number,
    graceMs: number,
  ): Promise<RefreshRotation>;

  close(): Promise<void>;
}

/** Counts by status from `GROUP BY status` rows; statuses without rows count 0. */
export function countsOf(rows: readonly { status: QueueStatus; n: number }[]): StatusCounts {
  const out = emptyCounts();
  for (const r of rows) out[r.status] = r.n;
  return out;
}

export function emptyCounts(): StatusCounts {
  return { ready: 0, processing: 0, processed: 0, error: 0, skipped: 0 };
}
