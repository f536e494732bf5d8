import assert from 'node:assert/strict';
import {
  compareIds,
  compareWatermarks,
  type Cursor,
  formatTime,
  type Handled,
  isAfter,
  isLastPage,
  NO_WATERMARK,
  nextCursor,
  pageProblem,
  parseTime,
  type Position,
  queryStart,
  safeWatermark,
  SeenWindow,
  TimeFormatError,
  type Watermark,
} from '../../src/core/delta';

/** A source table that answers keyset queries as a database does: `WHERE (updated, id) > cursor ORDER BY updated, id LIMIT n`. */
class Source {
  readonly rows = new Map<string, Position>();

  put(id: string, updated: number): void {
    this.rows.set(id, { id, updated });
  }

  page(cursor: Cursor, limit: number): Position[] {
    return [...this.rows.values()]
      .filter((r) => isAfter(r, cursor))
      .sort((a, b) => a.updated - b.updated || compareIds(a.id, b.id))
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }
}

interface LoadState {
  /** The stored watermark (undefined: none yet). */
  watermark: Watermark | undefined;
  seen: SeenWindow;
}

interface RunResult {
  /** Every record handed to the flow, in order. */
  emitted: Position[];
  duplicates: Position[];
  pages: number;
}

/**
 * One run, as the node will make it from these rules: start at the look-back before the
 * watermark, page by keyset, drop the overlap's duplicates, hand the rest to the flow
 * (`handle` says whether it is done), advance the watermark only past done work.
 */
function run(
  source: Source,
  state: LoadState,
  o: { limit: number; handle?: (r: Position) => boolean; afterPage?: (n: number) => void },
): RunResult {
  const out: RunResult = { emitted: [], duplicates: [], pages: 0 };
  let cursor = queryStart(state.watermark, state.seen.lookBackMs);
  let pending: Handled[] = [];
  for (;;) {
    const page = source.page(cursor, o.limit);
    out.pages += 1;
    assert.equal(pageProblem(cursor, page), undefined);
    const { fresh, duplicates } = state.seen.filter(page);
    out.duplicates.push(...duplicates);
    const done = new Set<Position>(duplicates);
    for (const r of fresh) {
      out.emitted.push(r);
      if (o.handle?.(r) ?? true) done.add(r);
    }
    for (const r of page) {
      pending.push({ ...r, done: done.has(r) });
      if (done.has(r)) state.seen.add(r);
    }
    const before = state.watermark ?? NO_WATERMARK;
    const next = safeWatermark(before, pending);
    assert.ok(compareWatermarks(next, before) >= 0, 'the watermark never moves backwards');
    if (compareWatermarks(next, before) > 0) state.watermark = next;
    const blocked = pending.findIndex((r) => !r.done);
    pending = blocked < 0 ? [] : pending.slice(blocked);
    state.seen.prune(state.watermark ?? NO_WATERMARK);
    o.afterPage?.(out.pages);
    if (isLastPage(page, o.limit)) return out;
    cursor = nextCursor(cursor, page);
  }
}

const T = Date.UTC(2026, 11, 7, 10, 0, 0);

function counts(records: readonly Position[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) m.set(r.id, (m.get(r.id) ?? 0) + 1);
  return m;
}

