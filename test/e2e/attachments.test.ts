/**
 * Attachment sync between two real Node-RED processes: A's records have folders of
 * files; A's outbound flow gives each change its folder (rps-attachment-sync, send
 * mode), B's inbound flow writes the record and then the files it is handed
 * (rps-attachment-sync, receive mode) into a folder per local record. The files travel
 * by the attachment protocol (pull request, push, completion), outside the messages.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomFile } from '../../tools/attachment-flows';
import { B_TO_A } from '../../tools/flows';
import { AttachmentPair, folderHashes, storeRows as rows } from '../harness/attachment-pair';

describe('attachment sync (real Node-RED processes)', function () {
  this.timeout(300_000);
  let pair: AttachmentPair | undefined;
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rps-att-'));
  });

  afterEach(async function () {
    await pair?.stopAfter(this.currentTest);
    pair = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  async function start(origin: Parameters<typeof AttachmentPair.start>[1] = {}): Promise<AttachmentPair> {
    pair = await AttachmentPair.start(root, origin);
    return pair;
  }

  it('files of mixed sizes follow their records; nothing changed sends nothing; a changed file is sent again and a removed one removed', async () => {
    const p = await start();
    const sizes = [0, 1, 1000, 10_000, 100_000, 1_000_000, 3_000_000];
    const ids = ['r1', 'r2', 'r3'];
    const expected = new Map<string, Record<string, string>>();
    for (const id of ids) {
      const dir = join(root, 'A', id);
      mkdirSync(dir, { recursive: true });
      for (const [i, size] of sizes.entries()) await writeRandomFile(join(dir, `file ${i} é.bin`), size);
      writeFileSync(join(dir, 'notes.txt'), `notes of ${id}\n`);
      expected.set(id, await folderHashes(dir));
    }
    // The records first, without files; their folders go with the next change.
    for (const id of ids) assert.equal((await p.change('insert', { id, name: id, n: 1 })).status, 200);
    for (const id of ids) assert.equal((await p.change('update', { id, name: id, n: 2 }, join(root, 'A', id))).status, 200);
    await p.settled('the records and their files');
    for (const id of ids) assert.deepEqual(await folderHashes(join(p.filesOnB, p.localOf(id))), expected.get(id), `B's record of ${id} has every file of A's, byte for byte`);
    const fileRows = (): number => rows<{ n: number }>(p.b, 'SELECT count(*) AS n FROM rps_inbound_file')[0].n;
    const before = fileRows();
    assert.equal(before, ids.length * (sizes.length + 1), 'one transfer per file');

    // The same folders again: nothing changed, nothing is sent.
    for (const id of ids) assert.equal((await p.change('update', { id, name: id, n: 3 }, join(root, 'A', id))).status, 200);
    await p.settled('the unchanged files');
    assert.equal(fileRows(), before, 'a second sync with nothing changed transfers nothing');

    // r1: one file changed, one removed.
    const r1 = join(root, 'A', 'r1');
    writeFileSync(join(r1, 'notes.txt'), 'notes of r1, changed\n');
    rmSync(join(r1, 'file 3 é.bin'));
    assert.equal((await p.change('update', { id: 'r1', name: 'r1', n: 4 }, r1)).status, 200);
    await p.settled('the changed file');
    assert.equal(fileRows(), before + 1, 'only the changed file is sent again');
    assert.deepEqual(await folderHashes(join(p.filesOnB, p.localOf('r1'))), await folderHashes(r1), 'B has the changed file and not the removed one');
  });

  it('refuses tampered and foreign keys, and unauthenticated or malformed pull requests', async () => {
    // A second remote system on A, C, whose inbound user may call A but was given no key.
    const C_TO_A = { user: 'c-calls-a', password: 'secret-ca-0003' };
    const p = await start({
      extra: [{ id: 'rs-c', type: 'rps-remote-system', name: 'C', url: 'http://127.0.0.1:9', authType: 'none', credentials: { inboundUser: C_TO_A.user, inboundPassword: C_TO_A.password } }],
    });
    const dir = join(root, 'A', 'k1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'secret.txt'), 'for B only\n');
    assert.equal((await p.change('insert', { id: 'k1', name: 'k1', n: 1 }, dir)).status, 200);
    await p.settled('the file');
    const [{ key }] = rows<{ key: string }>(p.b, 'SELECT file_key AS key FROM rps_inbound_file');
    const pull = (credentials: { user: string; password: string } | undefined, body: unknown): Promise<Response> =>
      fetch(`${p.a.url}/rps/v1/attachments/pull`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/rps+json', ...(credentials ? { Authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}` } : {}) },
        body: JSON.stringify(body),
      });
    const results = async (res: Response): Promise<[number, string, string | undefined][]> => {
      assert.equal(res.status, 202);
      return ((await res.json()) as { results: { id: number; status: string; code?: string }[] }).results.map((r) => [r.id, r.status, r.code]);
    };
    const tampered = key.slice(0, -6) + (key.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
    assert.deepEqual(await results(await pull(B_TO_A, { protocol: 'rps/1', transfer: 'probe-1', files: [{ id: 999_001, key: tampered, offset: 0 }, { id: 999_002, key: 'rps-ak:1:not-a-key', offset: 0 }] })), [
      [999_001, 'refused', 'forged'],
      [999_002, 'refused', 'malformed'],
    ]);
    // B's valid key, handed back by another remote system: it opens for B's link only.
    assert.deepEqual(await results(await pull(C_TO_A, { protocol: 'rps/1', transfer: 'probe-2', files: [{ id: 999_003, key, offset: 0 }] })), [[999_003, 'refused', 'forged']]);
    assert.equal((await pull(undefined, { protocol: 'rps/1', transfer: 't', files: [] })).status, 401);
    assert.equal((await pull({ user: B_TO_A.user, password: 'wrong' }, { protocol: 'rps/1', transfer: 't', files: [] })).status, 401);
    const malformed = await pull(B_TO_A, { protocol: 'rps/1', files: 'all of them' });
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { error: string }).error, /transfer|files/);
  });

  it('makes names safe or refuses them with a reason: ../../etc/passwd, a NUL, CON, a 10,000-character name', async () => {
    const p = await start();
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
    const res = await p.change('insert', { id: 'n1', name: 'n1', n: 1 }, entries);
    assert.equal(res.status, 200, res.text);
    await p.settled('the files');
    assert.deepEqual(Object.keys(await folderHashes(join(p.filesOnB, p.localOf('n1')))), ['_.._etc_passwd', '_CON', 'plain.txt'], 'unsafe names stored under safe ones, inside the record folder');
    assert.ok(!existsSync(join(root, 'etc')), 'nothing left the folder');
    const refused = rows<{ status: string; last_error: string }>(p.b, "SELECT status, last_error FROM rps_inbound_file WHERE status = 'refused'");
    assert.equal(refused.length, 1);
    assert.match(refused[0].last_error, /control character/);
    const onA = rows<{ reason: string }>(p.a, "SELECT reason FROM rps_attachment_out WHERE status = 'refused'");
    assert.deepEqual(onA.map((r) => r.reason), ['name'], 'the 10,000-character name is refused at the origin, with a reason');
    assert.ok(p.a.log.some((line) => /not sent: its name is empty or longer than 256/.test(line)), 'and reported');
  });
});
