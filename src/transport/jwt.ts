/**
 * Compact JWS (JWT) helpers for bearer tokens: our own HS256 tokens (issued by
 * `/rps/v1/token`) and tokens from an external identity provider, verified with the
 * provider's public keys (JWKS).
 *
 * The header of a token is chosen by whoever made it, so nothing in it is trusted:
 * - `alg` must be in an allow-list configured by us, never taken from the token alone;
 *   'none' (no signature at all) is never accepted.
 * - HS256 is only checked against our own secret (`verifyHs256`), never against a JWK:
 *   otherwise an attacker could sign with HS256 using the provider's *public* key as
 *   the HMAC secret (the classic algorithm confusion attack).
 * - A JWK only verifies the algorithm family it is made for (kty/crv, `alg`, `use`).
 * Decoding is strict and total (it never throws) because it runs on unauthenticated
 * input; error reasons never repeat token content, which may end up in logs.
 */
import { JWT_ALGORITHMS } from '../core/settings';
import { createHmac, createPublicKey, constants, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** The algorithms an external provider's tokens may use (the editor offers the same list). */
export const ASYMMETRIC_ALGORITHMS: readonly JwtAlgorithm[] = JWT_ALGORITHMS;

/** A public key as published in a JWKS. */
export type Jwk = JsonWebKey & { kid?: string; alg?: string; use?: string };

export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  client_id?: string;
  azp?: string;
  [claim: string]: unknown;
}

export interface DecodedJwt {
  header: { alg: string; kid?: string; typ?: string; [k: string]: unknown };
  claims: JwtClaims;
  /** `base64url(header) + '.' + base64url(claims)`, exactly as received: what is signed. */
  signingInput: string;
  signature: Buffer;
}

const DEFAULT_MAX_LENGTH = 8192;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const STRING_CLAIMS = ['iss', 'sub', 'jti', 'client_id', 'azp'] as const;
const NUMERIC_CLAIMS = ['exp', 'nbf', 'iat'] as const;

/** Bytes of a base64url part, or undefined unless it is the one canonical (unpadded) encoding. */
function base64urlBytes(part: string): Buffer | undefined {
  if (!BASE64URL.test(part)) return undefined;
  const bytes = Buffer.from(part, 'base64url');
  // Node decodes leniently (stray trailing bits, impossible lengths): re-encoding catches those.
  return bytes.toString('base64url') === part ? bytes : undefined;
}

/** A JSON object from base64url-encoded UTF-8, or undefined. */
function jsonObject(part: string): Record<string, unknown> | undefined {
  const bytes = base64urlBytes(part);
  if (!bytes || bytes.length === 0) return undefined;
  // fatal: invalid UTF-8 is refused rather than replaced; ignoreBOM: a BOM stays and fails JSON.parse.
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function claimsWellTyped(c: Record<string, unknown>): boolean {
  for (const name of STRING_CLAIMS) if (c[name] !== undefined && typeof c[name] !== 'string') return false;
  for (const name of NUMERIC_CLAIMS) if (c[name] !== undefined && !Number.isFinite(c[name])) return false;
  const aud = c.aud;
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) return false;
  return true;
}

/**
 * Structural decoding only (no verification). undefined for anything malformed: not 3
 * base64url parts, longer than `maxLength`, header/claims not JSON objects, alg not a
 * string, invalid UTF-8, non-canonical base64url, registered claims of the wrong type,
 * a `crit` header.
 * Never throws, whatever the input.
 */
export function decodeJwt(token: string, maxLength = DEFAULT_MAX_LENGTH): DecodedJwt | undefined {
  try {
    if (typeof token !== 'string' || token.length > maxLength) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, c, s] = parts;
    const header = jsonObject(h);
    const claims = jsonObject(c);
    const signature = base64urlBytes(s); // may be empty: such a token decodes but never verifies
    if (!header || !claims || !signature) return undefined;
    if (typeof header.alg !== 'string') return undefined;
    if ((header.kid !== undefined && typeof header.kid !== 'string') || (header.typ !== undefined && typeof header.typ !== 'string')) return undefined;
    // `crit` names extensions the verifier must understand (RFC 7515 §4.1.11); we support none.
    if (header.crit !== undefined) return undefined;
    if (!claimsWellTyped(claims)) return undefined;
    return { header: header as DecodedJwt['header'], claims: claims as JwtClaims, signingInput: `${h}.${c}`, signature };
  } catch {
    return undefined; // JSON.parse, TextDecoder, or anything odd about the input
  }
}

function hmac(signingInput: string, key: Buffer): Buffer {
  return createHmac('sha256', key).update(signingInput, 'utf8').digest();
}

function encodePart(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Signs `claims` with HS256; extra header fields (e.g. kid) may be given, alg is always HS256. */
export function signHs256(claims: JwtClaims, key: Buffer, header?: Record<string, unknown>): string {
  const signingInput = `${encodePart({ typ: 'JWT', ...header, alg: 'HS256' })}.${encodePart(claims)}`;
  return `${signingInput}.${hmac(signingInput, key).toString('base64url')}`;
}

/** True only when header.alg is exactly 'HS256' and the HMAC matches (constant-time comparison). */
export function verifyHs256(decoded: DecodedJwt, key: Buffer): boolean {
  if (decoded.header.alg !== 'HS256' || key.length === 0) return false;
  const expected = hmac(decoded.signingInput, key);
  // The HMAC length is public, so checking it first leaks nothing.
  return decoded.signature.length === expected.length && timingSafeEqual(decoded.signature, expected);
}

/** Per algorithm: key type, curve (EC/OKP), digest, and the JOSE signature length for ES*. */
interface AlgSpec {
  kty: 'RSA' | 'EC' | 'OKP';
  crv?: string;
  hash: string | null;
  pss?: boolean;
  sigLength?: number;
}

const ALG_SPECS: Partial<Record<string, AlgSpec>> = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256', sigLength: 64 },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384', sigLength: 96 },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'sha512', sigLength: 132 },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null },
};

