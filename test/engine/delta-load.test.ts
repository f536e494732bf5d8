/**
 * The delta load's run without Node-RED: back-pressure (pages in flight), and on a
 * PostgreSQL store shared by several processes, one run of a load at a time (the run lease).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeltaLoad, type DeltaLoadOptions, type LoadedRecord, type LoadEvent, LoadMarks, leaseKey, type PageAnswer, type PageRequest, RunLease } from '../../src/engine/delta-load';
import { PostgresStore } from '../../src/store/postgres';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { assertPgReachable, TEST_PG_URL, TestSchemas } from '../../tools/pg';

/** A source of `n` records one second apart, answering keyset pages; `gate` holds answers back until opened. */
class Source {
  readonly requests: PageRequest[] = [];
  private open: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  constructor(private readonly n: number) {}

  hold(): void {
    this.open = new Promise((resolve) => (this.release = resolve));
  }

  letGo(): void {
    this.release();
  }

  async fetch(request: PageRequest): Promise<PageAnswer> {
    this.requests.push(request);
    await this.open;
    const from = request.idAfter === '' ? 0 : Number(request.idAfter);
    const records = [];
    for (let id = from + 1; id <= this.n && records.length < request.limit; id++) records.push({ id, updated_at: id * 1000 });
    return { kind: 'page', records };
  }
}

interface Harness {
  load: DeltaLoad;
  emitted: LoadedRecord[];
  events: LoadEvent[];
  marks: LoadMarks;
  /** Resolves at the next event of this kind. */
  next(kind: LoadEvent['kind']): Promise<LoadEvent>;
  /** Resolves once `holds` is true: now, or after some event. */
  until(holds: () => boolean): Promise<void>;
}

function harness(store: Store, source: Source, options: Partial<DeltaLoadOptions> = {}): Harness {
  const emitted: LoadedRecord[] = [];
  const events: LoadEvent[] = [];
  const waiters: { kind: LoadEvent['kind']; resolve: (e: LoadEvent) => void }[] = [];
  let checks: { holds: () => boolean; resolve: () => void }[] = [];
  const marks = options.marks ?? new LoadMarks();
  const load = new DeltaLoad({
    node: 'dl',
    store,
    source: { fetch: (r) => source.fetch(r) },
    idField: 'id',
    updatedField: 'updated_at',
    timeFormat: 'epoch-ms',
    pageSize: 10,
    lookBackMs: 0,
    pagesInFlight: 2,
    recordTimeoutMs: 60_000,
    startAfter: null,
    backoff: { baseMs: 10, maxMs: 20 },
    marks,
    owner: 'process-1',
    emit: (records) => emitted.push(...records),
    report: (event) => {
      events.push(event);
      for (const w of waiters.filter((x) => x.kind === event.kind)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(event);
      }
      checks = checks.filter((c) => {
        if (!c.holds()) return true;
        c.resolve();
        return false;
      });
    },
    ...options,
  });
  return {
    load,
    emitted,
    events,
    marks,
    next: (kind) => new Promise((resolve) => waiters.push({ kind, resolve })),
    until: (holds) => (holds() ? Promise.resolve() : new Promise((resolve) => checks.push({ holds, resolve }))),
  };
}

describe('delta load engine', function () {
  this.timeout(30_000);

  describe('on SQLite', () => {
    let dir: string;
    let store: SqliteStore;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rps-delta-'));
      store = new SqliteStore(join(dir, 'store.sqlite'));
    });
    afterEach(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('asks for no more pages than may be in flight until records are done, then goes on to the end', async () => {
      const source = new Source(55);
      const h = harness(store, source);
      const finished = h.next('finished');
      h.load.start({ kind: 'input' }, true);
      // Two pages emitted and nothing done: the run waits, with the third page not asked for.
      await h.until(() => h.events.some((e) => e.kind === 'waiting') && h.emitted.length === 20);
      assert.equal(source.requests.length, 2, 'two pages in flight at most');
      assert.equal(h.emitted.length, 20);
      // Done in order as they come: the rest follows.
      let i = 0;
      const drain = setInterval(() => {
        while (i < h.emitted.length) h.marks.done(h.emitted[i++].mark);
      }, 1);
      const end = await finished;
      clearInterval(drain);
      assert.equal(end.kind === 'finished' && end.error, undefined);
      assert.equal(h.emitted.length, 55);
      assert.deepEqual(await store.watermarks.read('dl'), { updatedAfter: 55_000, idAfter: '55' });
      await h.load.close();
    });

    it('a mark of an earlier run (a redeploy, a restart) moves nothing', async () => {
      const source = new Source(3);
      const first = harness(store, source, { recordTimeoutMs: 1_000 });
      const ended = first.next('finished');
      first.load.start({ kind: 'input' }, true);
      await ended;
      const stale = first.emitted.map((r) => r.mark);
      await first.load.close();
      const second = harness(store, source, { marks: first.marks });
      second.load.start({ kind: 'input' }, true);
      await second.until(() => second.events.some((e) => e.kind === 'waiting'));
      for (const m of stale) second.marks.done(m);
      assert.equal(await store.watermarks.read('dl'), undefined);
      await second.load.close();
    });
  });

  describe('on PostgreSQL shared by two processes', () => {
    const schemas = new TestSchemas();
    let store: PostgresStore;
    before(assertPgReachable);
    beforeEach(async () => {
      store = await PostgresStore.open({ connectionString: TEST_PG_URL, schema: schemas.next(), pool: { max: 4 } });
    });
    afterEach(async () => {
      await store.close();
      await schemas.drop();
    });

    it('runs a load in one process at a time: the other sees it running elsewhere', async () => {
      const source = new Source(5);
      source.hold();
      const one = harness(store, source, { owner: 'process-1' });
      const two = harness(store, source, { owner: 'process-2' });
      const oneEnded = one.next('finished');
      one.load.start({ kind: 'input' }, true);
      // Running: it holds the lease (taken before the first page).
      await one.until(() => one.events.some((e) => e.kind === 'running'));
      two.load.start({ kind: 'input' }, true);
      await two.until(() => two.events.some((e) => e.kind === 'elsewhere'));
      source.letGo();
      await one.until(() => one.events.some((e) => e.kind === 'waiting'));
      for (const r of one.emitted) one.marks.done(r.mark);
      await oneEnded;
      // Released at the end: the other process may run it now.
      const twoEnded = two.next('finished');
      assert.equal(two.load.runNow(), true);
      await twoEnded;
      assert.equal(source.requests.length, 2, 'one page each');
      await one.load.close();
      await two.load.close();
    });

    it('takes over a lease its holder let expire, and the holder learns it lost it', async () => {
      const a = new RunLease(store, leaseKey('dl'), 'process-1', 1_000);
      const b = new RunLease(store, leaseKey('dl'), 'process-2', 1_000);
      const t = Date.now();
      assert.equal(await a.take(t), true);
      assert.equal(await b.take(t + 500), false, 'held');
      assert.equal(await b.take(t + 1_500), true, 'expired');
      assert.equal(await a.renew(t + 1_600), false, 'lost');
      await b.release(t + 1_700);
      assert.equal(await a.take(t + 1_800), true, 'released');
    });
  });
});
