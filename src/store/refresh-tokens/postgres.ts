/** Issued refresh tokens in PostgreSQL. */
import type { PgContext } from '../postgres/context';
import { query, rows, sql, transaction } from '../postgres/db';
import { type IssuedRefreshToken, issuedRefreshToken, type PresentedToken, type RefreshRotation, type RefreshTokenRecord, type RefreshTokens, refusedRotation } from './types';

const ADD = sql('refresh_token_add', `
  INSERT INTO rps_refresh_token (hash, remote_system, family, credential, expires_at)
  VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint)`);

// Expired tokens are of no use, not even to detect a replay (it would be refused as unknown).
const DROP_EXPIRED = sql('refresh_token_drop_expired', 'DELETE FROM rps_refresh_token WHERE expires_at <= $1::bigint');

// A remote system keeps its newest grants only: one that asks for grant after grant
// cannot fill the store.
const DROP_OLD_FAMILIES = sql('refresh_token_drop_old_families', `
  DELETE FROM rps_refresh_token WHERE remote_system = $1::text AND family IN (
    SELECT family FROM rps_refresh_token WHERE remote_system = $1
    GROUP BY family ORDER BY max(expires_at) DESC OFFSET $2::integer)`);

// Locked: two workers rotating one token take turns, and the second sees it used.
const LOCK = sql('refresh_token_lock', 'SELECT * FROM rps_refresh_token WHERE hash = $1::text FOR UPDATE');

const USE = sql('refresh_token_use', 'UPDATE rps_refresh_token SET used_at = $1::bigint WHERE hash = $2::text AND used_at IS NULL');

const REVOKE_FAMILY = sql('refresh_token_revoke_family', 'DELETE FROM rps_refresh_token WHERE family = $1::text');
export class PostgresRefreshTokens implements RefreshTokens {
  constructor(private readonly p: PgContext) {}

  async add(t: IssuedRefreshToken, now: number, maxFamilies: number): Promise<void> {
    await transaction(this.p.pool, async (c) => {
      await query(c, DROP_EXPIRED, [now]);
      await query(c, ADD, [t.hash, t.remoteSystem, t.family, t.credential, t.expiresAt]);
      await query(c, DROP_OLD_FAMILIES, [t.remoteSystem, maxFamilies]);
    });
  }

  async rotate(presented: PresentedToken, next: { hash: string; expiresAt: number }, now: number, graceMs: number): Promise<RefreshRotation> {
    return transaction(this.p.pool, async (c): Promise<RefreshRotation> => {
      const [r] = await rows<RefreshTokenRecord>(c, LOCK, [presented.hash]);
      if (!r) return { status: 'unknown' };
      const refused = refusedRotation(r, presented, now, graceMs);
      if (refused) {
        await query(c, REVOKE_FAMILY, [r.family]);
        return { status: refused };
      }
      if (r.used_at === null) await query(c, USE, [now, r.hash]);
      await query(c, ADD, [next.hash, r.remote_system, r.family, r.credential, next.expiresAt]);
      return { status: 'rotated', previous: issuedRefreshToken(r) };
    });
  }
}
