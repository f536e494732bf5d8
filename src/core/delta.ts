/**
 * The rules of a delta load (the watermark pattern): fetch only the records changed since
 * the last run, and never skip one. Pure: the node that runs the load (its source, its
 * schedule, its store) uses these rules and adds the I/O.
 *
 * Naively (`?updated_since=<last run>`) records are lost when they share a timestamp
 * across a page boundary, when they are committed late or stamped by a skewed clock,
 * when offset paging runs over data that changes during the load, and when the "last
 * run" is saved before the work is safe. The rules that prevent each:
 *
 * - **Positions.** A record's position is (updated time, id). Records are ordered by
 *   updated time, then id; the source must order them so (`ORDER BY updated, id`). Times
 *   are epoch milliseconds (parseTime: sub-millisecond digits are cut off, so a position
 *   rounds down: that can repeat a record, never skip one). Ids are compared as numbers
 *   when both are integers, else by UTF-16 code unit (binary collation, e.g. `COLLATE
 *   "C"` in PostgreSQL), which is how sources order integer and text keys.
 * - **The watermark** `{ updatedAfter, idAfter }` is a position: every record at or
 *   before it has been handled. `updatedAfter: null` is "before every record" (an initial
 *   load); `idAfter: null` is "before every id at that time".
 * - **Keyset paging.** A page asks for the records strictly after a cursor (a position),
 *   in order, at most `limit` of them: `updated > t OR (updated = t AND id > idAfter)`
 *   (with `idAfter` null: `updated >= t`). The next page's cursor is the last record of
 *   this one (nextCursor). Records that share one timestamp are split across pages by id
 *   and are neither skipped nor repeated; a record changed during the load gets a newer
 *   time, so it sorts after the cursor and comes in a later page. No offsets: rows that
 *   appear or move cannot shift a page. A run ends with a page shorter than `limit`.
 * - **Look-back.** A run does not start at the watermark but `lookBackMs` before it, with
 *   no id (queryStart): a record committed late, or stamped by a clock behind ours, with a
 *   time inside the window is still read. The overlap is read again every run; records in
 *   it that were handled already, with the same (id, updated time), are dropped as
 *   duplicates (SeenWindow). The set of those is bounded (by the window and by a count);
 *   a record that falls out of it, or that the set lost in a restart, is handled again:
 *   repeated, never skipped. A record changed again has a new time, so it is not a duplicate.
 * - **Safe advance.** A record is *done* once the flow has queued it (the outbound queue
 *   holds it) or ended it on purpose (e.g. a capture ignored it). The watermark moves to
 *   the last record of the longest done run at the front of the records in flight
 *   (safeWatermark): never past a record that is not done, and never backwards. A record
 *   of the overlap that is not done (a late commit) holds the watermark where it is, so
 *   that the next run's look-back still reaches it. A crash at any point repeats work
 *   (what came after the watermark), never skips it.
 */

/** A record's place in the order of a delta load: updated time (epoch ms), then id. */
export interface Position {
  updated: number;
  id: string;
}

/** Every record at or before this position has been handled. Stored per node (store concern `watermarks`). */
export interface Watermark {
  /** Epoch ms; null: before every record (nothing handled yet). */
  updatedAfter: number | null;
  /** null: before every id at `updatedAfter`. */
  idAfter: string | null;
}

/** Where a page starts: the records strictly after this position. */
export interface Cursor extends Watermark {
  /**
   * The last record's updated time exactly as the source gave it, for the next page's
   * `{updatedAfter}`: a source with microseconds would otherwise be asked for records
   * after the millisecond, and return the same ones again forever.
   */
  updatedRaw?: string | number;
}

export const NO_WATERMARK: Watermark = Object.freeze({ updatedAfter: null, idAfter: null });

/** The default look-back window: late commits and clock skew of a few seconds. */
export const DEFAULT_LOOK_BACK_MS = 5_000;

