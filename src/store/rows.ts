/**
 * Rows as both stores read them (snake_case columns, epoch-ms numbers) and their
 * mapping to the Store interface's types: one definition, so the stores cannot drift.
 */
import type { Correlation, ErrorItem, ErrorItemStatus, ErrorKind, InboundRow, OutboundRow, QueueStatus } from './types';

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
