/**
 * The capture decision: given a local record change and a
 * capture definition, decide whether it must be sent and what it carries. Pure.
 */
import { changeFields, type Condition, conditionFields, conditionHolds } from './condition';
import { journalOf } from './journal';
import type { Fields, JournalEntry, Operation } from './protocol';
import { OPERATIONS, setOwn } from './protocol';
import { sameValue, toFields, ValueError } from './values';

export interface CaptureDefinition {
  table: string;
  /** The record property holding its id. */
  idField: string;
  operations: readonly Operation[];
  /** Fields to include; empty means every field of the record. */
  fields: readonly string[];
  /** Sent only when it holds (no groups: always). */
  condition: Condition;
  /** Off: a change made by a system (msg.interactive === false) is ignored. */
  captureNonInteractive: boolean;
  /** Journal fields (comments, work notes): sent as entries (msg.rps.journal), each once per remote, not as fields. */
  journalFields?: readonly string[];
}

export interface RecordChange {
  /** The record after the change (for a delete: the record as it was, or at least its id). */
  record: unknown;
  /** The record before the change, when known: lets the capture compute what changed. */
  previous?: unknown;
  operation?: string;
  changedBy?: string;
  interactive?: boolean;
  /** Field → text as the source shows it (msg.displayValues). */
  displayValues?: unknown;
  /**
   * What this capture saw of the record last time (its kept state), for the "changes…"
   * rules when the change does not say what the record was (`previous`).
   */
  lastSeen?: Fields;
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
  displayValues?: Record<string, string>;
  /** The entries of the journal fields, as the record holds them now (those a remote has already are left out when queued). */
  journal: JournalEntry[];
  /** Nothing but journal entries changed: with none left for a remote, nothing is sent to it. */
  journalOnly: boolean;
}

export type IgnoredReason = 'operation' | 'condition' | 'unchanged' | 'non-interactive';

/**
 * `seen`: what the capture must keep of the record for its next "changes…" rules (null:
 * forget the record; absent: nothing to keep), whether the change is sent or not.
 */
export type CaptureResult =
  | { kind: 'captured'; capture: Capture; id: string; seen?: Fields | null }
  | { kind: 'ignored'; reason: IgnoredReason; id: string; seen?: Fields | null }
  | { kind: 'invalid'; error: string; code: 'operation' | 'record' | 'id' | 'display-values' | 'journal' };

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
  for (const name of [def.idField, ...def.fields, ...conditionFields(def.condition), ...(def.journalFields ?? [])]) {
    if (Object.prototype.hasOwnProperty.call(source, name)) out[name] = source[name];
  }
  return out;
}

function without(fields: Fields, names: readonly string[]): Fields {
  if (names.length === 0) return fields;
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) if (!names.includes(k)) setOwn(out, k, v);
  return out;
}

function recordId(fields: Readonly<Record<string, unknown>>, idField: string): string | undefined {
  const id = fields[idField];
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
}

/** The fields a capture keeps of each record: those its "changes…" rules compare (none when it has no such rule). */
export function keptFields(def: CaptureDefinition): string[] {
  return changeFields(def.condition);
}

/** msg.displayValues, of the included fields only: an object of texts (numbers and booleans written as text). */
function displayValuesOf(raw: unknown, def: CaptureDefinition): Record<string, string> | undefined | ValueError {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) return new ValueError('displayValues', 'must be an object of field: text');
  const out: Record<string, string> = {};
  for (const [field, text] of Object.entries(raw)) {
    if (def.fields.length > 0 && !def.fields.includes(field)) continue;
    if (text === undefined || text === null) continue;
    if (typeof text !== 'string' && typeof text !== 'number' && typeof text !== 'boolean') return new ValueError(`displayValues.${field}`, 'must be a text');
    setOwn(out, field, String(text));
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The id of the record a change is about, read as captureChange reads it (from the record,
 * else from the record before), before the change is decided: undefined when it has none.
 */
export function changeRecordId(def: Pick<CaptureDefinition, 'idField'>, change: Pick<RecordChange, 'record' | 'previous'>): string | undefined {
  const read = (v: unknown): string | undefined => (typeof v === 'object' && v !== null ? recordId(v as Record<string, unknown>, def.idField) : undefined);
  return read(change.record) ?? read(change.previous);
}

export function captureChange(def: CaptureDefinition, change: RecordChange, now: Date): CaptureResult {
  let record: Fields;
  let previous: Fields | undefined;
  let journal: JournalEntry[];
  try {
    record = toFields(relevant(change.record, def), 'payload');
    previous = change.previous === undefined || change.previous === null ? undefined : toFields(relevant(change.previous, def), 'previous');
  } catch (err) {
    if (err instanceof ValueError) return { kind: 'invalid', code: 'record', error: err.message };
    throw err;
  }
  const journalFields = def.journalFields ?? [];
  try {
    journal = journalOf(record, journalFields);
  } catch (err) {
    if (err instanceof ValueError) return { kind: 'invalid', code: 'journal', error: err.message };
    throw err;
  }
  // Journal fields travel as entries, not as fields.
  record = without(record, journalFields);
  if (previous) previous = without(previous, journalFields);
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
  const displayValues = displayValuesOf(change.displayValues, def);
  if (displayValues instanceof ValueError) return { kind: 'invalid', code: 'display-values', error: displayValues.message };
  // Kept whatever becomes of the change: the next change compares with this one.
  const kept = keptFields(def);
  const seen = kept.length === 0 ? undefined : operation === 'delete' ? null : pick(record, kept);
  const ignored = (reason: IgnoredReason): CaptureResult => ({ kind: 'ignored', reason, id, ...(seen === undefined ? {} : { seen }) });
  if (!def.operations.includes(operation)) return ignored('operation');
  if (!def.captureNonInteractive && change.interactive === false) return ignored('non-interactive');

  const fields = pick(record, def.fields);
  let changedFields: string[];
  if (operation === 'delete') {
    changedFields = [];
  } else if (operation === 'update' && previous) {
    const before = pick(previous, def.fields);
    const names = new Set([...Object.keys(fields), ...Object.keys(before)]);
    changedFields = [...names].filter((n) => !sameValue(fields[n], before[n]));
    // Journal entries may be new to a remote even when no field changed: the queue decides.
    if (changedFields.length === 0 && journal.length === 0) return ignored('unchanged');
  } else {
    changedFields = Object.keys(fields);
  }
  // The record before the change: as the source says, else as this capture last saw it
  // (nothing of it for an insert: every field was without a value).
  const before = operation === 'insert' ? undefined : (previous ?? change.lastSeen);
  if (!conditionHolds(def.condition, { record, previous: before, isDelete: operation === 'delete' })) return ignored('condition');
  const capture: Capture = {
    table: def.table,
    id,
    operation,
    fields,
    changedFields,
    capturedAt: now.toISOString(),
    interactive: change.interactive ?? true,
    // An entry without a time is dated by its capture.
    journal: journal.map((e) => (e.createdAt === '' ? { ...e, createdAt: now.toISOString() } : e)),
    journalOnly: operation === 'update' && changedFields.length === 0 && journal.length > 0,
  };
  if (change.changedBy) capture.changedBy = change.changedBy;
  if (displayValues) capture.displayValues = displayValues;
  return { kind: 'captured', capture, id, ...(seen === undefined ? {} : { seen }) };
}
