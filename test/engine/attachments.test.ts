/**
 * The attachment service of one store, as the origin: what a flow's files become
 * (staged once, registered, the metadata a message carries, deltas, limits), and how a
 * pull request's keys are judged: a key opens for the remote system it was made for,
 * until it expires, and only for an attachment that is registered. A real SQLite store
 * and staging folder; the clock is the test's. The remote systems are stand-ins with
 * no reachable URL: pushes are not what these tests look at.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AttachmentStaging } from '../../src/engine/attachment-staging';
import { AttachmentService, type OutgoingFile, type PrepareRequest } from '../../src/engine/attachments';
import type { RemoteSystem } from '../../src/engine/remote';
import { StoreSecrets } from '../../src/engine/secrets';
import { SqliteStore } from '../../src/store/sqlite';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 11, 7);

/** A remote system as the pull check sees it: a URL to push to (nothing listens there), active, not paused. */
function standInRemote(): RemoteSystem {
  return { url: 'http://127.0.0.1:9', paused: false, state: 'active' } as unknown as RemoteSystem;
}

describe('engine/attachments: the origin (keys, limits, deltas)', () => {
  let dir: string;
  let store: SqliteStore;
  let service: AttachmentService;
  let now = T0;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rps-att-engine-'));
    store = new SqliteStore(join(dir, 'store.sqlite'));
    now = T0;
    const remotes = new Map([
      ['rs-b', standInRemote()],
      ['rs-c', standInRemote()],
    ]);
    service = new AttachmentService({
      store,
      staging: new AttachmentStaging(join(dir, 'staging')),
      secrets: StoreSecrets.clear(),
      // Each remote system is its own link here.
      keyFor: async (id) => `link-of-${id}`,
      remotes: () => remotes,
      inboundHeld: () => false,
      now: () => now,
    });
    // Pushes to the stand-ins fail: said as faults, which these tests do not look at.
    service.on('fault', () => undefined);
  });

  afterEach(async () => {
    await service.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (files: OutgoingFile[], o: Partial<PrepareRequest> = {}): PrepareRequest => ({
    remoteSystem: 'rs-b',
    table: 'incident',
    recordId: 'INC1',
    files,
    strategy: 'deltas',
    removals: true,
    limits: { maxBytes: 0, extensions: [] },
    keyLifetimeMs: 7 * DAY,
    ...o,
  });
  const file = (name: string, content: OutgoingFile['content']): OutgoingFile => ({ id: name, fileName: name, contentType: 'text/plain', content });
  /** A sync whose message is queued: what it carries is recorded as sent (rps-send does so). */
  const sync = async (req: PrepareRequest): Promise<Awaited<ReturnType<AttachmentService['prepare']>>> => {
    const prepared = await service.prepare(req);
    await service.recordSent(prepared.toRecord);
    return prepared;
  };

  it('stages each file once by its hash and returns its metadata with a key; a second sync with nothing changed carries nothing', async () => {
    const path = join(dir, 'on-disk.txt');
    writeFileSync(path, 'same bytes');
    const first = await sync(request([file('a.txt', Buffer.from('same bytes')), file('b.txt', path), file('c.txt', Readable.from([Buffer.from('other')]))]));
    assert.deepEqual(
      first.attachments.map((a) => [a.fileName, a.size, a.hash.length]),
      [
        ['a.txt', 10, 64],
        ['b.txt', 10, 64],
        ['c.txt', 5, 64],
      ],
    );
    assert.equal(first.attachments[0].hash, first.attachments[1].hash, 'the same bytes have the same hash');
    assert.ok(first.attachments.every((a) => a.key.startsWith('rps-ak:1:')));
    assert.equal(readdirSync(join(dir, 'staging', 'out')).length, 2, 'content is kept once per hash');
    const second = await sync(request([file('a.txt', Buffer.from('same bytes')), file('b.txt', path), file('c.txt', Buffer.from('other'))]));
    assert.deepEqual([second.attachments, second.removed], [[], []]);
    const third = await sync(request([file('a.txt', Buffer.from('changed')), file('b.txt', path)]));
    assert.deepEqual(third.attachments.map((a) => a.fileName), ['a.txt']);
    assert.deepEqual(third.removed.map((r) => r.fileName), ['c.txt'], 'the file the record no longer has is announced once');
    assert.deepEqual((await sync(request([file('a.txt', Buffer.from('changed')), file('b.txt', path)]))).removed, []);
  });

  it('counts files as sent only once their message is queued: a message never queued leaves them to the next sync', async () => {
    const lost = await service.prepare(request([file('a.txt', Buffer.from('hello'))]));
    assert.equal(lost.attachments.length, 1);
    // rps-send never queued it (a crash, a refusal): nothing was recorded, so the next sync carries the file again.
    const again = await sync(request([file('a.txt', Buffer.from('hello'))]));
    assert.deepEqual(again.attachments.map((a) => a.fileName), ['a.txt']);
    assert.deepEqual((await sync(request([file('a.txt', Buffer.from('hello'))]))).attachments, []);
  });

  it('keeps back files over the size limit, with another extension, or with a name no message can carry: recorded, never staged', async () => {
    const big = Readable.from([Buffer.alloc(600), Buffer.alloc(600)]);
    const prepared = await service.prepare(
      request([file('big.pdf', big), file('script.exe', Buffer.from('x')), file(`${'n'.repeat(300)}.pdf`, Buffer.from('x')), file('ok.pdf', Buffer.from('fine'))], {
        limits: { maxBytes: 1000, extensions: ['pdf'] },
      }),
    );
    assert.deepEqual(prepared.attachments.map((a) => a.fileName), ['ok.pdf']);
    assert.deepEqual(prepared.refused.map((r) => r.reason), ['too-large', 'extension', 'name']);
    assert.equal(readdirSync(join(dir, 'staging', 'out')).length, 1, 'only the file that may go is kept');
    const rows = await store.attachmentsOut.ofRecord('link-of-rs-b', 'incident', 'INC1');
    assert.deepEqual(rows.filter((r) => r.status === 'refused').map((r) => r.reason).sort(), ['extension', 'name', 'too-large']);
  });

  it('accepts a key for its own remote system before it expires; refuses it altered, from another remote system, after expiry, or for content no longer kept', async () => {
    const [meta] = (await sync(request([file('a.txt', Buffer.from('hello'))], { keyLifetimeMs: DAY }))).attachments;
    const pull = async (remote: string, key: string): Promise<unknown[]> => {
      const answer = await service.pull(remote, { transfer: `t-${Math.random()}`, files: [{ id: 1, key, offset: 0 }] });
      assert.ok('results' in answer, JSON.stringify(answer));
      return answer.results.map((r) => (r.status === 'accepted' ? r.status : r.code));
    };
    assert.deepEqual(await pull('rs-b', meta.key), ['accepted']);
    const altered = meta.key.slice(0, -4) + (meta.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.deepEqual(await pull('rs-b', altered), ['forged']);
    assert.deepEqual(await pull('rs-c', meta.key), ['forged'], "another remote system's key");
    now = T0 + DAY + 1;
    assert.deepEqual(await pull('rs-b', meta.key), ['expired']);
    now = T0;
    await service.staging.removeOut(meta.hash);
    assert.deepEqual(await pull('rs-b', meta.key), ['gone']);
  });

  it('refuses a pull from a remote system it cannot push to', async () => {
    const answer = await service.pull('rs-unknown', { transfer: 't', files: [] });
    assert.deepEqual('status' in answer && answer.status, 409);
  });
});

describe('engine/attachments: the receiver (handing files to the flow)', () => {
  let dir: string;
  let store: SqliteStore;
  let service: AttachmentService;

  /** Files as the flow gets them, in order, with a way to wait for the next. */
  class Flow {
    readonly got: { id: number; fileName: string; attempts: number }[] = [];
    private waiting: (() => void) | undefined;

    emit(file: { id: number; fileName: string; attempts: number }): void {
      this.got.push({ id: file.id, fileName: file.fileName, attempts: file.attempts });
      this.waiting?.();
    }

    async next(count: number): Promise<void> {
      while (this.got.length < count) await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rps-att-engine-in-'));
    store = new SqliteStore(join(dir, 'store.sqlite'));
  });

  afterEach(async () => {
    await service.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(flowTimeoutMs = 60_000): void {
    service = new AttachmentService({
      store,
      staging: new AttachmentStaging(join(dir, 'staging')),
      secrets: StoreSecrets.clear(),
      keyFor: async (id) => id,
      remotes: () => new Map(),
      inboundHeld: () => false,
      flowTimeoutMs,
      pollMs: 10,
      retryBackoff: { baseMs: 10, maxMs: 20 },
    });
    service.on('fault', (err) => assert.fail(err));
    service.start();
  }

  /** Files received and verified for local records: rows staged, bytes in staging. */
  async function staged(files: { record: string; name: string }[]): Promise<number[]> {
    const now = Date.now();
    const rows = await store.inboundFiles.want(
      files.map((f, i) => ({
        remoteSystem: 'rs',
        processEvent: 'pe',
        messageId: `m${i}`,
        source: { instanceId: 'A', table: 'item', id: f.record },
        target: { table: 'record', id: f.record },
        key: 'k',
        hash: 'ab'.repeat(32),
        fileName: f.name,
        contentType: 'text/plain',
        size: 1,
      })),
      now,
    );
    await store.inboundFiles.claimToRequest(undefined, now, 100, 't', now + 60_000);
    for (const row of rows) assert.ok(await store.inboundFiles.markStaged(row.id, 't', now));
    return rows.map((r) => r.id);
  }

  it("hands a record's files in order, one at a time, and registers what was stored as the remote's", async () => {
    const [a1, a2, b1] = await staged([
      { record: 'r1', name: 'one.txt' },
      { record: 'r1', name: 'two.txt' },
      { record: 'r2', name: 'other.txt' },
    ]);
    start();
    const flow = new Flow();
    service.addEndpoint('rs', 'pe', { emit: (file) => flow.emit(file) });
    await flow.next(2);
    assert.deepEqual(flow.got.map((f) => f.id).sort(), [a1, b1].sort(), "r1's second file waits for its first");
    assert.ok(await service.finishFile(a1, { ok: true }));
    await flow.next(3);
    assert.equal(flow.got[2].id, a2);
    const registered = await store.attachmentsOut.ofRecord('rs', 'record', 'r1');
    assert.deepEqual(registered.map((r) => [r.attachmentId, r.status]), [['one.txt', 'sent']], 'the stored file is one the remote has: not sent back');
    assert.equal(await service.finishFile(a1, { ok: true }), false, 'ended once');
  });

  it('hands a file again when its flow does not end it in time, or when its node closes', async () => {
    const [id] = await staged([{ record: 'r1', name: 'slow.txt' }]);
    start(30);
    const flow = new Flow();
    const remove = service.addEndpoint('rs', 'pe', { emit: (file) => flow.emit(file) });
    await flow.next(2);
    assert.deepEqual(flow.got.map((f) => [f.id, f.attempts]), [[id, 0], [id, 1]], 'handed again after the flow timeout, as a retry');
    assert.match((await store.inboundFiles.get(id))?.lastError ?? '', /did not end this file/);
    remove();
    const after = new Flow();
    service.addEndpoint('rs', 'pe', { emit: (file) => after.emit(file) });
    await after.next(1);
    assert.equal(after.got[0].id, id, 'the node that replaced it gets the file');
  });
});
