/**
 * The "Attachments" example on two real Node-RED processes, as its tab info says it
 * works: the same flow imported on both, each with its own RPS_FILES folder. A record's
 * folder follows it both ways when `POST /rps-example/records/<id>/sync` is called; the
 * files that came from the other side are not sent back, and a sync with nothing
 * changed transfers nothing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachmentsExample } from '../../scripts/examples';
import { type FlowNode, freePort, NodeRedInstance } from '../../tools/nodered';
import { storeRows as rows } from '../harness/attachment-pair';
import { queueCounts, untilStores } from '../harness/pair';

interface Credentials {
  user: string;
  password: string;
}

/**
 * The example as an operator deploys it: the remote system's URL and both directions'
 * credentials filled in (as scripts/demo-setup flowsFor does), and the tab's RPS_FILES
 * set to this instance's folder.
 */
function exampleFor(otherUrl: string, files: string, outbound: Credentials, inbound: Credentials): FlowNode[] {
  return attachmentsExample().map((n) => {
    if (n.type === 'tab') return { ...n, env: [{ name: 'RPS_FILES', value: files, type: 'str' }] };
    if (n.type === 'rps-remote-system') {
      return { ...n, url: otherUrl, credentials: { user: outbound.user, password: outbound.password, inboundUser: inbound.user, inboundPassword: inbound.password } };
    }
    return n;
  });
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The files of a folder with their SHA-256, by name ({} when there is no folder). */
function folderHashes(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [name, sha256(join(dir, name))]),
  );
}

const same = (x: Record<string, string>, y: Record<string, string>): boolean => JSON.stringify(x) === JSON.stringify(y);

const count = (instance: NodeRedInstance, table: string): number => rows<{ n: number }>(instance, `SELECT count(*) AS n FROM ${table}`)[0].n;

/** What shows that a sync moved anything: its queues, the files announced and the files received. */
function footprint(instance: NodeRedInstance): Record<string, number> {
  return Object.fromEntries(['rps_outbound', 'rps_inbound', 'rps_attachment_out', 'rps_inbound_file'].map((t) => [t, count(instance, t)]));
}

/** An instance's queues and attachment rows, for the report of a failed run. */
function storeText(instance: NodeRedInstance): string {
  const queries = [
    'SELECT status, count(*) AS n FROM rps_outbound GROUP BY status',
    'SELECT status, count(*) AS n FROM rps_inbound GROUP BY status',
    'SELECT record_id, attachment_id, file_name, status, reason FROM rps_attachment_out',
    'SELECT target_id, file_name, status, attempts, last_error FROM rps_inbound_file',
  ];
  return queries.map((q) => `${q}\n${rows<object>(instance, q).map((r) => `  ${JSON.stringify(r)}`).join('\n')}`).join('\n');
}

/** Nothing waits on either side: no message queued or in progress, no file on its way. */
function idle(instances: NodeRedInstance[]): boolean {
  return instances.every(
    (i) =>
      (['rps_outbound', 'rps_inbound'] as const).every((t) => {
        const c = queueCounts(i, t);
        return !c.ready && !c.processing;
      }) && rows<{ n: number }>(i, "SELECT count(*) AS n FROM rps_inbound_file WHERE status IN ('wanted', 'requested', 'staged', 'processing')")[0].n === 0,
  );
}

