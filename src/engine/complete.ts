/**
 * What finishing an inbound message means, decided once: an error from the flow is
 * recorded as such; a processed message links its local record (a deleted record's
 * link is deactivated) and, for a remote we can call, queues the correlation reply
 * that lets the remote address our twin. A message without a local id (other than a
 * delete) is an error: later changes of the record would create a second twin. A
 * message whose link is inactive (rps-correlate's third output) is processed and leaves
 * the link as it is: linking it would start syncing the record again, and a new record
 * would be a second twin; only a reactivation (on rps-correlate) syncs it again.
 */
import { randomUUID } from 'node:crypto';
import { correlationDraft } from '../core/message';
import type { Operation, SourceRef } from '../core/protocol';
import type { InboundOutcome } from './stores';

export interface Completion {
  queueId: number;
  attempt: number;
  /** The flow's error, when the flow failed. */
  flowError: string | undefined;
  /** The message's link is inactive and stays so (rps-correlate found it inactive and did not reactivate it). */
  inactive: boolean;
  localId: string | undefined;
  localTable: string;
  operation: Operation;
  processEvent: string;
  source: Pick<SourceRef, 'table' | 'id'>;
  /** Why a missing local id is an error, worded for the row and the log. */
  noLocalId: () => string;
  /**
   * The store whose instance id signs the correlation reply, when the remote can be
   * called back; undefined when it cannot (without a URL the queue would only grow).
   */
  replyFrom: () => { readonly instanceId: string } | undefined;
  now: Date;
}

/** The outcome to record for one inbound message. */
export function completionOutcome(c: Completion): InboundOutcome {
  const base = { id: c.queueId, attempt: c.attempt };
  if (c.flowError !== undefined) return { ...base, status: 'error', error: c.flowError };
  if (c.inactive) return { ...base, status: 'processed' };
  if (c.localId === undefined) {
    return c.operation === 'delete' ? { ...base, status: 'processed' } : { ...base, status: 'error', error: c.noLocalId() };
  }
  const from = c.replyFrom();
  const local = { table: c.localTable, id: c.localId };
  const deactivate = c.operation === 'delete';
  const outcome: InboundOutcome = { ...base, status: 'processed', local, deactivate };
  // A deleted record needs no link.
  if (from !== undefined && !deactivate) {
    outcome.reply = correlationDraft({ id: randomUUID(), processEvent: c.processEvent, instanceId: from.instanceId, local, remote: { table: c.source.table, id: c.source.id }, now: c.now });
  }
  return outcome;
}
