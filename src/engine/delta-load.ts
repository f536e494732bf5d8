/**
 * A delta load: reads the records a source changed since the watermark, page by page
 * (keyset paging on updated time and id, a look-back window), hands them to the flow,
 * and moves the watermark only past records the flow has made safe (queued by *send to
 * remote*, or ended on purpose, e.g. ignored by *capture*). The rules are core/delta's;
 * this adds the run: fetching with retries, back-pressure, the marks that tell which
 * record is done, the watermark writes, and the schedule. No Node-RED here: the node
 * adapter gives it a page source and a way to emit.
 *
 * Crash at any point: the store holds a watermark at or before the first record that was
 * not yet done, so a restart repeats what came after it (and the look-back), never skips.
 */
import { CronosExpression } from 'cronosjs';
import { type BackoffPolicy, backoffDelay, timerDelay } from '../core/backoff';
import {
  compareWatermarks,
  type Cursor,
  formatTime,
  isLastPage,
  laterOf,
  nextCursor,
  NO_WATERMARK,
  type PageRecord,
  pageProblem,
  parseTime,
  queryStart,
  SeenWindow,
  type TimeFormat,
  TimeFormatError,
  type Watermark,
  watermarkAt,
} from '../core/delta';
import type { Store } from '../store/store';

/** Which record of which run a message carries: `msg.rps.load`, reported back as done or failed. */
export interface LoadMark {
  node: string;
  run: number;
  seq: number;
}

/** Reads a load mark from a message property; undefined when it is not one. */
export function loadMarkOf(value: unknown): LoadMark | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { node, run, seq } = value as Partial<LoadMark>;
  return typeof node === 'string' && typeof run === 'number' && typeof seq === 'number' ? { node, run, seq } : undefined;
}

interface MarkListener {
  done(mark: LoadMark): void;
  failed(mark: LoadMark, error: string): void;
}

/**
 * Where the nodes that end a record (send, capture, the flow's acknowledgement) report
 * it: the delta loads of one runtime, by node id. A mark of a load that is gone, or of a
 * run that ended, is ignored (that run's records are read again by a later run).
 */
export class LoadMarks {
  private readonly loads = new Map<string, MarkListener>();

  register(node: string, listener: MarkListener): () => void {
    this.loads.set(node, listener);
    return () => {
      if (this.loads.get(node) === listener) this.loads.delete(node);
    };
  }

  done(mark: LoadMark | undefined): void {
    if (mark) this.loads.get(mark.node)?.done(mark);
  }

  failed(mark: LoadMark | undefined, error: string): void {
    if (mark) this.loads.get(mark.node)?.failed(mark, error);
  }
}

