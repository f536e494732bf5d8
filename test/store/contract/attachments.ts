/**
 * The attachments contract: the origin's register of attachments sent per remote, and the
 * receiver's inbound files from wanted through a pull to staged, handed to the flow in
 * order per record, stored (or a final error / refusal), retried and purged.
 */
import assert from 'node:assert/strict';
import type { InboundFile, NewInboundFile, SentAttachment, Store } from '../../../src/store/store';
import { eachStore, type StoreFactory, T0 } from './support';

let counter = 0;
function newFile(targetId: string, overrides: Partial<NewInboundFile> = {}): NewInboundFile {
  counter += 1;
  return {
    remoteSystem: 'R',
    processEvent: 'PE',
    messageId: `m${counter}`,
    source: { instanceId: 'there', table: 'incident', id: `s-${targetId}` },
    target: { table: 'case', id: targetId },
    key: `key-${counter}`,
    hash: `${counter}`.padStart(64, 'a'),
    fileName: `f${counter}.pdf`,
    contentType: 'application/pdf',
    size: 100 + counter,
    ...overrides,
  };
}

function sent(attachmentId: string, overrides: Partial<SentAttachment> = {}): SentAttachment {
  return {
    remoteSystem: 'R',
    table: 'incident',
    recordId: '1',
    attachmentId,
    hash: `hash-${attachmentId}`,
    fileName: `${attachmentId}.txt`,
    contentType: 'text/plain',
    size: 5,
    status: 'sent',
    updatedAt: T0,
    ...overrides,
  };
}

const ids = (rows: readonly { id: number }[]): number[] => rows.map((r) => r.id);

