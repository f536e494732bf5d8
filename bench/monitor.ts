/**
 * The monitor's store queries with a large history: RPS_BENCH_MONITOR_ROWS outbound rows
 * (default 1,000,000; inbound a tenth of that) and a day of minute stats, filled by
 * fillMonitorRows (bench/monitor-fill.ts), in an SQLite file in a temp folder and in
 * PostgreSQL (a schema of its own, dropped at the end; RPS_TEST_PG_URL, see tools/pg).
 * RPS_BENCH_STORES=sqlite or postgres measures one of them (default: both).
 *
 * Measured, RUNS times each after one warm-up: metrics.totals over the last day,
 * metrics.series over the last hour by minute and the last day by hour, metrics.queues
 * (all, and one remote system); and what the page and Prometheus wait for: the admin
 * API's GET rps-monitor/figures (unfiltered and for one remote system) and GET
 * rps-monitor/metrics, over real HTTP from the API's handlers (monitor/api.ts; Node-RED's
 * permission check in front of them is not part of the figure). Prints one JSON line per
 * store: median and max in ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../src/core/stats';
import { StatsRecorder } from '../src/engine/metrics';
import { type Handler, MonitorApi } from '../src/monitor/api';
import type { MonitorRemote } from '../src/monitor/figures';
import { PrometheusFigures } from '../src/monitor/prometheus';
import { PostgresStore } from '../src/store/postgres';
import { SqliteStore } from '../src/store/sqlite';
import { pgQuery, TEST_PG_URL } from '../tools/pg';
import { fillMonitorRows, MONITOR_REMOTES } from './monitor-fill';
import { positiveIntFromEnv } from './env';

const RUNS = 7;

type Result = Record<string, unknown>;

function rowCount(): number {
  return positiveIntFromEnv('RPS_BENCH_MONITOR_ROWS', 1_000_000);
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Median and max of RUNS timed calls of `f`, after one untimed call. */
async function timed(f: () => Promise<unknown>): Promise<{ medianMs: number; maxMs: number }> {
  await f();
  const ms: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const start = process.hrtime.bigint();
    await f();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { medianMs: round2(ms[Math.floor(ms.length / 2)]), maxMs: round2(ms[ms.length - 1]) };
}

/** The monitor API's figures and metrics handlers on a loopback port, as plugin.ts mounts them. */
async function serveApi(store: SqliteStore | PostgresStore, now: () => number): Promise<{ server: Server; url: string }> {
  const key = `${store.kind}:bench`;
  const remotes: MonitorRemote[] = MONITOR_REMOTES.map((r) => ({ id: `node-${r}`, name: r, storeKey: key, linkKey: r, outbound: 'active', inbound: 'active', paused: false }));
  const prometheus = new PrometheusFigures();
  const api = new MonitorApi({
    context: () => ({ stores: [{ key, label: key, kind: store.kind, store, stats: new StatsRecorder(store) }], remotes, now: now() }),
    remote: () => undefined,
    requeued: () => undefined,
    prometheus: async (figures) => ({ type: prometheus.contentType, text: await prometheus.text(figures) }),
    changed: () => undefined,
    text: (k) => k,
  });
  const routes: Record<string, Handler> = { '/rps-monitor/figures': api.getFigures, '/rps-monitor/metrics': api.getMetrics };
  const server = createServer((req: IncomingMessage & { query?: Record<string, string> }, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.query = Object.fromEntries(url.searchParams);
    const handler = routes[url.pathname];
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

/** A GET that must answer 200; resolves with the body's length. */
async function get(url: string): Promise<number> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
  return body.length;
}

async function measure(store: SqliteStore | PostgresStore, n: number): Promise<Result> {
  const now = Date.now();
  const filled = await fillMonitorRows(store, n, { now });
  const m = store.metrics;
  const queues = await m.queues({});
  return {
    bench: 'monitor',
    store: store.kind,
    ...filled,
    queueGroups: queues.length,
    totalsDay: await timed(() => m.totals({}, now - DAY_MS)),
    seriesHourByMinute: await timed(() => m.series({}, now - HOUR_MS, MINUTE_MS)),
    seriesDayByHour: await timed(() => m.series({}, now - DAY_MS, HOUR_MS)),
    queuesAll: await timed(() => m.queues({})),
    queuesOneRemote: await timed(() => m.queues({ remoteSystems: [MONITOR_REMOTES[0]] })),
    ...(await measureApi(store, now)),
  };
}

async function measureApi(store: SqliteStore | PostgresStore, now: number): Promise<Result> {
  const { server, url } = await serveApi(store, () => now);
  try {
    return {
      apiFiguresBytes: await get(`${url}/rps-monitor/figures`),
      apiFigures: await timed(() => get(`${url}/rps-monitor/figures`)),
      apiFiguresOneRemote: await timed(() => get(`${url}/rps-monitor/figures?remoteSystem=node-${MONITOR_REMOTES[0]}`)),
      prometheusBytes: await get(`${url}/rps-monitor/metrics`),
      prometheus: await timed(() => get(`${url}/rps-monitor/metrics`)),
    };
  } finally {
    server.close();
  }
}

async function benchSqlite(n: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'rps-bench-monitor-'));
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  try {
    return await measure(store, n);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(n: number): Promise<Result> {
  try {
    await pgQuery('SELECT 1');
  } catch (err) {
    return { bench: 'monitor', store: 'postgres', skipped: `PostgreSQL not reachable: ${(err as Error).message}` };
  }
  const schema = `bench_monitor_${process.pid}`;
  await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const store = await PostgresStore.open({ connectionString: TEST_PG_URL, schema });
  try {
    return await measure(store, n);
  } finally {
    await store.close();
    await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}

export async function benchMonitor(): Promise<Result[]> {
  const n = rowCount();
  const only = process.env.RPS_BENCH_STORES;
  return [...(only !== 'postgres' ? [await benchSqlite(n)] : []), ...(only !== 'sqlite' ? [await benchPostgres(n)] : [])];
}

if (require.main === module) {
  benchMonitor().then(
    (results) => {
      for (const r of results) console.log(JSON.stringify(r));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
