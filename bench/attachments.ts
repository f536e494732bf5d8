/**
 * Attachment sync benchmark (issue 16): files following their records between two real
 * Node-RED processes on the SQLite store, with the flows of the attachment tests
 * (tools/attachment-flows.ts): A posts `POST /change {operation, record, attachments: <folder>}`
 * and its rps-attachment-sync (send) stages and registers the folder's files; B writes the
 * record to a records endpoint in this process and copies each file it is handed into
 * `<folder>/<local id>/`. The bytes travel by the attachment protocol (pull, push, complete).
 *
 * Two scenarios, one JSON line each:
 * - `big`: one record with one file of RPS_BENCH_ATT_BIG_MB MB (default 200; MB = 2^20 bytes);
 * - `small`: RPS_BENCH_ATT_SMALL files of 10 KB (default 1,000), 10 files per record
 *   (so 100 records by default), all records posted one after the other.
 * Each line has bytes, files, seconds from the first change posted to the last file
 * `stored` on B (B's rps_inbound_file rows, polled from its store file, read-only),
 * postedSeconds (until A had answered every POST: A stages the files before it answers),
 * MB/s, files/s, and the peak RSS of A's and B's processes during the scenario (VmRSS
 * sampled every 50 ms; VmHWM would be the peak since start). The baseline, measured in the
 * same run right after: fs.copyFile of the same files (one by one) on the same disk, so
 * `vsCopy` is the scenario's seconds over the copy's. Every file on B is checked against
 * A's by SHA-256 (streamed) at the end of its scenario. What went wrong on the way, if
 * anything: maxPullAttempts (the most pull requests a file needed: 1 when none failed),
 * faultLogLines (A's and B's log lines about attachments that failed) and a few of them.
 *
 * A scenario fails (throws, with both instances' last log lines) when a file ends `error`
 * or `refused` on B, or when nothing moves on B (no byte received, no file stored) for
 * STALL_MS. RPS_BENCH_VERBOSE=1 reports progress on stderr; RPS_BENCH_KEEP=1 keeps the
 * temporary directories (the instances' and the files'); they are removed otherwise.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createReadStream, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FS_SETTINGS, originFlow, receiverWithFiles, writeRandomFile } from '../tools/attachment-flows';
import { closeServer, listenOnLoopback } from '../tools/http';
import { NodeRedInstance } from '../tools/nodered';
import { positiveIntFromEnv } from './env';

const MB = 1024 * 1024;
const SMALL_FILE_BYTES = 10 * 1024;
const FILES_PER_RECORD = 10;
const RSS_SAMPLE_MS = 50;
const POLL_MS = 100;
/**
 * No byte received and no file stored on B for this long: the scenario is stalled. Longer
 * than the receiver's pull deadline (2 min), after which it asks again for files whose
 * push never completed: a scenario that recovers that way is slow, not stalled.
 */
const STALL_MS = 150_000;
const STORE_FILE = 'rps-store.sqlite';

const verbose = Boolean(process.env.RPS_BENCH_VERBOSE);
const say = (text: string): void => {
  if (verbose) console.error(`[attachments ${new Date().toISOString().slice(11, 19)}] ${text}`);
};
const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** A record of A and the folder whose files go with it. */
interface SourceRecord {
  id: string;
  dir: string;
}

/** What B's flow writes records to: creates answer a local id (one per source record), updates and deletes echo it. */
interface RecordsEndpoint {
  url: string;
  /** Local id by source (`item/<A's id>`). */
  bySource: Map<string, string>;
  close(): Promise<void>;
}

async function startRecordsEndpoint(): Promise<RecordsEndpoint> {
  const bySource = new Map<string, string>();
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const match = /^\/records(?:\/([^/]+))?$/.exec(req.url ?? '');
    if (!match) return answer(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return match[1] ? answer(res, 200, { id: decodeURIComponent(match[1]) }) : answer(res, 404, { error: 'no id' });
    const { source } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { source: string };
    let id = bySource.get(source);
    if (!id) bySource.set(source, (id = `L${bySource.size + 1}`));
    answer(res, 200, { id });
  };
  const server = createServer((req, res) => void handle(req, res));
  const url = await listenOnLoopback(server);
  return { url, bySource, close: () => closeServer(server) };
}

/** Resident memory of a process now, kB (NaN once it is gone). */
function rssKb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** The highest VmRSS of each process while it runs, sampled every RSS_SAMPLE_MS. */
function sampleRssPeaks(pids: readonly (number | undefined)[]): { stop(): number[] } {
  const peaks = pids.map(() => 0);
  const sample = (): void => pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i], rssKb(pid) || 0)));
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks.map((kb) => round(kb / 1024, 1));
    },
  };
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** B's inbound files by status, and the bytes received so far, from its store file (its own read-only connection). */
function inboundFiles(b: NodeRedInstance): { byStatus: Record<string, number>; received: number; pullAttempts: number } {
  const db = new Database(join(b.userDir, STORE_FILE), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare('SELECT status, count(*) AS n, coalesce(sum(received), 0) AS received, max(attempts) AS attempts FROM rps_inbound_file GROUP BY status')
      .all() as { status: string; n: number; received: number; attempts: number }[];
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    // `received` counts bytes of files still on their way; a verified file's bytes are all there.
    const onTheirWay = rows.filter((r) => r.status === 'wanted' || r.status === 'requested');
    const received = onTheirWay.reduce((sum, r) => sum + r.received, 0);
    // Pull requests made for a file still on its way (a verified file's count restarts for its flow attempts).
    const pullAttempts = Math.max(0, ...onTheirWay.map((r) => r.attempts));
    return { byStatus, received, pullAttempts };
  } finally {
    db.close();
  }
}

