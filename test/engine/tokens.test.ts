/**
 * Our OAuth2 token endpoint (`POST /rps/v1/token`) and the OAuth2 client that calls
 * it, over real HTTP: client credentials, refresh-token rotation and reuse
 * detection, revocation when the API user's password changes, one shared token
 * request for concurrent senders, renewal before expiry, a retry on 401, and a
 * restart that reuses the token kept in the store. Clocks are injected, so expiry
 * is tested without waiting.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, PROTOCOL } from '../../src/core/protocol';
import { type InboundPeer, Receiver } from '../../src/engine/receiver';
import { SqliteStore } from '../../src/store/sqlite';
import { RemoteClient } from '../../src/transport/client';
import { handshakeHandler, messagesHandler, tokenHandler } from '../../src/transport/inbound-http';
import { heldRefreshToken, OAuthTokens, type OAuthOptions, type TokenPersistence } from '../../src/transport/oauth';
import { received } from '../store/contract';
import { testPeer } from './support';

const CLIENT = { user: 'desk-a', password: 'token-secret-7f3a9c' };

class TokenServer {
  readonly store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-tokens-')), 'store.sqlite'));
  clock = 1_800_000_000_000;
  readonly receiver = new Receiver({ limits: () => DEFAULT_LIMITS, now: () => this.clock });
  tokenRequests = 0;
  peer: InboundPeer;
  private server: Server | undefined;
  url = '';

  constructor() {
    this.peer = this.makePeer(CLIENT.password);
    this.receiver.addPeer(this.peer);
    this.receiver.addEndpoint('peer-A', 'PE', { notify: () => undefined });
  }

  makePeer(password: string): InboundPeer {
    return testPeer(this.store, { user: CLIENT.user, password }, { tokenLifetimeSec: 60, maxBodyBytes: 1_000_000 });
  }

  /** The API user's password changed (a redeploy with the new credential). */
  changePassword(password: string): void {
    this.receiver.removePeer('peer-A', this.peer);
    this.peer = this.makePeer(password);
    this.receiver.addPeer(this.peer);
  }

  async listen(): Promise<void> {
    const token = tokenHandler(this.receiver);
    const messages = messagesHandler(this.receiver);
    const handshake = handshakeHandler(this.receiver);
    this.server = createServer((req, res) => {
      if (req.url === '/rps/v1/token') {
        this.tokenRequests += 1;
        return token(req, res);
      }
      if (req.url === '/rps/v1/handshake') return handshake(req, res);
      return messages(req, res);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    this.server?.close();
    await this.store.close();
  }

  /** A raw token request, as curl would make it. */
  async post(form: Record<string, string>, auth = CLIENT): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.url}/rps/v1/token`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}`).toString('base64')}`,
      },
      body: new URLSearchParams(form).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
}

function memory(): TokenPersistence & { value: string | undefined; saves: number } {
  const m = {
    value: undefined as string | undefined,
    saves: 0,
    load: async () => m.value,
    save: async (v: string) => {
      m.value = v;
      m.saves += 1;
    },
  };
  return m;
}

describe('OAuth2: our token endpoint and the client that uses it', () => {
  let server: TokenServer;
  beforeEach(async () => {
    server = new TokenServer();
    await server.listen();
  });
  afterEach(async () => {
    await server.close();
  });

  function tokens(o: Partial<OAuthOptions> & { persistence: TokenPersistence }): OAuthTokens {
    return new OAuthTokens({
      grant: 'client_credentials',
      tokenUrl: `${server.url}/rps/v1/token`,
      clientId: CLIENT.user,
      clientSecret: CLIENT.password,
      authMethod: 'header',
      refreshWindowMs: 10_000,
      timeoutMs: 5000,
      now: () => server.clock,
      ...o,
    });
  }

  function client(source: OAuthTokens): RemoteClient {
    return new RemoteClient({ url: server.url, auth: { type: 'oauth2', tokens: source }, timeoutMs: 5000 });
  }

  async function deliver(c: RemoteClient, n: number): Promise<void> {
    const messages = Array.from({ length: n }, (_, i) => received('t', `r${i}`, 1));
    const body = JSON.stringify({ protocol: PROTOCOL, sender: { instanceId: 'A', name: 'A' }, messages });
    const result = await c.postMessages(body, messages.map((m) => m.id));
    assert.equal(result.kind, 'delivered', JSON.stringify(result));
  }

  it('client credentials: concurrent sends share one token request; the token is renewed before it expires', async () => {
    const source = tokens({ persistence: memory() });
    const c = client(source);
    await Promise.all([deliver(c, 1), deliver(c, 1), deliver(c, 1), deliver(c, 1)]);
    assert.equal(server.tokenRequests, 1);
    server.clock += 45_000; // 60 s tokens, 10 s window: still good
    await deliver(c, 1);
    assert.equal(server.tokenRequests, 1);
    server.clock += 6_000; // inside the window: renewed before the remote would refuse it
    await deliver(c, 1);
    assert.equal(server.tokenRequests, 2);
    assert.equal(source.requests, 2);
    c.close();
  });

  it('client_secret_post works as well as HTTP basic', async () => {
    const c = client(tokens({ persistence: memory(), authMethod: 'body' }));
    await deliver(c, 2);
    c.close();
  });

  it('a changed API password revokes the tokens issued before; the sender gets a token error, not a lost message', async () => {
    const source = tokens({ persistence: memory() });
    const c = client(source);
    await deliver(c, 1);
    server.changePassword('a-new-password-123');
    const messages = [received('t', 'x', 1)];
    const result = await c.postMessages(JSON.stringify({ protocol: PROTOCOL, sender: { instanceId: 'A', name: 'A' }, messages }), [messages[0].id]);
    // The old token got a 401, a new one was asked for once with the old secret, and refused.
    assert.equal(result.kind, 'transient');
    assert.match((result as { error: string }).error, /token endpoint .*HTTP 401 invalid_client/);
    assert.doesNotMatch((result as { error: string }).error, new RegExp(CLIENT.password));
    assert.equal(await server.store.inbound.count().then((n) => n.ready), 1, 'only the first message was accepted');
    c.close();
  });

  it('a token of the right signature but over its lifetime, or after expiry, is refused', async () => {
    const issued = await server.post({ grant_type: 'client_credentials' });
    assert.equal(issued.status, 200);
    assert.equal(issued.body.token_type, 'Bearer');
    assert.equal(issued.body.expires_in, 60);
    assert.equal(issued.body.refresh_token, undefined, 'no refresh token unless offline_access is asked for');
    const ok = await server.receiver.authenticate(`Bearer ${issued.body.access_token as string}`);
    assert.equal(ok.ok, true);
    server.clock += 61_000;
    const late = await server.receiver.authenticate(`Bearer ${issued.body.access_token as string}`);
    assert.equal(late.ok, false);
  });

  it('refresh tokens rotate; a used one presented again revokes its successor too', async () => {
    const first = await server.post({ grant_type: 'client_credentials', scope: 'offline_access' });
    assert.equal(first.status, 200);
    const initial = first.body.refresh_token as string;
    assert.ok(initial);

    const saved = memory();
    const source = tokens({ grant: 'refresh_token', refreshToken: initial, persistence: saved });
    const c = client(source);
    await deliver(c, 1);
    const rotated = heldRefreshToken(saved.value);
    assert.ok(rotated && rotated !== initial, 'the rotated refresh token is kept in the store');

    // A restart: the held token is used, no new grant (and the initial one would not work any more).
    const again = tokens({ grant: 'refresh_token', refreshToken: initial, persistence: saved });
    await deliver(client(again), 1);
    assert.equal(again.requests, 0, 'the access token kept in the store is still good');
    server.clock += 55_000;
    await deliver(client(again), 1);
    assert.equal(again.requests, 1);
    const third = heldRefreshToken(saved.value);
    assert.ok(third && third !== rotated);

    // Someone replays the first refresh token: refused, and the family is revoked.
    const replay = await server.post({ grant_type: 'refresh_token', refresh_token: initial });
    assert.deepEqual([replay.status, replay.body.error], [400, 'invalid_grant']);
    const afterReplay = await server.post({ grant_type: 'refresh_token', refresh_token: third });
    assert.deepEqual([afterReplay.status, afterReplay.body.error], [400, 'invalid_grant'], 'the legitimate holder must get a new grant');
    c.close();
  });

  it('answers bad token requests with OAuth2 errors and writes nothing', async () => {
    await server.receiver.tokens.key(server.store); // as the remote-system node does at start
    const before = await server.store.values.read('token-signing-key');
    assert.ok(before);
    const cases: [Record<string, string>, typeof CLIENT, number, string][] = [
      [{ grant_type: 'client_credentials' }, { user: CLIENT.user, password: 'wrong' }, 401, 'invalid_client'],
      [{ grant_type: 'password', username: 'x', password: 'y' }, CLIENT, 400, 'unsupported_grant_type'],
      [{}, CLIENT, 400, 'invalid_request'],
      [{ grant_type: 'refresh_token' }, CLIENT, 400, 'invalid_request'],
      [{ grant_type: 'refresh_token', refresh_token: 'not-one-of-ours' }, CLIENT, 400, 'invalid_grant'],
      [{ grant_type: 'client_credentials', scope: 'admin' }, CLIENT, 400, 'invalid_scope'],
    ];
    for (const [form, auth, status, error] of cases) {
      const res = await server.post(form, auth);
      assert.deepEqual([res.status, res.body.error], [status, error], JSON.stringify(form));
      assert.equal(typeof res.body.error_description, 'string');
    }
    const both = await fetch(`${server.url}/rps/v1/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    assert.equal(both.status, 400);
    assert.equal(await server.store.values.read('token-signing-key'), before);
  });
});
