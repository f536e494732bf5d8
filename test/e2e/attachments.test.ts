/**
 * Attachment sync between two real Node-RED processes: A's records have folders of
 * files; A's outbound flow gives each change its folder (rps-attachment-sync, send
 * mode), B's inbound flow writes the record and then the files it is handed
 * (rps-attachment-sync, receive mode) into a folder per local record. The files travel
 * by the attachment protocol (pull request, push, completion), outside the messages.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FS_SETTINGS, originFlow, receiverWithFiles, writeRandomFile } from '../../tools/attachment-flows';
import { B_TO_A } from '../../tools/flows';
import { freePort, NodeRedInstance } from '../../tools/nodered';
import { postChange, queueCounts, untilStores } from '../harness/pair';
import { RecordsServer } from '../harness/records';

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The rows of a table in an instance's store. */
function rows<T>(instance: NodeRedInstance, sql: string): T[] {
  const db = new Database(join(instance.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** The files of a folder with their SHA-256, by name. */
function folderHashes(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).map((name) => [name, sha256(join(dir, name))]));
}

describe('attachment sync (real Node-RED processes)', function () {
  this.timeout(300_000);
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  let records: RecordsServer | undefined;
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rps-att-'));
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const i of [a, b]) if (i) console.log(`--- ${i.name} log ---\n${i.log.slice(-40).join('\n')}`);
    }
    await Promise.all([a?.kill(), b?.kill()]);
    await records?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  async function start(origin: Parameters<typeof originFlow>[1] = {}): Promise<{ a: NodeRedInstance; b: NodeRedInstance; onB: RecordsServer; filesOnB: string }> {
    records = new RecordsServer();
    await records.start();
    const [portA, portB] = [await freePort(), await freePort()];
    [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'A', port: portA, settingsCode: FS_SETTINGS }),
      NodeRedInstance.start({ name: 'B', port: portB, settingsCode: FS_SETTINGS }),
    ]);
    const filesOnB = join(root, 'B');
    await a.deploy(originFlow(b.url, origin));
    await b.deploy(receiverWithFiles(a.url, records.url, filesOnB));
    return { a, b, onB: records, filesOnB };
  }

  /** Settled: no message waits on either side, and no file of B is still on its way. */
  async function settled(what: string, x: NodeRedInstance, y: NodeRedInstance): Promise<void> {
    await untilStores(
      what,
      () =>
        [x, y].every((i) => ['rps_outbound', 'rps_inbound'].every((t) => { const c = queueCounts(i, t as 'rps_outbound'); return !c.ready && !c.processing; })) &&
        rows<{ n: number }>(y, "SELECT count(*) AS n FROM rps_inbound_file WHERE status IN ('wanted', 'requested', 'staged', 'processing')")[0].n === 0,
      120_000,
    );
  }

  it('files of mixed sizes follow their records; nothing changed sends nothing; a changed file is sent again and a removed one removed', async () => {
    const { a, b, onB, filesOnB } = await start();
    const sizes = [0, 1, 1000, 10_000, 100_000, 1_000_000, 3_000_000];
    const ids = ['r1', 'r2', 'r3'];
    const expected = new Map<string, Record<string, string>>();
    for (const id of ids) {
      const dir = join(root, 'A', id);
      mkdirSync(dir, { recursive: true });
      for (const [i, size] of sizes.entries()) await writeRandomFile(join(dir, `file ${i} é.bin`), size);
      writeFileSync(join(dir, 'notes.txt'), `notes of ${id}\n`);
      expected.set(id, folderHashes(dir));
    }
    for (const id of ids) assert.equal(await postChange(a, 'insert', { id, name: id, n: 1 }, {}, ), 200);
    // postChange sends no attachments: the record's folder goes with the next change.
    for (const id of ids) {
      const res = await fetch(`${a.url}/change`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation: 'update', record: { id, name: id, n: 2 }, attachments: join(root, 'A', id) }) });
      assert.equal(res.status, 200, await res.text());
    }
    await settled('the records and their files', a, b);
    const localOf = (id: string): string => onB.bySource.get(`item/${id}`) as string;
    for (const id of ids) assert.deepEqual(folderHashes(join(filesOnB, localOf(id))), expected.get(id), `B's record of ${id} has every file of A's, byte for byte`);
    const fileRows = (): number => rows<{ n: number }>(b, 'SELECT count(*) AS n FROM rps_inbound_file')[0].n;
    const before = fileRows();
    assert.equal(before, ids.length * (sizes.length + 1), 'one transfer per file');

    // The same folders again: nothing changed, nothing is sent.
    for (const id of ids) {
      const res = await fetch(`${a.url}/change`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation: 'update', record: { id, name: id, n: 3 }, attachments: join(root, 'A', id) }) });
      assert.equal(res.status, 200);
    }
    await settled('the unchanged files', a, b);
    assert.equal(fileRows(), before, 'a second sync with nothing changed transfers nothing');

    // r1: one file changed, one removed.
    const r1 = join(root, 'A', 'r1');
    writeFileSync(join(r1, 'notes.txt'), 'notes of r1, changed\n');
    rmSync(join(r1, 'file 3 é.bin'));
    const res = await fetch(`${a.url}/change`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation: 'update', record: { id: 'r1', name: 'r1', n: 4 }, attachments: r1 }) });
    assert.equal(res.status, 200);
    await untilStores('the removal on B', () => !existsSync(join(filesOnB, localOf('r1'), 'file 3 é.bin')), 60_000);
    await settled('the changed file', a, b);
    assert.equal(fileRows(), before + 1, 'only the changed file is sent again');
    assert.deepEqual(folderHashes(join(filesOnB, localOf('r1'))), folderHashes(r1), 'B has the changed file and not the removed one');
  });

  it('refuses tampered and foreign keys, and unauthenticated or malformed pull requests', async () => {
    const { a, b } = await start();
    const dir = join(root, 'A', 'k1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'secret.txt'), 'for B only\n');
    const res = await fetch(`${a.url}/change`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation: 'insert', record: { id: 'k1', name: 'k1', n: 1 }, attachments: dir }) });
    assert.equal(res.status, 200);
    await settled('the file', a, b);
    const [{ key }] = rows<{ key: string }>(b, 'SELECT file_key AS key FROM rps_inbound_file');
    const pull = (credentials: { user: string; password: string } | undefined, body: unknown): Promise<Response> =>
      fetch(`${a.url}/rps/v1/attachments/pull`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/rps+json', ...(credentials ? { Authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}` } : {}) },
        body: JSON.stringify(body),
      });
    const tampered = key.slice(0, -6) + (key.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
    const answer = await pull(B_TO_A, { protocol: 'rps/1', transfer: 'probe-1', files: [{ id: 999_001, key: tampered, offset: 0 }, { id: 999_002, key: 'rps-ak:1:not-a-key', offset: 0 }] });
    assert.equal(answer.status, 202);
    const { results } = (await answer.json()) as { results: { id: number; status: string; code?: string }[] };
    assert.deepEqual(results.map((r) => [r.id, r.status, r.code]), [[999_001, 'refused', 'forged'], [999_002, 'refused', 'malformed']]);
    assert.equal((await pull(undefined, { protocol: 'rps/1', transfer: 't', files: [] })).status, 401);
    assert.equal((await pull({ user: B_TO_A.user, password: 'wrong' }, { protocol: 'rps/1', transfer: 't', files: [] })).status, 401);
    const malformed = await pull(B_TO_A, { protocol: 'rps/1', files: 'all of them' });
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { error: string }).error, /transfer|files/);
  });

  it('makes names safe or refuses them with a reason: ../../etc/passwd, a NUL, CON, a 10,000-character name', async () => {
    const { a, b, onB, filesOnB } = await start();
    const src = join(root, 'A-src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'content.txt'), 'same bytes\n');
    const entries = [
      { path: join(src, 'content.txt'), fileName: '../../etc/passwd', id: 'p' },
      { path: join(src, 'content.txt'), fileName: 'a\u0000b.txt', id: 'nul' },
      { path: join(src, 'content.txt'), fileName: 'CON', id: 'con' },
      { path: join(src, 'content.txt'), fileName: `${'x'.repeat(10_000)}.txt`, id: 'long' },
      { path: join(src, 'content.txt'), fileName: 'plain.txt', id: 'plain' },
    ];
    const res = await fetch(`${a.url}/change`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation: 'insert', record: { id: 'n1', name: 'n1', n: 1 }, attachments: entries }) });
    assert.equal(res.status, 200, await res.text());
    await settled('the files', a, b);
    const local = onB.bySource.get('item/n1') as string;
    assert.deepEqual(Object.keys(folderHashes(join(filesOnB, local))).sort(), ['_.._etc_passwd', '_CON', 'plain.txt'].sort(), 'unsafe names stored under safe ones, inside the record folder');
    assert.ok(!existsSync(join(root, 'etc')), 'nothing left the folder');
    const refused = rows<{ file_name: string; status: string; last_error: string }>(b, "SELECT file_name, status, last_error FROM rps_inbound_file WHERE status = 'refused'");
    assert.equal(refused.length, 1);
    assert.match(refused[0].last_error, /control character/);
    const onA = rows<{ status: string; reason: string }>(a, "SELECT status, reason FROM rps_attachment_out WHERE status = 'refused'");
    assert.deepEqual(onA.map((r) => r.reason), ['name'], 'the 10,000-character name is refused at the origin, with a reason');
    assert.ok(a.log.some((line) => /not sent: its name is empty or longer than 256/.test(line)), 'and reported');
  });
});
