/**
 * Backlog benchmark (issue 5), SQLite store: what a large outbound backlog costs the
 * sender while its remote is away, and how fast it drains when the remote comes back.
 *
 * 1. A (the sender, ourSender) starts pointing at a loopback port where nothing
 *    listens yet: B is down.
 * 2. N changes (RPS_BENCH_BACKLOG, default 1,000,000, over RPS_BENCH_BACKLOG_RECORDS
 *    records, default N/10) go through A's flow as fast as it takes them: POST /load
 *    with rate 0, in one go or in chunks of RPS_BENCH_BACKLOG_CHUNK (default: one go),
 *    each chunk waited for before the next. "Queued" is read from A's store file
 *    (read-only, polled), so nothing is synchronised by sleeping. A's RSS is sampled
 *    from /proc throughout.
 * 3. A is killed (SIGKILL) and started again with the backlog in its store.
 * 4. B starts on the port A points at (ourReceiver); the drain is timed until B has
 *    completed all N messages (its rps_inbound rows `processed`, read from its store
 *    file), and B's meter is checked to have seen them all. Times are from B's start:
 *    firstArrivalSeconds (first message stored at B: how long A took to notice B),
 *    receivedSeconds (all N stored at B: the transfer), drainSeconds (all N through
 *    B's flow); drainFlowPerSec leaves out the wait for the first arrival.
 *
 * Prints one JSON line. RPS_BENCH_VERBOSE=1 reports progress on stderr;
 * RPS_BENCH_KEEP=1 keeps the instances' user directories (they are removed otherwise).
 * RPS_BENCH_PROFILE=<dir> writes CPU profiles of A (one up to the restart, one after)
 * and B there (node --cpu-prof; read them with bench/profile.ts); A is then restarted
 * with SIGTERM instead of SIGKILL, so that its first profile is written.
 * RPS_BENCH_NODE_ARGS adds node options to every process, as in the e2e bench.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, NodeRedInstance } from '../tools/nodered';
import { latencies, ourReceiver, ourSender } from './e2e';
import { positiveIntFromEnv } from './env';

const STORE_FILE = 'rps-store.sqlite';
const POLL_MS = 500;
const RSS_SAMPLE_MS = 200;
const DEADLINE_MS = 40 * 60_000;
const TARGETS = { targetRssAddedMB: 150, targetRestartSeconds: 3, targetDrainPerSec: 5000 };

const verbose = Boolean(process.env.RPS_BENCH_VERBOSE);
const say = (text: string): void => {
  if (verbose) console.error(`[backlog ${new Date().toISOString().slice(11, 19)}] ${text}`);
};


const mb = (kb: number): number => Math.round(kb / 102.4) / 10;
const secs = (ms: number): number => Math.round(ms / 100) / 10;

/** A field of /proc/<pid>/status in kB (VmRSS: resident now; VmHWM: the most resident so far). */
function procKb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return NaN;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Bytes a process has caused to be written to storage so far (/proc/<pid>/io). */
function ioWriteBytes(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS until stopped; keeps the peak and the last sample. */
class RssSampler {
  peakKb = 0;
  lastKb = NaN;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number | undefined) {
    this.sample();
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS);
  }
  sample(): number {
    const kb = procKb(this.pid, 'VmRSS');
    if (!Number.isNaN(kb)) {
      this.lastKb = kb;
      this.peakKb = Math.max(this.peakKb, kb);
    }
    return kb;
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** One value from a store file, read on a read-only connection of its own (the file is another process's). */
function query(file: string, sql: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return Number(db.prepare(sql).pluck().get() ?? 0);
  } finally {
    db.close();
  }
}

function fileMB(file: string): number {
  let bytes = 0;
  for (const f of [file, `${file}-wal`]) if (existsSync(f)) bytes += statSync(f).size;
  return Math.round(bytes / 104857.6) / 10;
}

/** Polls `read` every POLL_MS until it reaches `target`; `onValue` sees every reading. */
async function until(what: string, read: () => number, target: number, onValue?: (v: number) => void, detail?: () => string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  let lastSaid = 0;
  for (;;) {
    const v = read();
    onValue?.(v);
    if (v >= target) return;
    if (Date.now() - lastSaid >= 5000) {
      say(`${what}: ${v} of ${target}${verbose && detail ? ` (${detail()})` : ''}`);
      lastSaid = Date.now();
    }
    if (Date.now() > deadline) throw new Error(`${what}: only ${v} of ${target} within ${DEADLINE_MS / 60_000} min`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function load(a: NodeRedInstance, total: number, records: number, prefix: string): Promise<void> {
  const res = await fetch(`${a.url}/load`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ total, records, rate: 0, prefix }),
  });
  if (!res.ok) throw new Error(`POST /load: HTTP ${res.status}`);
  await res.text();
}

export async function benchBacklog(): Promise<Record<string, unknown>> {
  const profileDir = process.env.RPS_BENCH_PROFILE;
  const nodeArgs = [
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ...(process.env.RPS_BENCH_NODE_ARGS ?? '').split(' ').filter((x) => x !== ''),
  ];
  // A profile is written at exit, which SIGKILL skips.
  const end = (i: NodeRedInstance): Promise<void> => (profileDir ? i.stop() : i.kill());
  const total = positiveIntFromEnv('RPS_BENCH_BACKLOG', 1_000_000);
  const records = positiveIntFromEnv('RPS_BENCH_BACKLOG_RECORDS', Math.max(1, Math.floor(total / 10)));
  const chunk = Math.min(total, positiveIntFromEnv('RPS_BENCH_BACKLOG_CHUNK', total));
  const bPort = await freePort();
  const bUrl = `http://127.0.0.1:${bPort}`;
  const out: Record<string, unknown> = { bench: 'backlog', store: 'sqlite', changes: total, records, chunk, ...(profileDir ? { restartWith: 'SIGTERM (profiling)' } : {}) };
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  const samplers: RssSampler[] = [];
  const sampler = (pid: number | undefined): RssSampler => {
    const s = new RssSampler(pid);
    samplers.push(s);
    return s;
  };
  try {
    // 1. A, with nothing listening at B's address.
    a = await NodeRedInstance.start({ name: 'backlog-A', nodeArgs });
    await a.deploy(ourSender(bUrl));
    const aStore = join(a.userDir, STORE_FILE);
    out.rssBeforeMB = mb(procKb(a.pid, 'VmRSS'));
    say(`A up (pid ${a.pid}, ${out.rssBeforeMB} MB), B will be at ${bUrl}`);

    // 2. The backlog, as fast as A's flow takes it.
    const queueRss = sampler(a.pid);
    const enqueueStarted = Date.now();
    let queued = 0;
    for (let k = 0; queued < total; k++) {
      const n = Math.min(chunk, total - queued);
      // Chunks get records of their own (prefix), in proportion: `records` in all.
      const chunkRecords = Math.max(1, Math.round((records * n) / total));
      await load(a, n, chunkRecords, chunk === total ? 'r' : `c${k}-`);
      queued += n;
      await until('queued', () => query(aStore, 'SELECT coalesce(max(id), 0) FROM rps_outbound'), queued, undefined, () => `A RSS ${mb(queueRss.lastKb)} MB`);
    }
    const enqueueMs = Date.now() - enqueueStarted;
    queueRss.stop();
    const rows = query(aStore, 'SELECT count(*) FROM rps_outbound');
    if (rows !== total) throw new Error(`A's queue holds ${rows} rows, expected ${total}`);
    Object.assign(out, {
      enqueueSeconds: secs(enqueueMs),
      enqueuePerSec: Math.round(total / (enqueueMs / 1000)),
      rssPeakMB: mb(queueRss.peakKb),
      rssAfterMB: mb(queueRss.lastKb),
      rssAddedMB: Math.round((mb(queueRss.lastKb) - (out.rssBeforeMB as number)) * 10) / 10,
      rssHwmMB: mb(procKb(a.pid, 'VmHWM')),
      storeMB: fileMB(aStore),
      aWrittenMB: Math.round(ioWriteBytes(a.pid) / 1048576),
    });
    say(`queued ${total} in ${out.enqueueSeconds} s; RSS peak ${out.rssPeakMB} MB, now ${out.rssAfterMB} MB; store ${out.storeMB} MB`);

    // 3. A killed and started again with the backlog.
    await end(a);
    const restartStarted = Date.now();
    await a.launch();
    out.restartSeconds = Math.round((Date.now() - restartStarted) / 10) / 100;
    out.rssAfterRestartMB = mb(procKb(a.pid, 'VmRSS'));
    const afterRestart = query(aStore, "SELECT count(*) FROM rps_outbound WHERE status <> 'processed'");
    if (afterRestart !== total) throw new Error(`after the restart A's queue holds ${afterRestart} unsent rows, expected ${total}`);
    say(`A restarted in ${out.restartSeconds} s, RSS ${out.rssAfterRestartMB} MB`);

    // 4. B comes up where A points; the drain.
    const drainRss = sampler(a.pid);
    const drainStarted = Date.now();
    b = await NodeRedInstance.start({ name: 'backlog-B', port: bPort, nodeArgs });
    await b.deploy(ourReceiver(a.url));
    const bReadyMs = Date.now() - drainStarted;
    const bRss = sampler(b.pid);
    const bStore = join(b.userDir, STORE_FILE);
    // Received: stored (and answered "accepted") at B; processed: through B's flow to rps-complete.
    let firstMs: number | undefined;
    let receivedMs: number | undefined;
    await until(
      'drained',
      () => {
        const received = query(bStore, 'SELECT coalesce(max(id), 0) FROM rps_inbound');
        if (firstMs === undefined && received > 0) firstMs = Date.now() - drainStarted;
        if (receivedMs === undefined && received >= total) receivedMs = Date.now() - drainStarted;
        return query(bStore, "SELECT count(*) FROM rps_inbound WHERE status = 'processed'");
      },
      total,
      undefined,
      () =>
        `A sent ${query(aStore, "SELECT count(*) FROM rps_outbound WHERE status = 'processed'")}, ` +
        `B received ${query(bStore, 'SELECT coalesce(max(id), 0) FROM rps_inbound')}; RSS A ${mb(drainRss.lastKb)} MB, B ${mb(bRss.lastKb)} MB`,
    );
    const drainMs = Date.now() - drainStarted;
    drainRss.stop();
    bRss.stop();
    const metered = (await latencies(b)).length;
    const sentDone = query(aStore, "SELECT count(*) FROM rps_outbound WHERE status = 'processed'");
    const flowMs = drainMs - (firstMs ?? 0);
    Object.assign(out, {
      bReadySeconds: secs(bReadyMs),
      firstArrivalSeconds: secs(firstMs ?? NaN),
      receivedSeconds: secs(receivedMs ?? drainMs),
      receivePerSec: Math.round(total / ((receivedMs ?? drainMs) / 1000)),
      drainSeconds: secs(drainMs),
      drainPerSec: Math.round(total / (drainMs / 1000)),
      drainFlowPerSec: Math.round(total / (flowMs / 1000)),
      rssDrainPeakMB: mb(drainRss.peakKb),
      rssDrainEndMB: mb(drainRss.lastKb),
      rssBPeakMB: mb(bRss.peakKb),
      bWrittenMB: Math.round(ioWriteBytes(b.pid) / 1048576),
      bStoreMB: fileMB(bStore),
      meteredAtB: metered,
      processedAtA: sentDone,
      ...TARGETS,
    });
    say(`drained in ${out.drainSeconds} s (first arrival after ${out.firstArrivalSeconds} s, all received after ${out.receivedSeconds} s)`);
    return out;
  } finally {
    for (const s of samplers) s.stop();
    for (const i of [a, b]) {
      if (!i) continue;
      await end(i);
      if (!process.env.RPS_BENCH_KEEP) rmSync(i.userDir, { recursive: true, force: true });
      else say(`kept ${i.name}'s directory ${i.userDir}`);
    }
  }
}

if (require.main === module) {
  benchBacklog().then(
    (line) => console.log(JSON.stringify(line)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
