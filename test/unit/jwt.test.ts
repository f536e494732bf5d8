import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  ASYMMETRIC_ALGORITHMS,
  checkClaims,
  decodeJwt,
  parseAlgorithms,
  signHs256,
  verifyHs256,
  verifyWithJwk,
  type DecodedJwt,
  type Jwk,
  type JwtAlgorithm,
  type JwtClaims,
} from '../../src/transport/jwt';

const part = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const raw = (text: string | Buffer): string => Buffer.from(text).toString('base64url');

/** Signs like an identity provider would, with node:crypto directly. */
function signAs(alg: string, key: KeyObject, claims: JwtClaims, header: Record<string, unknown> = {}): string {
  const input = `${part({ alg, typ: 'JWT', ...header })}.${part(claims)}`;
  const data = Buffer.from(input);
  const hash = `sha${alg.slice(2)}`;
  let sig: Buffer;
  if (alg.startsWith('RS')) sig = sign(hash, data, key);
  else if (alg.startsWith('PS')) sig = sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  else if (alg.startsWith('ES')) sig = sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
  else sig = sign(null, data, key);
  return `${input}.${sig.toString('base64url')}`;
}

function decoded(token: string): DecodedJwt {
  const d = decodeJwt(token);
  assert.ok(d, 'token should decode');
  return d;
}

function pair(type: 'rsa' | 'ec' | 'ed25519', opts: { modulusLength?: number; namedCurve?: string } = {}): { priv: KeyObject; jwk: Jwk } {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: opts.modulusLength ?? 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: opts.namedCurve ?? 'P-256' })
        : generateKeyPairSync('ed25519');
  return { priv: privateKey, jwk: publicKey.export({ format: 'jwk' }) };
}

