/**
 * The HTTP client over TLS: a real Receiver behind `https.createServer` with a
 * certificate from a throw-away CA. The client trusts what its tls options say
 * (a tls-config node's CA, client certificate, verification switch) and nothing
 * else; a refused certificate is reported at the handshake's `tls` stage with
 * OpenSSL's code.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_LIMITS } from '../../src/core/protocol';
import { Outbox } from '../../src/engine/outbox';
import { Receiver } from '../../src/engine/receiver';
import { SqliteStore } from '../../src/store/sqlite';
import type { StatusCounts } from '../../src/store/store';
import { RemoteClient, type TlsOptions } from '../../src/transport/client';
import { handshakeHandler, messagesHandler } from '../../src/transport/inbound-http';
import { makeTestCerts, type TestCerts } from '../harness/certs';
import { draft } from '../store/contract';
import { testOutbox, testPeer, untilOutbox } from './support';

const USER = { user: 'a-calls-b', password: 'pw-0123456789' };

function tempStore(): SqliteStore {
  return new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-tls-')), 'store.sqlite'));
}

/** Instance B's receiving side, served over HTTPS. */
class HttpsReceiver {
  readonly store = tempStore();
  readonly receiver = new Receiver({ limits: () => DEFAULT_LIMITS });
  /** Requests that got past the TLS handshake, with the client certificate's CN (if any). */
  readonly requests: { url: string; clientCN: string | undefined }[] = [];
  server: Server | undefined;
  port = 0;

