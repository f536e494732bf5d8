/**
 * Store micro-benchmark: what the outbound queue costs in the store
 * alone, without HTTP or Node-RED, for the SQLite store (a temp file, WAL as the store
 * sets it) and the PostgreSQL store (a schema of its own, dropped at the end).
 *
 * Per store: N change messages (RPS_BENCH_STORE_N, default 100,000) over 10,000
 * records are enqueued in batches of 200, as the sender's group commit writes them;
 * then a sender's loop claims 200 and marks them processed until the queue is empty.
 * Claims and completions are timed apart, and together as one cycle. A single-item
 * enqueue of 5,000 messages shows what batching buys. On PostgreSQL, two stores on
 * the same schema also claim and complete one queue at once, as two processes would.
 *
 * Figures are rows per second. Drafts are built outside the timed calls, so only the
 * store is measured. `node dist/bench/store.js` prints one JSON line per result.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgQuery, TEST_PG_URL } from '../tools/pg';
import { changeDraft } from '../src/core/message';
import type { Fields, MessageDraft } from '../src/core/protocol';
import { PostgresStore } from '../src/store/postgres';
import { SqliteStore } from '../src/store/sqlite';
import type { EnqueueItem, Store } from '../src/store/store';
import { positiveIntFromEnv } from './env';

const RECORDS = 10_000;
/** The sender's default batch size (rps-remote-system), for enqueues and claims alike. */
const BATCH = 200;
const SINGLE_N = 5_000;
/** The sender's lease is timeout * 2 + 10 s; 30 s is that for a 10 s timeout. */
const LEASE_MS = 30_000;
const FIELD_NAMES = Array.from({ length: 10 }, (_, f) => `f${f}`);

type Result = Record<string, unknown>;

function messageCount(): number {
  return positiveIntFromEnv('RPS_BENCH_STORE_N', 100_000);
}

/**
 * Date.now(), but never going back: the store orders retries and leases by the `now`
 * it is given, and a clock step backwards mid-run would make rows look not yet due.
 */
let lastNow = 0;
function now(): number {
  lastNow = Math.max(lastNow, Date.now());
  return lastNow;
}

/**
 * The i-th change of the run, built the way rps-send builds one (changeDraft): record
 * i mod RECORDS, so every record gets several generations and the claim's per-record
 * order check has work to do; 10 string fields, all changed (each value carries i).
 */
function change(i: number, instanceId: string, at: number): MessageDraft {
  const record = `r${i % RECORDS}`;
  const fields: Fields = {};
  for (const name of FIELD_NAMES) fields[name] = `${record}-${name}-${i}`;
  return changeDraft({
    id: randomUUID(),
    processEvent: 'bench-incident',
    instanceId,
    table: 'incident',
    recordId: record,
    operation: i < RECORDS ? 'insert' : 'update',
    capturedAt: new Date(at).toISOString(),
    interactive: false,
    fields,
    changedFields: FIELD_NAMES,
  });
}

function items(remoteSystem: string, from: number, count: number, instanceId: string, at: number): EnqueueItem[] {
  return Array.from({ length: count }, (_, k) => ({ remoteSystem, message: change(from + k, instanceId, at) }));
}

/** Wall time of each timed call, in ms: the total gives the rate, the spread shows whether calls slow down as the run goes on. */
class Calls {
  readonly ms: number[] = [];

  async time<T>(fn: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    const out = await fn();
    this.ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    return out;
  }

  get totalMs(): number {
    return this.ms.reduce((a, b) => a + b, 0);
  }

  /** Per-call latency, with the mean of the first and the last tenth of the calls side by side. */
  summary(): Record<string, number> {
    const sorted = [...this.ms].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    const tenth = Math.max(1, Math.floor(this.ms.length / 10));
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    return {
      p50: r2(at(0.5)),
      p99: r2(at(0.99)),
      max: r2(sorted[sorted.length - 1] ?? 0),
      firstTenthMean: r2(mean(this.ms.slice(0, tenth))),
      lastTenthMean: r2(mean(this.ms.slice(-tenth))),
    };
  }
}

function rate(rows: number, ms: number): number {
  return ms > 0 ? Math.round((rows * 1000) / ms) : 0;
}

function result(store: Store['kind'], op: string, batch: number, rows: number, ms: number, extra: Result = {}): Result {
  return { bench: 'store', store, op, batch, n: rows, seconds: Math.round(ms) / 1000, opsPerSec: rate(rows, ms), ...extra };
}

/** Enqueues `total` changes in batches of `batch`, timing the store calls only. */
async function enqueue(store: Store, remoteSystem: string, total: number, batch: number): Promise<Calls> {
  const calls = new Calls();
  for (let from = 0; from < total; from += batch) {
    const at = now();
    const chunk = items(remoteSystem, from, Math.min(batch, total - from), store.instanceId, at);
    const queued = await calls.time(() => store.outbound.enqueue(chunk, at));
    if (queued.length !== chunk.length) throw new Error(`enqueue: ${queued.length} of ${chunk.length} queued`);
  }
  return calls;
}

interface Drained {
  rows: number;
  claims: Calls;
  completes: Calls;
  wallMs: number;
}

/**
 * The sender's loop: claim a batch, mark it processed, again until a claim comes back
 * empty. The two steps must alternate: a record's next change is not claimable while
 * its previous one is processing, so claiming everything first would stop after the
 * first generation.
 */
