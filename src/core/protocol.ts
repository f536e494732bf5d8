/**
 * The `rps/1` wire protocol between instances (docs/protocol.md): message and envelope
 * types, and the validation every received envelope goes through before anything
 * is written. Pure: no I/O, no Node-RED.
 */

export const PROTOCOL = 'rps/1';
export const API_PREFIX = '/rps/v1';
/** Senders post this type: JSON that Node-RED's own body parsers leave to us. */
export const RPS_CONTENT_TYPE = 'application/rps+json';
/** The `code` of a refusal because a message names a process event the receiver does not define. */
export const UNKNOWN_PROCESS_EVENT = 'unknown-process-event';

export type Operation = 'insert' | 'update' | 'delete';
export const OPERATIONS: readonly Operation[] = ['insert', 'update', 'delete'];

export type MessageKind = 'change' | 'correlation';

/** A scalar or structured field value as it travels in JSON. */
export type FieldValue = string | number | boolean | null | FieldValue[] | { [key: string]: FieldValue };
export type Fields = Record<string, FieldValue>;

export interface RecordRef {
  table: string;
  id: string;
}

export interface SourceRef extends RecordRef {
  instanceId: string;
}

export interface JournalEntry {
  field: string;
  id: string;
  value: string;
  author: string;
  createdAt: string;
}

export interface AttachmentMeta {
  key: string;
  hash: string;
  fileName: string;
  contentType: string;
  size: number;
}

export interface Message {
  id: string;
  kind: MessageKind;
  processEvent: string;
  domain?: string;
  source: SourceRef;
  target?: RecordRef;
  /**
   * The sender's sequence stream: sequences of a record count up within one stream. A
   * new stream (the sender's remote system set up again, or its store replaced) starts
   * again at 1 without being mistaken for old messages. Defaults to source.instanceId.
   */
  stream?: string;
  sequence: number;
  operation: Operation;
  capturedAt: string;
  changedBy?: string;
  interactive: boolean;
  fields: Fields;
  changedFields: string[];
  displayValues?: Record<string, string>;
  journal: JournalEntry[];
  attachments: AttachmentMeta[];
  /** Attachments the record no longer has, that an earlier message gave the receiver (sent only when the sender syncs removals). */
  removedAttachments?: RemovedAttachment[];
}

/** An attachment removed from the record, named as the receiver compares them: by hash and file name. */
export interface RemovedAttachment {
  hash: string;
  fileName: string;
}

/** A message before the store has given it its stream and per-record sequence number. */
export type MessageDraft = Omit<Message, 'sequence' | 'stream'>;

export interface Sender {
  instanceId: string;
  name: string;
}

export interface Envelope {
  protocol: string;
  sender: Sender;
  messages: Message[];
}

export type ResultStatus = 'accepted' | 'duplicate' | 'rejected';

/**
 * The answer for one message. A receiver that rejects a message must not accept a
 * later message of the same record (same stream) in that batch: the sender keeps the
 * rejected one in error and holds the record's later changes behind it.
 */
export interface MessageResult {
  id: string;
  status: ResultStatus;
  error?: string;
}

export interface MessagesResponse {
  results: MessageResult[];
}

export interface Handshake {
  protocol: string;
  instanceId: string;
  name: string;
  processEvents: string[];
  /** The receiver's clock (ISO 8601), so a sender can tell the skew. */
  time?: string;
  /** Whether the receiver takes messages from the caller: `disabled` until it validated and activated us. */
  inboundState?: 'active' | 'disabled';
  /**
   * Requests a second the receiver takes from the caller (absent: no limit). A sender
   * spaces its message posts to it, so that under load its batches grow instead of its
   * requests, and it is not answered 429.
   */
  requestRate?: number;
}

/** Limits applied to every received envelope; a request over any of them is refused whole. */
export interface ProtocolLimits {
  maxMessages: number;
  maxFields: number;
  maxStringLength: number;
  maxIdLength: number;
  maxDepth: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = {
  maxMessages: 1000,
  maxFields: 500,
  maxStringLength: 1_000_000,
  maxIdLength: 256,
  maxDepth: 16,
};

export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };

type Obj = Record<string, unknown>;

const PROTOTYPE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Sets a property as an own one, even one named "__proto__" (a plain assignment would
 * change the prototype) or one that Object.prototype has (which a frozen prototype would
 * refuse to an assignment). Any other key is assigned: defineProperty for every field of
 * every change was 5.9% of the sender's time in the e2e profile.
 */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (PROTOTYPE_KEYS.has(key)) Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function isObject(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

class Invalid extends Error {}

function fail(path: string, what: string): never {
  throw new Invalid(`${path}: ${what}`);
}

function str(o: Obj, key: string, path: string, max: number, required = true): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') return fail(`${path}.${key}`, 'must be a string');
  if (required && v.length === 0) return fail(`${path}.${key}`, 'must not be empty');
  if (v.length > max) return fail(`${path}.${key}`, `longer than ${max} characters`);
  return v;
}

