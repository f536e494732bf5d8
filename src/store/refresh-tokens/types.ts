/** Refresh tokens we issued at `/rps/v1/token`, known by their hash only. */
export interface IssuedRefreshToken {
  /** SHA-256 of the token (base64url): the token itself is never stored. */
  hash: string;
  remoteSystem: string;
  /** Every token rotated from one grant shares the family: a reused token revokes it all. */
  family: string;
  /** Fingerprint of the credential it was issued for: a changed credential revokes it. */
  credential: string;
  expiresAt: number;
}

export type RefreshRotation =
  | { status: 'rotated'; previous: IssuedRefreshToken }
  /** Presented again after it was rotated: stolen or replayed, so its whole family is revoked. */
  | { status: 'reused' }
  | { status: 'unknown' | 'expired' | 'revoked' };

export interface PresentedToken {
  hash: string;
  remoteSystem: string;
  credential: string;
}

export interface RefreshTokens {
  /** Records a refresh token issued by our token endpoint; the remote system keeps its `maxFamilies` newest grants. */
  add(token: IssuedRefreshToken, now: number, maxFamilies: number): Promise<void>;
  /**
   * Exchanges a refresh token for its successor in one transaction: the old one is
   * marked used (kept until it expires, to detect reuse) and `next` inherits its
   * family and credential. Refused unless the token belongs to `remoteSystem` and was
   * issued for `credential`; a mismatch, or a reuse later than `graceMs` after its first
   * use, revokes the whole family.
   */
  rotate(presented: PresentedToken, next: { hash: string; expiresAt: number }, now: number, graceMs: number): Promise<RefreshRotation>;
}

export interface RefreshTokenRecord {
  hash: string;
  remote_system: string;
  family: string;
  credential: string;
  expires_at: number;
  used_at: number | null;
}

/**
 * What presenting a stored refresh token amounts to: `undefined` when it may be
 * rotated, else why not (every refusal but 'unknown' revokes its family).
 */
export function refusedRotation(r: RefreshTokenRecord, presented: Omit<PresentedToken, 'hash'>, now: number, graceMs: number): 'expired' | 'reused' | 'revoked' | undefined {
  if (r.expires_at <= now) return 'expired';
  // Presented again just after it was used: most likely the same client retrying after
  // a lost answer, or two workers refreshing at once; it gets a successor too.
  if (r.used_at !== null && now - r.used_at > graceMs) return 'reused';
  if (r.remote_system !== presented.remoteSystem || r.credential !== presented.credential) return 'revoked';
  return undefined;
}

/** The previous token of a rotation, as the interface returns it. */
export function issuedRefreshToken(r: RefreshTokenRecord): IssuedRefreshToken {
  return { hash: r.hash, remoteSystem: r.remote_system, family: r.family, credential: r.credential, expiresAt: r.expires_at };
}
