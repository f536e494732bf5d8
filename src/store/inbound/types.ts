/** The inbound queue: messages received from remote systems, emitted to flows in per-record order. */
import { type CorrelationChanges, type CorrelationWrite, type CurrentLink, type FinishResult, type InboundOutcome, netCorrelationChanges, type ProcessedMessage } from '../../core/inbound-finish';
import { type Message, type ResultStatus, streamOf } from '../../core/protocol';
import type { ErrorKind, ListFilter, QueueFilter, QueueStatus, StatusCounts } from '../shared/queue';

export type { FinishResult, InboundOutcome } from '../../core/inbound-finish';

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
  /** The fields of an update that the conflict policy did not write, and why (JSON of core/conflict's FieldConflict[]), or null. */
  conflicts: string | null;
}

/** The conflicts of an update, noted on its row when it is emitted (see InboundQueue.noteConflicts). */
export interface ConflictNote {
  id: number;
  /** JSON of core/conflict's FieldConflict[]. */
  conflicts: string;
}

export interface InboundClaimOptions {
  remoteSystem: string;
  processEvent: string;
  limit: number;
  now: number;
  owner: string;
  /** A row whose earlier sequence has not arrived waits this long, then is processed anyway. */
  gapWaitMs: number;
  /**
   * Whether a claim that finds nothing says when a row held by a gap may go
   * (waitingUntil); default yes. A dispatcher with messages out need not ask: each of
   * their outcomes makes it claim again. (The question reads every waiting row.)
   */
  askGapEnd?: boolean;
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

export interface InboundQueue {
  /**
   * Persists a received batch in one transaction and says, per message, whether it
   * was new (`accepted`) or already known (`duplicate`). Correlation messages are
   * applied on the spot.
   */
  accept(remoteSystem: string, messages: readonly Message[], now: number): Promise<ResultStatus[]>;
  /** Takes the next message of each record that may be processed now, in sequence order. */
  claim(options: InboundClaimOptions): Promise<InboundClaim>;
  /** Finishes rows in one transaction (see core/inbound-finish.ts for the rules). */
  finish(outcomes: readonly InboundOutcome[], now: number): Promise<FinishResult[]>;
  /** Rows `processing` since before `startedBefore` become `error` with `error` as their reason. */
  expire(remoteSystem: string, processEvent: string, startedBefore: number, error: string, now: number): Promise<InboundRow[]>;
  /** Of these rows, those still `processing` since before `startedBefore` become `ready` again; returns their ids. */
  reclaim(ids: readonly number[], startedBefore: number, now: number): Promise<number[]>;
  count(remoteSystem?: string): Promise<StatusCounts>;
  get(id: number): Promise<InboundRow | undefined>;
  /** `error` rows back to `ready`, counted in `retries` when `countRetry`. Returns their ids. */
  requeue(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]>;
  /**
   * `error` or `ready` rows to `skipped`. A skipped message counts as applied for the
   * order of its record: the next one goes ahead without waiting for a gap.
   */
  skip(filter: QueueFilter, now: number): Promise<number[]>;
  list(filter: ListFilter): Promise<InboundRow[]>;
  /** Keeps on each row the fields its update did not write (one statement for the batch); the last note of a row wins. */
  noteConflicts(notes: readonly ConflictNote[]): Promise<void>;
}

export interface InboundRecord {
  id: number;
  message_id: string;
  remote_system: string;
  process_event: string;
  stream: string;
  source_table: string;
  source_id: string;
  sequence: number;
  status: QueueStatus;
  payload: string;
  attempts: number;
  retries: number;
  received_at: number;
  started_at: number | null;
  processed_at: number | null;
  last_error: string | null;
  error_kind: ErrorKind | null;
  conflicts?: string | null;
}

export function inboundRow(r: InboundRecord): InboundRow {
  return {
    id: r.id,
    messageId: r.message_id,
    remoteSystem: r.remote_system,
    processEvent: r.process_event,
    stream: r.stream,
    sourceTable: r.source_table,
    sourceId: r.source_id,
    sequence: r.sequence,
    status: r.status,
    payload: r.payload,
    attempts: r.attempts,
    retries: r.retries,
    receivedAt: r.received_at,
    startedAt: r.started_at,
    processedAt: r.processed_at,
    lastError: r.last_error,
    errorKind: r.error_kind,
    conflicts: r.conflicts ?? null,
  };
}

/** A sequence of a sender's record that is done (processed or skipped), for the applied cursor. */
export interface Done {
  remoteSystem: string;
  stream: string;
  table: string;
  id: string;
  sequence: number;
}

export function doneOf(r: Pick<InboundRecord, 'remote_system' | 'stream' | 'source_table' | 'source_id' | 'sequence'>): Done {
  return { remoteSystem: r.remote_system, stream: r.stream, table: r.source_table, id: r.source_id, sequence: r.sequence };
}

/**
 * A row to finish: what the finish plan, the cursor and the correlation plan read of it,
 * with the link of its source record (null columns: none). Not its payload or other
 * columns: building 200 rows of every column took 1.7 ms, of fewer 0.17–0.7 ms (a
 * microbenchmark of the profiling; end to end the difference was within the noise).
 */
export interface FinishRecord extends Pick<InboundRecord, 'id' | 'status' | 'attempts' | 'remote_system' | 'stream' | 'source_table' | 'source_id' | 'sequence'> {
  link_local_table: string | null;
  link_local_id: string | null;
  link_state: CurrentLink['state'] | null;
}

/** The columns of FinishRecord, from the rows a finish reads (`i`: rps_inbound) and their links. */
export const FINISH_COLUMNS = `i.id, i.status, i.attempts, i.remote_system, i.stream, i.source_table, i.source_id, i.sequence,
  c.local_table AS link_local_table, c.local_id AS link_local_id, c.state AS link_state
  FROM rps_inbound i
  LEFT JOIN rps_correlation c ON c.remote_system = i.remote_system AND c.remote_table = i.source_table AND c.remote_id = i.source_id`;

/** A processed row as core's correlation plan takes it. */
export function processedMessage(outcome: InboundOutcome, r: FinishRecord): ProcessedMessage {
  const current = r.link_local_table === null || r.link_local_id === null || r.link_state === null ? undefined : { localTable: r.link_local_table, localId: r.link_local_id, state: r.link_state };
  return { outcome, remoteSystem: r.remote_system, source: { table: r.source_table, id: r.source_id }, current };
}

/** What accepting a batch changes besides its rows: each correlation message accepted (not a duplicate) links its target to its source, and counts as done, in turn. */
export function planAccept(remoteSystem: string, messages: readonly Message[], results: readonly ResultStatus[]): { changes: CorrelationChanges; done: Done[] } {
  const writes: CorrelationWrite[] = [];
  const done: Done[] = [];
  for (const [n, m] of messages.entries()) {
    if (results[n] !== 'accepted' || m.kind !== 'correlation' || !m.target) continue;
    writes.push({ kind: 'link', remoteSystem, local: m.target, source: m.source });
    done.push({ remoteSystem, stream: streamOf(m), table: m.source.table, id: m.source.id, sequence: m.sequence });
  }
  return { changes: netCorrelationChanges(writes), done };
}