function checkValue(v: unknown, path: string, depth: number, limits: ProtocolLimits): FieldValue {
  if (depth > limits.maxDepth) fail(path, `nested deeper than ${limits.maxDepth} levels`);
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(path, 'must be a finite number');
    return v;
  }
  if (typeof v === 'string') {
    if (v.length > limits.maxStringLength) fail(path, `longer than ${limits.maxStringLength} characters`);
    return v;
  }
  if (Array.isArray(v)) {
    if (v.length > limits.maxFields) fail(path, `more than ${limits.maxFields} items`);
    return v.map((item, i) => checkValue(item, `${path}[${i}]`, depth + 1, limits));
  }
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length > limits.maxFields) fail(path, `more than ${limits.maxFields} keys`);
    const out: Record<string, FieldValue> = {};
    for (const k of keys) setOwn(out, k, checkValue(v[k], `${path}.${k}`, depth + 1, limits));
    return out;
  }
  return fail(path, 'unsupported value type');
}

function recordRef(v: unknown, path: string, limits: ProtocolLimits): RecordRef {
  if (!isObject(v)) return fail(path, 'must be an object');
  return {
    table: str(v, 'table', path, limits.maxIdLength) as string,
    id: str(v, 'id', path, limits.maxIdLength) as string,
  };
}

function stringArray(v: unknown, path: string, limits: ProtocolLimits): string[] {
  if (!Array.isArray(v)) return fail(path, 'must be an array');
  if (v.length > limits.maxFields) fail(path, `more than ${limits.maxFields} items`);
  return v.map((s, i) => {
    if (typeof s !== 'string') fail(`${path}[${i}]`, 'must be a string');
    if (s.length > limits.maxIdLength) fail(`${path}[${i}]`, `longer than ${limits.maxIdLength} characters`);
    return s;
  });
}

function journalEntry(v: unknown, path: string, limits: ProtocolLimits): JournalEntry {
  if (!isObject(v)) return fail(path, 'must be an object');
  return {
    field: str(v, 'field', path, limits.maxIdLength) as string,
    id: str(v, 'id', path, limits.maxIdLength) as string,
    value: str(v, 'value', path, limits.maxStringLength) as string,
    author: str(v, 'author', path, limits.maxIdLength, false) ?? '',
    createdAt: str(v, 'createdAt', path, limits.maxIdLength) as string,
  };
}

function attachmentMeta(v: unknown, path: string, limits: ProtocolLimits): AttachmentMeta {
  if (!isObject(v)) return fail(path, 'must be an object');
  const size = v.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) fail(`${path}.size`, 'must be a non-negative integer');
  return {
    key: str(v, 'key', path, limits.maxStringLength) as string,
    hash: str(v, 'hash', path, limits.maxIdLength) as string,
    fileName: str(v, 'fileName', path, limits.maxIdLength) as string,
    contentType: str(v, 'contentType', path, limits.maxIdLength) as string,
    size,
  };
}

function removedAttachment(v: unknown, path: string, limits: ProtocolLimits): RemovedAttachment {
  if (!isObject(v)) return fail(path, 'must be an object');
  return { hash: str(v, 'hash', path, limits.maxIdLength) as string, fileName: str(v, 'fileName', path, limits.maxIdLength) as string };
}

function fieldsObject(v: unknown, path: string, limits: ProtocolLimits): Fields {
  if (!isObject(v)) return fail(path, 'must be an object');
  return checkValue(v, path, 1, limits) as Fields;
}

function displayValues(v: unknown, path: string, limits: ProtocolLimits): Record<string, string> {
  if (!isObject(v)) return fail(path, 'must be an object');
  const keys = Object.keys(v);
  if (keys.length > limits.maxFields) fail(path, `more than ${limits.maxFields} keys`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    // An empty display value is a value (an empty field shows as nothing).
    const text = v[k];
    if (typeof text !== 'string') fail(`${path}.${k}`, 'must be a string');
    if (text.length > limits.maxStringLength) fail(`${path}.${k}`, `longer than ${limits.maxStringLength} characters`);
    out[k] = text;
  }
  return out;
}

