/**
 * Initial delta load: RPS_BENCH_DELTA_RECORDS records (default 200,000) in a REST source
 * (test/harness/records-source.ts, in this process) loaded by rps-delta-load on one real
 * Node-RED process A, through capture → correlate → map → send to a second instance B
 * (bench/e2e's receiver, which counts arrivals). Pages of RPS_BENCH_DELTA_PAGE records
 * (default 100), RPS_BENCH_DELTA_IN_FLIGHT pages in flight (default 1, as the node's), SQLite store.
 *
 * Measured from the run's start (POST /load/run on A): `fetchedSeconds` until the source
 * served the last page, `queuedSeconds` until A's watermark (read from its store file)
 * stands at the last record (every record queued), `deliveredSeconds` until B has them
 * all; records/s for the two last. A's RSS (VmRSS of /proc/<pid>/status) is sampled every
 * 250 ms: the baseline is the last sample before the run starts (flows deployed, idle),
 * the peak the largest during the run, and their ratio, and the peak of each quarter of the
 * pages served (flat: the last quarters no higher than the first). The load's memory is meant to be
 * bounded by the pages in flight, not by the number of records: compare the peak of two
 * sizes (e.g. RPS_BENCH_DELTA_RECORDS=50000 and the default).
 *
 * Prints one JSON line. RPS_BENCH_VERBOSE=1 reports progress on stderr.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareWatermarks } from '../src/core/delta';
import { A_TO_B, B_TO_A } from '../tools/flows';
import { NodeRedInstance } from '../tools/nodered';
import { DELTA_NODE, deltaSenderFlow, RecordsSource } from '../tools/records-source';
import { latencies, ourReceiver } from './e2e';
import { positiveIntFromEnv } from './env';

const SAMPLE_MS = 250;
const DEADLINE_MS = 30 * 60_000;

const verbose = Boolean(process.env.RPS_BENCH_VERBOSE);


/** VmRSS of a process in MB, or undefined when it cannot be read. */
function rssMB(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Does A's watermark (in its store file) stand at or after this position? */
function watermarkReached(a: NodeRedInstance, updated: number, id: number): boolean {
  let db: Database.Database | undefined;
  try {
    db = new Database(join(a.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
    const row = db.prepare('SELECT updated_after, id_after FROM rps_watermark WHERE node_id = ?').get(DELTA_NODE) as { updated_after: number | null; id_after: string | null } | undefined;
    return row !== undefined && compareWatermarks({ updatedAfter: row.updated_after, idAfter: row.id_after }, { updatedAfter: updated, idAfter: String(id) }) >= 0;
  } catch {
    return false;
  } finally {
    db?.close();
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

export async function benchDeltaLoad(): Promise<Record<string, unknown>> {
  const total = positiveIntFromEnv('RPS_BENCH_DELTA_RECORDS', 200_000);
  const pageSize = positiveIntFromEnv('RPS_BENCH_DELTA_PAGE', 100);
  const inFlight = positiveIntFromEnv('RPS_BENCH_DELTA_IN_FLIGHT', 1);
  const source = new RecordsSource();
  await source.start();
  source.create(total, { spacingMs: 10 });
  const last = [...source.versions()].at(-1)!;
  const b = await NodeRedInstance.start({ name: 'delta-B' });
  const a = await NodeRedInstance.start({ name: 'delta-A' });
  let sampler: NodeJS.Timeout | undefined;
  try {
    await b.deploy(ourReceiver(a.url));
    await a.deploy(
      deltaSenderFlow({
        load: { url: RecordsSource.query(source.url), pageSize: String(pageSize), pagesInFlight: String(inFlight), schedule: 'input', runOnStart: false },
        remoteUrl: b.url,
        outbound: A_TO_B,
        inbound: B_TO_A,
        processEvent: 'Bench',
        remote: { inboundRate: '0' },
      }),
    );
    await latencies(b, true);
    const pid = a.pid!;
    const baselineMB = rssMB(pid) ?? NaN;
    let peakMB = baselineMB;
    // The peak of each quarter of the load (by pages served): flat when the last quarters stay at the first's.
    const totalPages = Math.ceil(total / pageSize);
    const quarterPeaksMB = [0, 0, 0, 0];
    sampler = setInterval(() => {
      const mb = rssMB(pid);
      if (mb === undefined) return;
      peakMB = Math.max(peakMB, mb);
      const q = Math.min(3, Math.floor((source.pages * 4) / totalPages));
      quarterPeaksMB[q] = Math.max(quarterPeaksMB[q], mb);
    }, SAMPLE_MS);

    const started = Date.now();
    let fetchedMs: number | undefined;
    source.on('page', (page) => {
      if (page.last && fetchedMs === undefined) fetchedMs = Date.now() - started;
    });
    const res = await fetch(`${a.url}/load/run`, { method: 'POST' });
    if (!res.ok) throw new Error(`POST /load/run: HTTP ${res.status}`);
    let queuedMs: number | undefined;
    let deliveredMs: number | undefined;
    let lastSaid = 0;
    while (queuedMs === undefined || deliveredMs === undefined) {
      if (Date.now() - started > DEADLINE_MS) throw new Error(`not done within ${DEADLINE_MS / 60_000} min: ${source.pages} pages served`);
      await new Promise((r) => setTimeout(r, 500));
      if (queuedMs === undefined && watermarkReached(a, last.updated, last.id)) queuedMs = Date.now() - started;
      const arrived = (await latencies(b)).length;
      if (deliveredMs === undefined && arrived >= total) deliveredMs = Date.now() - started;
      if (verbose && Date.now() - lastSaid > 5_000) {
        lastSaid = Date.now();
        console.error(`[delta-load] ${source.pages} pages served, ${arrived} of ${total} on B, A's RSS ${round1(rssMB(pid) ?? NaN)} MB (peak ${round1(peakMB)})`);
      }
    }
    clearInterval(sampler);
    return {
      bench: 'delta-load',
      records: total,
      pageSize,
      pagesInFlight: inFlight,
      pages: source.pages,
      fetchedSeconds: round1((fetchedMs ?? NaN) / 1000),
      queuedSeconds: round1(queuedMs / 1000),
      queuedPerSec: Math.round((total * 1000) / queuedMs),
      deliveredSeconds: round1(deliveredMs / 1000),
      deliveredPerSec: Math.round((total * 1000) / deliveredMs),
      rssBaselineMB: round1(baselineMB),
      rssPeakMB: round1(peakMB),
      rssPeakToBaseline: Math.round((peakMB / baselineMB) * 100) / 100,
      rssPeakByQuarterMB: quarterPeaksMB.map(round1),
    };
  } finally {
    clearInterval(sampler);
    await Promise.all([a.kill(), b.kill()]);
    await source.stop();
  }
}

if (require.main === module) {
  benchDeltaLoad().then(
    (line) => console.log(JSON.stringify(line)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