describe('"Attachments" example (real Node-RED processes, both ways)', function () {
  this.timeout(300_000);
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  let root: string;
  let filesA: string;
  let filesB: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'rps-att-example-'));
    filesA = join(root, 'A');
    filesB = join(root, 'B');
    mkdirSync(filesA);
    mkdirSync(filesB);
    const aCallsB = { user: 'node-red-a', password: randomBytes(18).toString('base64url') };
    const bCallsA = { user: 'node-red-b', password: randomBytes(18).toString('base64url') };
    [a, b] = await Promise.all([NodeRedInstance.start({ name: 'att-A', port: await freePort() }), NodeRedInstance.start({ name: 'att-B', port: await freePort() })]);
    await a.deploy(exampleFor(b.url, filesA, aCallsB, bCallsA));
    await b.deploy(exampleFor(a.url, filesB, bCallsA, aCallsB));
    await Promise.all([a.remoteSystemLoaded('attachments-rs'), b.remoteSystemLoaded('attachments-rs')]);
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const i of [a, b]) if (i) console.log(`--- ${i.name} log ---\n${i.log.slice(-60).join('\n')}\n--- ${i.name} store ---\n${storeText(i)}`);
    console.log(`--- folders ---\n${JSON.stringify({ A: folderHashes(join(filesA, 'r1')), B: folderHashes(join(filesB, 'r1')) }, null, 1)}`);
  });

  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function sync(instance: NodeRedInstance, id: string): Promise<void> {
    const res = await fetch(`${instance.url}/rps-example/records/${encodeURIComponent(id)}/sync`, { method: 'POST' });
    assert.equal(res.status, 202, `${instance.name}: ${await res.text()}`);
  }

  // The steps run in order on the same record r1 (each starts from where the last ended).
  const r1A = (): string => join(filesA, 'r1');
  const r1B = (): string => join(filesB, 'r1');
  const settled = (): boolean => idle([a, b].filter((i): i is NodeRedInstance => i !== undefined));
  /** B's folder after its edits: what A's folder must end as. */
  let onB: Record<string, string> = {};

  it("A's folder goes to B: every file, byte for byte, into B's RPS_FILES/r1", async () => {
    assert.ok(a && b);
    mkdirSync(r1A());
    writeFileSync(join(r1A(), 'read me.txt'), 'the first version\n');
    writeFileSync(join(r1A(), 'meeting notes.txt'), 'notes of the meeting\n');
    writeFileSync(join(r1A(), 'a photo.bin'), randomBytes(1024 * 1024));
    const sent = folderHashes(r1A());
    // r1 is A's id: B's new record takes it (rps.source.id), so B's folder is r1 too.
    await sync(a, 'r1');
    await untilStores("A's files in B's folder", () => settled() && same(folderHashes(r1B()), sent), 120_000);
    assert.deepEqual(folderHashes(r1B()), sent);
    assert.equal(count(b, 'rps_inbound_file'), 3, 'B received each file once');
  });

  it("B's changed and added files come to A, and A's own files are not sent back", async () => {
    assert.ok(a && b);
    const origin = a;
    const there = r1B();
    writeFileSync(join(there, 'read me.txt'), 'the second version, from B\n');
    writeFileSync(join(there, 'added on B.txt'), 'a new file\n');
    rmSync(join(there, 'meeting notes.txt'));
    onB = folderHashes(there);
    assert.equal(count(a, 'rps_inbound_file'), 0);
    await sync(b, 'r1');
    await untilStores("B's changed and added files on A", () => settled() && count(origin, 'rps_inbound_file') >= 2, 120_000);
    const here = folderHashes(r1A());
    assert.deepEqual([here['read me.txt'], here['added on B.txt'], here['a photo.bin']], [onB['read me.txt'], onB['added on B.txt'], onB['a photo.bin']]);
    const fromB = rows<{ file_name: string; hash: string; status: string }>(a, 'SELECT file_name, hash, status FROM rps_inbound_file ORDER BY file_name');
    assert.deepEqual(
      fromB.map((r) => [r.file_name, r.hash, r.status]),
      [
        ['added on B.txt', onB['added on B.txt'], 'stored'],
        ['read me.txt', onB['read me.txt'], 'stored'],
      ],
      'only the changed and added files came to A: the photo that came from A was not sent back',
    );
  });

  it("the file B removed (one that came from A) is removed from A's folder", async () => {
    assert.ok(a && b);
    // Step 2's sync has passed both sides (idle): its removal, if any, was handed to the flow by now.
    await untilStores("the removal on A", () => settled() && same(folderHashes(r1A()), onB), 30_000);
    assert.deepEqual(folderHashes(r1A()), onB, "A's folder ends identical to B's: changed, added, removed");
  });

  it('a sync on A with nothing changed transfers nothing and leaves both folders as they are', async () => {
    assert.ok(a && b);
    const beforeA = folderHashes(r1A());
    const before = { a: footprint(a), b: footprint(b) };
    // The 202 comes once send has queued the message (if the capture passed it): idle then means it has passed B.
    await sync(a, 'r1');
    await untilStores('the sync of an unchanged folder', () => settled(), 120_000);
    const after = { a: footprint(a), b: footprint(b) };
    // The record's message may still travel (A's outbound, B's inbound): no file is announced or received.
    const files = (f: Record<string, number>): number[] => [f.rps_attachment_out, f.rps_inbound_file];
    assert.deepEqual({ a: files(after.a), b: files(after.b) }, { a: files(before.a), b: files(before.b) }, 'no file announced or received');
    // The message of this sync (A's last change message) carries no file and announces no removal.
    const [last] = rows<{ payload: string }>(a, "SELECT payload FROM rps_outbound WHERE kind = 'change' ORDER BY id DESC LIMIT 1");
    const message = JSON.parse(last.payload) as { attachments?: unknown[]; removedAttachments?: unknown[] };
    assert.ok(Array.isArray(message.attachments), 'the stored payload is the message as sent');
    assert.deepEqual([message.attachments ?? [], message.removedAttachments ?? []], [[], []], 'A announced no file and no removal');
    assert.deepEqual(folderHashes(r1A()), beforeA, "A's folder is unchanged");
    assert.deepEqual(folderHashes(r1B()), onB, "B's folder is unchanged");
  });
});