function failedRows(b: NodeRedInstance): string[] {
  const db = new Database(join(b.userDir, STORE_FILE), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT id, file_name, status, last_error FROM rps_inbound_file WHERE status IN ('error', 'refused') LIMIT 5").all();
    return rows.map((r) => JSON.stringify(r));
  } finally {
    db.close();
  }
}

/**
 * The log lines about attachments that went wrong since `from` (per instance): how many, and
 * the first few distinct ones (timestamps cut), so that a slow scenario says why.
 */
function attachmentFaults(instances: readonly NodeRedInstance[], from: readonly number[]): { count: number; samples: string[] } {
  const lines = instances.flatMap((i, k) => i.log.slice(from[k]).filter((l) => /attachment/i.test(l) && /fail|error|warn/i.test(l)).map((l) => `${i.name}: ${l}`));
  const distinct = [...new Set(lines.map((l) => l.replace(/\d{1,2} \w{3} \d{2}:\d{2}:\d{2}( - )?/, '')))];
  return { count: lines.length, samples: distinct.slice(0, 4) };
}

/** Both instances' last log lines, for an error that has to say what happened. */
function logTails(...instances: NodeRedInstance[]): string {
  return instances.map((i) => `--- ${i.name} log ---\n${i.log.slice(-30).join('\n')}`).join('\n');
}

/**
 * Polls B's store until `total` more files are `stored` than `storedBefore`. Throws when a
 * file fails for good, or when neither received bytes nor stored files move for STALL_MS.
 */
