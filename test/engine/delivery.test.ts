/**
 * The engine without Node-RED: an outbox on one store delivering over real HTTP to a
 * receiver on another store, as two instances do.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type Message } from '../../src/core/protocol';
import type { InboundDelivery, Inbox } from '../../src/engine/inbox';
import { type DeliveryClient, Outbox, type RemoteState } from '../../src/engine/outbox';
import { Receiver } from '../../src/engine/receiver';
import { SqliteStore } from '../../src/store/sqlite';
import type { StatusCounts } from '../../src/store/store';
import { RemoteClient } from '../../src/transport/client';
import { handshakeHandler, messagesHandler } from '../../src/transport/inbound-http';
import { draft } from '../store/contract';
import { testInbox, testOutbox, testPeer, untilOutbox } from './support';

const USER = { user: 'a-calls-b', password: 'pw-0123456789' };

/** Resolves when the outbox's state becomes `state` (it starts `loading`, then `active`). */
function untilState(outbox: Outbox, state: RemoteState): Promise<void> {
  return new Promise((resolve) => {
    const listener = (s: RemoteState): void => {
      if (s !== state) return;
      outbox.off('state', listener);
      resolve();
    };
    outbox.on('state', listener);
  });
}

function tempStore(): SqliteStore {
  return new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-engine-')), 'store.sqlite'));
}

/** Instance B's receiving side: a Receiver with one peer (A) and one endpoint, served over HTTP. */
class ReceivingSide {
  readonly store = tempStore();
  readonly receiver: Receiver;
  requests = 0;
  /** Message posts answered 429 by the receiver's own rate limit. */
  limited = 0;
  /** Fault injection in front of the real handler: answer the next N message posts with this status. */
  refuseNext: { count: number; status: number; headers?: Record<string, string> } | undefined;
  server: Server | undefined;
  port = 0;

  constructor(maxStringLength = DEFAULT_LIMITS.maxStringLength, ratePerSec = 0) {
    this.receiver = new Receiver({
      limits: () => ({ ...DEFAULT_LIMITS, maxStringLength }),
    });
    this.receiver.addPeer(testPeer(this.store, USER, { ratePerSec }));
    this.receiver.addEndpoint('peer-A', 'PE', { notify: () => undefined });
  }

