/**
 * What inbound authentication costs per request, in one run: HTTP basic (the
 * baseline), a bearer token from our own /rps/v1/token (HS256), and a bearer JWT
 * from an identity provider (RS256, keys from a JWKS served on loopback and cached).
 * Prints one JSON line.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '../src/core/protocol';
import { type InboundPeer, Receiver } from '../src/engine/receiver';
import { SqliteStore } from '../src/store/sqlite';
import { JwksCache } from '../src/transport/jwks';

const USER = { user: 'desk-a', password: 'bench-secret-1' };

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

async function perSecond(n: number, fn: () => Promise<boolean>): Promise<number> {
  for (let i = 0; i < 200; i++) if (!(await fn())) throw new Error('authentication failed');
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

export async function benchAuth(): Promise<Record<string, number>> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
  const server = createServer((_req, res) => res.end(jwks));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;

  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-bench-auth-')), 'store.sqlite'));
  const receiver = new Receiver({ limits: () => DEFAULT_LIMITS });
  const base = { name: 'A', store, instanceName: 'B', tokenLifetimeSec: 300, ratePerSec: 0, maxBodyBytes: 1e7, state: 'active' as const };
  const own: InboundPeer = { ...base, id: 'own', credentials: USER };
  const external: InboundPeer = {
    ...base,
    id: 'idp',
    credentials: undefined,
    jwt: { issuer: 'https://idp.example', audience: 'urn:rps:b', subject: 'desk-a', algorithms: ['RS256'], jwks: new JwksCache({ url: jwksUrl }) },
  };
  receiver.addPeer(own);
  receiver.addPeer(external);

  const basic = `Basic ${Buffer.from(`${USER.user}:${USER.password}`).toString('base64')}`;
  const ownToken = `Bearer ${(await receiver.issue(own, [])).access_token}`;
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', kid, typ: 'at+jwt' })}.${b64({ iss: 'https://idp.example', aud: 'urn:rps:b', client_id: 'desk-a', iat: now, exp: now + 3600 })}`;
  const rs256 = `Bearer ${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;

  const ok = (header: string) => async () => (await receiver.authenticate(header)).ok;
  const n = 20_000;
  const result = {
    basicPerSec: Math.round(await perSecond(n, ok(basic))),
    ownBearerPerSec: Math.round(await perSecond(n, ok(ownToken))),
    externalJwtPerSec: Math.round(await perSecond(n, ok(rs256))),
  };
  server.close();
  await store.close();
  return {
    ...result,
    ownBearerVsBasic: Math.round((result.ownBearerPerSec / result.basicPerSec) * 100) / 100,
    externalJwtVsBasic: Math.round((result.externalJwtPerSec / result.basicPerSec) * 100) / 100,
  };
}

if (require.main === module) {
  benchAuth().then(
    (r) => console.log(JSON.stringify({ bench: 'inbound-auth', ...r })),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