const DIGEST_BYTES: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };
const MIN_RSA_BITS = 2048;

/**
 * Whether `jwk` may verify tokens signed with `alg`: alg is asymmetric, kty/crv fit it,
 * and the JWK's own `alg`/`use` (when present) allow it. Also used to pick keys from a JWKS.
 */
export function jwkFits(jwk: Jwk, alg: string): boolean {
  const spec = Object.hasOwn(ALG_SPECS, alg) ? ALG_SPECS[alg] : undefined;
  if (!spec || typeof jwk !== 'object' || jwk === null) return false;
  if (jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv)) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  return true;
}

/**
 * Verifies an asymmetric signature with a JWK. header.alg must be in `allowed`, must be
 * asymmetric (never 'none' or HS*), and must fit the JWK (see `jwkFits`). RSA keys under
 * 2048 bits are refused. Never throws: a bad key or signature gives false.
 */
/** Imported keys by JWK object: the JWKS cache keeps one object per key until it fetches a new set. */
const importedKeys = new WeakMap<Jwk, KeyObject>();

function publicKeyOf(jwk: Jwk): KeyObject {
  let key = importedKeys.get(jwk);
  if (!key) {
    key = createPublicKey({ key: jwk, format: 'jwk' });
    importedKeys.set(jwk, key);
  }
  return key;
}

export function verifyWithJwk(decoded: DecodedJwt, jwk: Jwk, allowed: readonly JwtAlgorithm[]): boolean {
  try {
    const alg = decoded.header.alg;
    if (!(allowed as readonly string[]).includes(alg) || !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) return false;
    if (!jwkFits(jwk, alg)) return false;
    const spec = ALG_SPECS[alg] as AlgSpec;
    const key = publicKeyOf(jwk);
    const data = Buffer.from(decoded.signingInput, 'utf8');
    const sig = decoded.signature;
    if (spec.kty === 'RSA') {
      if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return false;
      if (!spec.pss) return verify(spec.hash, data, key, sig);
      const saltLength = DIGEST_BYTES[spec.hash as string];
      return verify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig);
    }
    if (spec.kty === 'EC') {
      if (key.asymmetricKeyType !== 'ec' || sig.length !== spec.sigLength) return false;
      return verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}

export interface ClaimChecks {
  issuer: string;
  audience: string;
  nowSec: number;
  /** Allowed clock skew for exp/nbf/iat, in seconds (default 30). */
  clockToleranceSec?: number;
  /** Longest accepted exp - iat (or exp - nbf, or remaining lifetime without either). */
  maxLifetimeSec?: number;
}

/**
 * undefined when the claims pass, else a short reason that repeats no token content.
 * exp is required; aud may be a string or an array containing the audience; a token
 * issued (iat) in the future counts as not yet valid.
 */
export function checkClaims(claims: JwtClaims, checks: ClaimChecks): string | undefined {
  const tolerance = checks.clockToleranceSec ?? 30;
  const now = checks.nowSec;
  const { exp, nbf, iat, aud } = claims;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'no expiry';
  if (claims.iss !== checks.issuer) return 'wrong issuer';
  const audOk = typeof aud === 'string' ? aud === checks.audience : Array.isArray(aud) && aud.includes(checks.audience);
  if (!audOk) return 'wrong audience';
  if (now >= exp + tolerance) return 'token expired';
  if (typeof nbf === 'number' && now + tolerance < nbf) return 'token not yet valid';
  if (typeof iat === 'number' && now + tolerance < iat) return 'token not yet valid';
  if (checks.maxLifetimeSec !== undefined) {
    const start = typeof iat === 'number' ? iat : typeof nbf === 'number' ? nbf : now;
    if (exp - start > checks.maxLifetimeSec) return 'lifetime too long';
  }
  return undefined;
}

/**
 * Parses a comma/space separated list of algorithm names (case-sensitive, as in JOSE).
 * Returns an error string for an empty list, an unknown name, or 'none'/HS256: tokens
 * from an external provider must use public-key algorithms.
 */
export function parseAlgorithms(text: string): JwtAlgorithm[] | string {
  const names = text.split(/[\s,]+/).filter((n) => n !== '');
  if (names.length === 0) return 'no algorithm given';
  const result: JwtAlgorithm[] = [];
  for (const name of names) {
    if (name.toLowerCase() === 'none' || /^HS/i.test(name)) return `algorithm ${name} is not allowed: use a public-key algorithm`;
    const alg = ASYMMETRIC_ALGORITHMS.find((a) => a === name);
    if (!alg) return `unknown algorithm ${name} (known: ${ASYMMETRIC_ALGORITHMS.join(', ')})`;
    if (!result.includes(alg)) result.push(alg);
  }
  return result;
}
