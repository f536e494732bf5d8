/**
 * Pausing a remote system (engine/pause.ts): the sender claims and sends nothing while
 * rows keep queueing, a resume sends what waited, a pause outlives a restart of the
 * link (the next link on the same store sends not a single batch, nor a probe), and a
 * paused remote's messages are accepted into the inbound queue but emitted only after
 * the resume. Real SQLite stores, real HTTP between sender and receiver.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type Envelope, PROTOCOL } from '../../src/core/protocol';
import type { InboundDelivery, Inbox } from '../../src/engine/inbox';
import type { Outbox } from '../../src/engine/outbox';
import { Receiver } from '../../src/engine/receiver';
import { RemoteLink, type RemoteLinkSettings } from '../../src/engine/remote-link';
import { EngineRuntime, type StoreConfig } from '../../src/engine/runtime';
import { SqliteStore } from '../../src/store/sqlite';
import { RemoteClient } from '../../src/transport/client';
import { handshakeHandler, messagesHandler } from '../../src/transport/inbound-http';
import { draft, received } from '../store/contract';
import { testInbox, testOutbox, testPeer, untilOutbox } from './support';

const USER = { user: 'a-calls-b', password: 'pw-0123456789' };

function tempStore(): SqliteStore {
  return new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-pause-')), 'store.sqlite'));
}

/** One turn of the event loop: a notify() made before it has run its pump (which claims, if it may, before its first await). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Counts the outbound claims made on `store` (a paused sender must make none). */
function countClaims(store: SqliteStore): { count: number } {
  const claims = { count: 0 };
  const claim = store.outbound.claim.bind(store.outbound);
  store.outbound.claim = (...args) => {
    claims.count += 1;
    return claim(...args);
  };
  return claims;
}

/** Instance B: a receiver with remote A as its peer, over HTTP; counts every request (probes too). */
class ReceivingB extends EventEmitter<{ request: [url: string] }> {
  readonly store = tempStore();
  readonly receiver = new Receiver({ limits: () => DEFAULT_LIMITS });
  requests: string[] = [];
  private server: Server | undefined;
  url = '';

  async listen(): Promise<void> {
    this.receiver.addPeer(testPeer(this.store, USER));
    this.receiver.addProcessEvent('PE');
    const messages = messagesHandler(this.receiver);
    const handshake = handshakeHandler(this.receiver);
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      this.emit('request', req.url ?? '');
      if (req.url === '/rps/v1/handshake') handshake(req, res);
      else messages(req, res);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (this.server) {
      this.server.closeAllConnections();
      this.server.close();
      await once(this.server, 'close');
    }
    await this.store.close();
  }
}

function runtime(): EngineRuntime {
  return new EngineRuntime({ sealKeys: async () => ({ current: undefined, previous: [] }), authFailuresPerSec: 0, report: () => undefined });
}

/** Remote system 'rs' as instance A's link to `url` ('' : only called by it), active at deploy. */
function settings(url: string): RemoteLinkSettings {
  return {
    id: 'rs',
    name: 'desk B',
    url,
    tls: () => undefined,
    authType: 'basic',
    refreshWindowMs: 60_000,
    timeoutMs: 5000,
    batchSize: 100,
    maxInFlight: 2,
    lingerMs: 0,
    retryDelayMs: 20,
    retryMaxDelayMs: 200,
    maxTries: 3,
    probeIntervalMs: 50,
    tokenLifetimeSec: 300,
    ratePerSec: 0,
    maxBodyBytes: 10_000_000,
    activateOnDeploy: true,
  };
}

/** Only the instance name is read by the link (the store is given to it open). */
const STORE_CONFIG: StoreConfig = { location: { kind: 'sqlite', path: 'unused' }, instanceName: 'A', retention: { processedMs: 0, skippedMs: 0, errorMs: 0, readyMs: 0 } };

