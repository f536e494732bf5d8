/**
 * Link keys without Node-RED: a remote system's rows follow the remote instance once its
 * id is learned (from an envelope, an answer, the store), nothing written meanwhile is
 * lost, and a remote that later says it is another instance keeps its link.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, PROTOCOL, type Envelope, type Message } from '../../src/core/protocol';
import { LinkKey } from '../../src/engine/link-identity';
import { Receiver } from '../../src/engine/receiver';
import { SqliteStore } from '../../src/store/sqlite';
import { RemoteClient } from '../../src/transport/client';
import { messagesHandler } from '../../src/transport/inbound-http';
import { draft, received } from '../store/contract';
import { testPeer } from './support';

const USER = { user: 'a-calls-b', password: 'pw-0123456789' };
const URL_A = 'http://a.example:1880';

function tempStore(): SqliteStore {
  return new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-identity-')), 'store.sqlite'));
}

function envelope(instanceId: string, messages: Message[]): Envelope {
  return { protocol: PROTOCOL, sender: { instanceId, name: 'A' }, messages };
}

interface Noted {
  level: string;
  code: string;
  params: Record<string, string | number>;
}

function linkKey(store: SqliteStore, node: string, url = URL_A): { key: LinkKey; notes: Noted[]; faults: unknown[] } {
  const notes: Noted[] = [];
  const faults: unknown[] = [];
  const key = new LinkKey(node, url, store, { notice: (level, code, params) => notes.push({ level, code, params }), fault: (err) => faults.push(err) });
  return { key, notes, faults };
}

describe('engine: link keys', function () {
  this.timeout(30_000);
  let store: SqliteStore;
  beforeEach(() => {
    store = tempStore();
  });
  afterEach(async () => {
    await store.close();
  });

  it('an envelope tells the remote instance: its batch and the rows left under the node id are kept under that id', async () => {
    const receiver = new Receiver({ limits: () => DEFAULT_LIMITS });
    receiver.addProcessEvent('PE');
    // What an older version left: a row under the node id.
    await store.inbound.accept('node-A', [received('case', 'c0', 1)], 0);
    const { key, notes } = linkKey(store, 'node-A');
    const peer = testPeer(store, USER, { id: 'node-A', identity: key });
    const answer = await receiver.receive(peer, envelope('instance-A', [received('case', 'c1', 1)]));
    assert.equal(answer.status, 200);
    assert.equal(answer.status === 200 && answer.instanceId, store.instanceId, 'the answer names the receiver');
    assert.equal(key.value, 'instance-A');
    assert.deepEqual((await store.inbound.list({ limit: 10 })).map((r) => [r.sourceId, r.remoteSystem]).sort(), [
      ['c0', 'instance-A'],
      ['c1', 'instance-A'],
    ]);
    assert.equal(await store.peers.resolve('node-A', URL_A), 'instance-A');
    assert.deepEqual(notes.map((n) => n.code), ['peer-learned', 'adopted']);
  });

  it('a remote that later says it is another instance keeps its link (its store replaced?): reported once, its messages still accepted there', async () => {
    const receiver = new Receiver({ limits: () => DEFAULT_LIMITS });
    receiver.addProcessEvent('PE');
    const { key, notes } = linkKey(store, 'node-A');
    const peer = testPeer(store, USER, { id: 'node-A', identity: key });
    await receiver.receive(peer, envelope('instance-A', [received('case', 'c1', 1)]));
    await store.inbound.finish([{ id: (await store.inbound.list({ limit: 1 }))[0].id, attempt: 0, status: 'processed', local: { table: 'inc', id: 'L1' } }], 0);
    for (const n of [2, 3]) {
      const answer = await receiver.receive(peer, envelope('instance-Z', [received('case', 'c1', n, { stream: 'instance-Z/x' })]));
      assert.equal(answer.status, 200);
    }
    assert.equal(key.value, 'instance-A', 'the link stays with the first instance');
    assert.ok((await store.inbound.list({ limit: 10 })).every((r) => r.remoteSystem === 'instance-A'));
    assert.deepEqual(
      notes.filter((n) => n.code === 'peer-changed').map((n) => n.params),
      [{ known: 'instance-A', seen: 'instance-Z' }],
      'said once',
    );
    assert.equal(await store.peers.resolve('node-A', ''), 'instance-A');
  });

  it('writes under way while the key changes are all kept under the new key', async () => {
    const { key } = linkKey(store, 'node-B');
    const writes = Array.from({ length: 50 }, (_, i) =>
      key.hold((k) => store.outbound.enqueue([{ remoteSystem: k, message: draft('inc', String(i % 5)) }], 0)),
    );
    const learning = key.learn('instance-B', 'answer');
    writes.push(...Array.from({ length: 50 }, (_, i) => key.hold((k) => store.outbound.enqueue([{ remoteSystem: k, message: draft('inc', String(i % 5)) }], 0))));
    await Promise.all([...writes, learning]);
    assert.equal((await store.outbound.count('instance-B')).ready, 100);
    assert.equal((await store.outbound.count('node-B')).ready, 0);
    // Each record counted 1..20 in one stream.
    const rows = await store.outbound.list({ limit: 200 });
    for (let r = 0; r < 5; r++) {
      const mine = rows.filter((x) => x.recordId === String(r)).sort((x, y) => x.id - y.id);
      assert.deepEqual(mine.map((x) => x.sequence), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal(new Set(mine.map((x) => JSON.parse(x.payload).stream as string)).size, 1);
    }
  });

  it('a node made again (a new id, the same URL) has the key at once, without reaching the remote', async () => {
    const first = linkKey(store, 'node-1');
    await first.key.learn('instance-B', 'handshake');
    const again = linkKey(store, 'node-2', `${URL_A}/`);
    await again.key.ready();
    assert.equal(again.key.value, 'instance-B');
    assert.equal(again.key.peer, 'instance-B');
    const elsewhere = linkKey(store, 'node-3', 'http://other.example:1880');
    await elsewhere.key.ready();
    assert.equal(elsewhere.key.value, 'node-3', 'another URL: the node id, until the remote is reached');
  });

  it('the answer to a batch carries the receiver instance id, which the client reports', async () => {
    const receiver = new Receiver({ limits: () => DEFAULT_LIMITS });
    receiver.addProcessEvent('PE');
    receiver.addPeer(testPeer(store, USER));
    const server = createServer(messagesHandler(receiver));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new RemoteClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth: { type: 'basic', ...USER }, timeoutMs: 5000 });
    try {
      const m = received('case', 'c1', 1);
      const result = await client.postMessages(JSON.stringify(envelope('instance-A', [m])), [m.id]);
      assert.equal(result.kind, 'delivered');
      assert.equal(result.kind === 'delivered' && result.instanceId, store.instanceId);
    } finally {
      client.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
