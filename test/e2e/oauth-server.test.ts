/**
 * Self-test of the OAuth 2.0 authorization server harness (test/harness/oauth-server.ts):
 * real token requests with simple-oauth2, JWT access tokens checked against the JWKS.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { AuthorizationCode, ClientCredentials, type ModuleOptions } from 'simple-oauth2';
import { OAuthServer } from '../harness/oauth-server';

const AUDIENCE = 'urn:rps:desk-b';
const TTL = 2;
const CLIENT = { clientId: 'desk-a', clientSecret: 's3cret-a' };

interface JwtParts {
  header: { alg: string; kid?: string; typ?: string };
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

function decodeJwt(token: string): JwtParts {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a JWS in compact serialization');
  const json = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
  return {
    header: json(parts[0]!) as JwtParts['header'],
    payload: json(parts[1]!),
    signingInput: `${parts[0]}.${parts[1]}`,
    signature: Buffer.from(parts[2]!, 'base64url'),
  };
}

function boomStatus(err: unknown): { status: number; error: unknown } {
  const e = err as { output?: { statusCode?: number }; data?: { payload?: { error?: unknown } } };
  return { status: e.output?.statusCode ?? 0, error: e.data?.payload?.error };
}

describe('OAuth 2.0 authorization server harness (oidc-provider)', function () {
  let server: OAuthServer;
  let config: ModuleOptions;

  before(async () => {
    server = await OAuthServer.start({ accessTokenTtl: TTL, clients: [CLIENT], audience: AUDIENCE });
    const url = new URL(server.tokenUrl);
    config = {
      client: { id: CLIENT.clientId, secret: CLIENT.clientSecret },
      auth: { tokenHost: url.origin, tokenPath: url.pathname },
    };
  });
  after(async () => {
    await server?.stop();
  });

  it('issues an RS256 JWT access token for the audience, verifiable with the JWKS', async () => {
    const token = await new ClientCredentials(config).getToken({});
    const accessToken = token.token.access_token as string;
    assert.equal(token.token.token_type, 'Bearer');
    assert.equal(token.token.expires_in, TTL);

    const jwt = decodeJwt(accessToken);
    assert.equal(jwt.header.alg, 'RS256');
    assert.equal(jwt.header.typ, 'at+jwt');
    assert.equal(jwt.payload.iss, server.issuer);
    assert.equal(jwt.payload.aud, AUDIENCE);
    assert.equal(jwt.payload.client_id, CLIENT.clientId);
    assert.equal(jwt.payload.sub, CLIENT.clientId);
    assert.equal((jwt.payload.exp as number) - (jwt.payload.iat as number), TTL);
    assert.ok(Math.abs((jwt.payload.iat as number) - Date.now() / 1000) < 5);

    const jwks = (await (await fetch(server.jwksUrl)).json()) as { keys: (JsonWebKey & { kid: string })[] };
    const jwk = jwks.keys.find((k) => k.kid === jwt.header.kid);
    assert.ok(jwk, 'signing key published in the JWKS');
    assert.equal(jwk.d, undefined, 'no private parts in the JWKS');
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from(jwt.signingInput), key, jwt.signature), 'signature verifies');
    const tampered = Buffer.from(jwt.signature);
    tampered[0] = tampered[0]! ^ 0xff;
    assert.ok(!verify('sha256', Buffer.from(jwt.signingInput), key, tampered));
  });

  it('accepts client_secret_post as well as HTTP Basic', async () => {
    const token = await new ClientCredentials({ ...config, options: { authorizationMethod: 'body' } }).getToken({});
    assert.equal(decodeJwt(token.token.access_token as string).payload.aud, AUDIENCE);
  });

  it('rotates refresh tokens and refuses a used one; counts requests', async () => {
    const before = server.tokenRequests();
    const oauth = new AuthorizationCode(config);
    const first = await server.mintRefreshToken(CLIENT.clientId);

    const r1 = await oauth.createToken({ refresh_token: first }).refresh();
    const second = r1.token.refresh_token as string;
    assert.ok(second && second !== first, 'a new refresh token');
    const at1 = decodeJwt(r1.token.access_token as string).payload;
    assert.equal(at1.aud, AUDIENCE);
    assert.equal(at1.iss, server.issuer);
    assert.equal(at1.client_id, CLIENT.clientId);
    assert.equal((at1.exp as number) - (at1.iat as number), TTL);

    const r2 = await oauth.createToken({ refresh_token: second }).refresh();
    const third = r2.token.refresh_token as string;
    assert.ok(third && third !== second);
    assert.equal(decodeJwt(r2.token.access_token as string).payload.aud, AUDIENCE);

    await assert.rejects(oauth.createToken({ refresh_token: first }).refresh(), (err) => {
      assert.deepEqual(boomStatus(err), { status: 400, error: 'invalid_grant' });
      return true;
    });

    // Reuse detection (RFC 9700 §4.14.2): replaying a rotated token revokes the whole grant.
    await assert.rejects(oauth.createToken({ refresh_token: third }).refresh(), (err) => {
      assert.deepEqual(boomStatus(err), { status: 400, error: 'invalid_grant' });
      return true;
    });

    const after = server.tokenRequests();
    assert.equal(after.refresh_token - before.refresh_token, 4);
    assert.equal(after.succeeded - before.succeeded, 2);
    assert.equal(after.failed - before.failed, 2);
  });

  it('refuses a wrong client secret with 401 invalid_client', async () => {
    const before = server.tokenRequests();
    const bad = new ClientCredentials({ ...config, client: { id: CLIENT.clientId, secret: 'wrong' } });
    await assert.rejects(bad.getToken({}), (err) => {
      assert.deepEqual(boomStatus(err), { status: 401, error: 'invalid_client' });
      return true;
    });
    const after = server.tokenRequests();
    assert.equal(after.client_credentials - before.client_credentials, 1);
    assert.equal(after.failed - before.failed, 1);
    assert.equal(after.succeeded, before.succeeded);
  });
});
