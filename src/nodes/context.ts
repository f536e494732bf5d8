/**
 * `msg.rps`: what our nodes tell each other about the message travelling through a
 * flow. The outbound shape is made by rps-capture; the inbound shape by rps-inbound.
 * `msg.payload` always holds the record's fields.
 */
import type { AttachmentMeta, JournalEntry, Operation, RecordRef, RemovedAttachment, SourceRef } from '../core/protocol';
import type { SentAttachment } from '../engine/attachments';
import type { LoadMark } from '../engine/delta-load';
import type { NodeMessage } from './red';

export interface OutboundCorrelation {
  remoteSystem: string;
  remoteTable: string;
  remoteId: string;
  state: 'active' | 'inactive';
}

export interface OutboundContext {
  direction: 'outbound';
  table: string;
  id: string;
  operation: Operation;
  capturedAt: string;
  changedBy?: string;
  interactive: boolean;
  changedFields: string[];
  displayValues?: Record<string, string>;
  /** The entries of the capture's journal fields (each is sent to a remote once). */
  journal?: JournalEntry[];
  /** Only journal entries changed: nothing is sent to a remote that has them all. */
  journalOnly?: boolean;
  /** Set by rps-attachment-sync: the metadata of the attachments this message carries, and those the remote must remove. */
  attachments?: AttachmentMeta[];
  removedAttachments?: RemovedAttachment[];
  /** Set by rps-attachment-sync: what rps-send records as sent once the message is queued. */
  attachmentsToRecord?: SentAttachment[];
  /** Set by rps-correlate: the twin on the remote, or null when there is none yet. */
  correlation?: OutboundCorrelation | null;
  /** Set by the flow before rps-correlate, which acts on it and removes it (see LinkStateRequest). */
  reactivate?: boolean;
  deactivate?: boolean;
  /** The remote system this change came from, when an inbound flow made it: never sent back there. */
  origin?: string;
  /** The delta-load record this change is (rps-delta-load's mark): rps-send reports it done once queued. */
  load?: LoadMark;
  /** Set by rps-send once the message is in the outbound queue. */
  queued?: { remoteSystem: string; queueId: number; messageId: string; sequence: number };
}

export interface InboundCorrelation {
  localTable: string;
  localId: string;
  state: 'active' | 'inactive';
}

export interface InboundContext {
  direction: 'inbound';
  /** The rps-inbound node that emitted the message; rps-complete reports back to it. */
  inboundNode: string;
  queueId: number;
  attempt: number;
  /** True when an earlier emission of this message may have been partly processed (crash, restart, timeout). */
  redelivered: boolean;
  messageId: string;
  remoteSystem: string;
  processEvent: string;
  operation: Operation;
  sequence: number;
  source: SourceRef;
  target?: RecordRef;
  capturedAt: string;
  changedBy?: string;
  interactive: boolean;
  changedFields: string[];
  displayValues?: Record<string, string>;
  journal: JournalEntry[];
  attachments: AttachmentMeta[];
  removedAttachments?: RemovedAttachment[];
  /** Set by rps-correlate: the local twin, or null when there is none yet. */
  correlation?: InboundCorrelation | null;
  /** Set by the flow before rps-correlate, which acts on it and removes it (see LinkStateRequest). */
  reactivate?: boolean;
  deactivate?: boolean;
  /** The local record's id once known (from the correlation, or set by the flow). */
  localId?: string;
  localTable?: string;
}

/** A file (or a removal) that rps-attachment-sync hands to an inbound flow; rps-complete ends it. */
export interface AttachmentContext {
  direction: 'attachment';
  /** `store`: the file is to be kept on the local record; `remove`: the record no longer has it on the remote. */
  action: 'store' | 'remove';
  /** The rps-attachment-sync node that emitted it; rps-complete reports back to it. */
  attachmentNode: string;
  /** The file's row (absent for a removal, which needs no ending). */
  fileId?: number;
  attempt?: number;
  remoteSystem: string;
  processEvent: string;
  source: SourceRef;
  target: RecordRef;
  localTable: string;
  localId: string;
}

export type RpsContext = OutboundContext | InboundContext;

/**
 * `msg.rps.reactivate = true` / `msg.rps.deactivate = true`, as rps-correlate reads them:
 * the state the flow asks for the record's link, 'both' when it asks for both.
 */
export type LinkStateRequest = 'active' | 'inactive' | 'both' | undefined;

export function linkStateRequest(rps: RpsContext): LinkStateRequest {
  const reactivate = rps.reactivate === true;
  const deactivate = rps.deactivate === true;
  if (reactivate && deactivate) return 'both';
  return reactivate ? 'active' : deactivate ? 'inactive' : undefined;
}

function rpsOf(msg: NodeMessage): Record<string, unknown> | undefined {
  const rps = msg.rps;
  return typeof rps === 'object' && rps !== null ? (rps as Record<string, unknown>) : undefined;
}

export function inboundContext(msg: NodeMessage): InboundContext | undefined {
  const rps = rpsOf(msg);
  if (!rps || rps.direction !== 'inbound') return undefined;
  if (typeof rps.inboundNode !== 'string' || typeof rps.queueId !== 'number' || typeof rps.remoteSystem !== 'string') return undefined;
  return rps as unknown as InboundContext;
}

export function attachmentContext(msg: NodeMessage): AttachmentContext | undefined {
  const rps = rpsOf(msg);
  if (!rps || rps.direction !== 'attachment' || typeof rps.attachmentNode !== 'string') return undefined;
  return rps as unknown as AttachmentContext;
}

export function outboundContext(msg: NodeMessage): OutboundContext | undefined {
  const rps = rpsOf(msg);
  if (!rps || rps.direction !== 'outbound') return undefined;
  if (typeof rps.table !== 'string' || typeof rps.id !== 'string' || typeof rps.operation !== 'string') return undefined;
  return rps as unknown as OutboundContext;
}
