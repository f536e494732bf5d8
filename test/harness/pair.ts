/**
 * Two Node-RED instances wired to each other with the test flows, plus the records
 * server the receiver writes to, and helpers to drive and inspect them.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { FaultProxy, type FaultPlan } from './fault-proxy';
import { A_TO_B, B_TO_A, receiverFlow, senderFlow, type SideOptions } from '../../tools/flows';
import { freePort, NodeRedInstance } from '../../tools/nodered';
import { firstChangeReceivedSince } from '../../tools/store-file';
import assert from 'node:assert/strict';
import { assertRepeatsExplained, RecordsServer } from './records';

export interface PairOptions {
  receiverTimeout?: number;
  maxParallel?: number;
  echo?: boolean;
  /** Seconds between runs of an rps-queue-retry on B's inbound queue; none without. */
  retryInterval?: number;
  /** A reaches B through a FaultProxy with this plan (see `Pair.proxy`); directly without. */
  faults?: FaultPlan;
  /** Remote-system settings of A (for B) and of B (for A): auth modes, activation. */
  remoteA?: SideOptions['remote'];
  remoteB?: SideOptions['remote'];
}

export class Pair {
  constructor(
    readonly a: NodeRedInstance,
    readonly b: NodeRedInstance,
    readonly records: RecordsServer,
    /** Between A and B when the pair was started with `faults`: what it injected. */
    readonly proxy?: FaultProxy,
  ) {}

  static async start(options: PairOptions = {}): Promise<Pair> {
    const records = new RecordsServer();
    await records.start();
    const [portA, portB] = [await freePort(), await freePort()];
    const [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'A', port: portA, echo: options.echo }),
      NodeRedInstance.start({ name: 'B', port: portB, echo: options.echo }),
    ]);
    const proxy = options.faults ? await FaultProxy.start(b.url, options.faults) : undefined;
    await a.deploy(senderFlow({ remoteUrl: proxy?.url ?? b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, remote: options.remoteA }));
    await b.deploy(
      receiverFlow({
        remoteUrl: a.url,
        remoteName: 'A',
        outbound: B_TO_A,
        inbound: A_TO_B,
        recordsUrl: records.url,
        timeout: options.receiverTimeout,
        maxParallel: options.maxParallel,
        retryInterval: options.retryInterval,
        remote: options.remoteB,
      }),
    );
    return new Pair(a, b, records, proxy);
  }

  /** For an afterEach: prints both logs' ends when the test failed, then stops the pair. */
  async stopAfter(test: Mocha.Test | undefined): Promise<void> {
    if (test?.state === 'failed') {
      console.log('--- A log ---\n' + this.a.log.slice(-40).join('\n'));
      console.log('--- B log ---\n' + this.b.log.slice(-40).join('\n'));
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    await Promise.all([this.a.kill(), this.b.kill()]);
    await this.proxy?.stop();
    await this.records.stop();
  }

  /** Posts one change to A; resolves with A's HTTP status (200 = durably queued). */
  change(operation: string, record: Record<string, unknown>): Promise<number> {
    return postChange(this.a, operation, record);
  }
}

/** How to reach a sender's `POST /change` when its HTTP nodes are not at `/` or need credentials or headers. */
export interface ChangeRoute {
  /** The sender's httpNodeRoot, without the trailing slash (e.g. `/api`). */
  root?: string;
  headers?: Record<string, string>;
}

