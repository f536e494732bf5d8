/**
 * What the receiver refuses before it reads a message, per remote system, over real
 * HTTP: its rate limit (429 with Retry-After), its size limit (413), and its inbound
 * state (403 while disabled, 503 while its state is still being read); and that a
 * handshake is answered even while disabled, so the remote can validate.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, PROTOCOL } from '../../src/core/protocol';
import { Receiver } from '../../src/engine/receiver';
import { SqliteStore } from '../../src/store/sqlite';
import { RemoteClient } from '../../src/transport/client';
import { handshakeHandler, messagesHandler } from '../../src/transport/inbound-http';
import { received } from '../store/contract';
import { testPeer } from './support';

const USER = { user: 'a-calls-b', password: 'limits-pw-51' };
const AUTH = `Basic ${Buffer.from(`${USER.user}:${USER.password}`).toString('base64')}`;

describe('receiver limits per remote system', () => {
  let server: Server;
  let url: string;
  let clock = 1_000_000;
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-limits-')), 'store.sqlite'));
  const receiver = new Receiver({ limits: () => DEFAULT_LIMITS, now: () => clock });
  const peer = testPeer(store, USER, { ratePerSec: 2, maxBodyBytes: 2000 });
  receiver.addPeer(peer);
  receiver.addEndpoint('peer-A', 'PE', { notify: () => undefined });

  before(async () => {
    const messages = messagesHandler(receiver);
    const handshake = handshakeHandler(receiver);
    server = createServer((req, res) => (req.url?.endsWith('/handshake') ? handshake(req, res) : messages(req, res)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    await store.close();
  });
  beforeEach(() => {
    clock += 60_000; // a full bucket for each test
    peer.state = 'active';
  });

  async function post(n = 1, pad = 0): Promise<Response> {
    const messages = Array.from({ length: n }, () => received('t', 'x', 1, { fields: { pad: 'p'.repeat(pad) } }));
    return fetch(`${url}/messages`, {
      method: 'POST',
      headers: { Authorization: AUTH, 'Content-Type': 'application/rps+json' },
      body: JSON.stringify({ protocol: PROTOCOL, sender: { instanceId: 'A', name: 'A' }, messages }),
    });
  }

  it('answers 429 with Retry-After past the rate, and takes requests again when the bucket refills', async () => {
    assert.equal((await post()).status, 200);
    assert.equal((await post()).status, 200);
    const limited = await post();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(((await limited.json()) as { code: string }).code, 'rate-limited');
    clock += 500;
    assert.equal((await post()).status, 200);
  });

  it('names its request rate in the handshake, and the wait of a 429 to the millisecond (Retry-After counts whole seconds)', async () => {
    const client = new RemoteClient({ url: `${url}/rps/v1`, auth: { type: 'basic', ...USER }, timeoutMs: 5000 });
    try {
      const probe = await client.probe();
      assert.deepEqual(probe, { ok: true, instanceId: store.instanceId, requestRate: 2 }, 'the sender learns the rate from the probe');
      const message = received('t', 'x', 1);
      const body = JSON.stringify({ protocol: PROTOCOL, sender: { instanceId: 'A', name: 'A' }, messages: [message] });
      // The probe took one of the two tokens, this post the other; the next waits half a second.
      assert.equal((await client.postMessages(body, [message.id])).kind, 'delivered');
      const limited = await client.postMessages(body, [message.id]);
      assert.equal(limited.kind, 'transient');
      assert.equal(limited.kind === 'transient' && limited.status, 429);
      assert.equal(limited.kind === 'transient' && limited.retryAfterMs, 500, 'the body\'s wait, not the header\'s second');
    } finally {
      client.close();
    }
  });

  it('answers 413 past the remote system\'s size limit and stores nothing', async () => {
    const before = await store.inbound.count();
    const res = await post(1, 3000);
    assert.equal(res.status, 413);
    assert.deepEqual(await store.inbound.count(), before);
  });

  it('while disabled: 403 for messages, but the handshake is answered (and says so)', async () => {
    peer.state = 'disabled';
    const refused = await post();
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, 'inbound-disabled');
    const hs = await fetch(`${url}/handshake`, { headers: { Authorization: AUTH } });
    assert.equal(hs.status, 200);
    assert.equal(((await hs.json()) as { inboundState: string }).inboundState, 'disabled');
  });

  it('while the state is being read: 503 with Retry-After, so the sender just tries again', async () => {
    peer.state = 'loading';
    const res = await post();
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
  });
});

describe('failed authentications per client address', () => {
  it('after a burst of failures an address gets 429 without its credentials being looked at, until it has waited', () => {
    let clock = 0;
    const store = new SqliteStore(':memory:');
    const receiver = new Receiver({ limits: () => DEFAULT_LIMITS, authFailuresPerSec: 1, now: () => clock });
    for (let i = 0; i < 4; i++) {
      assert.equal(receiver.throttled('10.0.0.1'), undefined);
      receiver.failed('10.0.0.1');
    }
    assert.equal(receiver.throttled('10.0.0.1')?.status, 429);
    assert.equal(receiver.throttled('10.0.0.2'), undefined, 'other addresses are not held up');
    clock += 1000;
    assert.equal(receiver.throttled('10.0.0.1'), undefined);
    void store.close();
  });
});