export function attachmentsContract(factory: StoreFactory): void {
  describe('attachments out', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('records attachments per remote and record, upserting by key (the last of a batch wins), across a restart', async () => {
      const out = store.attachmentsOut;
      await out.record([sent('b'), sent('a'), sent('a', { hash: 'first' }), sent('a', { hash: 'second' }), sent('a', { remoteSystem: 'S' }), sent('c', { recordId: '2' })]);
      store = await factory.reopen(store);
      const rows = await store.attachmentsOut.ofRecord('R', 'incident', '1');
      assert.deepEqual(rows.map((r) => [r.attachmentId, r.hash]), [['a', 'second'], ['b', 'hash-b']]);
      assert.deepEqual(rows[1], sent('b'));
      await store.attachmentsOut.record([sent('b', { status: 'refused', reason: 'too-large', updatedAt: T0 + 1 }), sent('a', { status: 'removed', updatedAt: T0 + 2 })]);
      assert.deepEqual(await store.attachmentsOut.find('R', 'incident', '1', 'b'), sent('b', { status: 'refused', reason: 'too-large', updatedAt: T0 + 1 }));
      assert.equal((await store.attachmentsOut.find('R', 'incident', '1', 'a'))?.status, 'removed');
      assert.equal(await store.attachmentsOut.find('R', 'incident', '1', 'zz'), undefined);
      assert.equal(await store.attachmentsOut.find('T', 'incident', '1', 'a'), undefined, 'per remote');
      assert.deepEqual(await store.attachmentsOut.ofRecord('R', 'incident', '3'), []);
      // A new reason replaces the old; none clears it.
      await store.attachmentsOut.record([sent('b')]);
      assert.deepEqual(await store.attachmentsOut.find('R', 'incident', '1', 'b'), sent('b'));
      await store.attachmentsOut.record([]);
    });

    it('names the hashes a sent row still uses, whatever the remote', async () => {
      const out = store.attachmentsOut;
      await out.record([
        sent('a', { hash: 'h1' }),
        sent('b', { hash: 'h2', status: 'removed' }),
        sent('c', { hash: 'h3', status: 'refused', reason: 'type' }),
        sent('d', { hash: 'h2', remoteSystem: 'S' }),
        sent('e', { hash: 'h1', recordId: '9' }),
      ]);
      assert.deepEqual([...(await out.hashesInUse(['h1', 'h2', 'h3', 'h4']))].sort(), ['h1', 'h2']);
      await out.record([sent('d', { hash: 'h2', remoteSystem: 'S', status: 'removed' })]);
      assert.deepEqual([...(await out.hashesInUse(['h2', 'h3']))], []);
      assert.deepEqual([...(await out.hashesInUse([]))], []);
    });

    it('purges removed and refused rows last updated before a time, in batches, and keeps sent rows whatever their age', async () => {
      const out = store.attachmentsOut;
      await out.record([
        sent('a', { status: 'removed', updatedAt: T0 + 10 }),
        sent('b', { status: 'refused', reason: 'type', updatedAt: T0 + 10 }),
        sent('c', { status: 'removed', updatedAt: T0 + 10, remoteSystem: 'S' }),
        sent('d', { status: 'sent', updatedAt: T0 }),
        sent('e', { status: 'removed', updatedAt: T0 + 30 }),
      ]);
      assert.equal(await out.purge(T0 + 20, 2), 2);
      assert.equal(await out.purge(T0 + 20, 2), 1);
      assert.equal(await out.purge(T0 + 20, 2), 0);
      assert.deepEqual((await out.ofRecord('R', 'incident', '1')).map((r) => r.attachmentId), ['d', 'e']);
      assert.deepEqual(await out.ofRecord('S', 'incident', '1'), []);
      assert.equal(await out.purge(T0 + 31, 10), 1);
      assert.deepEqual((await out.ofRecord('R', 'incident', '1')).map((r) => r.attachmentId), ['d']);
    });
  });

  describe('inbound files', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    /** Wants `files` and brings them to 'staged' through one pull request. */
    async function stage(files: readonly NewInboundFile[], now = T0): Promise<InboundFile[]> {
      const wanted = await store.inboundFiles.want(files, now);
      const claimed = await store.inboundFiles.claimToRequest(undefined, now, 100, 'stage', now + 1_000);
      assert.deepEqual(ids(claimed), ids(wanted));
      for (const f of wanted) assert.equal(await store.inboundFiles.markStaged(f.id, 'stage', now), true);
      return wanted;
    }

    it('wants each file once: a file wanted again returns the row there is, in input order, across a restart', async () => {
      const a = newFile('1');
      const b = newFile('1');
      const [ra, rb, ra2] = await store.inboundFiles.want([a, b, a], T0);
      assert.equal(ra.id, ra2.id, 'the same file twice in a batch is one row');
      assert.ok(rb.id > ra.id, 'ids in input order');
      const { id: _id, createdAt: _c, updatedAt: _u, ...rest } = ra;
      assert.deepEqual(rest, { ...a, status: 'wanted', attempts: 0, nextAt: T0, received: 0 });
      assert.deepEqual([ra.createdAt, ra.updatedAt], [T0, T0]);
      store = await factory.reopen(store);
      // Emitted again (same remote, message, hash and name): nothing new, the existing rows come back even as they moved on.
      await store.inboundFiles.claimToRequest(undefined, T0, 1, 'x', T0 + 50);
      const c = newFile('2');
      const again = await store.inboundFiles.want([c, { ...b, key: 'another key' }, { ...a, size: 1 }], T0 + 10);
      assert.deepEqual(ids(again.slice(1)), [rb.id, ra.id]);
      assert.equal(again[1].key, b.key);
      assert.equal(again[2].status, 'requested');
      assert.ok(again[0].id > rb.id);
      // Another name, hash, message or remote is another file.
      const others = await store.inboundFiles.want([{ ...a, fileName: 'other.pdf' }, { ...a, hash: 'b'.repeat(64) }, { ...a, messageId: 'mx' }, { ...a, remoteSystem: 'S' }], T0);
      assert.equal(new Set([...ids(others), ra.id]).size, 5);
      assert.deepEqual(await store.inboundFiles.want([], T0), []);
      assert.deepEqual(await store.inboundFiles.get(ra.id), { ...again[2] });
      assert.equal(await store.inboundFiles.get(999_999), undefined);
    });

    it('claims due files to request, oldest first, per remote, and takes a request whose deadline passed again', async () => {
      const files = store.inboundFiles;
      const [r1, s1, r2, r3] = await files.want([newFile('1'), newFile('2', { remoteSystem: 'S' }), newFile('3'), newFile('4')], T0);
      await files.failPull(r3.id, { status: 'wanted', nextAt: T0 + 500, received: 0 }, 'later', T0);
      const first = await files.claimToRequest(['R'], T0, 1, 't1', T0 + 100);
      assert.deepEqual(ids(first), [r1.id]);
      assert.deepEqual([first[0].status, first[0].transfer, first[0].nextAt, first[0].attempts, first[0].updatedAt], ['requested', 't1', T0 + 100, 1, T0]);
      const rest = await files.claimToRequest(['R', 'X'], T0, 10, 't2', T0 + 100);
      assert.deepEqual(ids(rest), [r2.id], 'not S, not before nextAt, not one requested until its deadline');
      assert.deepEqual(ids(await files.claimToRequest(undefined, T0 + 99, 10, 't3', T0 + 200)), [s1.id], 'any remote');
      assert.deepEqual(await files.claimToRequest([], T0 + 99, 10, 't3', T0 + 200), []);
      // r1 got some bytes before its request went unanswered: they stay (the resume offset).
      assert.equal(await files.setReceived(r1.id, 't1', 40, T0 + 50), true);
      const again = await files.claimToRequest(['R'], T0 + 100, 10, 't4', T0 + 300);
      assert.deepEqual(ids(again), [r1.id, r2.id]);
      assert.deepEqual([again[0].transfer, again[0].attempts, again[0].received, again[0].nextAt], ['t4', 2, 40, T0 + 300]);
      assert.equal(await files.inTransfer('t1', r1.id), undefined, 'the old request no longer addresses it');
      assert.deepEqual(ids(await files.claimToRequest(['R'], T0 + 500, 10, 't5', T0 + 900)), [r1.id, r2.id, r3.id]);
    });

    it('addresses a file only in its transfer while requested: received bytes, then staged', async () => {
      const files = store.inboundFiles;
      const [f] = await files.want([newFile('1')], T0);
      assert.equal(await files.inTransfer('t', f.id), undefined, 'wanted, not requested yet');
      assert.equal(await files.setReceived(f.id, 't', 10, T0), false);
      assert.equal(await files.markStaged(f.id, 't', T0), false);
      await files.claimToRequest(undefined, T0, 10, 't', T0 + 100);
      assert.equal(await files.inTransfer('other', f.id), undefined);
      assert.equal(await files.inTransfer('t', f.id + 1000), undefined);
      assert.equal((await files.inTransfer('t', f.id))?.id, f.id);
      assert.equal(await files.setReceived(f.id, 'other', 10, T0 + 1), false);
      assert.equal(await files.markStaged(f.id, 'other', T0 + 1), false);
      assert.equal(await files.setReceived(f.id, 't', 60, T0 + 2), true);
      assert.deepEqual([(await files.get(f.id))?.received, (await files.get(f.id))?.updatedAt], [60, T0 + 2]);
      assert.equal(await files.markStaged(f.id, 't', T0 + 3), true);
      const staged = await files.get(f.id);
      assert.deepEqual([staged?.status, staged?.attempts, staged?.transfer, staged?.nextAt, staged?.received], ['staged', 0, undefined, T0 + 3, 60]);
      assert.equal(await files.inTransfer('t', f.id), undefined, 'staged: no longer in the transfer');
      assert.equal(await files.setReceived(f.id, 't', 0, T0 + 4), false);
      assert.equal(await files.markStaged(f.id, 't', T0 + 4), false);
      assert.deepEqual(ids(await files.claimToRequest(undefined, T0 + 10_000, 10, 'u', T0 + 20_000)), [], 'a staged file is not asked for');
    });

    it('fails a pull back to wanted (later, from an offset) or to a final error or refusal, only while waiting', async () => {
      const files = store.inboundFiles;
      const [a, b, c, d] = await files.want([newFile('1'), newFile('2'), newFile('3'), newFile('4')], T0);
      await files.claimToRequest(undefined, T0, 10, 't', T0 + 100);
      await files.failPull(a.id, { status: 'wanted', nextAt: T0 + 50, received: 7 }, 'timeout', T0 + 1);
      await files.failPull(b.id, { status: 'error' }, 'too large', T0 + 1);
      await files.failPull(c.id, { status: 'refused' }, 'forged', T0 + 1);
      const back = await files.get(a.id);
      assert.deepEqual([back?.status, back?.nextAt, back?.received, back?.lastError, back?.transfer, back?.attempts], ['wanted', T0 + 50, 7, 'timeout', undefined, 1]);
      assert.deepEqual([(await files.get(b.id))?.status, (await files.get(b.id))?.lastError], ['error', 'too large']);
      assert.deepEqual([(await files.get(c.id))?.status, (await files.get(c.id))?.lastError], ['refused', 'forged']);
      assert.equal(await files.inTransfer('t', a.id), undefined);
      assert.deepEqual(ids(await files.claimToRequest(undefined, T0 + 49, 10, 'u', T0 + 200)), []);
      assert.deepEqual(ids(await files.claimToRequest(undefined, T0 + 100, 10, 'u', T0 + 200)), [a.id, d.id], 'final ones are not asked for again');
      // From a final state or staged, a failed pull changes nothing.
      await files.failPull(b.id, { status: 'wanted', nextAt: T0, received: 0 }, 'late', T0 + 2);
      assert.deepEqual([(await files.get(b.id))?.status, (await files.get(b.id))?.lastError], ['error', 'too large']);
      await files.markStaged(d.id, 'u', T0 + 101);
      await files.failPull(d.id, { status: 'refused' }, 'late', T0 + 102);
      assert.equal((await files.get(d.id))?.status, 'staged');
      // A wanted file can be refused before it is asked for.
      const [e] = await files.want([newFile('5')], T0);
      await files.failPull(e.id, { status: 'refused' }, 'name', T0 + 1);
      assert.equal((await files.get(e.id))?.status, 'refused');
    });

    it('hands staged files to the flow in order per record: an older file not finished holds the later ones', async () => {
      const files = store.inboundFiles;
      const [a1, a2, a3, b1, other, elsewhere] = await stage([
        newFile('A'),
        newFile('A'),
        newFile('A'),
        newFile('B'),
        newFile('C', { processEvent: 'OTHER' }),
        newFile('D', { remoteSystem: 'S' }),
      ]);
      assert.deepEqual(await files.claimStaged([], 'PE', T0, 10), []);
      const first = await files.claimStaged(['R'], 'PE', T0, 10);
      assert.deepEqual(ids(first), [a1.id, b1.id]);
      assert.deepEqual([first[0].status, first[0].updatedAt], ['processing', T0]);
      assert.deepEqual(await files.claimStaged(['R'], 'PE', T0, 10), [], 'a1 is with the flow: a2 waits');
      assert.equal(await files.finish(a1.id, { ok: true }, T0 + 1), true);
      assert.deepEqual(ids(await files.claimStaged(['R', 'S'], 'PE', T0 + 1, 1)), [a2.id], 'limit');
      // a2 fails and is staged again later: it still holds a3 meanwhile.
      assert.equal(await files.finish(a2.id, { ok: false, error: 'disk full', retryAt: T0 + 100 }, T0 + 2), true);
      const retried = await files.get(a2.id);
      assert.deepEqual([retried?.status, retried?.attempts, retried?.nextAt, retried?.lastError], ['staged', 1, T0 + 100, 'disk full']);
      assert.deepEqual(ids(await files.claimStaged(['R', 'S'], 'PE', T0 + 99, 10)), [elsewhere.id]);
      assert.deepEqual(ids(await files.claimStaged(['R'], 'PE', T0 + 100, 10)), [a2.id]);
      assert.equal(await files.finish(a2.id, { ok: false, error: 'bad' }, T0 + 101), true);
      assert.deepEqual([(await files.get(a2.id))?.status, (await files.get(a2.id))?.lastError], ['error', 'bad']);
      assert.deepEqual(ids(await files.claimStaged(['R'], 'PE', T0 + 101, 10)), [a3.id], 'a final error lets the next go');
      assert.deepEqual(ids(await files.claimStaged(['R'], 'OTHER', T0 + 101, 10)), [other.id]);
    });

    it('holds a staged file back while an older file of its record still waits to be pulled', async () => {
      const files = store.inboundFiles;
      const [older] = await files.want([newFile('X')], T0);
      const [later] = await files.want([newFile('X')], T0);
      await files.claimToRequest(undefined, T0, 10, 't', T0 + 100);
      await files.markStaged(later.id, 't', T0);
      assert.deepEqual(await files.claimStaged(['R'], 'PE', T0, 10), [], 'older requested');
      await files.failPull(older.id, { status: 'wanted', nextAt: T0 + 10, received: 0 }, 'again', T0);
      assert.deepEqual(await files.claimStaged(['R'], 'PE', T0, 10), [], 'older wanted');
      await files.failPull(older.id, { status: 'refused' }, 'gone', T0);
      assert.deepEqual(ids(await files.claimStaged(['R'], 'PE', T0, 10)), [later.id]);
    });

    it('finishes only a file with the flow', async () => {
      const files = store.inboundFiles;
      const [f, g] = await stage([newFile('1'), newFile('2')]);
      assert.equal(await files.finish(f.id, { ok: true }, T0), false, 'staged, not processing');
      await files.claimStaged(['R'], 'PE', T0, 10);
      assert.equal(await files.finish(f.id, { ok: true }, T0 + 5), true);
      assert.deepEqual([(await files.get(f.id))?.status, (await files.get(f.id))?.updatedAt], ['stored', T0 + 5]);
      assert.equal(await files.finish(f.id, { ok: true }, T0 + 6), false, 'finished already');
      assert.equal(await files.finish(f.id, { ok: false, error: 'x' }, T0 + 6), false);
      assert.equal((await files.get(f.id))?.status, 'stored');
      assert.equal(await files.finish(g.id + 1000, { ok: true }, T0), false);
    });

    it('releases the files left with a flow, to be handed again, and asks again at once for those left in a pull request', async () => {
      const files = store.inboundFiles;
      const [f, g, h] = await stage([newFile('1'), newFile('2'), newFile('3')]);
      await files.claimStaged(['R'], 'PE', T0, 2);
      const [asked] = await files.want([newFile('4')], T0);
      await files.claimToRequest(undefined, T0, 10, 'old', T0 + 100_000);
      await files.setReceived(asked.id, 'old', 77, T0);
      store = await factory.reopen(store);
      assert.equal(await store.inboundFiles.releaseAtStart(T0 + 10), 3);
      const again = await store.inboundFiles.claimToRequest(undefined, T0 + 10, 10, 'new', T0 + 200);
      assert.deepEqual(again.map((r) => [r.id, r.received, r.transfer]), [[asked.id, 77, 'new']], 'due at once, from the bytes received');
      assert.equal(await store.inboundFiles.releaseAtStart(T0 + 11), 1, 'only the row requested again since');
      const released = await store.inboundFiles.get(f.id);
      assert.deepEqual([released?.status, released?.nextAt], ['staged', T0 + 10]);
      assert.deepEqual(ids(await store.inboundFiles.claimStaged(['R'], 'PE', T0 + 10, 10)), [f.id, g.id, h.id]);
    });

    it('retries files in error from the start, and no others', async () => {
      const files = store.inboundFiles;
      const [a, b, c] = await files.want([newFile('1'), newFile('2'), newFile('3')], T0);
      await files.claimToRequest(undefined, T0, 10, 't', T0 + 100);
      await files.setReceived(a.id, 't', 30, T0);
      await files.failPull(a.id, { status: 'error' }, 'mismatch', T0);
      await files.failPull(b.id, { status: 'refused' }, 'gone', T0);
      assert.equal(await files.retry([a.id, b.id, c.id, 999_999], T0 + 50), 1);
      assert.equal(await files.retry([], T0 + 50), 0);
      const again = await files.get(a.id);
      assert.deepEqual([again?.status, again?.received, again?.attempts, again?.nextAt, again?.transfer], ['wanted', 0, 0, T0 + 50, undefined]);
      assert.deepEqual([(await files.get(b.id))?.status, (await files.get(c.id))?.status], ['refused', 'requested']);
      assert.deepEqual(ids(await files.claimToRequest(undefined, T0 + 50, 10, 'u', T0 + 200)), [a.id]);
    });

    it('tells what a record holds or waits for, and counts files by status', async () => {
      const files = store.inboundFiles;
      const [stored, processing, staged] = await stage([newFile('1'), newFile('1'), newFile('1', { processEvent: 'P2' })]);
      await files.claimStaged(['R'], 'PE', T0, 10);
      await files.finish(stored.id, { ok: true }, T0);
      await files.claimStaged(['R'], 'PE', T0, 10);
      const [wanted, requested, failed, refused] = await files.want([newFile('1'), newFile('1'), newFile('1'), newFile('1')], T0);
      await files.claimToRequest(undefined, T0, 3, 't', T0 + 100);
      await files.failPull(wanted.id, { status: 'wanted', nextAt: T0 + 10, received: 0 }, 'later', T0);
      await files.failPull(failed.id, { status: 'error' }, 'x', T0);
      await files.failPull(refused.id, { status: 'refused' }, 'x', T0);
      await files.want([newFile('2'), newFile('1', { target: { table: 'other', id: '1' } })], T0);
      const held = await files.held('case', '1');
      const expected = [stored, processing, staged, wanted, requested].map((f) => ({ hash: f.hash, fileName: f.fileName }));
      assert.deepEqual(
        [...held].sort((x, y) => x.hash.localeCompare(y.hash)),
        expected.sort((x, y) => x.hash.localeCompare(y.hash)),
      );
      assert.deepEqual(await files.held('case', 'none'), []);
      assert.deepEqual(await files.held('case', '1', 'no-such-remote'), [], 'only what came from that remote, when one is named');
      assert.equal((await files.held('case', '1', 'R')).length, held.length);
      await files.want([newFile('9', { remoteSystem: 'S' })], T0);
      assert.deepEqual(await files.counts('R'), { wanted: 3, requested: 1, staged: 1, processing: 1, stored: 1, error: 1, refused: 1 });
      assert.deepEqual(await files.counts(), { wanted: 4, requested: 1, staged: 1, processing: 1, stored: 1, error: 1, refused: 1 });
      assert.deepEqual(await files.counts('none'), { wanted: 0, requested: 0, staged: 0, processing: 0, stored: 0, error: 0, refused: 0 });
    });

    it('lists the files in error, newest updated first, per remote or all, up to a limit', async () => {
      const files = store.inboundFiles;
      const [a, b, c, d, w] = await files.want([newFile('1'), newFile('2'), newFile('3', { remoteSystem: 'S' }), newFile('4'), newFile('5')], T0);
      await files.claimToRequest(undefined, T0, 4, 't', T0 + 100);
      await files.failPull(a.id, { status: 'error' }, 'mismatch', T0 + 5);
      await files.failPull(b.id, { status: 'error' }, 'too large', T0 + 9);
      await files.failPull(c.id, { status: 'error' }, 'gone', T0 + 7);
      await files.failPull(d.id, { status: 'refused' }, 'forged', T0 + 10);
      assert.deepEqual(await files.errors('none', 10), []);
      const all = await files.errors(undefined, 10);
      assert.deepEqual(ids(all), [b.id, c.id, a.id], 'not refused, not waiting');
      assert.deepEqual([all[0].status, all[0].lastError, all[0].updatedAt, all[0].attempts, all[0].fileName], ['error', 'too large', T0 + 9, 1, b.fileName]);
      assert.deepEqual(ids(await files.errors('R', 10)), [b.id, a.id]);
      assert.deepEqual(ids(await files.errors(undefined, 2)), [b.id, c.id]);
      await files.retry([b.id], T0 + 20);
      assert.deepEqual(ids(await files.errors('R', 10)), [a.id], 'retried: wanted again');
      assert.ok(await files.get(w.id));
    });

    it('purges stored and refused files last updated before a time, in batches, returning their ids', async () => {
      const files = store.inboundFiles;
      const [s1, s2, s3] = await stage([newFile('1'), newFile('2'), newFile('3')]);
      assert.equal((await files.claimStaged(['R'], 'PE', T0, 10)).length, 3);
      await files.finish(s1.id, { ok: true }, T0 + 10);
      await files.finish(s2.id, { ok: true }, T0 + 10);
      await files.finish(s3.id, { ok: true }, T0 + 30);
      const [r1, e1, w1] = await files.want([newFile('4'), newFile('5'), newFile('6')], T0);
      await files.claimToRequest(undefined, T0, 2, 't', T0 + 100);
      await files.failPull(r1.id, { status: 'refused' }, 'gone', T0 + 5);
      await files.failPull(e1.id, { status: 'error' }, 'x', T0 + 5);
      // Errors have their own, earlier cut-off: e1 (updated at T0 + 5) is not before T0 + 5.
      const first = await files.purgeFiles(T0 + 20, T0 + 5, 2);
      assert.equal(first.length, 2);
      const second = await files.purgeFiles(T0 + 20, T0 + 5, 2);
      assert.deepEqual([...first, ...second].sort((x, y) => x - y), [s1.id, s2.id, r1.id].sort((x, y) => x - y));
      assert.deepEqual(await files.purgeFiles(T0 + 20, T0 + 5, 2), []);
      for (const id of [s1.id, s2.id, r1.id]) assert.equal(await files.get(id), undefined);
      for (const f of [s3, e1, w1]) assert.ok(await files.get(f.id), 'kept');
      assert.deepEqual(await files.purgeFiles(T0 + 20, T0 + 6, 10), [e1.id], 'an error updated before its cut-off');
      for (const f of [s3, w1]) assert.ok(await files.get(f.id), 'kept');
      // A purged file is not wanted again as the same row: its id is never given again.
      const [next] = await files.want([newFile('7')], T0 + 40);
      assert.ok(next.id > w1.id);
    });
  });
}
