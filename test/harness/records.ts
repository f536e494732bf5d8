/**
 * A "local system of record" for end-to-end tests: a small REST API in the test
 * process that an inbound flow writes to with http request nodes, like a ticketing
 * system. It outlives the Node-RED processes the tests kill, and it keeps what a
 * test must check: every change applied, in which order, and any second attempt.
 *
 * Like real systems that store an external correlation id on the record, it knows
 * which sender record (and sequence) each record came from, so a write that a
 * crashed flow makes again is recognised instead of applied twice.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { JournalEntry } from '../../src/core/protocol';
import { listenOnLoopback } from '../../tools/http';

export interface StoredRecord {
  id: string;
  fields: Record<string, unknown>;
  deleted: boolean;
  source: string;
  lastSequence: number;
  /** Journal entries (comments, work notes) appended by the writes, in order. */
  journal: JournalEntry[];
}

export interface Apply {
  recordId: string;
  source: string;
  sequence: number;
  messageId: string;
  operation: string;
  /** The flow marked this write as a message emitted again (msg.rps.redelivered). */
  redelivered: boolean;
}

export type Attempt = Apply;

/**
 * A change of a record as the system's change feed reports it (a database trigger, CDC):
 * in the order the writes were made, with the record after and before, and, for a write
 * an inbound flow made, the remote system it came from (`origin`).
 */
export interface RecordChange {
  operation: 'insert' | 'update' | 'delete';
  record: Record<string, unknown>;
  previous?: Record<string, unknown>;
  origin?: string;
}

/** A write an inbound flow made: which message, and the fields it wrote. */
export interface Written {
  messageId: string;
  recordId: string;
  fields: Record<string, unknown>;
}

interface WriteBody {
  fields?: Record<string, unknown>;
  source?: string;
  sequence?: number;
  messageId?: string;
  redelivered?: boolean;
  /** When the change was captured on the sending instance (ISO). */
  capturedAt?: string;
  /** The remote system the write's message came from (reported with the change it makes). */
  origin?: string;
  /** Journal entries to append (msg.rps.journal). */
  journal?: JournalEntry[];
}

export class RecordsServer extends EventEmitter<{ applied: [Apply] }> {
  readonly records = new Map<string, StoredRecord>();
  readonly bySource = new Map<string, string>();
  readonly applies: Apply[] = [];
  /** Writes of a change that was already applied (the flow ran it a second time). */
  readonly repeats: Attempt[] = [];
  /** Writes whose sequence skipped ahead of the record's last one: an ordering fault. */
  readonly outOfOrder: Attempt[] = [];
  /** Requests answered with an injected failure. */
  failures = 0;
  /** Test hook: return true to answer a write with 500 instead of applying it. */
  failWhen: ((body: WriteBody, method: string) => boolean) | undefined;
  /** Test hook: ms to wait before handling a write (a slow system of record). */
  delayWhen: ((body: WriteBody, method: string) => number) | undefined;
  /** Writes answered slowly on purpose. */
  delayed = 0;
  /** The longest time from capture on the sender to being applied here, ms. */
  longestDelayMs = 0;
  /** The change feed: called for every write that changed a record, in order (none: no feed). */
  onChange: ((change: RecordChange) => void) | undefined;
  /** The fields each inbound write wrote, in order. */
  readonly written: Written[] = [];
  /**
   * Inbound writes that changed a field a person had written on this system before: the
   * only writes a capture may rightly send back to where they came from. (Not only those
   * that landed on the person's value itself: a capture that runs behind stamps an edit
   * with the time it captured it, so a later inbound write of that field, decided before
   * the stamp, goes back too, and both sides converge on it.)
   */
  overwritesOfLocal = 0;
  /** The fields a person has written, by record. */
  private readonly personWrote = new Map<string, Set<string>>();
  private server: Server | undefined;
  private next = 1;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.url = await listenOnLoopback(this.server);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  /** A record this system had before any write (one of its own, not made by a sender). */
  seed(id: string): StoredRecord {
    const record: StoredRecord = { id, fields: {}, deleted: false, source: '', lastSequence: 0, journal: [] };
    this.records.set(id, record);
    return record;
  }

  /** A person creates a record of this system's own (reported on the change feed). */
  create(id: string, fields: Record<string, unknown>): StoredRecord {
    const record: StoredRecord = { id, fields: { ...fields }, deleted: false, source: '', lastSequence: 0, journal: [] };
    this.records.set(id, record);
    this.personWrote.set(id, new Set(Object.keys(fields)));
    this.onChange?.({ operation: 'insert', record: { id, ...record.fields } });
    return record;
  }

  /** A person edits a record (reported on the change feed when a value changed). */
  edit(id: string, fields: Record<string, unknown>): void {
    const record = this.records.get(id);
    assert.ok(record && !record.deleted, `record ${id} exists`);
    this.update(record, fields, undefined);
  }