async function drain(store: Store, remoteSystem: string, owner: string): Promise<Drained> {
  const claims = new Calls();
  const completes = new Calls();
  let rows = 0;
  const start = process.hrtime.bigint();
  for (;;) {
    const claimed = await claims.time(() => store.outbound.claim(remoteSystem, BATCH, now(), owner, LEASE_MS));
    if (claimed.length === 0) break;
    const ids = claimed.map((r) => r.id);
    await completes.time(() => store.outbound.markProcessed(ids, now()));
    rows += ids.length;
  }
  return { rows, claims, completes, wallMs: Number(process.hrtime.bigint() - start) / 1e6 };
}

/** Enqueue, claim/complete and single-item enqueue on one store; the rows it leaves stay for the caller to inspect or drop. */
async function benchQueue(store: Store, n: number, owner: string): Promise<Result[]> {
  const out: Result[] = [];
  const common = { records: RECORDS };

  const enqueued = await enqueue(store, 'bench', n, BATCH);
  const batchedRate = rate(n, enqueued.totalMs);
  out.push(result(store.kind, 'enqueue', BATCH, n, enqueued.totalMs, { ...common, msPerCall: enqueued.summary() }));

  const d = await drain(store, 'bench', owner);
  const counts = await store.outbound.count('bench');
  if (d.rows !== n || counts.processed !== n) {
    throw new Error(`${store.kind}: drained ${d.rows} rows, ${counts.processed} processed, of ${n} enqueued`);
  }
  out.push(result(store.kind, 'claim', BATCH, d.rows, d.claims.totalMs, { ...common, leaseMs: LEASE_MS, msPerCall: d.claims.summary() }));
  out.push(result(store.kind, 'complete', BATCH, d.rows, d.completes.totalMs, { ...common, msPerCall: d.completes.summary() }));
  out.push(result(store.kind, 'cycle', BATCH, d.rows, d.wallMs, { ...common, claimers: 1 }));

  // A remote of its own, so its sequences start afresh and its rows do not mix with the drained ones.
  const single = await enqueue(store, 'bench-single', SINGLE_N, 1);
  const singleRate = rate(SINGLE_N, single.totalMs);
  out.push(
    result(store.kind, 'enqueue', 1, SINGLE_N, single.totalMs, {
      ...common,
      msPerCall: single.summary(),
      // How many times more rows per second the batches of 200 wrote.
      batchingGain: singleRate > 0 ? Math.round((batchedRate / singleRate) * 10) / 10 : null,
    }),
  );
  return out;
}

async function benchSqlite(n: number): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rps-bench-store-'));
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  try {
    return await benchQueue(store, n, `bench-${process.pid}`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The server for the output: the URL without user and password. */
function serverOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return '(unparsable RPS_TEST_TEST_PG_URL)';
  }
}

/**
 * Two stores on one schema, as two Node-RED processes: both run the sender's loop on
 * the same queue until every row is processed. A claim may come back empty while the
 * other holds the rows that would go next (earlier rows of the same records), so an
 * empty claim means "look again", not "done"; the shared count says when it is done.
 */
async function benchPair(first: Store, second: Store, n: number): Promise<Result> {
  await enqueue(first, 'bench-pair', n, BATCH);
  let done = 0;
  let emptyClaims = 0;
  let lastProgress = Date.now();
  const worker = async (store: Store, owner: string): Promise<number> => {
    let mine = 0;
    while (done < n) {
      const claimed = await store.outbound.claim('bench-pair', BATCH, now(), owner, LEASE_MS);
      if (claimed.length === 0) {
        emptyClaims += 1;
        // A stuck queue would otherwise spin here for ever.
        if (Date.now() - lastProgress > 30_000) throw new Error(`pair: no progress for 30 s at ${done} of ${n}`);
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      await store.outbound.markProcessed(
        claimed.map((r) => r.id),
        now(),
      );
      mine += claimed.length;
      done += claimed.length;
      lastProgress = Date.now();
    }
    return mine;
  };
  const start = process.hrtime.bigint();
  const shares = await Promise.all([worker(first, `bench-${process.pid}-a`), worker(second, `bench-${process.pid}-b`)]);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (done !== n) throw new Error(`pair: ${done} rows processed of ${n}`);
  return result('postgres', 'cycle', BATCH, n, ms, { records: RECORDS, claimers: 2, perClaimer: shares, emptyClaims });
}

async function benchPostgres(n: number): Promise<Result[]> {
  try {
    await pgQuery('SELECT 1');
  } catch (err) {
    // Not a failure of the SQLite figures: say why this half is missing and go on.
    return [{ bench: 'store', store: 'postgres', skipped: `PostgreSQL not reachable at ${serverOf(TEST_PG_URL)}: ${(err as Error).message}` }];
  }
  const schema = `bench_store_${process.pid}`;
  // A run that died with the same pid may have left it behind: start from nothing.
  await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const stores: PostgresStore[] = [];
  try {
    const first = await PostgresStore.open({ connectionString: TEST_PG_URL, schema });
    stores.push(first);
    const out = await benchQueue(first, n, `bench-${process.pid}`);
    const second = await PostgresStore.open({ connectionString: TEST_PG_URL, schema });
    stores.push(second);
    out.push(await benchPair(first, second, n));
    return out.map((r) => ({ ...r, server: serverOf(TEST_PG_URL) }));
  } finally {
    for (const s of stores) await s.close();
    await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}

/** RPS_BENCH_STORES=sqlite or postgres measures one of them (default: both). */
export async function benchStore(): Promise<Result[]> {
  const n = messageCount();
  const only = process.env.RPS_BENCH_STORES;
  return [...(only !== 'postgres' ? await benchSqlite(n) : []), ...(only !== 'sqlite' ? await benchPostgres(n) : [])];
}

if (require.main === module) {
  benchStore().then(
    (results) => {
      for (const r of results) console.log(JSON.stringify(r));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