/** Done records kept by default to tell duplicates in the look-back overlap. */
export const DEFAULT_SEEN_LIMIT = 10_000;

const INTEGER = /^-?\d+$/;

/** Orders two ids: numerically when both are integers, else by UTF-16 code unit. */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  if (INTEGER.test(a) && INTEGER.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : 1;
}

/** Orders two watermarks (or positions as watermarks): null is before everything of its kind. */
export function compareWatermarks(a: Watermark, b: Watermark): number {
  if (a.updatedAfter !== b.updatedAfter) {
    if (a.updatedAfter === null) return -1;
    if (b.updatedAfter === null) return 1;
    return a.updatedAfter < b.updatedAfter ? -1 : 1;
  }
  if (a.idAfter === b.idAfter) return 0;
  if (a.idAfter === null) return -1;
  if (b.idAfter === null) return 1;
  return compareIds(a.idAfter, b.idAfter);
}

/** The watermark that stands just at this record: it and everything before it. */
export function watermarkAt(p: Position): Watermark {
  return { updatedAfter: p.updated, idAfter: p.id };
}

/** Is the record strictly after the position (a watermark or cursor)? */
export function isAfter(p: Position, w: Watermark): boolean {
  return compareWatermarks(watermarkAt(p), w) > 0;
}

/** The later of two watermarks. */
export function laterOf(a: Watermark, b: Watermark): Watermark {
  return compareWatermarks(b, a) > 0 ? b : a;
}

/**
 * Where a run's first page starts: `lookBackMs` before the watermark, with no id, so the
 * whole window is read again (see the look-back rule). With no watermark: the start
 * (`startAfter`, epoch ms, for an initial load after a time; else every record).
 */
export function queryStart(watermark: Watermark | undefined, lookBackMs: number, startAfter: number | null = null): Cursor {
  if (!Number.isFinite(lookBackMs) || lookBackMs < 0) throw new RangeError(`look-back window ${lookBackMs}: use 0 or more milliseconds`);
  if (watermark === undefined || watermark.updatedAfter === null) return { updatedAfter: startAfter, idAfter: null };
  if (lookBackMs === 0) return { ...watermark };
  return { updatedAfter: Math.max(0, watermark.updatedAfter - lookBackMs), idAfter: null };
}

/** A record of a page: its position, and its updated time as the source wrote it. */
export interface PageRecord extends Position {
  updatedRaw?: string | number;
}

/** The cursor of the page after this one (the page's last record); the same cursor for an empty page. */
export function nextCursor(cursor: Cursor, page: readonly PageRecord[]): Cursor {
  const last = page.at(-1);
  if (!last) return cursor;
  return { updatedAfter: last.updated, idAfter: last.id, ...(last.updatedRaw !== undefined ? { updatedRaw: last.updatedRaw } : {}) };
}

/** Is this the run's last page (shorter than asked)? */
export function isLastPage(page: readonly unknown[], limit: number): boolean {
  return page.length < limit;
}

/**
 * Why a page cannot be used, or undefined: its times go backwards, or a record is not
 * after the cursor's time. A source that does not order by updated time, or ignores the
 * cursor, would make keyset paging skip records (or loop), so such a page stops the run.
 * Ids at one time are not checked: the source's collation may order them otherwise than
 * compareIds, and its own filter and order agree with each other.
 */
export function pageProblem(cursor: Cursor, page: readonly Position[]): string | undefined {
  let previous = cursor.updatedAfter;
  for (const [i, r] of page.entries()) {
    if (previous !== null && r.updated < previous) {
      return i === 0
        ? `record ${r.id} (updated ${new Date(r.updated).toISOString()}) is before the page's start (${new Date(previous).toISOString()}): the source must return only records after {updatedAfter}/{idAfter}`
        : `record ${r.id} (updated ${new Date(r.updated).toISOString()}) comes after a later one: the source must order records by updated time, then id`;
    }
    previous = r.updated;
  }
  return undefined;
}

