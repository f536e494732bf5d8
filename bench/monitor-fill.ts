/**
 * Fills a store with queue rows and minute stats the way a busy installation has them, for
 * the monitor's benchmarks (bench/monitor.ts, and the monitor API's): bulk inserts in SQL,
 * straight into the tables, since going through enqueue and claim would take minutes for a
 * million rows and measure the wrong thing. The rows are valid queue rows (every NOT NULL
 * column, statuses the checks accept), so the store's own statements work on them.
 *
 * Outbound: n rows over REMOTES × EVENTS, created over the week before `now`, mostly
 * processed (about 97 %), 2 % ready, 1 % error, 0.1 % processing; payloads of ~300
 * characters. Inbound: n / 10 rows, spread the same way. Stats: one minute row per
 * (direction, remote, event) for each minute of the day before `now`, written through
 * metrics.record in batches.
 */
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { DAY_MS, minuteOf, MINUTE_MS, type StatsIncrement, TIME_BUCKETS } from '../src/core/stats';
import type { PostgresStore } from '../src/store/postgres';
import type { SqliteStore } from '../src/store/sqlite';
import { TEST_PG_URL } from '../tools/pg';

export const MONITOR_REMOTES = ['remote-a', 'remote-b', 'remote-c', 'remote-d'];
export const MONITOR_EVENTS = ['incident', 'change', 'problem'];

export interface FillOptions {
  /** The end of the filled history (epoch ms). */
  now: number;
  /** Inbound rows; default n / 10. */
  inbound?: number;
  /** For a PostgreSQL store: its server (default RPS_TEST_PG_URL, see tools/pg). */
  connectionString?: string;
}

export interface Filled {
  outbound: number;
  inbound: number;
  statsRows: number;
  seconds: number;
}

/**
 * The status of the i-th row, as an SQL expression on `i`: 1 in 1,000 processing, 1 in
 * 100 error, 2 in 100 ready, the rest processed.
 */
const STATUS = `CASE WHEN i % 1000 = 7 THEN 'processing' WHEN i % 100 = 3 THEN 'error' WHEN i % 100 IN (5, 6) THEN 'ready' ELSE 'processed' END`;
const remoteOf = (list: readonly string[], col: string): string => `CASE ${list.map((r, k) => `WHEN ${col} = ${k} THEN '${r}'`).join(' ')} END`;
const REMOTE = remoteOf(MONITOR_REMOTES, `i % ${MONITOR_REMOTES.length}`);
const EVENT = remoteOf(MONITOR_EVENTS, `(i / ${MONITOR_REMOTES.length}) % ${MONITOR_EVENTS.length}`);

/** Outbound rows 1..n, created `spacing` ms apart up to `now`; processed ones took (i % 50) · 100 ms. */
function outboundInsert(series: string, n: number, now: number, payload: string): string {
  const spacing = Math.max(1, Math.floor((7 * DAY_MS) / n));
  const created = `(${now} - (${n} - i) * ${spacing})`;
  return `
    INSERT INTO rps_outbound (message_id, remote_system, process_event, kind, operation, record_table, record_id, sequence,
                              status, payload, attempts, next_attempt_at, created_at, first_attempt_at, last_attempt_at, processed_at,
                              last_error, error_kind)
    SELECT 'm' || i, ${REMOTE}, ${EVENT}, 'change', 'update', 'incident', 'r' || (i % 50000), i / 50000 + 1,
           s, ${payload}, 1, ${created}, ${created}, ${created}, ${created},
           CASE WHEN s = 'processed' THEN ${created} + (i % 50) * 100 END,
           CASE WHEN s = 'error' THEN 'HTTP 500' END, CASE WHEN s = 'error' THEN 'refused' END
    FROM (SELECT i, ${STATUS} AS s FROM ${series}) AS rows_`;
}