describe('transport/jwt', () => {
  const claims: JwtClaims = { iss: 'https://idp.example', aud: 'rps', sub: 'client-1', exp: 2_000_000_000, iat: 1_999_999_000 };
  let rsa: ReturnType<typeof pair>;
  let rsaOther: ReturnType<typeof pair>;
  let rsaShort: ReturnType<typeof pair>;
  let p256: ReturnType<typeof pair>;
  let p384: ReturnType<typeof pair>;
  let ed: ReturnType<typeof pair>;

  before(() => {
    rsa = pair('rsa');
    rsaOther = pair('rsa');
    rsaShort = pair('rsa', { modulusLength: 1024 });
    p256 = pair('ec', { namedCurve: 'P-256' });
    p384 = pair('ec', { namedCurve: 'P-384' });
    ed = pair('ed25519');
  });

  describe('HS256', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');

    it('round-trips claims and extra header fields', () => {
      const token = signHs256(claims, key, { kid: 'k1' });
      const d = decoded(token);
      assert.deepEqual(d.header, { typ: 'JWT', kid: 'k1', alg: 'HS256' });
      assert.deepEqual(d.claims, claims);
      assert.equal(verifyHs256(d, key), true);
    });

    it('keeps alg HS256 whatever header is given', () => {
      assert.equal(decoded(signHs256(claims, key, { alg: 'none' })).header.alg, 'HS256');
    });

    it('refuses a wrong key, tampered claims, a tampered signature, and an empty key', () => {
      const token = signHs256(claims, key);
      assert.equal(verifyHs256(decoded(token), Buffer.from('another key')), false);
      const [h, , s] = token.split('.');
      assert.equal(verifyHs256(decoded(`${h}.${part({ ...claims, sub: 'admin' })}.${s}`), key), false);
      const flipped = Buffer.from(s, 'base64url');
      flipped[0] ^= 1;
      assert.equal(verifyHs256(decoded(`${h}.${token.split('.')[1]}.${flipped.toString('base64url')}`), key), false);
      assert.equal(verifyHs256(decoded(`${h}.${token.split('.')[1]}.`), key), false);
      assert.equal(verifyHs256(decoded(signHs256(claims, Buffer.alloc(0))), Buffer.alloc(0)), false);
    });

    it('refuses any other alg, even with a matching HMAC', () => {
      for (const alg of ['hs256', 'HS384', 'none', 'RS256']) {
        const input = `${part({ alg })}.${part(claims)}`;
        const mac = createHmac('sha256', key).update(input).digest().toString('base64url');
        assert.equal(verifyHs256(decoded(`${input}.${mac}`), key), false, alg);
      }
    });
  });

  describe('verifyWithJwk', () => {
    const cases: Array<[JwtAlgorithm, () => ReturnType<typeof pair>]> = [
      ['RS256', () => rsa],
      ['RS512', () => rsa],
      ['PS256', () => rsa],
      ['PS384', () => rsa],
      ['ES256', () => p256],
      ['ES384', () => p384],
      ['EdDSA', () => ed],
    ];
    for (const [alg, keys] of cases) {
      it(`verifies ${alg} and refuses it tampered`, () => {
        const { priv, jwk } = keys();
        const token = signAs(alg, priv, claims, { kid: 'k1' });
        assert.equal(verifyWithJwk(decoded(token), jwk, ASYMMETRIC_ALGORITHMS), true);
        const [h, c, s] = token.split('.');
        assert.equal(verifyWithJwk(decoded(`${h}.${part({ ...claims, sub: 'admin' })}.${s}`), jwk, ASYMMETRIC_ALGORITHMS), false);
        const sig = Buffer.from(s, 'base64url');
        sig[sig.length - 1] ^= 1;
        assert.equal(verifyWithJwk(decoded(`${h}.${c}.${sig.toString('base64url')}`), jwk, ASYMMETRIC_ALGORITHMS), false);
      });
    }

    it('refuses a key other than the signer', () => {
      assert.equal(verifyWithJwk(decoded(signAs('RS256', rsa.priv, claims)), rsaOther.jwk, ['RS256']), false);
    });

    it("refuses alg 'none', whatever the allow-list says", () => {
      const token = `${part({ alg: 'none' })}.${part(claims)}.`;
      assert.equal(verifyWithJwk(decoded(token), rsa.jwk, ['none' as JwtAlgorithm, ...ASYMMETRIC_ALGORITHMS]), false);
      assert.equal(verifyHs256(decoded(token), Buffer.from('k')), false);
    });

    it('refuses HS256 signed with the RSA public key as HMAC secret (algorithm confusion)', () => {
      const pem = Buffer.from(`-----BEGIN PUBLIC KEY-----\n${rsa.jwk.n}\n-----END PUBLIC KEY-----\n`);
      for (const secret of [pem, Buffer.from(JSON.stringify(rsa.jwk)), Buffer.from(rsa.jwk.n as string, 'base64url')]) {
        const d = decoded(signHs256(claims, secret));
        assert.equal(verifyWithJwk(d, rsa.jwk, ASYMMETRIC_ALGORITHMS), false);
        assert.equal(verifyWithJwk(d, rsa.jwk, ['HS256', 'RS256']), false);
        assert.equal(verifyWithJwk(d, { ...rsa.jwk, alg: 'HS256' }, ['HS256']), false);
        assert.equal(verifyWithJwk(d, { kty: 'oct', k: secret.toString('base64url') }, ['HS256']), false);
      }
    });

    it('refuses an alg outside the allow-list', () => {
      const d = decoded(signAs('RS256', rsa.priv, claims));
      assert.equal(verifyWithJwk(d, rsa.jwk, ['ES256', 'PS256']), false);
      assert.equal(verifyWithJwk(d, rsa.jwk, []), false);
      assert.equal(verifyWithJwk(d, rsa.jwk, ['RS256']), true);
    });

    it('refuses a key whose kty or curve does not fit the alg', () => {
      assert.equal(verifyWithJwk(decoded(signAs('ES256', p256.priv, claims)), rsa.jwk, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk(decoded(signAs('RS256', rsa.priv, claims)), p256.jwk, ASYMMETRIC_ALGORITHMS), false);
      // ES384 named with a P-256 key, and a P-256 JWK relabelled as P-384.
      assert.equal(verifyWithJwk(decoded(signAs('ES384', p256.priv, claims)), p256.jwk, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk(decoded(signAs('ES256', p256.priv, claims)), { ...p256.jwk, crv: 'P-384' }, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk(decoded(signAs('EdDSA', ed.priv, claims)), { ...ed.jwk, crv: 'Ed448' }, ASYMMETRIC_ALGORITHMS), false);
    });

    it('refuses RSA keys under 2048 bits', () => {
      assert.equal(verifyWithJwk(decoded(signAs('RS256', rsaShort.priv, claims)), rsaShort.jwk, ASYMMETRIC_ALGORITHMS), false);
    });

    it("honours the JWK's alg and use", () => {
      const d = decoded(signAs('RS256', rsa.priv, claims));
      assert.equal(verifyWithJwk(d, { ...rsa.jwk, alg: 'RS256', use: 'sig' }, ASYMMETRIC_ALGORITHMS), true);
      assert.equal(verifyWithJwk(d, { ...rsa.jwk, alg: 'PS256' }, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk(d, { ...rsa.jwk, use: 'enc' }, ASYMMETRIC_ALGORITHMS), false);
    });

    it('gives false for a broken key or a signature of the wrong length, never throws', () => {
      const d = decoded(signAs('ES256', p256.priv, claims));
      assert.equal(verifyWithJwk(d, { ...p256.jwk, x: 'AAAA' }, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk(d, { kty: 'EC', crv: 'P-256' }, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk({ ...d, signature: d.signature.subarray(1) }, p256.jwk, ASYMMETRIC_ALGORITHMS), false);
      assert.equal(verifyWithJwk(d, null as unknown as Jwk, ASYMMETRIC_ALGORITHMS), false);
      const r = decoded(signAs('RS256', rsa.priv, claims));
      assert.equal(verifyWithJwk(r, { ...rsa.jwk, n: 'AQAB' }, ASYMMETRIC_ALGORITHMS), false);
    });
  });

  describe('checkClaims', () => {
    const now = 1_700_000_000;
    const good: JwtClaims = { iss: 'https://idp', aud: 'rps', exp: now + 300, iat: now - 10 };
    const checks = { issuer: 'https://idp', audience: 'rps', nowSec: now };

    it('passes good claims, with aud as a string or in an array', () => {
      assert.equal(checkClaims(good, checks), undefined);
      assert.equal(checkClaims({ ...good, aud: ['other', 'rps'] }, checks), undefined);
    });

    it('refuses expired tokens, allowing the clock tolerance', () => {
      assert.equal(checkClaims({ ...good, exp: now - 20 }, checks), undefined);
      assert.equal(checkClaims({ ...good, exp: now - 30 }, checks), 'token expired');
      assert.equal(checkClaims({ ...good, exp: now - 20 }, { ...checks, clockToleranceSec: 0 }), 'token expired');
      assert.equal(checkClaims({ ...good, exp: now - 100 }, { ...checks, clockToleranceSec: 120 }), undefined);
    });

    it('refuses tokens not yet valid (nbf, or iat in the future)', () => {
      assert.equal(checkClaims({ ...good, nbf: now + 20 }, checks), undefined);
      assert.equal(checkClaims({ ...good, nbf: now + 60 }, checks), 'token not yet valid');
      assert.equal(checkClaims({ ...good, iat: now + 60 }, checks), 'token not yet valid');
    });

    it('refuses a wrong issuer or audience, and a missing expiry', () => {
      assert.equal(checkClaims({ ...good, iss: 'https://evil' }, checks), 'wrong issuer');
      assert.equal(checkClaims({ ...good, iss: undefined }, checks), 'wrong issuer');
      assert.equal(checkClaims({ ...good, aud: 'other' }, checks), 'wrong audience');
      assert.equal(checkClaims({ ...good, aud: ['a', 'b'] }, checks), 'wrong audience');
      assert.equal(checkClaims({ ...good, aud: undefined }, checks), 'wrong audience');
      assert.equal(checkClaims({ ...good, exp: undefined }, checks), 'no expiry');
      assert.equal(checkClaims({ ...good, exp: '2000000000' as unknown as number }, checks), 'no expiry');
    });

    it('refuses a lifetime above maxLifetimeSec', () => {
      const limited = { ...checks, maxLifetimeSec: 3600 };
      assert.equal(checkClaims(good, limited), undefined);
      assert.equal(checkClaims({ ...good, exp: now + 7200 }, limited), 'lifetime too long');
      assert.equal(checkClaims({ ...good, iat: undefined, exp: now + 7200 }, limited), 'lifetime too long');
      assert.equal(checkClaims({ ...good, iat: now - 3000, exp: now + 1000 }, limited), 'lifetime too long');
    });

    it('names no token content in its reasons', () => {
      const reason = checkClaims({ ...good, iss: 'SECRET-ISSUER', aud: 'SECRET-AUD' }, checks);
      assert.ok(reason && !reason.includes('SECRET'));
    });
  });

  describe('parseAlgorithms', () => {
    it('reads comma and space separated names, without duplicates', () => {
      assert.deepEqual(parseAlgorithms('RS256, ES256  PS256,RS256'), ['RS256', 'ES256', 'PS256']);
      assert.deepEqual(parseAlgorithms(' EdDSA '), ['EdDSA']);
    });

    it('refuses unknown names, none, HS*, and an empty list', () => {
      for (const text of ['RS256, XS999', 'rs256', 'none', 'RS256 None', 'HS256', 'RS256,HS512', '', ' , ']) {
        assert.equal(typeof parseAlgorithms(text), 'string', text);
      }
    });
  });

  describe('decodeJwt', () => {
    const h = part({ alg: 'RS256', kid: 'k' });
    const c = part({ sub: 'x', exp: 1 });
    const s = raw('signature');

    it('decodes a well-formed token and keeps the signing input exactly', () => {
      const d = decoded(`${h}.${c}.${s}`);
      assert.equal(d.header.alg, 'RS256');
      assert.equal(d.claims.sub, 'x');
      assert.equal(d.signingInput, `${h}.${c}`);
      assert.equal(d.signature.toString(), 'signature');
    });

    const malformed: Array<[string, unknown]> = [
      ['empty', ''],
      ['two parts', `${h}.${c}`],
      ['four parts', `${h}.${c}.${s}.${s}`],
      ['only dots', '..'],
      ['padding =', `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k' })).toString('base64')}.${c}.${s}`],
      ['padding on the signature', `${h}.${c}.${raw('sig')}=`],
      ['+ in a part', `${h}.${c}.ab+c`],
      ['/ in a part', `${h}.${c}.ab/c`],
      ['space inside', `${h}.${c} .${s}`],
      ['surrounding whitespace', ` ${h}.${c}.${s}\n`],
      ['non-ASCII character', `${h}.${c}.${s}é`],
      ['non-canonical trailing bits', `${h}.${c}.AB`],
      ['impossible base64 length', `${h}.${c}.A`],
      ['header not JSON', `${raw('{alg:RS256}')}.${c}.${s}`],
      ['claims not JSON', `${h}.${raw('nope')}.${s}`],
      ['header a JSON array', `${raw('["RS256"]')}.${c}.${s}`],
      ['header a JSON string', `${raw('"RS256"')}.${c}.${s}`],
      ['header null', `${raw('null')}.${c}.${s}`],
      ['claims a number', `${h}.${raw('42')}.${s}`],
      ['claims an array', `${h}.${raw('[]')}.${s}`],
      ['empty header', `.${c}.${s}`],
      ['empty claims', `${h}..${s}`],
      ['BOM before the header', `${raw(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"alg":"RS256"}')]))}.${c}.${s}`],
      ['invalid UTF-8 in the claims', `${h}.${raw(Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]))}.${s}`],
      ['overlong UTF-8 in the header', `${raw(Buffer.concat([Buffer.from('{"alg":"RS256","x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]))}.${c}.${s}`],
      ['huge token', `${h}.${part({ pad: 'x'.repeat(9000) })}.${s}`],
      ['no alg', `${part({ typ: 'JWT' })}.${c}.${s}`],
      ['alg a number', `${part({ alg: 256 })}.${c}.${s}`],
      ['kid a number', `${part({ alg: 'RS256', kid: 1 })}.${c}.${s}`],
      ['typ an object', `${part({ alg: 'RS256', typ: {} })}.${c}.${s}`],
      ['crit header', `${part({ alg: 'RS256', crit: ['b64'], b64: false })}.${c}.${s}`],
      ['exp a string', `${h}.${part({ exp: '2000000000' })}.${s}`],
      ['exp infinite', `${h}.${raw('{"exp":1e400}')}.${s}`],
      ['nbf a string', `${h}.${part({ exp: 1, nbf: '1' })}.${s}`],
      ['iat a boolean', `${h}.${part({ exp: 1, iat: true })}.${s}`],
      ['iss a number', `${h}.${part({ exp: 1, iss: 1 })}.${s}`],
      ['aud a number', `${h}.${part({ exp: 1, aud: 1 })}.${s}`],
      ['aud an array with a number', `${h}.${part({ exp: 1, aud: ['a', 1] })}.${s}`],
      ['not a string (null)', null],
      ['not a string (number)', 42],
      ['not a string (object)', { toString: () => `${h}.${c}.${s}` }],
    ];
    for (const [name, input] of malformed) {
      it(`returns undefined, without throwing, for: ${name}`, () => {
        assert.equal(decodeJwt(input as string), undefined);
      });
    }

    it('honours maxLength', () => {
      const token = `${h}.${c}.${s}`;
      assert.ok(decodeJwt(token, token.length));
      assert.equal(decodeJwt(token, token.length - 1), undefined);
    });

    it('never throws on random mutations of a token', () => {
      let seed = 42;
      const rand = (n: number): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % n;
      };
      const alphabet = 'AZaz09-_.=+/ \u00e9\u0000{}"';
      const base = `${h}.${c}.${s}`;
      for (let i = 0; i < 2000; i++) {
        const chars = [...base];
        for (let j = rand(4) + 1; j > 0; j--) chars[rand(chars.length)] = alphabet[rand(alphabet.length)];
        assert.doesNotThrow(() => decodeJwt(chars.join('')));
      }
    });
  });
});