/** A record in flight, in (updated, id) order: done once queued, or ended on purpose. */
export interface Handled extends Position {
  done: boolean;
}

/**
 * The furthest safe watermark: the last record of the longest run of done records at the
 * front of `records` (in the order the source gave them), or `current` when that is not
 * later. Never backwards, never past a record that is not done; a record at or before
 * `current` that is not done (a late commit in the overlap) holds it where it is.
 */
export function safeWatermark(current: Watermark, records: readonly Handled[]): Watermark {
  let reached: Watermark = current;
  for (const r of records) {
    if (!r.done) break;
    reached = laterOf(reached, watermarkAt(r));
  }
  return reached;
}

/**
 * The done records with a time inside the look-back window (and after it: done records
 * that an earlier record not done keeps the watermark behind), by (id, updated time), to
 * drop as duplicates when the overlap is read again. Bounded: entries older than the
 * window behind the watermark are forgotten (the next run does not read them), and past
 * `limit` the earliest remembered go first (a forgotten record is handled again, never lost).
 */
export class SeenWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    readonly lookBackMs = DEFAULT_LOOK_BACK_MS,
    readonly limit = DEFAULT_SEEN_LIMIT,
  ) {
    if (!Number.isFinite(lookBackMs) || lookBackMs < 0) throw new RangeError(`look-back window ${lookBackMs}: use 0 or more milliseconds`);
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`seen limit ${limit}: use 0 or more records`);
  }

  get size(): number {
    return this.seen.size;
  }

  private static key(p: Position): string {
    return `${p.updated}\u0000${p.id}`;
  }

  /** Was this version of the record (id and updated time) done already? */
  has(p: Position): boolean {
    return this.seen.has(SeenWindow.key(p));
  }

  /** Remembers a done record. */
  add(p: Position): void {
    const key = SeenWindow.key(p);
    this.seen.delete(key);
    this.seen.set(key, p.updated);
    while (this.seen.size > this.limit) {
      const first = this.seen.keys().next().value as string;
      this.seen.delete(first);
    }
  }

  /** Splits a page into the records to handle and the duplicates of the overlap, both in order. */
  filter<R extends Position>(page: readonly R[]): { fresh: R[]; duplicates: R[] } {
    const fresh: R[] = [];
    const duplicates: R[] = [];
    for (const r of page) (this.has(r) ? duplicates : fresh).push(r);
    return { fresh, duplicates };
  }

  /** Forgets what the next run, starting `lookBackMs` before this watermark, will not read. */
  prune(watermark: Watermark): void {
    if (watermark.updatedAfter === null) return;
    const from = watermark.updatedAfter - this.lookBackMs;
    for (const [key, updated] of this.seen) if (updated < from) this.seen.delete(key);
  }

  /** Forgets everything (the watermark was reset). */
  clear(): void {
    this.seen.clear();
  }
}

/** How a source writes its times. */
export type TimeFormat = 'iso8601' | 'epoch-seconds' | 'epoch-ms';

export const TIME_FORMATS: readonly TimeFormat[] = ['iso8601', 'epoch-seconds', 'epoch-ms'];

/** A time the source gave that cannot be read in the chosen format. */
export class TimeFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeFormatError';
  }
}

/** The latest time a Date can hold, in ms. */
const MAX_MS = 8.64e15;

// Date, optional time (T or a space), optional fraction, optional zone (Z, ±HH:MM, ±HHMM, ±HH).
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

// A non-negative decimal: integer part, optional fraction (strings may carry an exponent only through Number()).
const DECIMAL = /^(\d+)(?:\.(\d*))?$/;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** The decimal text of a number or numeric string, or undefined. */
function decimalText(value: unknown): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    // Below 1e21 a number prints without an exponent, in as few digits as tell it apart.
    return value < 1e21 ? value.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 }) : undefined;
  }
  if (typeof value === 'string') return value.trim();
  return undefined;
}