  private update(record: StoredRecord, fields: Record<string, unknown>, origin: string | undefined): void {
    const previous: Record<string, unknown> = { id: record.id, ...record.fields };
    record.fields = { ...record.fields, ...fields };
    const changed = Object.keys(fields).filter((f) => JSON.stringify(previous[f]) !== JSON.stringify(record.fields[f]));
    let wrote = this.personWrote.get(record.id);
    if (!wrote) this.personWrote.set(record.id, (wrote = new Set()));
    if (origin && changed.some((f) => wrote.has(f))) this.overwritesOfLocal += 1;
    if (!origin) for (const f of changed) wrote.add(f);
    if (changed.length > 0) {
      this.onChange?.({ operation: 'update', record: { id: record.id, ...record.fields }, previous, ...(origin ? { origin } : {}) });
    }
  }

  live(): StoredRecord[] {
    return [...this.records.values()].filter((r) => !r.deleted);
  }

  /** Resolves once `predicate` holds, re-checked on every applied change. */
  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.off('applied', check);
        rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.applies.length} changes applied)`));
      }, timeoutMs);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.off('applied', check);
        res();
      };
      this.on('applied', check);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = (text ? JSON.parse(text) : {}) as WriteBody;
    const method = req.method ?? 'GET';
    const match = /^\/records(?:\/([^/]+))?$/.exec(req.url ?? '');
    if (!match) return this.answer(res, 404, { error: 'not found' });
    if (method === 'GET') {
      const r = match[1] ? this.records.get(decodeURIComponent(match[1])) : undefined;
      return r ? this.answer(res, 200, r) : this.answer(res, 404, { error: 'no such record' });
    }
    const delay = method === 'GET' ? 0 : (this.delayWhen?.(body, method) ?? 0);
    if (delay > 0) {
      this.delayed += 1;
      await new Promise((r) => setTimeout(r, delay));
    }
    if (this.failWhen?.(body, method)) {
      this.failures += 1;
      return this.answer(res, 500, { error: 'injected failure' });
    }
    const source = String(body.source);
    const sequence = Number(body.sequence);
    const attempt: Attempt = {
      recordId: '',
      source,
      sequence,
      messageId: String(body.messageId),
      operation: method === 'POST' ? 'insert' : method === 'PUT' ? 'update' : 'delete',
      redelivered: body.redelivered === true,
    };
    let record: StoredRecord | undefined;
    if (method === 'POST') {
      const known = this.bySource.get(source);
      record = known ? this.records.get(known) : undefined;
      if (!record) {
        record = { id: `L${this.next++}`, fields: {}, deleted: false, source, lastSequence: 0, journal: [] };
        this.records.set(record.id, record);
        this.bySource.set(source, record.id);
      }
    } else {
      record = match[1] ? this.records.get(decodeURIComponent(match[1])) : undefined;
      if (!record) return this.answer(res, 404, { error: 'no such record' });
    }
    attempt.recordId = record.id;
    if (sequence <= record.lastSequence) {
      this.repeats.push(attempt);
      return this.answer(res, 200, { id: record.id, repeated: true });
    }
    if (sequence !== record.lastSequence + 1) this.outOfOrder.push(attempt);
    record.lastSequence = sequence;
    if (method === 'DELETE') record.deleted = true;
    else if (method === 'POST') {
      record.fields = { ...record.fields, ...(body.fields ?? {}) };
      this.onChange?.({ operation: 'insert', record: { id: record.id, ...record.fields }, ...(body.origin ? { origin: body.origin } : {}) });
    } else this.update(record, body.fields ?? {}, body.origin);
    if (method !== 'DELETE') this.written.push({ messageId: String(body.messageId), recordId: record.id, fields: body.fields ?? {} });
    record.journal.push(...(body.journal ?? []));
    const applied: Apply = { ...attempt };
    if (body.capturedAt) this.longestDelayMs = Math.max(this.longestDelayMs, Date.now() - Date.parse(body.capturedAt));
    this.applies.push(applied);
    this.answer(res, 200, { id: record.id });
    this.emit('applied', applied);
  }

  private answer(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

/**
 * A change written twice is explained when the flow was told: either the repeated
 * write carries msg.rps.redelivered, or it is the first emission's write arriving
 * late (a slow system of record) after the emission marked as redelivered was
 * applied. Either way the flow had what it needed to apply the change once.
 */
export function assertRepeatsExplained(records: RecordsServer): void {
  const applied = new Map(records.applies.map((a) => [a.messageId, a]));
  const unexplained = records.repeats.filter((r) => !r.redelivered && applied.get(r.messageId)?.redelivered !== true);
  assert.deepEqual(unexplained, [], 'every repeated write was of a message emitted again and marked msg.rps.redelivered');
}
