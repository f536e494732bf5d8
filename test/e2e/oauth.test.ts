/**
 * OAuth2 between real Node-RED processes: A sends with tokens from a real
 * authorization server (oidc-provider) and B checks them against its JWKS; two
 * instances use each other's /rps/v1/token; a restart keeps the rotated refresh
 * token; "Validate and activate" takes both sides from disabled to active.
 */
import assert from 'node:assert/strict';
import { OAuthServer } from '../harness/oauth-server';
import { A_TO_B, B_TO_A, mutualOAuthRemote } from '../../tools/flows';
import { assertExactlyOnceInOrder, Pair, plan, queueCounts, secondsToRecover, stream, untilStores } from '../harness/pair';

const AUDIENCE = 'urn:rps:desk-b';
const CLIENT = { clientId: 'desk-a', clientSecret: 'as-secret-4b1d7e' };

/** A's remote system for B: tokens from the authorization server. */
function outboundOAuth(as: OAuthServer, grant: 'oauth2-client' | 'oauth2-refresh', refreshToken?: string) {
  return {
    authType: grant,
    tokenUrl: as.tokenUrl,
    clientId: CLIENT.clientId,
    refreshWindow: '60',
    credentials: { clientSecret: CLIENT.clientSecret, ...(refreshToken ? { refreshToken } : {}) },
  };
}

/** B's remote system for A: A proves who it is with the authorization server's JWTs. */
function inboundJwt(as: OAuthServer) {
  return { inboundAuth: 'jwt', jwtIssuer: as.issuer, jwtAudience: AUDIENCE, jwksUrl: as.jwksUrl, jwtAlgorithms: 'RS256', jwtSubject: CLIENT.clientId };
}

async function admin(url: string, path: string, method = 'GET'): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, { method });
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

