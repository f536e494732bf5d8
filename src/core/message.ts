/**
 * Building protocol messages from what the flow holds. Pure: ids and clocks come in.
 */
import type { AttachmentMeta, Fields, JournalEntry, MessageDraft, Operation, RecordRef, RemovedAttachment } from './protocol';

export interface ChangeInput {
  id: string;
  processEvent: string;
  domain?: string;
  instanceId: string;
  table: string;
  recordId: string;
  target?: RecordRef;
  operation: Operation;
  capturedAt: string;
  changedBy?: string;
  interactive: boolean;
  fields: Fields;
  changedFields: readonly string[];
  displayValues?: Record<string, string>;
  journal?: readonly JournalEntry[];
  attachments?: readonly AttachmentMeta[];
  removedAttachments?: readonly RemovedAttachment[];
}

export function changeDraft(c: ChangeInput): MessageDraft {
  const draft: MessageDraft = {
    id: c.id,
    kind: 'change',
    processEvent: c.processEvent,
    source: { instanceId: c.instanceId, table: c.table, id: c.recordId },
    operation: c.operation,
    capturedAt: c.capturedAt,
    interactive: c.interactive,
    fields: c.fields,
    changedFields: [...c.changedFields],
    journal: c.journal ? [...c.journal] : [],
    attachments: c.attachments ? [...c.attachments] : [],
  };
  if (c.removedAttachments && c.removedAttachments.length > 0) draft.removedAttachments = [...c.removedAttachments];
  if (c.domain) draft.domain = c.domain;
  if (c.target) draft.target = { table: c.target.table, id: c.target.id };
  if (c.changedBy) draft.changedBy = c.changedBy;
  if (c.displayValues) draft.displayValues = c.displayValues;
  return draft;
}

export interface CorrelationInput {
  id: string;
  processEvent: string;
  instanceId: string;
  /** Our record, which the receiver of this reply will address from now on. */
  local: RecordRef;
  /** Their record, the one that caused ours to be created. */
  remote: RecordRef;
  now: Date;
}

/** Tells the sending side which local record its change created, so later changes arrive as updates. */
export function correlationDraft(c: CorrelationInput): MessageDraft {
  return {
    id: c.id,
    kind: 'correlation',
    processEvent: c.processEvent,
    source: { instanceId: c.instanceId, table: c.local.table, id: c.local.id },
    target: { table: c.remote.table, id: c.remote.id },
    operation: 'insert',
    capturedAt: c.now.toISOString(),
    interactive: false,
    fields: {},
    changedFields: [],
    journal: [],
    attachments: [],
  };
}