/** Posts one change to a sender's `POST /change`; resolves with its HTTP status (200 = durably queued). */
export async function postChange(sender: NodeRedInstance, operation: string, record: Record<string, unknown>, route: ChangeRoute = {}): Promise<number> {
  const res = await fetch(`${sender.url}${route.root ?? ''}/change`, {
    method: 'POST',
    headers: { ...route.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ operation, record }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Where `stream` posts changes: a Pair's A, or anything that routes them to senders. */
export interface ChangeTarget {
  change(operation: string, record: Record<string, unknown>): Promise<number>;
}

export type Counts = Record<string, number>;

/** Reads a queue table of an instance's store (read-only; the instance may be running). */
export function queueCounts(instance: NodeRedInstance, table: 'rps_outbound' | 'rps_inbound', where = '1 = 1'): Counts {
  const db = new Database(join(instance.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT status, count(*) AS n FROM ${table} WHERE ${where} GROUP BY status`).all() as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  } finally {
    db.close();
  }
}

/**
 * Seconds from `answering` (the instance serves again after an outage) until the first
 * change from its remote was stored in its inbound queue (at or after `launched`, when it
 * was started again): how long the sender took to use it again. 0 when a change came
 * before the start was even reported; undefined when none came.
 */
export function secondsToRecover(instance: NodeRedInstance, launched: number, answering: number): number | undefined {
  const at = firstChangeReceivedSince(instance.userDir, launched);
  return at === undefined ? undefined : Math.max(0, at - answering) / 1000;
}

/** A plan of changes over `records` records, `perRecord` changes each (insert, then updates). */
export interface PlannedChange {
  operation: 'insert' | 'update' | 'delete';
  record: { id: string; name: string; n: number };
}

export function plan(records: number, perRecord: number, prefix = 'r'): PlannedChange[][] {
  const rounds: PlannedChange[][] = [];
  for (let k = 0; k < perRecord; k++) {
    const round: PlannedChange[] = [];
    for (let i = 0; i < records; i++) {
      round.push({ operation: k === 0 ? 'insert' : 'update', record: { id: `${prefix}${i}`, name: `${prefix}${i} v${k}`, n: k } });
    }
    rounds.push(round);
  }
  return rounds;
}

/**
 * Sends rounds of changes: all changes of a round concurrently (`concurrency` at a
 * time), one round after the other, so changes of one record are captured in order.
 * `onSent` runs after each accepted change.
 */
export async function stream(pair: ChangeTarget, rounds: PlannedChange[][], concurrency: number, onSent?: (n: number) => Promise<void> | void): Promise<number> {
  let sent = 0;
  for (const round of rounds) {
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < round.length && !failed) {
        const change = round[next++];
        // A refused request (A being restarted) is sent again, as any client would. So is a
        // 404 for a while: a restarted Node-RED serves HTTP before its flows (and their
        // http in routes) have started.
        let notFoundSince: number | undefined;
        for (;;) {
          const status = await pair.change(change.operation, change.record).catch(() => 0);
          if (status === 200) break;
          if (status === 404) notFoundSince ??= Date.now();
          const starting = status === 404 && Date.now() - (notFoundSince ?? 0) < 30_000;
          if (status !== 0 && status !== 503 && !starting) {
            failed = true;
            throw new Error(`A answered ${status} to ${change.operation} ${change.record.id}`);
          }
          if (failed) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        sent += 1;
        await onSent?.(sent);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  return sent;
}

/**
 * Re-reads state only the stores know (queue rows) until `done` holds. Used after an
 * event-driven wait has established that the changes arrived: the remaining
 * bookkeeping (a sender recording the answer) follows within moments.
 */
export async function untilStores(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The checks every fault test ends with, on the records server B writes to. */
export function assertExactlyOnceInOrder(records: RecordsServer, rounds: PlannedChange[][]): void {
  const expected = rounds.flat().length;
  assert.equal(records.applies.length, expected, 'every change applied');
  const ids = new Set(records.applies.map((a) => a.messageId));
  assert.equal(ids.size, expected, 'no message applied twice');
  assert.deepEqual(records.outOfOrder, [], 'changes of each record applied in sequence order');
  assertRepeatsExplained(records);
  const last = rounds[rounds.length - 1];
  for (const change of last) {
    const id = records.bySource.get(`item/${change.record.id}`);
    assert.ok(id, `record ${change.record.id} exists on B`);
    const stored = records.records.get(id);
    assert.deepEqual(stored?.fields, { name: change.record.name, n: change.record.n, from: 'A' }, `final state of ${change.record.id}`);
  }
}
