/** The peers contract: what a remote system is, and rows adopted by its new link key. */
import assert from 'node:assert/strict';
import type { JournalEntry } from '../../../src/core/protocol';
import type { NewInboundFile, SentAttachment, Store } from '../../../src/store/store';
import { draft, eachStore, received, type StoreFactory, T0 } from './support';

const entry = (id: string): JournalEntry => ({ field: 'comments', id, value: id, author: 'ada', createdAt: '2026-12-07T10:00:00.000Z' });

/** An attachment of incident 1 registered for `remoteSystem`. */
const sentTo = (remoteSystem: string, attachmentId: string, hash: string): SentAttachment => ({
  remoteSystem, table: 'incident', recordId: '1', attachmentId, hash, fileName: `${attachmentId}.txt`, contentType: 'text/plain', size: 5, status: 'sent', updatedAt: T0,
});

/** A file of message `messageId` wanted under `remoteSystem`; `key` tells apart rows that are the same file. */
const fileFrom = (remoteSystem: string, messageId: string, key: string): NewInboundFile => ({
  remoteSystem, processEvent: 'PE', messageId, source: { instanceId: 'there', table: 'incident', id: '1' }, target: { table: 'case', id: '1' },
  key, hash: 'a'.repeat(64), fileName: 'f.pdf', contentType: 'application/pdf', size: 10,
});