  async listen(port = 0): Promise<void> {
    const messages = messagesHandler(this.receiver);
    const handshake = handshakeHandler(this.receiver);
    this.server = createServer((req, res) => {
      if (req.url === '/rps/v1/handshake') return handshake(req, res);
      this.requests += 1;
      if (this.refuseNext && this.refuseNext.count > 0) {
        this.refuseNext.count -= 1;
        res.writeHead(this.refuseNext.status, { 'Content-Type': 'application/json', ...this.refuseNext.headers });
        res.end('{"error":"injected"}');
        return;
      }
      res.on('finish', () => {
        if (res.statusCode === 429) this.limited += 1;
      });
      messages(req, res);
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    this.server = undefined;
  }
}

function outboxFor(
  store: SqliteStore,
  port: number,
  options: { batchSize?: number; password?: string; remote?: string } = {},
): { outbox: Outbox; client: RemoteClient } {
  const client = new RemoteClient({
    url: `http://127.0.0.1:${port}`,
    auth: { type: 'basic', user: USER.user, password: options.password ?? USER.password },
    timeoutMs: 5000,
  });
  const outbox = testOutbox(store, client, {
    remoteSystem: options.remote ?? 'B',
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
  });
  return { outbox, client };
}


const drained = (store: SqliteStore, outbox: Outbox): Promise<StatusCounts> => untilOutbox(store, outbox, (c) => c.ready === 0 && c.processing === 0);

describe('engine: outbox → HTTP → receiver', function () {
  this.timeout(30_000);
  let a: SqliteStore;
  let b: ReceivingSide;
  let outbox: Outbox | undefined;
  let client: RemoteClient | undefined;

  beforeEach(() => {
    a = tempStore();
  });
  afterEach(async () => {
    await outbox?.stop();
    client?.close();
    await b?.close();
    await a.close();
    await b?.store.close();
  });

  it('delivers 1,000 messages in batches, each accepted once', async () => {
    b = new ReceivingSide();
    await b.listen();
    await a.outbound.enqueue(
      Array.from({ length: 1000 }, (_, i) => ({ remoteSystem: 'B', message: draft('t', `r${i % 100}`) })),
      Date.now(),
    );
    ({ outbox, client } = outboxFor(a, b.port, { batchSize: 100 }));
    await outbox.start();
    await drained(a, outbox);
    assert.deepEqual(await a.outbound.count('B'), { ready: 0, processing: 0, processed: 1000, error: 0, skipped: 0 });
    assert.equal((await b.store.inbound.count('peer-A')).ready, 1000);
    assert.ok(b.requests <= 12, `batched: ${b.requests} requests for 1,000 messages`);
  });

  it('a refused message is isolated and set to error; its record waits, others are delivered', async () => {
    b = new ReceivingSide(50);
    await b.listen();
    const rows = Array.from({ length: 9 }, (_, i) => draft('t', `r${i}`));
    rows[4] = draft('t', 'r4', { fields: { text: 'x'.repeat(60) } });
    const later = draft('t', 'r4');
    const q = await a.outbound.enqueue(
      [...rows, later].map((message) => ({ remoteSystem: 'B', message })),
      Date.now(),
    );
    ({ outbox, client } = outboxFor(a, b.port));
    const failed = once(outbox, 'failed');
    await outbox.start();
    const [failedRows, reason] = (await failed) as [{ id: number }[], string];
    assert.deepEqual(
      failedRows.map((r) => r.id),
      [q[4].id],
    );
    assert.match(reason, /HTTP 400: messages\[0\]\.fields\.text: longer than 50 characters/);
    const counts = await untilOutbox(a, outbox, (c) => c.processed === 8);
    assert.deepEqual([counts.processed, counts.error, counts.ready], [8, 1, 1], JSON.stringify(counts));
    assert.equal((await a.outbound.get(q[9].id))?.status, 'ready', 'the later change of r4 waits behind the error');
  });

  it('a process event defined on the receiver but without an inbound flow: accepted and kept in its inbound queue', async () => {
    b = new ReceivingSide();
    b.receiver.addProcessEvent('Not wired yet');
    await b.listen();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x', { processEvent: 'Not wired yet' }) }], Date.now());
    ({ outbox, client } = outboxFor(a, b.port));
    await outbox.start();
    await drained(a, outbox);
    assert.equal((await a.outbound.count('B')).processed, 1);
    assert.equal((await b.store.inbound.count('peer-A')).ready, 1, 'waiting for an inbound flow');
  });

  it('an unknown process event is refused for that message only (404 with its code), the others are delivered', async () => {
    b = new ReceivingSide();
    await b.listen();
    await a.outbound.enqueue(
      [draft('t', 'x'), draft('t', 'y', { processEvent: 'No such event' }), draft('t', 'z')].map((message) => ({ remoteSystem: 'B', message })),
      Date.now(),
    );
    ({ outbox, client } = outboxFor(a, b.port));
    const failed = once(outbox, 'failed');
    await outbox.start();
    const [, reason] = (await failed) as [unknown, string];
    assert.match(reason, /HTTP 404: unknown process event "No such event"/);
    const counts = await untilOutbox(a, outbox, (c) => c.processed === 2);
    assert.equal(counts.error, 1);
    assert.equal(outbox.state, 'active', 'the remote itself is fine');
  });

  it('a URL where nothing serves rps/1 (404 without a code, as Express answers): the reason says so, the message is kept', async () => {
    // What a Node-RED answers that serves no rps/1 routes (none of its remote systems may call it).
    const host = createServer((req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!DOCTYPE html><html><body><pre>Cannot ${req.method} ${req.url}</pre></body></html>`);
    });
    host.listen(0, '127.0.0.1');
    await once(host, 'listening');
    try {
      await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
      ({ outbox, client } = outboxFor(a, (host.address() as AddressInfo).port));
      const failed = once(outbox, 'failed');
      const errored = untilState(outbox, 'error');
      await outbox.start();
      const [, reason] = (await failed) as [unknown, string];
      await errored;
      assert.equal(reason, 'no-endpoint', 'the reason code, which the node words (not the host\'s "Cannot POST")');
      assert.equal(outbox.lastError, 'no-endpoint');
      const probe = await client.probe();
      assert.deepEqual(probe, { ok: false, error: 'no-endpoint' }, 'the probe (GET /rps/v1/handshake) says the same');
      const counts = await a.outbound.count('B');
      assert.equal(counts.error, 1, 'kept, in error as a connection failure: the probe takes it back once the remote serves rps/1');
    } finally {
      host.closeAllConnections();
      host.close();
    }
  });

  it('a remote that is down: the state turns error, and delivery resumes by itself when it is back', async () => {
    b = new ReceivingSide();
    await b.listen();
    const port = b.port;
    await b.close();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    ({ outbox, client } = outboxFor(a, port));
    const states: RemoteState[] = [];
    outbox.on('state', (s) => states.push(s));
    const down = untilState(outbox, 'error');
    await outbox.start();
    await down;
    assert.equal(outbox.state, 'error');
    assert.match(outbox.lastError ?? '', /ECONNREFUSED/);
    const row = await a.outbound.get(1);
    assert.equal(row?.status, 'error', 'three quick attempts, then error');
    assert.equal(row?.errorKind, 'connection');
    assert.equal(row?.attempts, 3);
    assert.match(row?.lastError ?? '', /ECONNREFUSED/);
    await b.listen(port);
    await once(outbox, 'delivered');
    assert.deepEqual(states, ['active', 'error', 'active'], 'started, then down, then back');
    assert.equal((await a.outbound.count('B')).processed, 1);
  });

  it('a remote that names its request rate is not answered 429: under a stream of new rows the posts are spaced to it and the batches grow', async () => {
    b = new ReceivingSide(DEFAULT_LIMITS.maxStringLength, 20);
    await b.listen();
    ({ outbox, client } = outboxFor(a, b.port));
    await outbox.start();
    // 300 rows, 5 at a time as fast as they are stored: unspaced, the sender (no linger)
    // would post about once per 5 rows, far past the 20 the receiver's bucket holds. (Until
    // the start's probe answers, the sender knows no rate: the few posts of that round trip
    // fit in the bucket.)
    for (let i = 0; i < 60; i++) {
      await a.outbound.enqueue(Array.from({ length: 5 }, (_, k) => ({ remoteSystem: 'B', message: draft('t', `r${i}-${k}`) })), Date.now());
      outbox.queued(5);
      await new Promise((r) => setImmediate(r));
    }
    await untilOutbox(a, outbox, (c) => c.processed === 300);
    assert.equal(b.limited, 0, 'no post was answered 429');
    assert.ok(b.requests < 30, `the batches grew: ${b.requests} posts for 300 rows`);
  });

  it('429 with Retry-After: the rows wait that long and spend no attempt', async () => {
    b = new ReceivingSide();
    b.refuseNext = { count: 1, status: 429, headers: { 'Retry-After': '1' } };
    await b.listen();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    ({ outbox, client } = outboxFor(a, b.port));
    const started = Date.now();
    await outbox.start();
    await untilOutbox(a, outbox, (c) => c.processed === 1);
    const [row] = await a.outbound.list({ limit: 1 });
    assert.equal(row.tries, 0, 'the 429 cost no attempt');
    assert.equal(row.attempts, 2);
    assert.ok((row.processedAt ?? 0) - started >= 1000, 'it waited for Retry-After');
    assert.equal(outbox.state, 'active');
  });

  it('5xx from the remote: three quick attempts, then error; the probe brings the rows back when it answers', async () => {
    b = new ReceivingSide();
    b.refuseNext = { count: 3, status: 503 };
    await b.listen();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }, { remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    ({ outbox, client } = outboxFor(a, b.port));
    const requeued = once(outbox, 'requeued');
    await outbox.start();
    // The first row (with the second, if they were still sent together) used its three
    // attempts and went to error; the probe, which the remote answers, took it back.
    const [count] = (await requeued) as [number];
    assert.ok(count >= 1);
    const counts = await untilOutbox(a, outbox, (c) => c.processed === 2);
    assert.equal(counts.error, 0);
    assert.equal(outbox.state, 'active');
    const rows = await a.outbound.list({ limit: 2 });
    assert.deepEqual(
      rows.map((r) => [r.sequence, r.retries]),
      [
        [1, 0],
        [2, 0],
      ],
      'in order; coming back after the remote answers costs no retry',
    );
    assert.equal(rows[0].attempts, 4, 'three failed attempts, then the one that went through');
    assert.ok((rows[0].processedAt ?? 0) <= (rows[1].processedAt ?? 0), 'in order');
  });

  it('a row set to error while other batches got through comes back at the next batch that gets through, not at the probe (503s injected in front of the real client)', async () => {
    b = new ReceivingSide();
    await b.listen();
    const real = new RemoteClient({ url: `http://127.0.0.1:${b.port}`, auth: { type: 'basic', ...USER }, timeoutMs: 5000 });
    client = real;
    // Posts that carry record x fail (503) until x's row is in error; other records go through.
    let failX = true;
    const [x] = await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    const flaky: DeliveryClient = {
      postMessages: (body, ids, signal) =>
        failX && ids.includes(x.messageId) ? Promise.resolve({ kind: 'transient', error: 'HTTP 503 (injected)', status: 503 }) : real.postMessages(body, ids, signal),
      probe: (signal) => real.probe(signal),
    };
    // An hour between probes: only a delivered batch can bring x back within the test.
    outbox = testOutbox(a, flaky, { batchSize: 1, maxInFlight: 1, maxTries: 2, probeIntervalMs: 3_600_000 });
    let others = 0;
    const more = async (): Promise<void> => {
      others += 1;
      await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', `y${others}`) }], Date.now());
      outbox?.queued(1);
    };
    outbox.on('failed', (rows) => {
      if (!rows.some((r) => r.id === x.id)) return;
      failX = false;
      void more();
    });
    // Between x's two failed posts, another record's post goes through: the remote stays active.
    outbox.on('delivered', () => {
      if (failX && others < 20) void more();
    });
    const requeued = once(outbox, 'requeued');
    await outbox.start();
    await more();
    await requeued;
    const counts = await untilOutbox(a, outbox, (c) => c.processed === others + 1);
    assert.equal(counts.error, 0);
    assert.equal(outbox.state, 'active', 'the remote never went to error: a probe did not run');
    const [row] = await a.outbound.list({ limit: 1 });
    assert.equal(row.id, x.id);
    assert.equal(row.status, 'processed');
    assert.equal(row.attempts, 3, 'two failed posts, then the one after it came back');
  });

  it('a store fault while recording an answer: the rows are sent again once the store takes a write, not after their lease (fault injected into the store)', async () => {
    b = new ReceivingSide();
    await b.listen();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    const markProcessed = a.outbound.markProcessed.bind(a.outbound);
    a.outbound.markProcessed = async () => {
      a.outbound.markProcessed = markProcessed;
      throw new Error('disk I/O error (injected)');
    };
    ({ outbox, client } = outboxFor(a, b.port));
    const faults: Error[] = [];
    outbox.on('fault', (err) => faults.push(err));
    await outbox.start();
    // The lease is a minute (testOutbox): waiting it out would outlast this test.
    await untilOutbox(a, outbox, (c) => c.processed === 1);
    assert.equal(faults.length, 1);
    assert.equal(b.requests, 2, 'sent again after the fault');
    assert.equal((await b.store.inbound.count('peer-A')).ready, 1, 'the receiver holds it once');
  });

  it('a 200 that is not a result list for the messages sent counts as a failed attempt, not as delivered', async () => {
    b = new ReceivingSide();
    b.refuseNext = { count: 1, status: 200 };
    await b.listen();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    ({ outbox, client } = outboxFor(a, b.port));
    await outbox.start();
    await untilOutbox(a, outbox, (c) => c.processed === 1);
    const [row] = await a.outbound.list({ limit: 1 });
    assert.equal(row.attempts, 2, 'sent again after the answer that was not one');
  });

  it('one remote that is down does not hold up another on the same store', async () => {
    b = new ReceivingSide();
    await b.listen();
    const down = new ReceivingSide();
    await down.listen();
    const downPort = down.port;
    await down.close();
    await down.store.close();
    await a.outbound.enqueue(
      [
        ...Array.from({ length: 50 }, (_, i) => ({ remoteSystem: 'C', message: draft('t', `c${i}`) })),
        ...Array.from({ length: 50 }, (_, i) => ({ remoteSystem: 'B', message: draft('t', `b${i}`) })),
      ],
      Date.now(),
    );
    const c = outboxFor(a, downPort, { remote: 'C' });
    ({ outbox, client } = outboxFor(a, b.port));
    try {
      await c.outbox.start();
      await outbox.start();
      await drained(a, outbox);
      assert.equal((await a.outbound.count('B')).processed, 50);
      assert.equal((await a.outbound.count('C')).processed, 0);
    } finally {
      await c.outbox.stop();
      c.client.close();
    }
  });

  it('wrong credentials: the remote state is error and the batch waits in error (kind auth) for the remote to let us in', async () => {
    b = new ReceivingSide();
    await b.listen();
    await a.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    ({ outbox, client } = outboxFor(a, b.port, { password: 'wrong' }));
    const state = untilState(outbox, 'error');
    await outbox.start();
    await state;
    assert.equal(outbox.state, 'error');
    assert.match(outbox.lastError ?? '', /HTTP 401: credentials not accepted/);
    assert.doesNotMatch(outbox.lastError ?? '', /wrong|pw-/, 'no secret in the error');
    await outbox.stop();
    const [row] = await a.outbound.list({ limit: 10 });
    assert.deepEqual([row.status, row.errorKind], ['error', 'auth']);
  });
});

describe('engine: inbox', function () {
  this.timeout(30_000);
  let store: SqliteStore;
  let inbox: Inbox | undefined;
  beforeEach(() => {
    store = tempStore();
  });
  afterEach(async () => {
    await inbox?.stop();
    await store.close();
  });

  const message = (id: string, sequence: number): Message => ({ ...draft('t', id), sequence });
  const inboxFor = testInbox;

  it('emits each record in sequence order, one at a time, many records in parallel', async () => {
    const emitted: InboundDelivery[] = [];
    let wake: (() => void) | undefined;
    inbox = inboxFor(store, {
      emit: (d) => {
        emitted.push(d);
        wake?.();
      },
    });
    await store.inbound.accept('A', [message('x', 2), message('y', 1), message('x', 1), message('y', 2)], Date.now());
    const next = (n: number): Promise<void> =>
      new Promise((res) => {
        wake = () => emitted.length >= n && res();
        wake();
      });
    await inbox.start();
    await next(2);
    assert.deepEqual(
      emitted.map((d) => `${d.message.source.id}#${d.message.sequence}`).sort(),
      ['x#1', 'y#1'],
    );
    for (const d of emitted.slice(0, 2)) await inbox.finish({ id: d.row.id, attempt: d.attempt, status: 'processed' });
    await next(4);
    assert.deepEqual(
      emitted.slice(2).map((d) => `${d.message.source.id}#${d.message.sequence}`).sort(),
      ['x#2', 'y#2'],
    );
  });

  it('a message whose flow never finishes becomes error after the processing timeout', async () => {
    inbox = inboxFor(store, { processingTimeoutMs: 100, gapWaitMs: 0, timeoutError: 'processing timeout' });
    await store.inbound.accept('A', [message('x', 1)], Date.now());
    const timedOut = once(inbox, 'timeout');
    await inbox.start();
    const [rows] = (await timedOut) as [{ id: number }[]];
    const row = await store.inbound.get(rows[0].id);
    assert.equal(row?.status, 'error');
    assert.equal(row?.lastError, 'processing timeout');
  });
});