describe('engine: pausing a remote system', function () {
  this.timeout(30_000);
  let a: SqliteStore;
  let b: ReceivingB;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    a = tempStore();
    b = new ReceivingB();
    await b.listen();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await b.close();
    await a.close();
  });

  it('a paused sender claims nothing while rows are queued, probes nothing, and sends them all at the resume', async () => {
    const client = new RemoteClient({ url: b.url, auth: { type: 'basic', ...USER }, timeoutMs: 5000 });
    const outbox: Outbox = testOutbox(a, client);
    closers.push(async () => {
      await outbox.stop();
      client.close();
    });
    const claims = countClaims(a);
    const paused: boolean[] = [];
    outbox.on('paused', (p) => paused.push(p));
    outbox.pause();
    await outbox.start();
    assert.equal(outbox.state, 'active', 'the state still says what the remote allows');
    await a.outbound.enqueue([1, 2, 3, 4, 5].map((i) => ({ remoteSystem: 'B', message: draft('t', `r${i}`) })), Date.now());
    outbox.queued(5);
    outbox.retryNow();
    await turn();
    assert.equal(claims.count, 0, 'nothing claimed while paused');
    assert.deepEqual(b.requests, [], 'not even a probe');
    assert.equal((await a.outbound.count('B')).ready, 5, 'the rows keep queueing');

    outbox.resume();
    const counts = await untilOutbox(a, outbox, (c) => c.ready === 0 && c.processing === 0);
    assert.equal(counts.processed, 5);
    assert.equal((await b.store.inbound.count('peer-A')).ready, 5, 'B has them all');
    assert.deepEqual(paused, [true, false]);
  });

  it('a sender paused while it sends: what is out finishes, then nothing more until the resume', async () => {
    const client = new RemoteClient({ url: b.url, auth: { type: 'basic', ...USER }, timeoutMs: 5000 });
    const outbox = testOutbox(a, client);
    closers.push(async () => {
      await outbox.stop();
      client.close();
    });
    await outbox.start();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'first') }], Date.now());
    const first = once(outbox, 'delivered');
    outbox.queued(1);
    await first;
    outbox.pause();
    const claims = countClaims(a);
    const sent = b.requests.length;
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'second') }], Date.now());
    outbox.queued(1);
    await turn();
    assert.equal(claims.count, 0);
    assert.equal(b.requests.length, sent);
    const second = once(outbox, 'delivered');
    outbox.resume();
    await second;
    assert.equal((await a.outbound.count('B')).processed, 2);
  });

  it('survives a restart: the next link on the same store starts paused and sends not a batch nor a probe until resumed', async () => {
    const rt = runtime();
    const creds = USER;
    const first = new RemoteLink(rt, settings(b.url), creds, a, STORE_CONFIG, () => undefined);
    // Its probe at start reaches B before it is paused: no request of the first link arrives during the second's.
    const probed = once(b, 'request');
    first.start();
    await probed;
    assert.equal(await first.whenLoaded(10_000), true);
    assert.equal(first.states(String).paused, false);
    const states = await first.pause(String);
    assert.equal(states.paused, true);
    assert.deepEqual(JSON.parse((await a.values.read('paused:rs')) ?? '{}').paused, true, 'committed to the store');
    await first.close();

    const claims = countClaims(a);
    const requestsBefore = b.requests.length;
    const notices: string[] = [];
    const second = new RemoteLink(rt, settings(b.url), creds, a, STORE_CONFIG, (_level, code) => notices.push(code));
    closers.push(() => second.close());
    second.start();
    assert.equal(await second.whenLoaded(10_000), true);
    const { outbound, paused } = second.states(String);
    assert.deepEqual({ outbound, paused }, { outbound: 'active', paused: true });
    const remote = second.remote;
    assert.ok(remote);
    await remote.enqueue(draft('t', 'r1'));
    await turn();
    assert.equal(claims.count, 0, 'nothing claimed after the restart');
    assert.equal(b.requests.length, requestsBefore, 'no batch, no probe');

    const delivered = once(remote.outbox, 'delivered');
    assert.equal((await second.resume(String)).paused, false);
    await delivered;
    assert.equal((await b.store.inbound.count('peer-A')).ready, 1);
    assert.equal(await a.values.read('paused:rs'), undefined, 'resumed: the value is gone');
    assert.deepEqual(notices, ['resumed']);
  });

  it('inbound: a paused remote\'s messages are accepted into the queue, and emitted only after the resume', async () => {
    const rt = runtime();
    const inboundUser = { user: 'b-calls-a', password: 'pw-9876543210' };
    const link = new RemoteLink(rt, settings(''), { inboundUser: inboundUser.user, inboundPassword: inboundUser.password }, a, STORE_CONFIG, () => undefined);
    closers.push(() => link.close());
    rt.receiver.addProcessEvent('PE');
    link.start();
    assert.equal(await link.whenLoaded(10_000), true);
    // The rows' key follows the remote instance (link-identity.ts): known here before the inbox is made.
    await link.identity.learn('instance-B', 'handshake');
    const emitted: InboundDelivery[] = [];
    let wake = (): void => undefined;
    const inbox: Inbox = testInbox(a, {
      remoteSystem: rt.keyOf('rs'),
      held: () => rt.inboundHeld('rs'),
      emit: (d) => {
        emitted.push(d);
        wake();
      },
    });
    closers.push(() => inbox.stop());
    rt.receiver.addEndpoint('rs', 'PE', inbox);
    await inbox.start();
    await link.pause(String);

    const peer = rt.receiver.clientAuthenticate(inboundUser);
    assert.ok(peer);
    const envelope: Envelope = { protocol: PROTOCOL, sender: { instanceId: 'instance-B', name: 'B' }, messages: [received('t', 'x', 1), received('t', 'y', 1)] };
    const outcome = await rt.receiver.receive(peer, envelope);
    assert.equal(outcome.status, 200, 'the sender is not failed');
    await turn();
    assert.equal(emitted.length, 0, 'nothing emitted while paused');
    assert.equal((await a.inbound.count(rt.keyOf('rs'))).ready, 2, 'both wait in the inbound queue');

    const both = new Promise<void>((resolve) => {
      wake = () => emitted.length === 2 && resolve();
    });
    await link.resume(String);
    await both;
    assert.deepEqual(emitted.map((d) => d.message.source.id).sort(), ['x', 'y']);
  });
});
