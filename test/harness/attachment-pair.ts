/**
 * Two real Node-RED processes for the attachment tests: A the origin (its records'
 * folders go with their changes), B the receiver (it writes the record, then each file
 * it is handed into `<root>/B/<local id>/`), plus B's records server; and what the tests
 * read: store rows, folders, peak memory.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FS_SETTINGS, originFlow, receiverWithFiles } from '../../tools/attachment-flows';
import { freePort, NodeRedInstance } from '../../tools/nodered';
import { FaultProxy } from './fault-proxy';
import { queueCounts, untilStores } from './pair';
import { RecordsServer } from './records';

/** The rows of a query on an instance's store (read-only, while it runs). */
export function storeRows<T>(instance: NodeRedInstance, sql: string): T[] {
  const db = new Database(join(instance.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** A file's SHA-256, read as a stream. */
export async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** The files of a folder with their SHA-256, by name ({} when there is no folder). */
export async function folderHashes(dir: string): Promise<Record<string, string>> {
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = await fileHash(join(dir, name));
  return out;
}

/** Samples the resident memory of processes every 50 ms; `peak` is the most seen per name, in MB. */
export class RssSampler {
  readonly peak: Record<string, number> = {};
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: Record<string, () => number | undefined>) {
    this.timer = setInterval(() => this.sample(), 50);
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const id = pid();
      if (id === undefined) continue;
      let status: string;
      try {
        status = readFileSync(`/proc/${id}/status`, 'utf8');
      } catch {
        continue; // between a kill and the next launch
      }
      const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      this.peak[name] = Math.max(this.peak[name] ?? 0, Math.round(kb / 1024));
    }
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

export class AttachmentPair {
  private constructor(
    readonly a: NodeRedInstance,
    readonly b: NodeRedInstance,
    readonly records: RecordsServer,
    /** Where B's flow writes each record's files. */
    readonly filesOnB: string,
    /** Between A and B (A's pushes go through it) when started with a link speed. */
    readonly proxy?: FaultProxy,
  ) {}

  /** `linkBytesPerSec`: A reaches B through a proxy that passes request bodies no faster (its pushes take time to interrupt). */
  static async start(root: string, origin: Parameters<typeof originFlow>[1] = {}, linkBytesPerSec?: number): Promise<AttachmentPair> {
    const records = new RecordsServer();
    await records.start();
    const [portA, portB] = [await freePort(), await freePort()];
    const [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'A', port: portA, settingsCode: FS_SETTINGS }),
      NodeRedInstance.start({ name: 'B', port: portB, settingsCode: FS_SETTINGS }),
    ]);
    const filesOnB = join(root, 'B');
    const proxy = linkBytesPerSec === undefined ? undefined : await FaultProxy.start(b.url);
    if (proxy) proxy.bodyBytesPerSec = linkBytesPerSec;
    await a.deploy(originFlow(proxy?.url ?? b.url, origin));
    await b.deploy(receiverWithFiles(a.url, records.url, filesOnB));
    return new AttachmentPair(a, b, records, filesOnB, proxy);
  }

  /** Posts a change of A's record with its attachments (a folder path or a list of entries); resolves with the HTTP status and text. */
  async change(operation: string, record: Record<string, unknown>, attachments?: unknown): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.a.url}/change`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation, record, attachments }) });
    return { status: res.status, text: await res.text() };
  }

  /** B's local record id of A's record `id`. */
  localOf(id: string): string {
    return this.records.bySource.get(`item/${id}`) as string;
  }

  /** Settled: no message waits on either side, and no file of B is still on its way. */
  async settled(what: string, timeoutMs = 120_000): Promise<void> {
    await untilStores(
      what,
      () =>
        [this.a, this.b].every((i) => (['rps_outbound', 'rps_inbound'] as const).every((t) => { const c = queueCounts(i, t); return !c.ready && !c.processing; })) &&
        storeRows<{ n: number }>(this.b, "SELECT count(*) AS n FROM rps_inbound_file WHERE status IN ('wanted', 'requested', 'staged', 'processing')")[0].n === 0,
      timeoutMs,
    );
  }

  /** For an afterEach: prints both logs' ends when the test failed, then stops everything. */
  async stopAfter(test: Mocha.Test | undefined): Promise<void> {
    if (test?.state === 'failed') for (const i of [this.a, this.b]) console.log(`--- ${i.name} log ---\n${i.log.slice(-40).join('\n')}`);
    await Promise.all([this.a.kill(), this.b.kill()]);
    await this.proxy?.stop();
    await this.records.stop();
  }
}