/** Why a run stopped: `code` names the text (errors.<code>), `params` fill it in. */
export class LoadError extends Error {
  constructor(
    readonly code: string,
    readonly params: Record<string, string | number> = {},
    message = `${code}: ${JSON.stringify(params)}`,
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

/** A page asked of the source: the records strictly after the cursor, at most `limit`. */
export interface PageRequest {
  run: number;
  page: number;
  cursor: Cursor;
  /** The cursor's time as the source writes it ('' before every record). */
  updatedAfter: string;
  /** '' before every id at that time. */
  idAfter: string;
  limit: number;
}

export type PageAnswer =
  | { kind: 'page'; records: unknown[] }
  /** The source may answer later: asked again after a backoff (or `retryAfterMs`). */
  | { kind: 'transient'; error: string; retryAfterMs?: number }
  /** Asking again will not help: the run stops. */
  | { kind: 'refused'; error: LoadError };

export interface PageSource {
  fetch(request: PageRequest, signal: AbortSignal): Promise<PageAnswer>;
  close?(): void;
}

/** A record as the flow gets it. */
export interface LoadedRecord {
  record: Record<string, unknown>;
  id: string;
  updated: number;
  operation: 'insert' | 'update';
  mark: LoadMark;
}

export type LoadEvent =
  | { kind: 'running'; page: number; count: number; watermark: Watermark }
  | { kind: 'retrying'; error: string; attempt: number }
  | { kind: 'waiting'; count: number }
  | { kind: 'finished'; count: number; at: number; watermark: Watermark; error?: LoadError }
  | { kind: 'paused' }
  /** Another Node-RED process on the same store is running this load: this run did not start. */
  | { kind: 'elsewhere' }
  | { kind: 'reset'; watermark: Watermark };

export interface DeltaLoadOptions {
  node: string;
  store: Store;
  source: PageSource;
  idField: string;
  updatedField: string;
  timeFormat: TimeFormat;
  pageSize: number;
  lookBackMs: number;
  pagesInFlight: number;
  recordTimeoutMs: number;
  /** The initial load reads records after this time (epoch ms); null: every record. */
  startAfter: number | null;
  /** The record's created-time field: 'update' for a record created at or before the watermark. */
  createdField?: string;
  /** The initial load's filter: records of the initial load (the first run that reaches the end of the source) pass only when it says so. */
  keepInitial?: (record: Record<string, unknown>) => Promise<boolean>;
  backoff: BackoffPolicy;
  emit: (records: LoadedRecord[]) => void;
  report: (event: LoadEvent) => void;
  /** Marks reported by the nodes that end records. */
  marks: LoadMarks;
  /** This process (the runtime's owner id): on a shared store, one process at a time runs a load (RunLease). */
  owner: string;
}

export type Schedule = { kind: 'interval'; everyMs: number } | { kind: 'cron'; expression: string } | { kind: 'input' };

/** Parses a cron expression (cronosjs: 5 or 6 fields, names, ranges, steps); throws with the reason. */
export function parseCron(expression: string): CronosExpression {
  return CronosExpression.parse(expression.trim(), { strict: false });
}

/** The value of initialKey while the initial load has not reached the end of the source. */
const PENDING = 'pending';

/** The key of where the initial load ended (epoch ms; records at or before it were the initial load, for its filter). */
export function initialKey(node: string): string {
  return `delta-load/${node}/initial-until`;
}

interface InFlight {
  seq: number;
  id: string;
  updated: number;
  page: number;
  done: boolean;
  /** When it must be done by (ms). */
  deadline: number;
}

/** How long a run lease holds without renewal: well past the longest wait of a run (a record's timeout). */
function leaseMs(recordTimeoutMs: number): number {
  return Math.max(120_000, 3 * recordTimeoutMs);
}

/** Resolves waiters when anything a run waits for happens (a record done, a stop). */
class Wakeup {
  private waiters: (() => void)[] = [];

  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const timer = setTimeout(finish, timerDelay(ms));
      signal.addEventListener('abort', finish, { once: true });
      this.waiters.push(finish);
    });
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

function recordsAt(body: unknown, path: string): unknown {
  let value = body;
  for (const part of path.split('.').filter((p) => p !== '')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The records array at `path` (dot-separated; '' is the whole answer), or a LoadError. */
export function pageRecords(body: unknown, path: string): unknown[] | LoadError {
  const records = recordsAt(body, path.trim());
  return Array.isArray(records) ? records : new LoadError('no-records', { path: path.trim() || '(the answer)' });
}

export class DeltaLoad {
  private readonly seen: SeenWindow;
  private running: Promise<void> | undefined;
  private stop: AbortController | undefined;
  private paused = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private schedule: Schedule = { kind: 'input' };
  private cron: CronosExpression | undefined;
  /** Run numbers start at the clock, so that a mark from before a redeploy never matches a new run. */
  private runNo = Date.now();
  private current: RunState | undefined;
  private readonly unregister: () => void;

  constructor(private readonly o: DeltaLoadOptions) {
    this.seen = new SeenWindow(o.lookBackMs);
    this.unregister = o.marks.register(o.node, {
      done: (mark) => this.current?.done(mark),
      failed: (mark, error) => this.current?.failed(mark, error),
    });
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Starts the schedule (and a first run when `runNow`). */
  start(schedule: Schedule, runNow: boolean): void {
    this.schedule = schedule;
    if (schedule.kind === 'cron') this.cron = parseCron(schedule.expression);
    if (runNow) this.runNow();
    else this.arm();
  }

  /** Starts a run unless one is running (returns false then) or the load is closed. */
  runNow(): boolean {
    if (this.running || this.closed) return false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const stop = new AbortController();
    this.stop = stop;
    this.running = this.execute(stop.signal).finally(() => {
      this.running = undefined;
      this.stop = undefined;
      this.arm();
    });
    return true;
  }

  /** Stops scheduled runs; a run in progress ends once the records it emitted are done. */
  pause(): void {
    this.paused = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.current?.finishEarly();
    this.o.report({ kind: 'paused' });
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.schedule.kind === 'interval') this.runNow();
    else this.arm();
  }

  /** Forgets the watermark (to: null) or sets it just before a time (epoch ms); a run in progress is stopped first. */
  async reset(to: number | null): Promise<void> {
    this.stop?.abort();
    await this.running;
    const now = Date.now();
    await this.o.store.opened();
    await this.o.store.watermarks.reset(this.o.node, to, now);
    await this.o.store.values.write(initialKey(this.o.node), undefined, now);
    this.seen.clear();
    this.o.report({ kind: 'reset', watermark: to === null ? NO_WATERMARK : { updatedAfter: to, idAfter: null } });
  }

  /** Stops: no more runs; a run in progress stops at once (what it emitted is read again next time). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stop?.abort();
    await this.running;
    this.unregister();
    this.o.source.close?.();
  }

  private arm(): void {
    if (this.closed || this.paused || this.running || this.timer) return;
    let wait: number | undefined;
    if (this.schedule.kind === 'interval') wait = this.schedule.everyMs;
    else if (this.schedule.kind === 'cron' && this.cron) {
      const next = this.cron.nextDate(new Date());
      if (next) wait = next.getTime() - Date.now();
    }
    if (wait === undefined) return;
    const at = Date.now() + wait;
    // setTimeout holds at most ~24.8 days: a later cron time is waited for in steps.
    const tick = (): void => {
      this.timer = undefined;
      if (Date.now() >= at - 5) this.runNow();
      else this.timer = setTimeout(tick, timerDelay(at - Date.now()));
    };
    this.timer = setTimeout(tick, timerDelay(wait));
  }

  private async execute(signal: AbortSignal): Promise<void> {
    this.runNo += 1;
    const run = new RunState(this.o, this.runNo, this.seen, signal);
    this.current = run;
    const result = await run.execute();
    if (this.current === run) this.current = undefined;
    if (result === 'elsewhere') {
      this.o.report({ kind: 'elsewhere' });
      return;
    }
    this.o.report({ kind: 'finished', count: result.count, at: Date.now(), watermark: result.watermark, ...(result.error ? { error: result.error } : {}) });
  }
}

/**
 * On PostgreSQL, several Node-RED processes run the same flows: one of them at a time runs
 * a given load. The lease is a value in the store, `{owner, until}`, taken and renewed by
 * compare-and-set; a process that dies leaves it to expire. (A SQLite file belongs to one
 * process: no lease needed.)
 */
export class RunLease {
  private held: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly key: string,
    private readonly owner: string,
    private readonly ms: number,
  ) {}

  private value(now: number): string {
    return JSON.stringify({ owner: this.owner, until: now + this.ms });
  }

  /** Takes the lease when it is free, expired or ours; false when another process holds it. */
  async take(now = Date.now()): Promise<boolean> {
    const mine = this.value(now);
    const stored = await this.store.values.init(this.key, mine, now);
    if (stored === mine) {
      this.held = mine;
      return true;
    }
    let current: { owner?: unknown; until?: unknown };
    try {
      current = JSON.parse(stored) as { owner?: unknown; until?: unknown };
    } catch {
      current = {};
    }
    if (current.owner !== this.owner && typeof current.until === 'number' && current.until > now) return false;
    return this.swap(stored, mine, now);
  }

  /** Renews the lease; false when it was lost (taken over after it expired). */
  async renew(now = Date.now()): Promise<boolean> {
    return this.held !== undefined && this.swap(this.held, this.value(now), now);
  }

  /** Gives the lease up (it expires at once). */
  async release(now = Date.now()): Promise<void> {
    if (this.held === undefined) return;
    await this.swap(this.held, JSON.stringify({ owner: this.owner, until: 0 }), now);
    this.held = undefined;
  }

  private async swap(expected: string, value: string, now: number): Promise<boolean> {
    const set = await this.store.values.replace([{ key: this.key, expected, value }], now);
    this.held = set.length === 1 ? value : undefined;
    return set.length === 1;
  }
}

/** The key of a load's run lease (RunLease). */
export function leaseKey(node: string): string {
  return `delta-load/${node}/run`;
}

/** One run of a delta load. */
class RunState {
  private readonly flight: InFlight[] = [];
  private readonly bySeq = new Map<number, InFlight>();
  /** Records not yet done, by page. */
  private readonly openPages = new Map<number, number>();
  private readonly wakeup = new Wakeup();
  private seq = 0;
  private count = 0;
  private watermark: Watermark = NO_WATERMARK;
  private written: Watermark = NO_WATERMARK;
  private writing: Promise<void> = Promise.resolve();
  private writeQueued = false;
  private writeError: unknown;
  /** The watermark the run started from (what "existed before" means for insert or update). */
  private from: Watermark = NO_WATERMARK;
  private error: LoadError | undefined;
  private early = false;
  private readonly lease: RunLease | undefined;
  private leaseRenewed = Date.now();

  constructor(
    private readonly o: DeltaLoadOptions,
    private readonly run: number,
    private readonly seen: SeenWindow,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => this.wakeup.wake(), { once: true });
    if (o.store.kind === 'postgres') this.lease = new RunLease(o.store, leaseKey(o.node), o.owner, leaseMs(o.recordTimeoutMs));
  }

  /** Renews the run lease when half of it has passed; a lease lost (this process stalled past it) stops the run. */
  private async keepLease(): Promise<void> {
    if (!this.lease || Date.now() - this.leaseRenewed < leaseMs(this.o.recordTimeoutMs) / 2) return;
    if (!(await this.lease.renew())) throw new LoadError('lease-lost');
    this.leaseRenewed = Date.now();
  }

  /** A record of this run was queued or ended on purpose. */
  done(mark: LoadMark): void {
    if (mark.run !== this.run) return;
    const r = this.bySeq.get(mark.seq);
    if (!r || r.done) return;
    r.done = true;
    this.bySeq.delete(mark.seq);
    this.seen.add(r);
    const open = (this.openPages.get(r.page) ?? 1) - 1;
    if (open === 0) this.openPages.delete(r.page);
    else this.openPages.set(r.page, open);
    this.advance();
    this.wakeup.wake();
  }

  /** A record of this run failed in the flow: the run stops, the watermark stays before it. */
  failed(mark: LoadMark, error: string): void {
    if (mark.run !== this.run) return;
    const r = this.bySeq.get(mark.seq);
    if (!r || r.done) return;
    this.error ??= new LoadError('failed', { id: r.id, error }, `record ${r.id}: ${error}`);
    this.wakeup.wake();
  }

  /** Fetch no more pages: end once the records in flight are done. */
  finishEarly(): void {
    this.early = true;
    this.wakeup.wake();
  }

  /** Moves the watermark over the done records at the front (core's safeWatermark, kept incrementally). */
  private advance(): void {
    let moved = false;
    while (this.flight.length > 0 && this.flight[0]!.done) {
      const r = this.flight.shift()!;
      const next = laterOf(this.watermark, watermarkAt(r));
      if (next !== this.watermark) {
        this.watermark = next;
        moved = true;
      }
    }
    if (moved) this.persist();
  }

  /** Writes the watermark (one write at a time, the latest wins; the store's write only moves forward). */
  private persist(): void {
    // One write waiting at most: it takes the latest watermark when its turn comes.
    if (this.writeQueued) return;
    this.writeQueued = true;
    this.writing = this.writing.then(async () => {
      this.writeQueued = false;
      const to = this.watermark;
      if (compareWatermarks(to, this.written) <= 0) return;
      try {
        await this.o.store.watermarks.write(this.o.node, to, Date.now());
        this.written = to;
        this.writeError = undefined;
      } catch (err) {
        // Written with the next advance, or at the end of the run; until then a restart repeats more.
        this.writeError = err;
      }
    });
  }

  private stopped(): boolean {
    return this.signal.aborted || this.error !== undefined;
  }

  async execute(): Promise<{ count: number; watermark: Watermark; error?: LoadError } | 'elsewhere'> {
    try {
      await this.o.store.opened();
      if (this.lease && !(await this.lease.take())) return 'elsewhere';
      await this.load();
    } catch (err) {
      this.error ??= err instanceof LoadError ? err : new LoadError('store', { error: err instanceof Error ? err.message : String(err) });
    }
    this.persist();
    await this.writing;
    if (this.writeError !== undefined && !this.error) {
      this.error = new LoadError('store', { error: this.writeError instanceof Error ? this.writeError.message : String(this.writeError) });
    }
    this.seen.prune(this.watermark);
    await this.lease?.release().catch(() => undefined);
    return { count: this.count, watermark: this.watermark, ...(this.error ? { error: this.error } : {}) };
  }

  private async load(): Promise<void> {
    const o = this.o;
    const started = Date.now();
    const stored = await o.store.watermarks.read(o.node);
    this.watermark = stored ?? NO_WATERMARK;
    this.written = this.watermark;
    this.from = this.watermark;
    const initial = this.watermark.updatedAfter === null;
    // The initial load (for its filter) is the first run that reaches the end of the source:
    // 'pending' until then (a crash repeats it), then the last position it reached.
    let initialUntil: number | undefined;
    let pending = false;
    if (o.keepInitial) {
      const key = initialKey(o.node);
      let value = await o.store.values.read(key);
      if (value === undefined && initial) {
        value = PENDING;
        await o.store.values.write(key, value, started);
      }
      pending = value === PENDING;
      if (pending) initialUntil = Infinity;
      else if (value !== undefined && Number.isFinite(Number(value))) initialUntil = Number(value);
    }
    let cursor = queryStart(stored, o.lookBackMs, o.startAfter);
    let page = 0;
    this.o.report({ kind: 'running', page, count: 0, watermark: this.watermark });
    for (;;) {
      // Back-pressure: the next page only when fewer pages than allowed have records in flight.
      while (!this.stopped() && !this.early && this.openPages.size >= o.pagesInFlight) await this.waitForRecords();
      if (this.stopped() || this.early) break;
      await this.keepLease();
      page += 1;
      const request: PageRequest = {
        run: this.run,
        page,
        cursor,
        updatedAfter: cursor.updatedAfter === null ? '' : String(cursor.updatedRaw ?? formatTime(cursor.updatedAfter, o.timeFormat)),
        idAfter: cursor.idAfter ?? '',
        limit: o.pageSize,
      };
      const raw = await this.fetch(request);
      if (raw === undefined || this.stopped()) break;
      const records = this.positions(raw);
      const problem = pageProblem(cursor, records);
      if (problem) throw new LoadError('out-of-order', { error: problem }, problem);
      await this.hand(records, page, initial, initialUntil);
      this.o.report({ kind: 'running', page, count: this.count, watermark: this.watermark });
      cursor = nextCursor(cursor, records);
      if (isLastPage(raw, o.pageSize)) break;
    }
    while (!this.signal.aborted && !this.error && this.flight.length > 0) await this.waitForRecords();
    if (pending && !this.stopped() && !this.early) {
      await this.writing;
      await o.store.values.write(initialKey(o.node), String(this.watermark.updatedAfter ?? 0), Date.now());
    }
  }

  /** Asks the source for a page, again after a backoff while it cannot answer; undefined when stopped. */
  private async fetch(request: PageRequest): Promise<unknown[] | undefined> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.o.source.fetch(request, this.signal);
      if (this.signal.aborted) return undefined;
      if (answer.kind === 'page') return answer.records;
      if (answer.kind === 'refused') throw answer.error;
      this.o.report({ kind: 'retrying', error: answer.error, attempt });
      const wait = answer.retryAfterMs ?? backoffDelay(this.o.backoff, attempt);
      await this.wakeup.wait(wait, this.signal);
      if (this.error) throw this.error;
      if (this.signal.aborted) return undefined;
    }
  }