describe('core/delta', () => {
  describe('keyset paging', () => {
    it('returns each of 2,000 records that share one timestamp once, across pages of 100', () => {
      const source = new Source();
      for (let i = 1; i <= 2000; i += 1) source.put(String(i), T);
      // Neighbours on either side, so the shared time sits between page boundaries.
      for (let i = 1; i <= 250; i += 1) source.put(`a${i}`, T - i);
      for (let i = 1; i <= 250; i += 1) source.put(`z${i}`, T + i);
      for (const lookBackMs of [0, 5_000]) {
        const state: LoadState = { watermark: undefined, seen: new SeenWindow(lookBackMs) };
        const { emitted, duplicates, pages } = run(source, state, { limit: 100 });
        assert.equal(emitted.length, 2500);
        assert.equal(duplicates.length, 0);
        assert.ok([...counts(emitted).values()].every((n) => n === 1), 'no record twice');
        assert.equal(pages, 26, '25 full pages and the empty one that ends the run');
        assert.deepEqual(state.watermark, { updatedAfter: T + 250, idAfter: 'z250' });
      }
    });

    it('orders integer ids as numbers and other ids by code unit', () => {
      assert.ok(compareIds('9', '10') < 0);
      assert.ok(compareIds('-3', '2') < 0);
      assert.ok(compareIds('12345678901234567890', '12345678901234567891') < 0, 'beyond 2^53');
      assert.ok(compareIds('B', 'a') < 0);
      assert.ok(compareIds('r10', 'r9') < 0);
      assert.equal(compareIds('x', 'x'), 0);
      assert.ok(compareWatermarks(NO_WATERMARK, { updatedAfter: 0, idAfter: null }) < 0);
      assert.ok(compareWatermarks({ updatedAfter: 5, idAfter: null }, { updatedAfter: 5, idAfter: '' }) < 0);
    });

    it('picks up records updated during the load, the newest version of each last', () => {
      const source = new Source();
      for (let i = 1; i <= 1000; i += 1) source.put(String(i), T + Math.floor(i / 10));
      const state: LoadState = { watermark: undefined, seen: new SeenWindow(2_000) };
      let now = T + 10_000;
      const bumped = new Set<string>();
      const { emitted } = run(source, state, {
        limit: 100,
        afterPage: (n) => {
          if (n > 5) return;
          // After each early page: one record already loaded and one not yet reached change.
          for (const id of [String(n * 7), String(900 + n)]) {
            now += 1;
            source.put(id, now);
            bumped.add(id);
          }
        },
      });
      const seen = counts(emitted);
      for (let i = 1; i <= 1000; i += 1) {
        const id = String(i);
        const expected = bumped.has(id) && Number(id) <= 5 * 100 ? 2 : 1;
        assert.equal(seen.get(id), expected, `record ${id}`);
      }
      // The last version emitted of each record is the source's current one.
      const last = new Map(emitted.map((r) => [r.id, r.updated]));
      for (const r of source.rows.values()) assert.equal(last.get(r.id), r.updated, `record ${r.id}`);
    });

    it('refuses a page whose times go backwards or start before the cursor', () => {
      const cursor: Cursor = { updatedAfter: 100, idAfter: 'a' };
      assert.equal(pageProblem(cursor, [{ id: 'b', updated: 100 }, { id: 'c', updated: 101 }]), undefined);
      assert.match(pageProblem(cursor, [{ id: 'b', updated: 99 }]) ?? '', /before the page's start/);
      assert.match(pageProblem(cursor, [{ id: 'b', updated: 102 }, { id: 'c', updated: 101 }]) ?? '', /order records by updated time/);
      assert.deepEqual(nextCursor(cursor, []), cursor);
      assert.deepEqual(nextCursor(cursor, [{ id: 'b', updated: 5, updatedRaw: '1970-01-01T00:00:00.005123Z' }]), {
        updatedAfter: 5,
        idAfter: 'b',
        updatedRaw: '1970-01-01T00:00:00.005123Z',
      });
    });
  });

  describe('look-back', () => {
    it('picks up late commits inside the window and drops the overlap duplicates', () => {
      const source = new Source();
      for (let i = 0; i < 300; i += 1) source.put(`r${String(i).padStart(3, '0')}`, T + i * 100);
      const state: LoadState = { watermark: undefined, seen: new SeenWindow(5_000) };
      assert.equal(run(source, state, { limit: 100 }).emitted.length, 300);
      const end = T + 299 * 100;
      assert.deepEqual(state.watermark, { updatedAfter: end, idAfter: 'r299' });
      // Committed after the run, stamped inside the window (a long transaction, a clock behind ours), and one beyond it.
      source.put('late1', end - 4_000);
      source.put('late2', end);
      source.put('skewed', end - 1);
      source.put('too-late', end - 6_000);
      // One record of the overlap changed again: a new version, not a duplicate.
      source.put('r295', end + 50);
      const second = run(source, state, { limit: 100 });
      assert.deepEqual(second.emitted.map((r) => r.id).sort(), ['late1', 'late2', 'r295', 'skewed']);
      // The overlap read again: r249..r299 (times end-5000..end) but r295, which moved.
      assert.equal(second.duplicates.length, 50);
      assert.ok(second.duplicates.every((r) => r.updated >= end - 5_000 && r.updated <= end));
      assert.deepEqual(state.watermark, { updatedAfter: end + 50, idAfter: 'r295' });
      // A third run finds nothing new: everything in its window is a duplicate.
      const third = run(source, state, { limit: 100 });
      assert.equal(third.emitted.length, 0);
      assert.ok(third.duplicates.length > 0);
    });

    it('starts the window before the watermark, with no id; without a watermark at the start', () => {
      assert.deepEqual(queryStart(undefined, 5_000), { updatedAfter: null, idAfter: null });
      assert.deepEqual(queryStart(undefined, 5_000, T), { updatedAfter: T, idAfter: null });
      assert.deepEqual(queryStart(NO_WATERMARK, 5_000, T), { updatedAfter: T, idAfter: null });
      assert.deepEqual(queryStart({ updatedAfter: T, idAfter: 'x' }, 5_000), { updatedAfter: T - 5_000, idAfter: null });
      assert.deepEqual(queryStart({ updatedAfter: T, idAfter: 'x' }, 0), { updatedAfter: T, idAfter: 'x' });
      assert.deepEqual(queryStart({ updatedAfter: 1_000, idAfter: 'x' }, 5_000), { updatedAfter: 0, idAfter: null });
      assert.throws(() => queryStart(undefined, -1), RangeError);
    });

    it('keeps a bounded set: forgets what is older than the window behind the watermark, and the earliest past the limit', () => {
      const seen = new SeenWindow(1_000, 3);
      for (const [id, updated] of [['a', 100], ['b', 200], ['c', 1_500], ['d', 1_600]] as const) seen.add({ id, updated });
      assert.equal(seen.size, 3, 'the limit');
      assert.equal(seen.has({ id: 'a', updated: 100 }), false, 'the earliest went first');
      assert.equal(seen.has({ id: 'c', updated: 999 }), false, 'another version of c');
      seen.prune({ updatedAfter: 1_300, idAfter: 'x' });
      assert.deepEqual(['b', 'c', 'd'].map((id) => seen.has({ id, updated: id === 'b' ? 200 : id === 'c' ? 1_500 : 1_600 })), [false, true, true]);
      seen.clear();
      assert.equal(seen.size, 0);
    });
  });

  describe('safe advance', () => {
    const at = (updated: number, id: string, done = true): Handled => ({ updated, id, done });

    it('moves to the last record of the done front, never past one not done, never backwards', () => {
      const current: Watermark = { updatedAfter: 100, idAfter: 'm' };
      assert.deepEqual(safeWatermark(current, [at(100, 'n'), at(101, 'a'), at(102, 'b', false), at(103, 'c')]), { updatedAfter: 101, idAfter: 'a' });
      assert.deepEqual(safeWatermark(current, [at(101, 'a', false), at(102, 'b')]), current, 'the first not done');
      assert.deepEqual(safeWatermark(current, []), current);
      // The look-back overlap: records before the watermark never take it back...
      assert.deepEqual(safeWatermark(current, [at(97, 'x'), at(99, 'y')]), current);
      assert.deepEqual(safeWatermark(current, [at(97, 'x'), at(101, 'y')]), { updatedAfter: 101, idAfter: 'y' });
      // ...and a late commit there that is not done holds it, so the next look-back still reaches it.
      assert.deepEqual(safeWatermark(current, [at(97, 'late', false), at(101, 'y')]), current);
      assert.deepEqual(safeWatermark(NO_WATERMARK, [at(5, 'a')]), { updatedAfter: 5, idAfter: 'a' });
    });

    it('holds for any mix of done records (random pages)', () => {
      let seed = 7;
      const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
      for (let round = 0; round < 500; round += 1) {
        const current: Watermark = { updatedAfter: 50, idAfter: String(Math.floor(random() * 5)) };
        // A page holds each position once (ids are unique), in order.
        const byPosition = new Map<string, Handled>();
        for (let i = Math.floor(random() * 20); i >= 0; i -= 1) {
          const r = at(45 + Math.floor(random() * 12), String(Math.floor(random() * 5)), random() < 0.8);
          byPosition.set(`${r.updated}/${r.id}`, r);
        }
        const records = [...byPosition.values()].sort((a, b) => a.updated - b.updated || compareIds(a.id, b.id));
        const next = safeWatermark(current, records);
        assert.ok(compareWatermarks(next, current) >= 0, 'never backwards');
        for (const r of records) {
          if (!r.done) assert.ok(compareWatermarks(next, { updatedAfter: r.updated, idAfter: r.id }) < 0 || compareWatermarks(next, current) === 0, 'never past one not done');
        }
      }
    });

    it('repeats the records not done in the next run, and only those (the done ones after them are duplicates)', () => {
      const source = new Source();
      for (let i = 1; i <= 250; i += 1) source.put(String(i), T + i);
      const state: LoadState = { watermark: undefined, seen: new SeenWindow(1_000) };
      const failed = new Set(['120', '130']);
      const first = run(source, state, { limit: 100, handle: (r) => !failed.has(r.id) });
      assert.equal(first.emitted.length, 250);
      assert.deepEqual(state.watermark, { updatedAfter: T + 119, idAfter: '119' }, 'stops before the first record not done');
      failed.clear();
      const second = run(source, state, { limit: 100 });
      assert.deepEqual(second.emitted.map((r) => r.id), ['120', '130']);
      assert.deepEqual(state.watermark, { updatedAfter: T + 250, idAfter: '250' });
    });

    it('after a crash (the done set lost), repeats what came after the watermark and the window, and skips nothing', () => {
      const source = new Source();
      for (let i = 1; i <= 500; i += 1) source.put(String(i), T + i * 10);
      const state: LoadState = { watermark: undefined, seen: new SeenWindow(100) };
      // The flow queues the first 320 records, then the process dies.
      let queued = 0;
      const first = run(source, state, { limit: 100, handle: () => (queued += 1) <= 320 });
      assert.deepEqual(state.watermark, { updatedAfter: T + 3_200, idAfter: '320' });
      const restarted: LoadState = { watermark: state.watermark, seen: new SeenWindow(100) };
      const second = run(source, restarted, { limit: 100 });
      const ids = new Set([...first.emitted.slice(0, 320), ...second.emitted].map((r) => r.id));
      assert.equal(ids.size, 500, 'nothing skipped');
      // Repeats: the look-back window (10 records of 10 ms) plus the watermark's own record.
      assert.equal(second.emitted.length, 500 - 320 + 11);
    });
  });

  describe('time formats', () => {
    it('reads ISO 8601 with or without fraction and zone, cutting below the millisecond', () => {
      assert.equal(parseTime('2026-12-07T10:00:00.000Z', 'iso8601'), T);
      assert.equal(parseTime('2026-12-07T10:00:00Z', 'iso8601'), T);
      assert.equal(parseTime('2026-12-07 10:00:00', 'iso8601'), T, 'a SQL text, no zone: UTC');
      assert.equal(parseTime('2026-12-07T11:30:00+01:30', 'iso8601'), T);
      assert.equal(parseTime('2026-12-07T05:00:00-0500', 'iso8601'), T);
      assert.equal(parseTime('2026-12-07T12:00+02', 'iso8601'), T);
      assert.equal(parseTime('2026-12-07T10:00:00.123999Z', 'iso8601'), T + 123);
      assert.equal(parseTime('2026-12-07T10:00:00.5Z', 'iso8601'), T + 500);
      assert.equal(parseTime('2026-12-07', 'iso8601'), Date.UTC(2026, 11, 7));
    });

    it('reads epoch seconds and milliseconds, numbers or texts, without float error', () => {
      assert.equal(parseTime(T / 1000, 'epoch-seconds'), T);
      assert.equal(parseTime(String(T / 1000), 'epoch-seconds'), T);
      assert.equal(parseTime(1.001, 'epoch-seconds'), 1001);
      assert.equal(parseTime('1765101600.1239', 'epoch-seconds'), 1_765_101_600_123);
      assert.equal(parseTime(T, 'epoch-ms'), T);
      assert.equal(parseTime(` ${T} `, 'epoch-ms'), T);
      assert.equal(parseTime(0, 'epoch-ms'), 0);
      assert.equal(parseTime(1234.9, 'epoch-ms'), 1234);
    });

    it('says clearly what is wrong with a time', () => {
      const fails = (value: unknown, format: Parameters<typeof parseTime>[1], message: RegExp) =>
        assert.throws(() => parseTime(value, format), (err: unknown) => err instanceof TimeFormatError && message.test(err.message));
      fails(T, 'iso8601', /not an ISO 8601 text \(a number: choose epoch/);
      fails(String(T), 'iso8601', /digits only: choose epoch/);
      fails('yesterday', 'iso8601', /"yesterday" is not an ISO 8601 time \(expected e\.g\./);
      fails('2026-13-01T00:00:00Z', 'iso8601', /out of range/);
      fails('2026-02-30', 'iso8601', /not a day of its month/);
      fails('2026-12-07T10:00:00Z', 'epoch-ms', /not epoch milliseconds .*an ISO 8601 time: choose that/);
      fails(T, 'epoch-seconds', /looks like epoch milliseconds/);
      fails(-5, 'epoch-ms', /not epoch milliseconds \(a number of 0 or more\)/);
      fails(null, 'epoch-seconds', /updated time null is not epoch seconds/);
      fails({ at: 1 }, 'epoch-ms', /an object/);
      fails(Number.NaN, 'epoch-ms', /NaN/);
      fails('9'.repeat(30), 'epoch-ms', /out of range/);
    });

    it('writes a time back as the source writes it', () => {
      assert.equal(formatTime(T + 120, 'iso8601'), '2026-12-07T10:00:00.120Z');
      assert.equal(formatTime(T + 120, 'epoch-ms'), String(T + 120));
      assert.equal(formatTime(T + 120, 'epoch-seconds'), `${T / 1000}.12`);
      assert.equal(formatTime(T, 'epoch-seconds'), String(T / 1000));
      for (const format of ['iso8601', 'epoch-seconds', 'epoch-ms'] as const) assert.equal(parseTime(formatTime(T + 7, format), format), T + 7);
    });
  });
});
