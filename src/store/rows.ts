/**
 * Rows as both stores read them (snake_case columns, epoch-ms numbers) and their
 * mapping to the Store interface's types: one definition, so the stores cannot drift.
 */
import type { IssuedRefreshToken, PurgeResult, RetentionPolicy, Correlation, ErrorItem, ErrorItemStatus, ErrorKind, InboundRow, OutboundRow, QueueStatus } from './types';

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
}

export interface CorrelationRecord {
  remote_system: string;
  local_table: string;
  local_id: string;
  remote_table: string;
  remote_id: string;
  state: 'active' | 'inactive';
  created_at: number;
  updated_at: number;
}

export interface RefreshTokenRecord {
  hash: string;
  remote_system: string;
  family: string;
  credential: string;
  expires_at: number;
  used_at: number | null;
}

export interface ErrorItemRecord {
  id: number;
  owner: string;
  message: string;
  error: string;
  retries: number;
  status: ErrorItemStatus;
  created_at: number;
  updated_at: number;
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
  };
}

export function correlation(r: CorrelationRecord): Correlation {
  return {
    remoteSystem: r.remote_system,
    localTable: r.local_table,
    localId: r.local_id,
    remoteTable: r.remote_table,
    remoteId: r.remote_id,
    state: r.state,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function errorItem(r: ErrorItemRecord): ErrorItem {
  return {
    id: r.id,
    owner: r.owner,
    message: r.message,
    error: r.error,
    retries: r.retries,
    status: r.status,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Applies pending migrations; safe when several processes open a new file at once. */

/**
 * What presenting a stored refresh token amounts to: `undefined` when it may be
 * rotated, else why not (every refusal but 'unknown' revokes its family).
 */
export function refusedRotation(
  r: RefreshTokenRecord,
  presented: { remoteSystem: string; credential: string },
  now: number,
  graceMs: number,
): 'expired' | 'reused' | 'revoked' | undefined {
  if (r.expires_at <= now) return 'expired';
  // Presented again just after it was used: most likely the same client retrying after
  // a lost answer, or two workers refreshing at once; it gets a successor too.
  if (r.used_at !== null && now - r.used_at > graceMs) return 'reused';
  if (r.remote_system !== presented.remoteSystem || r.credential !== presented.credential) return 'revoked';
  return undefined;
}

/** The previous token of a rotation, as the Store interface returns it. */
export function issuedRefreshToken(r: RefreshTokenRecord): IssuedRefreshToken {
  return { hash: r.hash, remoteSystem: r.remote_system, family: r.family, credential: r.credential, expiresAt: r.expires_at };
}

/** One step of the cleaner: rows of one status in one table, aged by `column` (an SQL expression). */
export interface PurgeStep {
  table: 'outbound' | 'inbound' | 'errorQueue';
  status: string;
  policy: keyof RetentionPolicy;
  sqlTable: string;
  column: string;
}

/** What the cleaner deletes, in both stores. Error rows age from their last attempt, not from when they were queued. */
export const PURGE_PLAN: readonly PurgeStep[] = (
  [
    ['outbound', 'processed', 'processedMs', 'rps_outbound', 'processed_at'],
    ['outbound', 'skipped', 'skippedMs', 'rps_outbound', 'processed_at'],
    ['outbound', 'error', 'errorMs', 'rps_outbound', 'coalesce(last_attempt_at, created_at)'],
    ['outbound', 'ready', 'readyMs', 'rps_outbound', 'created_at'],
    ['inbound', 'processed', 'processedMs', 'rps_inbound', 'processed_at'],
    ['inbound', 'skipped', 'skippedMs', 'rps_inbound', 'processed_at'],
    ['inbound', 'error', 'errorMs', 'rps_inbound', 'coalesce(started_at, received_at)'],
    ['inbound', 'ready', 'readyMs', 'rps_inbound', 'received_at'],
    ['errorQueue', 'processed', 'processedMs', 'rps_error_queue', 'updated_at'],
    ['errorQueue', 'failed', 'errorMs', 'rps_error_queue', 'updated_at'],
    ['errorQueue', 'error', 'errorMs', 'rps_error_queue', 'updated_at'],
  ] as const
).map(([table, status, policy, sqlTable, column]) => ({ table, status, policy, sqlTable, column }));

/**
 * Runs the steps the policy asks for, at most `batch` rows each (one short statement
 * per step, so delivery is never held up for long), and tallies what went.
 */
export async function runPurge<S extends PurgeStep>(
  steps: readonly S[],
  policy: RetentionPolicy,
  now: number,
  batch: number,
  remove: (step: S, before: number) => number | Promise<number>,
): Promise<PurgeResult> {
  const result: PurgeResult = { outbound: 0, inbound: 0, errorQueue: 0, undelivered: 0, more: false };
  for (const step of steps) {
    const keepMs = policy[step.policy];
    if (!keepMs || keepMs <= 0) continue;
    const n = await remove(step, now - keepMs);
    result[step.table] += n;
    if (step.table !== 'errorQueue' && (step.status === 'ready' || step.status === 'error')) result.undelivered += n;
    if (n >= batch) result.more = true;
  }
  return result;
}