function validateMessageAt(v: unknown, path: string, limits: ProtocolLimits): Message {
  if (!isObject(v)) return fail(path, 'must be an object');
  const kind = v.kind;
  if (kind !== 'change' && kind !== 'correlation') fail(`${path}.kind`, 'must be "change" or "correlation"');
  const operation = v.operation;
  if (typeof operation !== 'string' || !(OPERATIONS as readonly string[]).includes(operation)) {
    fail(`${path}.operation`, 'must be "insert", "update" or "delete"');
  }
  const sequence = v.sequence;
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1) {
    fail(`${path}.sequence`, 'must be an integer of 1 or more');
  }
  if (typeof v.interactive !== 'boolean') fail(`${path}.interactive`, 'must be a boolean');
  if (!isObject(v.source)) fail(`${path}.source`, 'must be an object');
  const source: SourceRef = {
    instanceId: str(v.source, 'instanceId', `${path}.source`, limits.maxIdLength) as string,
    ...recordRef(v.source, `${path}.source`, limits),
  };
  const capturedAt = str(v, 'capturedAt', path, limits.maxIdLength) as string;
  if (Number.isNaN(Date.parse(capturedAt))) fail(`${path}.capturedAt`, 'must be an ISO 8601 date-time');
  const message: Message = {
    id: str(v, 'id', path, limits.maxIdLength) as string,
    kind: kind as MessageKind,
    processEvent: str(v, 'processEvent', path, limits.maxIdLength) as string,
    source,
    sequence: sequence as number,
    operation: operation as Operation,
    capturedAt,
    interactive: v.interactive as boolean,
    fields: v.fields === undefined ? {} : fieldsObject(v.fields, `${path}.fields`, limits),
    changedFields: v.changedFields === undefined ? [] : stringArray(v.changedFields, `${path}.changedFields`, limits),
    journal: [],
    attachments: [],
  };
  const stream = str(v, 'stream', path, limits.maxIdLength, false);
  if (stream !== undefined) message.stream = stream;
  const domain = str(v, 'domain', path, limits.maxIdLength, false);
  if (domain !== undefined) message.domain = domain;
  if (v.target !== undefined && v.target !== null) message.target = recordRef(v.target, `${path}.target`, limits);
  if (kind === 'correlation' && !message.target) fail(`${path}.target`, 'is required for a correlation message');
  const changedBy = str(v, 'changedBy', path, limits.maxIdLength, false);
  if (changedBy !== undefined) message.changedBy = changedBy;
  if (v.displayValues !== undefined) message.displayValues = displayValues(v.displayValues, `${path}.displayValues`, limits);
  if (v.journal !== undefined) {
    if (!Array.isArray(v.journal)) fail(`${path}.journal`, 'must be an array');
    if (v.journal.length > limits.maxFields) fail(`${path}.journal`, `more than ${limits.maxFields} entries`);
    message.journal = v.journal.map((j, i) => journalEntry(j, `${path}.journal[${i}]`, limits));
  }
  if (v.attachments !== undefined) {
    if (!Array.isArray(v.attachments)) fail(`${path}.attachments`, 'must be an array');
    if (v.attachments.length > limits.maxFields) fail(`${path}.attachments`, `more than ${limits.maxFields} entries`);
    message.attachments = v.attachments.map((a, i) => attachmentMeta(a, `${path}.attachments[${i}]`, limits));
  }
  if (v.removedAttachments !== undefined) {
    if (!Array.isArray(v.removedAttachments)) fail(`${path}.removedAttachments`, 'must be an array');
    if (v.removedAttachments.length > limits.maxFields) fail(`${path}.removedAttachments`, `more than ${limits.maxFields} entries`);
    message.removedAttachments = v.removedAttachments.map((r, i) => removedAttachment(r, `${path}.removedAttachments[${i}]`, limits));
  }
  return message;
}

function guard<T>(fn: () => T): Validation<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: err.message };
    throw err;
  }
}

/** Validates one message; the result is a clean copy holding only known properties. */
export function validateMessage(v: unknown, limits: ProtocolLimits = DEFAULT_LIMITS): Validation<Message> {
  return guard(() => validateMessageAt(v, 'message', limits));
}

/**
 * Validates a whole `POST /rps/v1/messages` body. Any invalid message refuses the
 * envelope: the receiver writes all of a batch or none of it, and the sender splits
 * a refused batch to find the one message at fault.
 */
export function validateEnvelope(v: unknown, limits: ProtocolLimits = DEFAULT_LIMITS): Validation<Envelope> {
  return guard(() => {
    if (!isObject(v)) return fail('body', 'must be a JSON object');
    if (v.protocol !== PROTOCOL) fail('protocol', `must be "${PROTOCOL}"`);
    if (!isObject(v.sender)) fail('sender', 'must be an object');
    const sender: Sender = {
      instanceId: str(v.sender, 'instanceId', 'sender', limits.maxIdLength) as string,
      name: str(v.sender, 'name', 'sender', limits.maxIdLength, false) ?? '',
    };
    if (!Array.isArray(v.messages)) fail('messages', 'must be an array');
    if (v.messages.length === 0) fail('messages', 'must not be empty');
    if (v.messages.length > limits.maxMessages) fail('messages', `more than ${limits.maxMessages} messages`);
    const seen = new Set<string>();
    const messages = v.messages.map((m, i) => {
      const message = validateMessageAt(m, `messages[${i}]`, limits);
      if (seen.has(message.id)) fail(`messages[${i}].id`, 'appears twice in the batch');
      seen.add(message.id);
      return message;
    });
    return { protocol: PROTOCOL, sender, messages };
  });
}

/** The stream a received message's sequence belongs to. */
export function streamOf(m: Pick<Message, 'stream' | 'source'>): string {
  return m.stream ?? m.source.instanceId;
}

/** The ordering key of a record on one remote: changes with the same key are applied in sequence order. */
export function recordKey(table: string, id: string): string {
  return `${table}\u0000${id}`;
}
