/**
 * The capture decision: given a local record change and a
 * capture definition, decide whether it must be sent and what it carries. Pure.
 */
import type { Fields, Operation } from './protocol';
import { OPERATIONS } from './protocol';
import { sameValue, toFields, ValueError } from './values';

export interface CaptureDefinition {
  table: string;
  /** The record property holding its id. */
  idField: string;
  operations: readonly Operation[];
  /** Fields to include; empty means every field of the record. */
  fields: readonly string[];
}

export interface RecordChange {
  /** The record after the change (for a delete: the record as it was, or at least its id). */
  record: unknown;
  /** The record before the change, when known: lets the capture compute what changed. */
  previous?: unknown;
  operation?: string;
  changedBy?: string;
  interactive?: boolean;
}

export interface Capture {
  table: string;
  id: string;
  operation: Operation;
  fields: Fields;
  changedFields: string[];
  capturedAt: string;
  changedBy?: string;
  interactive: boolean;
}

export type CaptureResult =
  | { kind: 'captured'; capture: Capture }
  | { kind: 'ignored'; reason: 'operation' | 'unchanged' }
  | { kind: 'invalid'; error: string; code: 'operation' | 'record' | 'id' };

function pick(fields: Fields, names: readonly string[]): Fields {
  if (names.length === 0) return fields;
  const out: Fields = {};
  for (const name of names) if (name in fields) out[name] = fields[name];
  return out;
}

/**
 * The part of a raw record the capture looks at: the included fields and the id.
 * Only these are converted, so a field that is not sent (a binary column, say)
 * cannot get the record refused.
 */
function relevant(raw: unknown, def: CaptureDefinition): unknown {
  if (def.fields.length === 0 || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const source = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of [def.idField, ...def.fields]) {
    if (Object.prototype.hasOwnProperty.call(source, name)) out[name] = source[name];
  }
  return out;
}

function recordId(fields: Fields, idField: string): string | undefined {
  const id = fields[idField];
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
}

export function parseFieldList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function captureChange(def: CaptureDefinition, change: RecordChange, now: Date): CaptureResult {
  let record: Fields;
  let previous: Fields | undefined;
  try {
    record = toFields(relevant(change.record, def), 'payload');
    previous = change.previous === undefined || change.previous === null ? undefined : toFields(relevant(change.previous, def), 'previous');
  } catch (err) {
    if (err instanceof ValueError) return { kind: 'invalid', code: 'record', error: err.message };
    throw err;
  }
  let operation: Operation;
  if (change.operation === undefined || change.operation === '') {
    operation = previous ? 'update' : 'insert';
  } else if ((OPERATIONS as readonly string[]).includes(change.operation)) {
    operation = change.operation as Operation;
  } else {
    return { kind: 'invalid', code: 'operation', error: `unknown operation "${change.operation}"` };
  }
  const id = recordId(record, def.idField) ?? (previous ? recordId(previous, def.idField) : undefined);
  if (id === undefined) return { kind: 'invalid', code: 'id', error: `record has no "${def.idField}"` };
  if (!def.operations.includes(operation)) return { kind: 'ignored', reason: 'operation' };

  const fields = pick(record, def.fields);
  let changedFields: string[];
  if (operation === 'delete') {
    changedFields = [];
  } else if (operation === 'update' && previous) {
    const before = pick(previous, def.fields);
    const names = new Set([...Object.keys(fields), ...Object.keys(before)]);
    changedFields = [...names].filter((n) => !sameValue(fields[n], before[n]));
    if (changedFields.length === 0) return { kind: 'ignored', reason: 'unchanged' };
  } else {
    changedFields = Object.keys(fields);
  }
  const capture: Capture = {
    table: def.table,
    id,
    operation,
    fields,
    changedFields,
    capturedAt: now.toISOString(),
    interactive: change.interactive ?? true,
  };
  if (change.changedBy) capture.changedBy = change.changedBy;
  return { kind: 'captured', capture };
}