async function untilStored(a: NodeRedInstance, b: NodeRedInstance, storedBefore: number, total: number): Promise<{ maxPullAttempts: number }> {
  let maxPullAttempts = 0;
  let progress = '';
  let movedAt = Date.now();
  let saidAt = 0;
  for (;;) {
    const { byStatus, received, pullAttempts } = inboundFiles(b);
    maxPullAttempts = Math.max(maxPullAttempts, pullAttempts);
    const stored = (byStatus.stored ?? 0) - storedBefore;
    if (stored >= total) return { maxPullAttempts };
    if (byStatus.error || byStatus.refused) {
      throw new Error(`files failed on B: ${JSON.stringify(byStatus)}\n${failedRows(b).join('\n')}\n${logTails(a, b)}`);
    }
    const now = `${stored}/${received}`;
    if (now !== progress) [progress, movedAt] = [now, Date.now()];
    if (Date.now() - movedAt > STALL_MS) {
      throw new Error(`stalled: ${stored} of ${total} files stored, nothing moved for ${STALL_MS / 1000} s: ${JSON.stringify(byStatus)}\n${logTails(a, b)}`);
    }
    if (Date.now() - saidAt >= 2000) {
      say(`${stored} of ${total} stored; ${JSON.stringify(byStatus)}, ${round(received / MB, 1)} MB received of files on their way, pull attempts up to ${pullAttempts}`);
      saidAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function postChange(a: NodeRedInstance, record: SourceRecord): Promise<void> {
  const res = await fetch(`${a.url}/change`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ operation: 'insert', record: { id: record.id, name: record.id, n: 1 }, attachments: record.dir }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /change of ${record.id}: HTTP ${res.status} ${text}`);
}

/** Every file of A's record folders is in B's folder of the twin record, with the same SHA-256. Returns how many were checked. */
async function verifyCopies(records: readonly SourceRecord[], filesOnB: string, endpoint: RecordsEndpoint): Promise<number> {
  let checked = 0;
  for (const record of records) {
    const local = endpoint.bySource.get(`item/${record.id}`);
    if (!local) throw new Error(`B has no record for ${record.id}`);
    for (const name of await readdir(record.dir)) {
      const [want, got] = await Promise.all([sha256(join(record.dir, name)), sha256(join(filesOnB, local, name))]);
      if (want !== got) throw new Error(`${record.id}/${name}: B's copy has SHA-256 ${got}, A's file ${want}`);
      checked += 1;
    }
  }
  return checked;
}

/** The baseline: fs.copyFile of every file of the records, one after the other, into `to`; seconds. */
async function copyBaseline(records: readonly SourceRecord[], to: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (const record of records) {
    const dir = join(to, record.id);
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(record.dir)) await copyFile(join(record.dir, name), join(dir, name));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await rm(to, { recursive: true, force: true });
  return seconds;
}

/** Writes the scenario's files: `perRecord` files of `size` bytes per record folder, `files` in all. */
async function makeRecords(root: string, prefix: string, files: number, perRecord: number, size: number): Promise<SourceRecord[]> {
  const records: SourceRecord[] = [];
  for (let r = 0; r * perRecord < files; r++) {
    const record = { id: `${prefix}${r}`, dir: join(root, 'A', `${prefix}${r}`) };
    await mkdir(record.dir, { recursive: true });
    for (let f = r * perRecord; f < Math.min(files, (r + 1) * perRecord); f++) await writeRandomFile(join(record.dir, `file-${f}.bin`), size);
    records.push(record);
  }
  return records;
}

interface Pair {
  a: NodeRedInstance;
  b: NodeRedInstance;
  endpoint: RecordsEndpoint;
  filesOnB: string;
  root: string;
}

async function scenario(pair: Pair, name: string, records: readonly SourceRecord[]): Promise<Record<string, unknown>> {
  const { a, b, endpoint, filesOnB, root } = pair;
  let files = 0;
  let bytes = 0;
  for (const record of records) {
    for (const f of await readdir(record.dir)) {
      files += 1;
      bytes += (await stat(join(record.dir, f))).size;
    }
  }
  const storedBefore = inboundFiles(b).byStatus.stored ?? 0;
  say(`${name}: ${files} files, ${round(bytes / MB, 1)} MB over ${records.length} records`);
  const logFrom = [a.log.length, b.log.length];
  const rss = sampleRssPeaks([a.pid, b.pid]);
  const started = Date.now();
  let postedMs: number;
  let ms: number;
  let maxPullAttempts: number;
  let peaks: number[];
  try {
    for (const record of records) await postChange(a, record);
    postedMs = Date.now() - started;
    ({ maxPullAttempts } = await untilStored(a, b, storedBefore, files));
    ms = Date.now() - started;
  } finally {
    // Also when the scenario fails: the sampler's timer would keep this process alive.
    peaks = rss.stop();
  }
  const [rssPeakAMB, rssPeakBMB] = peaks;
  const faults = attachmentFaults([a, b], logFrom);
  const verified = await verifyCopies(records, filesOnB, endpoint);
  const copySeconds = await copyBaseline(records, join(root, 'baseline'));
  const seconds = ms / 1000;
  say(`${name}: ${seconds} s (copy ${round(copySeconds, 3)} s), RSS peak A ${rssPeakAMB} MB, B ${rssPeakBMB} MB`);
  return {
    bench: 'attachments',
    scenario: name,
    store: 'sqlite',
    records: records.length,
    files,
    bytes,
    seconds: round(seconds, 2),
    postedSeconds: round(postedMs / 1000, 2),
    MBPerSec: round(bytes / MB / seconds, 1),
    filesPerSec: round(files / seconds, 1),
    rssPeakAMB,
    rssPeakBMB,
    sha256Verified: verified,
    copySeconds: round(copySeconds, 3),
    copyMBPerSec: round(bytes / MB / copySeconds, 1),
    vsCopy: round(seconds / copySeconds, 1),
    maxPullAttempts,
    faultLogLines: faults.count,
    faultSamples: faults.samples,
  };
}

export async function benchAttachments(): Promise<Record<string, unknown>[]> {
  const bigMb = positiveIntFromEnv('RPS_BENCH_ATT_BIG_MB', 200);
  const smallFiles = positiveIntFromEnv('RPS_BENCH_ATT_SMALL', 1000);
  const root = await mkdtemp(join(tmpdir(), 'rps-bench-att-'));
  let endpoint: RecordsEndpoint | undefined;
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  try {
    endpoint = await startRecordsEndpoint();
    [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'att-A', settingsCode: FS_SETTINGS }),
      NodeRedInstance.start({ name: 'att-B', settingsCode: FS_SETTINGS }),
    ]);
    const filesOnB = join(root, 'B');
    await a.deploy(originFlow(b.url));
    await b.deploy(receiverWithFiles(a.url, endpoint.url, filesOnB));
    const pair: Pair = { a, b, endpoint, filesOnB, root };
    say(`A pid ${a.pid}, B pid ${b.pid}, files in ${root}`);

    const big = await makeRecords(root, 'big-', 1, 1, bigMb * MB);
    const lines = [await scenario(pair, `1x${bigMb}MB`, big)];
    const small = await makeRecords(root, 'small-', smallFiles, FILES_PER_RECORD, SMALL_FILE_BYTES);
    lines.push(await scenario(pair, `${smallFiles}x10KB`, small));
    return lines;
  } finally {
    await Promise.all([a?.kill(), b?.kill()]);
    await endpoint?.close();
    const dirs = [root, ...[a, b].flatMap((i) => (i ? [i.userDir] : []))];
    if (process.env.RPS_BENCH_KEEP) say(`kept ${dirs.join(', ')}`);
    else for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchAttachments().then(
    (lines) => lines.forEach((line) => console.log(JSON.stringify(line))),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