describe('OAuth2 between real Node-RED processes', function () {
  this.timeout(300_000);
  let pair: Pair | undefined;
  let as: OAuthServer | undefined;

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && pair) {
      console.log('--- A log ---\n' + pair.a.log.slice(-40).join('\n'));
      console.log('--- B log ---\n' + pair.b.log.slice(-40).join('\n'));
    }
    await pair?.stop();
    await as?.stop();
    pair = as = undefined;
  });

  it('client credentials with access tokens that live 2 s: 5,000 changes arrive, none lost; tokens renewed throughout', async () => {
    as = await OAuthServer.start({ accessTokenTtl: 2, clients: [CLIENT], audience: AUDIENCE });
    pair = await Pair.start({ remoteA: outboundOAuth(as, 'oauth2-client'), remoteB: inboundJwt(as) });
    const rounds = plan(500, 10);
    const started = Date.now();
    await stream(pair, rounds, 8);
    await pair.records.waitFor(() => pair!.records.applies.length >= 5000, 180_000, '5,000 changes applied on B');
    const seconds = (Date.now() - started) / 1000;
    assertExactlyOnceInOrder(pair.records, rounds);
    const a = pair.a;
    await untilStores("A's outbound rows all processed", () => queueCounts(a, 'rps_outbound').processed === 5000, 30_000);
    const counts = as.tokenRequests();
    console.log(`      5,000 changes in ${seconds.toFixed(1)} s with 2 s tokens: ${JSON.stringify(counts)}`);
    assert.equal(counts.failed, 0, 'no token request failed');
    assert.equal(counts.refresh_token, 0);
    // Renewed at half their life: about one request a second while sending.
    assert.ok(counts.client_credentials >= Math.floor(seconds / 2), `tokens were renewed as they expired (${counts.client_credentials} in ${seconds} s)`);
    assert.deepEqual(queueCounts(a, 'rps_outbound'), { processed: 5000 }, 'no row in error: no token expiry cost a message');
  });

  it('the token endpoint away: sending stops and the log says why; once it answers again, sending goes on by itself and nothing is lost', async () => {
    as = await OAuthServer.start({ accessTokenTtl: 2, clients: [CLIENT], audience: AUDIENCE });
    pair = await Pair.start({ remoteA: outboundOAuth(as, 'oauth2-client'), remoteB: inboundJwt(as) });
    const p = pair;
    const server = as;
    const rounds = plan(500, 10);
    let back: { answering: number } | undefined;
    let stopped = '';
    let outage: Promise<void> | undefined;
    // A fifth of the way in, the token endpoint goes away until A has stopped sending for
    // want of a token (they live 2 s); the stream goes on meanwhile, so A has changes
    // waiting whatever the machine's speed.
    await stream(p, rounds, 8, (sent) => {
      if (sent < 1000 || outage) return;
      server.tokenEndpointDown = true;
      outage = (async () => {
        stopped = await p.a.waitForLine(/sending stopped, the remote does not answer/, 60_000);
        server.tokenEndpointDown = false;
        back = { answering: Date.now() };
      })();
      // Awaited below, once the stream is through; a failure meanwhile must not go unhandled.
      outage.catch(() => undefined);
    });
    assert.ok(outage, 'the outage happened during the stream');
    await outage;
    await p.records.waitFor(() => p.records.applies.length >= 5000, 180_000, '5,000 changes applied on B');
    assertExactlyOnceInOrder(p.records, rounds);
    assert.match(stopped, /token endpoint/, 'the log line says it is the token endpoint that does not answer');
    assert.ok(p.a.log.some((l) => /the remote answers again after [\d.]+ s: sending goes on/.test(l)), 'A logs that sending goes on');
    const recovered = back && secondsToRecover(p.b, back.answering, back.answering);
    console.log(`      time to recover (token endpoint answers again → first change from A stored on B): ${recovered === undefined ? 'no change came after' : `${recovered.toFixed(1)} s`}`);
  });

  it('refresh-token grant: tokens rotate, and a restart (SIGKILL) uses the rotated one from the store, with no new grant', async () => {
    as = await OAuthServer.start({ accessTokenTtl: 2, clients: [CLIENT], audience: AUDIENCE });
    const initial = await as.mintRefreshToken(CLIENT.clientId);
    pair = await Pair.start({ remoteA: outboundOAuth(as, 'oauth2-refresh', initial), remoteB: inboundJwt(as) });
    const first = plan(50, 2, 'p');
    await stream(pair, first, 8);
    await pair.records.waitFor(() => pair!.records.applies.length >= 100, 60_000, 'first 100 changes');
    const before = as.tokenRequests();
    assert.ok(before.refresh_token >= 1);

    await pair.a.kill();
    await pair.a.launch();
    const second = plan(50, 2, 'q');
    await stream(pair, second, 8);
    await pair.records.waitFor(() => pair!.records.applies.length >= 200, 60_000, 'all 200 changes');
    assertExactlyOnceInOrder(pair.records, [...first, ...second]);
    const after = as.tokenRequests();
    console.log(`      token requests before the restart ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    // The initial refresh token was used up before the restart: had A used it again, the server would have refused it.
    assert.equal(after.failed, 0, 'every refresh after the restart used the rotated token');
    assert.equal(after.client_credentials, 0);
    assert.ok(after.refresh_token > before.refresh_token, 'tokens kept being refreshed after the restart');
  });

  it("two Node-RED instances use each other's /rps/v1/token; Validate and activate takes both from disabled to active", async () => {

    pair = await Pair.start({ remoteA: mutualOAuthRemote(A_TO_B), remoteB: mutualOAuthRemote(B_TO_A) });
    const { a, b } = pair;

    const initial = await admin(a.url, '/rps-remote-system/rs/state?wait=10000');
    assert.deepEqual([initial.outbound, initial.inbound], ['disabled', 'disabled']);
    const rounds = plan(20, 2, 'v');
    await stream(pair, rounds, 4);
    assert.deepEqual(queueCounts(a, 'rps_outbound'), { ready: 40 }, 'while disabled, changes wait in the queue');

    // A first: its outbound is active, but B has not activated A yet.
    const fromA = (await admin(a.url, '/rps-remote-system/rs/validate', 'POST')) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[]; states: Record<string, string> };
    const byName = new Map(fromA.checks.map((c) => [c.name, c]));
    for (const name of ['url', 'connection', 'token', 'auth', 'protocol', 'events', 'clock']) {
      assert.equal(byName.get(name)?.ok, true, `${name}: ${byName.get(name)?.detail}`);
    }
    assert.equal(fromA.ok, false, 'B has not activated A yet');
    assert.ok(fromA.checks.some((c) => c.name === 'activation' && !c.ok && /not activated us/.test(c.detail)));
    assert.deepEqual(fromA.states, { outbound: 'active', inbound: 'active', paused: false });

    const fromB = (await admin(b.url, '/rps-remote-system/rs/validate', 'POST')) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    assert.equal(fromB.ok, true, JSON.stringify(fromB.checks));

    await pair.records.waitFor(() => pair!.records.applies.length >= 40, 60_000, '40 changes applied on B after activation');
    assertExactlyOnceInOrder(pair.records, rounds);
    // B's correlation replies went back to A with a token from A's endpoint.
    await untilStores("B's correlation replies delivered to A", () => queueCounts(b, 'rps_outbound').processed === 20, 30_000);

    // Activation is remembered: after a restart A sends at once.
    await a.kill();
    await a.launch();
    // Right after a restart the state may still be read from the store: ?wait answers once it is
    // (a plain request could answer `loading`, never a state that was not read).
    const after = await admin(a.url, '/rps-remote-system/rs/state?wait=10000');
    assert.deepEqual([after.outbound, after.inbound], ['active', 'active']);
    const more = plan(20, 1, 'w');
    await stream(pair, more, 4);
    await pair.records.waitFor(() => pair!.records.applies.length >= 60, 60_000, '20 more after the restart');
  });
});