  /** The page's records with their positions; a record without id or readable time stops the run. */
  private positions(raw: unknown[]): (PageRecord & { record: Record<string, unknown> })[] {
    const o = this.o;
    return raw.map((record, index) => {
      if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new LoadError('bad-record', { index });
      const r = record as Record<string, unknown>;
      const id = r[o.idField];
      if ((typeof id !== 'string' || id === '') && !(typeof id === 'number' && Number.isFinite(id))) throw new LoadError('no-id', { index, field: o.idField });
      const text = String(id);
      const updatedRaw = r[o.updatedField];
      let updated: number;
      try {
        updated = parseTime(updatedRaw, o.timeFormat);
      } catch (err) {
        if (err instanceof TimeFormatError) throw new LoadError('bad-time', { id: text, error: err.message });
        throw err;
      }
      return { record: r, id: text, updated, ...(typeof updatedRaw === 'string' || typeof updatedRaw === 'number' ? { updatedRaw } : {}) };
    });
  }

  /** Hands a page to the flow: duplicates of the overlap and records the initial filter leaves out are done at once. */
  private async hand(records: (PageRecord & { record: Record<string, unknown> })[], page: number, initial: boolean, initialUntil: number | undefined): Promise<void> {
    const o = this.o;
    const deadline = Date.now() + o.recordTimeoutMs;
    const out: LoadedRecord[] = [];
    for (const r of records) {
      const seq = ++this.seq;
      const entry: InFlight = { seq, id: r.id, updated: r.updated, page, done: false, deadline };
      this.flight.push(entry);
      let skip = this.seen.has(r);
      if (!skip && o.keepInitial && initialUntil !== undefined && r.updated <= initialUntil) skip = !(await o.keepInitial(r.record));
      if (skip) {
        entry.done = true;
        continue;
      }
      this.bySeq.set(seq, entry);
      this.openPages.set(page, (this.openPages.get(page) ?? 0) + 1);
      out.push({ record: r.record, id: r.id, updated: r.updated, operation: this.operationOf(r.record, initial, this.from), mark: { node: o.node, run: this.run, seq } });
    }
    this.count += out.length;
    this.advance();
    if (out.length > 0) o.emit(out);
  }

