/**
 * Our own OAuth2 token service (`POST /rps/v1/token`), so that two Node-RED
 * instances can use OAuth2 without an identity provider, and the checking of the
 * bearer tokens it issued.
 *
 * - Access tokens are short-lived JWTs signed (HS256) with a key kept (sealed) in the store:
 *   only this instance can make or check them, and a restart keeps them valid.
 * - Each token carries a fingerprint of the credential it was issued for; when the
 *   API user or password changes, every token issued before is refused at once.
 * - Refresh tokens (asked for with scope `offline_access`) are random, stored by hash
 *   only, and rotate: each use gives a new one, and a used one presented again
 *   revokes its whole family (RFC 6819 §5.2.2.3).
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Store } from '../store/store';
import { SIGNING_KEY, StoreSecrets } from './secrets';
import { type BasicCredentials } from '../transport/auth';
import type { IssuedTokenSet as IssuedTokens, RefreshOutcome } from '../transport/inbound-http';
import { type DecodedJwt, checkClaims, signHs256, verifyHs256 } from '../transport/jwt';

export const OFFLINE_ACCESS = 'offline_access';
export const DEFAULT_REFRESH_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;
/** A refresh token used again within this time is a retry, not a replay. */
export const REFRESH_REUSE_GRACE_MS = 30_000;
/** Grants (refresh token families) kept per remote system; older ones are revoked. */
export const MAX_REFRESH_FAMILIES = 10;

export interface TokenSubject {
  /** The remote system's id in this runtime. */
  id: string;
  store: Store;
  credentials: BasicCredentials;
  /** Access token lifetime in seconds. */
  tokenLifetimeSec: number;
}


function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** The issuer (and audience) of the tokens one store's instance issues. */
export function ownIssuer(store: Store): string {
  return `rps:${store.instanceId}`;
}

export class TokenIssuer {
  /** Signing keys by store: loaded once (and created once, by whichever process is first). */
  private readonly keys = new WeakMap<Store, Promise<Buffer>>();
  private readonly fingerprints = new WeakMap<BasicCredentials, Promise<string>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly secrets: StoreSecrets = StoreSecrets.clear(),
  ) {}

  /**
   * The signing key, made by whichever process needs it first. One that does not open
   * (Node-RED's credential secret changed) is made anew: the access tokens signed with
   * the old one are refused (the remote asks for a new one at its next 401), and so are
   * the refresh tokens issued with it, whose credential fingerprint is keyed with it
   * (presenting one revokes its family: the remote needs a new grant).
   */
  key(store: Store): Promise<Buffer> {
    let key = this.keys.get(store);
    if (!key) {
      key = this.secrets
        .init(store, SIGNING_KEY, () => randomBytes(32).toString('base64url'), this.now())
        .then((text) => Buffer.from(text, 'base64url'));
      // A failed load is not remembered: the next request tries the store again.
      key.catch(() => this.keys.delete(store));
      this.keys.set(store, key);
    }
    return key;
  }

  /**
   * Fingerprint of a credential, keyed so that it says nothing about the password.
   * Remembered per credentials object (a peer keeps its object until the next deploy),
   * so checking a token costs one HMAC of the token, not two.
   */
  private fingerprint(subject: TokenSubject): Promise<string> {
    let fp = this.fingerprints.get(subject.credentials);
    if (!fp) {
      fp = this.key(subject.store).then((key) =>
        createHmac('sha256', key).update(`${subject.credentials.user}\u0000${subject.credentials.password}`).digest('base64url').slice(0, 22),
      );
      fp.catch(() => this.fingerprints.delete(subject.credentials));
      this.fingerprints.set(subject.credentials, fp);
    }
    return fp;
  }

  async issue(subject: TokenSubject, scope: readonly string[], refreshFamily?: string): Promise<IssuedTokens> {
    const key = await this.key(subject.store);
    const cfp = await this.fingerprint(subject);
    const iat = Math.floor(this.now() / 1000);
    const issuer = ownIssuer(subject.store);
    const access = signHs256(
      { iss: issuer, aud: issuer, sub: subject.id, iat, exp: iat + subject.tokenLifetimeSec, jti: randomUUID(), cfp },
      key,
    );
    const tokens: IssuedTokens = { access_token: access, token_type: 'Bearer', expires_in: subject.tokenLifetimeSec };
    if (scope.length > 0) tokens.scope = scope.join(' ');
    if (scope.includes(OFFLINE_ACCESS) && refreshFamily === undefined) {
      const refresh = randomBytes(32).toString('base64url');
      await subject.store.refreshTokens.add(
        { hash: hashToken(refresh), remoteSystem: subject.id, family: randomUUID(), credential: cfp, expiresAt: this.now() + DEFAULT_REFRESH_LIFETIME_MS },
        this.now(),
        MAX_REFRESH_FAMILIES,
      );
      tokens.refresh_token = refresh;
    }
    return tokens;
  }

  /** The refresh_token grant: a new access token and the refresh token's successor. */
  async refresh(subject: TokenSubject, refreshToken: string): Promise<RefreshOutcome> {
    const next = randomBytes(32).toString('base64url');
    const rotation = await subject.store.refreshTokens.rotate(
      { hash: hashToken(refreshToken), remoteSystem: subject.id, credential: await this.fingerprint(subject) },
      { hash: hashToken(next), expiresAt: this.now() + DEFAULT_REFRESH_LIFETIME_MS },
      this.now(),
      REFRESH_REUSE_GRACE_MS,
    );
    if (rotation.status !== 'rotated') return { ok: false, reason: `refresh token ${rotation.status}` };
    const tokens = await this.issue(subject, [OFFLINE_ACCESS], rotation.previous.family);
    tokens.refresh_token = next;
    return { ok: true, tokens };
  }

  /** Why a bearer token we issued is not (or no longer) good for this subject; undefined when it is. */
  async check(decoded: DecodedJwt, subject: TokenSubject): Promise<string | undefined> {
    const key = await this.key(subject.store);
    if (!verifyHs256(decoded, key)) return 'bad signature';
    const issuer = ownIssuer(subject.store);
    const claimsError = checkClaims(decoded.claims, {
      issuer,
      audience: issuer,
      nowSec: Math.floor(this.now() / 1000),
      clockToleranceSec: 0,
      maxLifetimeSec: subject.tokenLifetimeSec,
    });
    if (claimsError) return claimsError;
    if (decoded.claims.sub !== subject.id) return 'token of another remote system';
    if (decoded.claims.cfp !== (await this.fingerprint(subject))) return 'token revoked: the credential changed';
    return undefined;
  }
}