export function peersContract(factory: StoreFactory): void {
  describe('peers', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    it('resolves a node by its id, else by its URL (normalised), across a restart', async () => {
      assert.equal(await store.peers.resolve('n1', 'http://Host:1880/api/'), undefined);
      await store.peers.learn('n1', 'HTTP://host:1880/api/', 'P', T0);
      store = await factory.reopen(store);
      assert.equal(await store.peers.resolve('n1', ''), 'P');
      assert.equal(await store.peers.resolve('n2', 'http://host:1880/api'), 'P', 'a new node with the same URL');
      assert.equal(await store.peers.resolve('n2', 'http://host:1881/api'), undefined);
      await store.peers.learn('n3', 'http://host:1881', 'Q', T0);
      assert.equal(await store.peers.resolve('n1', 'http://host:1881'), 'P', 'what a node learned comes before its URL');
      await store.peers.learn('n4', '', 'R', T0);
      assert.equal(await store.peers.resolve('n4', ''), 'R', 'a node without URL');
    });

    it('adopts every row of the old key: queues, correlations, inbound sequences, journal marks', async () => {
      // Under the node id, as an older version left them.
      const [sent, waiting] = await store.outbound.enqueue(
        [
          { remoteSystem: 'node', message: draft('inc', '1', { journal: [entry('e1')] }) },
          { remoteSystem: 'node', message: draft('inc', '1') },
        ],
        T0,
      );
      assert.deepEqual((await store.outbound.claim('node', 1, T0, 'w', 1000)).map((r) => r.id), [sent.id]);
      await store.outbound.markProcessed([sent.id], T0);
      await store.inbound.accept('node', [received('case', 'c1', 1), received('case', 'c2', 1), received('inc', 'L9', 1, { kind: 'correlation', target: { table: 'inc', id: '7' } })], T0);
      const claimed = (await store.inbound.claim({ remoteSystem: 'node', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
      assert.equal(claimed.length, 1);
      await store.inbound.finish([{ id: claimed[0].id, attempt: 1, status: 'processed', local: { table: 'inc', id: 'L1' } }], T0);

      const counts = await store.peers.adopt('node', 'P', T0);
      assert.deepEqual({ ...counts }, { correlations: 2, outbound: 2, inbound: 3, dropped: 0 });
      assert.deepEqual(await store.outbound.count('node'), await store.outbound.count('nobody'), 'nothing left under the node id');
      // The twin is found under the new key, from either side.
      const [byRemote] = await store.correlations.byRemote([{ remoteSystem: 'P', table: claimed[0].sourceTable, id: claimed[0].sourceId }]);
      assert.equal(byRemote?.localId, 'L1');
      const [byLocal] = await store.correlations.byLocal([{ remoteSystem: 'P', table: 'inc', id: '7' }]);
      assert.equal(byLocal?.remoteId, 'L9');
      // The waiting row is sent under the new key, still in its own stream.
      const out = await store.outbound.claim('P', 10, T0, 'w', 1000);
      assert.deepEqual(out.map((r) => r.id), [waiting.id]);
      assert.match(JSON.parse(out[0].payload).stream as string, /\/node$/);
      // A new message of the record follows on in the stream the remote knows; a new record counts in the new key's.
      const [next, fresh] = await store.outbound.enqueue([{ remoteSystem: 'P', message: draft('inc', '1') }, { remoteSystem: 'P', message: draft('inc', '2') }], T0);
      assert.equal(next.sequence, 3);
      const streamOf = async (id: number) => JSON.parse((await store.outbound.get(id))!.payload).stream as string;
      assert.equal(await streamOf(next.id), await streamOf(waiting.id));
      assert.equal(fresh.sequence, 1);
      assert.equal(await streamOf(fresh.id), `${store.instanceId}/P`);
      // Journal marks: the entry sent is known to the new key.
      assert.deepEqual([...(await store.journalMarks.known('P', ['e1']))], ['e1']);
      // Inbound: the other record waits under the new key; the applied sequence moved, so its sequence again is stale.
      const next2 = await store.inbound.claim({ remoteSystem: 'P', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      assert.deepEqual(next2.rows.map((r) => r.sourceId), [claimed[0].sourceId === 'c1' ? 'c2' : 'c1']);
      assert.deepEqual(await store.inbound.accept('P', [received('case', claimed[0].sourceId, 1)], T0), ['accepted']);
      const stale = await store.inbound.claim({ remoteSystem: 'P', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
      assert.deepEqual([stale.rows.length, stale.stale.length], [0, 1]);
      assert.deepEqual(await store.peers.adopt('node', 'P', T0), { correlations: 0, outbound: 0, inbound: 0, dropped: 0 }, 'again: nothing to move');
    });

    it('a message queued under the node id of a remote whose instance is known (another process not there yet) goes under the instance and counts on', async () => {
      const [first] = await store.outbound.enqueue([{ remoteSystem: 'node', message: draft('inc', '1') }], T0);
      await store.peers.learn('node', 'http://b.example', 'P', T0);
      await store.peers.adopt('node', 'P', T0);
      const [late] = await store.outbound.enqueue([{ remoteSystem: 'node', message: draft('inc', '1') }], T0);
      assert.equal(late.sequence, 2);
      const rows = await store.outbound.claim('P', 10, T0, 'w', 1000);
      assert.deepEqual(rows.map((r) => r.id), [first.id, late.id], 'both under the instance, in order');
      assert.equal((await store.outbound.count('node')).ready, 0);
      assert.equal((await store.outbound.get(late.id))?.remoteSystem, 'P');
      assert.equal(JSON.parse((await store.outbound.get(late.id))!.payload).stream, `${store.instanceId}/node`);
    });

        it('on a clash, what the new key has wins: links, duplicate messages, higher sequences', async () => {
      // The same remote record linked to different local records under each key.
      await store.inbound.accept('P', [received('inc', 'L1', 1, { kind: 'correlation', target: { table: 'case', id: 'kept' } })], T0);
      await store.inbound.accept('old', [received('inc', 'L1', 1, { kind: 'correlation', target: { table: 'case', id: 'lost' } })], T0);
      await store.inbound.accept('old', [received('inc', 'L2', 1, { kind: 'correlation', target: { table: 'case', id: 'moved' } })], T0);
      // The same message under both keys.
      const twice = received('case', 'x', 1);
      await store.inbound.accept('P', [twice], T0);
      await store.inbound.accept('old', [twice, received('case', 'x', 2)], T0);
      // A journal mark under each.
      await store.outbound.enqueue([{ remoteSystem: 'P', message: draft('t', '1', { journal: [entry('a')] }) }], T0);
      await store.outbound.enqueue([{ remoteSystem: 'old', message: draft('t', '1', { journal: [entry('b')] }) }], T0);

      const counts = await store.peers.adopt('old', 'P', T0);
      // Inbound: the two correlation messages and sequence 2 move; the duplicate and the losing link are dropped.
      assert.deepEqual({ ...counts }, { correlations: 1, outbound: 1, inbound: 3, dropped: 2 });
      const [l1, l2] = await store.correlations.byRemote([
        { remoteSystem: 'P', table: 'inc', id: 'L1' },
        { remoteSystem: 'P', table: 'inc', id: 'L2' },
      ]);
      assert.equal(l1?.localId, 'kept');
      assert.equal(l2?.localId, 'moved');
      assert.deepEqual([...(await store.journalMarks.known('P', ['a', 'b']))].sort(), ['a', 'b']);
      const rows = (await store.inbound.list({ remoteSystem: 'P', limit: 10 })).filter((r) => r.sourceId === 'x');
      assert.deepEqual(rows.map((r) => r.sequence).sort(), [1, 2], 'the duplicate message is kept once');
    });

    it('adopts attachments sent and files wanted; on a clash, the row under the new key wins', async () => {
      await store.attachmentsOut.record([sentTo('old', 'a', 'h-moved'), sentTo('old', 'b', 'h-lost'), sentTo('P', 'b', 'h-kept')]);
      const [moving, losing] = await store.inboundFiles.want([fileFrom('old', 'm1', 'moved'), fileFrom('old', 'm2', 'lost')], T0);
      const [kept] = await store.inboundFiles.want([fileFrom('P', 'm2', 'kept')], T0);
      // A file in a pull request stays in it: the push and the completion find it by transfer and id.
      await store.inboundFiles.claimToRequest(['old'], T0, 1, 'T1', T0 + 1000);

      const counts = await store.peers.adopt('old', 'P', T0);
      assert.equal(counts.dropped, 2, 'the attachment and the file that clashed');
      const attachments = await store.attachmentsOut.ofRecord('P', 'incident', '1');
      assert.deepEqual(attachments.map((r) => [r.attachmentId, r.hash]), [['a', 'h-moved'], ['b', 'h-kept']]);
      // The moved file keeps its id (its staged bytes are named by it); the same file under the new key stays as it was.
      assert.deepEqual(await store.inboundFiles.inTransfer('T1', moving.id), { ...moving, remoteSystem: 'P', status: 'requested', attempts: 1, nextAt: T0 + 1000, transfer: 'T1' });
      assert.equal(await store.inboundFiles.get(losing.id), undefined);
      assert.deepEqual(await store.inboundFiles.get(kept.id), kept);
      assert.deepEqual((await store.inboundFiles.want([fileFrom('P', 'm1', 'again')], T0)).map((f) => f.id), [moving.id], 'wanted already under the new key');
      // Nothing is left under the old key.
      assert.deepEqual(await store.attachmentsOut.ofRecord('old', 'incident', '1'), []);
      assert.deepEqual(Object.values(await store.inboundFiles.counts('old')), [0, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(await store.peers.adopt('old', 'P', T0), { correlations: 0, outbound: 0, inbound: 0, dropped: 0 }, 'again: nothing to move');
    });
  });
}
