import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksCache, type JwksOptions } from '../../src/transport/jwks';
import type { Jwk } from '../../src/transport/jwt';

const rsaJwk = (kid: string): Jwk => ({ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), kid, use: 'sig' });
const ecJwk = (kid: string): Jwk => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid });

describe('transport/jwks', () => {
  const SECRET = 'eyJTOKEN-TEXT-NOT-TO-LEAK';
  let server: http.Server;
  let base: string;
  let requests = 0;
  /** What the server answers next: status and body. */
  let answer: { status: number; body: string; headers?: Record<string, string> };
  let clock = 0;
  let k1: Jwk;
  let k2: Jwk;
  let e1: Jwk;

  const setKeys = (keys: unknown[]): void => {
    answer = { status: 200, body: JSON.stringify({ keys }) };
  };
  const cache = (o: Partial<JwksOptions> = {}): JwksCache =>
    new JwksCache({ url: `${base}/path/jwks?secret=${SECRET}`, now: () => clock, cacheMs: 600_000, minRefetchMs: 30_000, ...o });

  before(async () => {
    k1 = rsaJwk('k1');
    k2 = rsaJwk('k2');
    e1 = ecJwk('e1');
    server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    requests = 0;
    clock = 1_000_000;
    setKeys([k1, k2, e1]);
  });

  it('finds a key by kid, if it fits the alg', async () => {
    const c = cache();
    assert.deepEqual(await c.key('k2', 'RS256'), k2);
    assert.deepEqual(await c.key('e1', 'ES256'), e1);
    assert.equal(await c.key('e1', 'RS256'), undefined);
    assert.equal(await c.key('k1', 'HS256'), undefined);
    assert.equal(await c.key('k1', 'none'), undefined);
  });

  it('without a kid, takes the only key fitting the alg, and only then', async () => {
    const c = cache();
    assert.deepEqual(await c.key(undefined, 'ES256'), e1);
    assert.equal(await c.key(undefined, 'RS256'), undefined, 'two RSA keys: ambiguous');
  });

  it('keeps only entries that are objects with a string kty', async () => {
    setKeys([null, 'k', 42, [], { kid: 'x' }, { kty: 1, kid: 'y' }, k1]);
    const c = cache();
    assert.deepEqual(await c.key(undefined, 'RS256'), k1);
    assert.equal(await c.key('y', 'RS256'), undefined);
  });

  it('fetches once for many calls, and concurrent calls share one fetch', async () => {
    const c = cache();
    const found = await Promise.all(Array.from({ length: 20 }, (_, i) => c.key(i % 2 ? 'k1' : 'k2', 'RS256')));
    assert.equal(requests, 1);
    assert.ok(found.every((k) => k !== undefined));
    for (let i = 0; i < 20; i++) await c.key('k1', 'RS256');
    assert.equal(requests, 1);
  });

  it('fetches again once the set is older than cacheMs', async () => {
    const c = cache();
    await c.key('k1', 'RS256');
    clock += 599_999;
    await c.key('k1', 'RS256');
    assert.equal(requests, 1);
    setKeys([k2]);
    clock += 1;
    assert.equal(await c.key('k1', 'RS256'), undefined);
    assert.deepEqual(await c.key('k2', 'RS256'), k2);
    assert.equal(requests, 2);
  });

  it('refetches for an unknown kid at most once per minRefetchMs', async () => {
    const c = cache();
    assert.equal(await c.key('forged-1', 'RS256'), undefined);
    assert.equal(requests, 1, 'just fetched: no second fetch');
    clock += 10_000;
    for (let i = 0; i < 50; i++) assert.equal(await c.key(`forged-${i}`, 'RS256'), undefined);
    assert.equal(requests, 1);
    clock += 20_000;
    await Promise.all(Array.from({ length: 50 }, (_, i) => c.key(`forged-${i}`, 'RS256')));
    assert.equal(requests, 2);
    // A key the provider rotated in is found on the next allowed refetch.
    const k3 = rsaJwk('k3');
    setKeys([k1, k3]);
    assert.equal(await c.key('k3', 'RS256'), undefined);
    clock += 30_000;
    assert.deepEqual(await c.key('k3', 'RS256'), k3);
    assert.equal(requests, 3);
  });

  async function rejection(c: JwksCache, reason: RegExp): Promise<void> {
    await assert.rejects(c.key(SECRET, 'RS256'), (err: Error) => {
      assert.match(err.message, new RegExp(base.replace(/[.]/g, '\\.')));
      assert.match(err.message, reason);
      assert.ok(!err.message.includes(SECRET), err.message);
      assert.ok(!err.message.includes('/path/jwks'), err.message);
      return true;
    });
  }

  it('rejects on a server error, naming the origin and no token', async () => {
    answer = { status: 500, body: `boom ${SECRET}` };
    await rejection(cache(), /HTTP 500/);
  });

  it('rejects a body that is not JSON, or has no keys array', async () => {
    answer = { status: 200, body: `<html>${SECRET}</html>` };
    await rejection(cache(), /not a JSON object/);
    answer = { status: 200, body: JSON.stringify({ keys: SECRET }) };
    await rejection(cache(), /no "keys" array/);
    answer = { status: 200, body: 'null' };
    await rejection(cache(), /not a JSON object/);
  });

  it('rejects a body larger than maxBytes', async () => {
    assert.ok(answer.body.length > 500);
    await rejection(cache({ maxBytes: 500 }), /maxContentLength/);
  });

  it('does not follow redirects', async () => {
    answer = { status: 302, body: '', headers: { Location: `${base}/elsewhere` } };
    await rejection(cache(), /HTTP 302/);
    assert.equal(requests, 1);
  });

  it('rejects when the server cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const c = new JwksCache({ url: `http://127.0.0.1:${port}/jwks` });
    await assert.rejects(c.key('k1', 'RS256'), /JWKS from http:\/\/127\.0\.0\.1:\d+ could not be loaded: ECONNREFUSED/);
  });

  it('after a failed first fetch, retries no sooner than minRefetchMs', async () => {
    answer = { status: 503, body: '' };
    const c = cache();
    await rejection(c, /HTTP 503/);
    await rejection(c, /HTTP 503/);
    assert.equal(requests, 1);
    setKeys([k1]);
    clock += 30_000;
    assert.deepEqual(await c.key('k1', 'RS256'), k1);
    assert.equal(requests, 2);
  });

  it('keeps serving the cached set when a refetch fails', async () => {
    const c = cache();
    await c.key('k1', 'RS256');
    answer = { status: 500, body: '' };
    clock += 600_000;
    assert.deepEqual(await c.key('k1', 'RS256'), k1);
    assert.equal(requests, 2);
    // The failed refetch is not repeated for every call.
    assert.deepEqual(await c.key('k1', 'RS256'), k1);
    assert.equal(await c.key('unknown', 'RS256'), undefined);
    assert.equal(requests, 2);
    setKeys([k1, k2, e1]);
    clock += 30_000;
    assert.deepEqual(await c.key('k2', 'RS256'), k2);
    assert.equal(requests, 3);
  });

  it('stops trusting a cached set the provider could not confirm for a day', async () => {
    const c = cache();
    await c.key('k1', 'RS256');
    answer = { status: 500, body: '' };
    clock += 24 * 60 * 60 * 1000 + 1;
    await assert.rejects(c.key('k1', 'RS256'), /could not be loaded: HTTP 500/);
  });

  it('refuses a URL that is not http(s)', () => {
    assert.throws(() => new JwksCache({ url: 'file:///etc/jwks.json' }), /http\(s\)/);
    assert.throws(() => new JwksCache({ url: 'not a url' }));
  });
});