/** Decimal text × 10^shift, cut to an integer (digits are moved, not multiplied: no float error). */
function shifted(text: string, shift: number): number | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const fraction = (m[2] ?? '').padEnd(shift, '0').slice(0, shift);
  return Number(`${m[1]}${fraction}`);
}

/**
 * A source's time as epoch milliseconds. ISO 8601: a date (midnight), or date and time
 * with an optional fraction and zone; a time with no zone is read as UTC (servers' time);
 * digits below the millisecond are cut off. Epoch seconds or milliseconds: a number or
 * a numeric string, fractions cut off at the millisecond. A Date (from a database client)
 * is taken as it is, in any format. Throws TimeFormatError saying
 * what was wrong (and which format the value looks like, when that is clear).
 */
export function parseTime(value: unknown, format: TimeFormat): number {
  // A database client's time (a JavaScript Date) is a time whatever the format says.
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms) || ms < 0) throw new TimeFormatError(`updated time ${Number.isFinite(ms) ? value.toISOString() : 'Invalid Date'} is not a time after 1970`);
    return ms;
  }
  const given = describe(value);
  if (format === 'iso8601') {
    if (typeof value !== 'string') throw new TimeFormatError(`updated time ${given} is not an ISO 8601 text${typeof value === 'number' ? ' (a number: choose epoch seconds or milliseconds as the time format)' : ''}`);
    const m = ISO.exec(value.trim());
    if (!m) {
      const hint = DECIMAL.test(value.trim()) ? ' (digits only: choose epoch seconds or milliseconds as the time format)' : ' (expected e.g. 2026-12-07T10:00:00.000Z)';
      throw new TimeFormatError(`updated time ${given} is not an ISO 8601 time${hint}`);
    }
    const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m;
    const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
      throw new TimeFormatError(`updated time ${given} has a field out of range`);
    }
    let ms = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), Number(frac.padEnd(3, '0').slice(0, 3)));
    if (new Date(ms).getUTCDate() !== day) throw new TimeFormatError(`updated time ${given} is not a day of its month`);
    if (zone.toUpperCase() !== 'Z') {
      const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
      const offset = (Number(z[2]) * 60 + Number(z[3] ?? '0')) * 60_000;
      ms -= z[1] === '+' ? offset : -offset;
    }
    if (ms < 0) throw new TimeFormatError(`updated time ${given} is before 1970`);
    return ms;
  }
  const text = decimalText(value);
  const unit = format === 'epoch-seconds' ? 'epoch seconds' : 'epoch milliseconds';
  if (text === undefined || !DECIMAL.test(text)) {
    const hint = typeof value === 'string' && ISO.test(value.trim()) ? ' (an ISO 8601 time: choose that time format)' : '';
    throw new TimeFormatError(`updated time ${given} is not ${unit} (a number of 0 or more)${hint}`);
  }
  const ms = shifted(text, format === 'epoch-seconds' ? 3 : 0)!;
  // Seconds past the year 5000 are milliseconds read in the wrong unit.
  if (format === 'epoch-seconds' && ms >= 1e14) throw new TimeFormatError(`updated time ${given} is too large for epoch seconds (it looks like epoch milliseconds: choose that time format)`);
  if (!Number.isSafeInteger(ms) || ms > MAX_MS) throw new TimeFormatError(`updated time ${given} is out of range for ${unit}`);
  return ms;
}

/** A time (epoch ms) as a source in this format writes it, for a query (`{updatedAfter}`). */
export function formatTime(ms: number, format: TimeFormat): string {
  if (format === 'iso8601') return new Date(ms).toISOString();
  if (format === 'epoch-ms') return String(ms);
  const seconds = Math.floor(ms / 1000);
  const rest = ms - seconds * 1000;
  return rest === 0 ? String(seconds) : `${seconds}.${String(rest).padStart(3, '0').replace(/0+$/, '')}`;
}