function inboundInsert(series: string, n: number, now: number, payload: string): string {
  const spacing = Math.max(1, Math.floor((7 * DAY_MS) / n));
  const received = `(${now} - (${n} - i) * ${spacing})`;
  return `
    INSERT INTO rps_inbound (message_id, remote_system, process_event, kind, operation, stream, source_table, source_id, sequence,
                             status, payload, attempts, received_at, started_at, processed_at, last_error, error_kind)
    SELECT 'm' || i, ${REMOTE}, ${EVENT}, 'change', 'update', 'their-instance', 'incident', 's' || i, 1,
           s, ${payload}, 1, ${received}, ${received},
           CASE WHEN s = 'processed' THEN ${received} + (i % 50) * 100 END,
           CASE WHEN s = 'error' THEN 'flow failed' END, CASE WHEN s = 'error' THEN 'flow' END
    FROM (SELECT i, ${STATUS} AS s FROM ${series}) AS rows_`;
}

/** A day of minute stats before `now`, as increments: every key every minute. */
function dayOfStats(now: number): StatsIncrement[] {
  const out: StatsIncrement[] = [];
  const last = minuteOf(now);
  for (let m = last - DAY_MS + MINUTE_MS; m <= last; m += MINUTE_MS) {
    for (const direction of ['outbound', 'inbound'] as const) {
      for (const [r, remoteSystem] of MONITOR_REMOTES.entries()) {
        for (const processEvent of MONITOR_EVENTS) {
          const processed = 20 + ((m / MINUTE_MS + r) % 30);
          const buckets = new Array<number>(TIME_BUCKETS).fill(0);
          buckets[0] = processed - 3;
          buckets[4] = 2;
          buckets[9] = 1;
          out.push({ direction, remoteSystem, processEvent, minute: m, processed, errors: m % 7 === 0 ? 1 : 0, timeSumMs: processed * 80, buckets, lastAt: m + MINUTE_MS - 1 - r });
        }
      }
    }
  }
  return out;
}

async function recordStats(store: SqliteStore | PostgresStore, now: number): Promise<number> {
  const all = dayOfStats(now);
  for (let k = 0; k < all.length; k += 1000) await store.metrics.record(all.slice(k, k + 1000));
  return all.length;
}

/** Fills `store` (empty queues) with `n` outbound rows, inbound rows and a day of minute stats. */
export async function fillMonitorRows(store: SqliteStore | PostgresStore, n: number, o: FillOptions): Promise<Filled> {
  const start = Date.now();
  const nIn = o.inbound ?? Math.floor(n / 10);
  if (store.kind === 'sqlite') {
    // A second connection on the file (WAL): the store's own is private to it.
    const db = new Database(store.path);
    try {
      db.pragma('busy_timeout = 5000');
      const series = (k: number): string => `(WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${k}) SELECT i FROM seq)`;
      const payload = `'{"fields":' || quote(substr(hex(zeroblob(150)), 1, 280)) || '}'`;
      db.transaction(() => {
        db.exec(outboundInsert(series(n), n, o.now, payload));
        if (nIn > 0) db.exec(inboundInsert(series(nIn), nIn, o.now, payload));
      })();
      db.exec('ANALYZE');
    } finally {
      db.close();
    }
  } else {
    const c = new Client({ connectionString: o.connectionString ?? TEST_PG_URL, ...(store.schema ? { options: `-c search_path=${store.schema}` } : {}) });
    await c.connect();
    try {
      const series = (k: number): string => `generate_series(1, ${k}) AS g (i)`;
      const payload = `'{"fields":"' || repeat('0', 280) || '"}'`;
      await c.query('BEGIN');
      await c.query(outboundInsert(series(n), n, o.now, payload));
      if (nIn > 0) await c.query(inboundInsert(series(nIn), nIn, o.now, payload));
      await c.query('COMMIT');
      // As autovacuum would soon: statistics, and a visibility map for index-only scans.
      await c.query('VACUUM ANALYZE rps_outbound');
      await c.query('VACUUM ANALYZE rps_inbound');
    } finally {
      await c.end();
    }
  }
  const statsRows = await recordStats(store, o.now);
  return { outbound: n, inbound: nIn, statsRows, seconds: (Date.now() - start) / 1000 };
}