  constructor() {
    this.receiver.addPeer(testPeer(this.store, USER));
    this.receiver.addEndpoint('peer-A', 'PE', { notify: () => undefined });
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async listen(options: ServerOptions): Promise<void> {
    const messages = messagesHandler(this.receiver);
    const handshake = handshakeHandler(this.receiver);
    this.server = createServer(options, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      this.requests.push({ url: req.url ?? '', clientCN: peer?.subject ? [peer.subject.CN].flat().join(',') : undefined });
      if (req.url === '/rps/v1/handshake') return handshake(req, res);
      messages(req, res);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.server) {
      this.server.closeAllConnections();
      this.server.close();
      await once(this.server, 'close');
      this.server = undefined;
    }
    await this.store.close();
  }
}


describe('engine: the client over TLS (real https server, throw-away CA)', function () {
  this.timeout(30_000);
  let certs: TestCerts;
  let b: HttpsReceiver | undefined;
  let a: SqliteStore | undefined;
  const clients: RemoteClient[] = [];
  let outbox: Outbox | undefined;

  before(async () => {
    certs = await makeTestCerts();
  });
  after(() => certs?.remove());
  afterEach(async () => {
    await outbox?.stop();
    for (const c of clients.splice(0)) c.close();
    await b?.close();
    await a?.close();
    outbox = b = a = undefined;
  });

  const serverTls = (): ServerOptions => ({ key: certs.server.key, cert: certs.server.cert });
  const clientFor = (url: string, tls?: TlsOptions): RemoteClient => {
    const client = new RemoteClient({ url, auth: { type: 'basic', ...USER }, timeoutMs: 5000, tls });
    clients.push(client);
    return client;
  };

  /** Queues `n` messages on a new store A and delivers them to B with `client`; resolves with A's counts. */
  const deliver = async (client: RemoteClient, n: number): Promise<StatusCounts> => {
    a = tempStore();
    await a.outbound.enqueue(
      Array.from({ length: n }, (_, i) => ({ remoteSystem: 'B', message: draft('t', `r${i}`) })),
      Date.now(),
    );
    outbox = testOutbox(a, client, { batchSize: 10 });

    await outbox.start();
    return untilOutbox(a, outbox, (c) => c.processed === n || c.error > 0);
  };

  it('without our CA: the handshake fails at stage tls with the certificate error code, and no request reaches the receiver', async () => {
    b = new HttpsReceiver();
    await b.listen(serverTls());
    const client = clientFor(b.url);
    const hs = await client.handshake();
    assert.equal(hs.ok, false);
    assert.ok(!hs.ok);
    assert.equal(hs.stage, 'tls', hs.error);
    // The server sends its own certificate only; without the CA it cannot be chained to a trusted root.
    assert.match(hs.error, /^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
    assert.doesNotMatch(hs.error, new RegExp(USER.password), 'no secret in the error');
    const post = await client.postMessages('{}', []);
    assert.equal(post.kind, 'transient', 'a TLS failure is the connection’s, not the message’s');
    assert.ok(post.kind === 'transient');
    assert.match(post.error, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.deepEqual(b.requests, [], 'nothing got past the TLS handshake');
  });

  it('a certificate for another name is refused at stage tls (servername checked against subjectAltName)', async () => {
    b = new HttpsReceiver();
    await b.listen(serverTls());
    const hs = await clientFor(b.url, { ca: certs.ca.cert, servername: 'desk-b.example.com' }).handshake();
    assert.ok(!hs.ok);
    assert.equal(hs.stage, 'tls', hs.error);
    assert.match(hs.error, /^ERR_TLS_CERT_ALTNAME_INVALID: /);
    assert.deepEqual(b.requests, []);
  });

  it('with tls {ca}: the handshake succeeds and a batch of messages is delivered', async () => {
    b = new HttpsReceiver();
    await b.listen(serverTls());
    const client = clientFor(b.url, { ca: certs.ca.cert, rejectUnauthorized: true });
    const hs = await client.handshake();
    assert.ok(hs.ok, hs.ok ? '' : `${hs.stage}: ${hs.error}`);
    assert.equal(hs.handshake.protocol, 'rps/1');
    assert.deepEqual(hs.handshake.processEvents, ['PE']);
    const counts = await deliver(client, 25);
    assert.deepEqual(counts, { ready: 0, processing: 0, processed: 25, error: 0, skipped: 0 });
    assert.equal((await b.store.inbound.count('peer-A')).ready, 25);
    assert.ok(b.requests.filter((r) => r.url === '/rps/v1/messages').length >= 3, 'in batches of 10');
  });

  describe('a server that requires a client certificate (requestCert, rejectUnauthorized, our CA)', () => {
    const mutualTls = (): ServerOptions => ({ ...serverTls(), requestCert: true, rejectUnauthorized: true, ca: certs.ca.cert });

    it('refuses a client without one: the handshake fails at stage tls', async () => {
      b = new HttpsReceiver();
      await b.listen(mutualTls());
      const hs = await clientFor(b.url, { ca: certs.ca.cert }).handshake();
      assert.ok(!hs.ok);
      // TLS 1.3: the client finishes its side first; the server's alert then fails the request.
      assert.match(hs.error, /^ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: /);
      assert.equal(hs.stage, 'tls', `a refused client certificate is a TLS problem, reported as: ${hs.stage}: ${hs.error}`);
      assert.deepEqual(b.requests, [], 'the server answered nothing');
    });

    it('accepts one with tls {ca, cert, key}: handshake ok, messages delivered, the server saw our certificate', async () => {
      b = new HttpsReceiver();
      await b.listen(mutualTls());
      const client = clientFor(b.url, { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key });
      const hs = await client.handshake();
      assert.ok(hs.ok, hs.ok ? '' : `${hs.stage}: ${hs.error}`);
      const counts = await deliver(client, 5);
      assert.equal(counts.processed, 5);
      assert.equal((await b.store.inbound.count('peer-A')).ready, 5);
      assert.ok(b.requests.length >= 2);
      assert.ok(
        b.requests.every((r) => r.clientCN === 'rps-test-client'),
        JSON.stringify(b.requests),
      );
    });
  });

  it("rejectUnauthorized false (the user's explicit choice): connects without the CA and delivers", async () => {
    b = new HttpsReceiver();
    await b.listen(serverTls());
    const client = clientFor(b.url, { rejectUnauthorized: false });
    const hs = await client.handshake();
    assert.ok(hs.ok, hs.ok ? '' : `${hs.stage}: ${hs.error}`);
    const counts = await deliver(client, 3);
    assert.equal(counts.processed, 3);
    assert.equal((await b.store.inbound.count('peer-A')).ready, 3);
  });
});