  /**
   * Insert or update: with a created-time field, 'update' when the record was created at
   * or before the watermark the run started from; without one (or unreadable), 'insert'
   * in the initial load and 'update' after it.
   */
  private operationOf(record: Record<string, unknown>, initial: boolean, from: Watermark): 'insert' | 'update' {
    const field = this.o.createdField;
    if (field && record[field] !== undefined) {
      try {
        const created = parseTime(record[field], this.o.timeFormat);
        return from.updatedAfter !== null && created <= from.updatedAfter ? 'update' : 'insert';
      } catch {
        // Unreadable: decided as without the field.
      }
    }
    return initial ? 'insert' : 'update';
  }

  /** Waits until a record is done or the first one not done is late (which stops the run). */
  private async waitForRecords(): Promise<void> {
    const first = this.flight.find((r) => !r.done);
    if (!first) return;
    const now = Date.now();
    if (now >= first.deadline) {
      const seconds = Math.round(this.o.recordTimeoutMs / 100) / 10;
      this.error ??= new LoadError('timeout', { id: first.id, seconds }, `record ${first.id} was not done within ${seconds} s`);
      return;
    }
    this.o.report({ kind: 'waiting', count: this.bySeq.size });
    await this.wakeup.wait(Math.min(first.deadline - now, leaseMs(this.o.recordTimeoutMs) / 2), this.signal);
    await this.keepLease();
  }
}
