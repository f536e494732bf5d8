/** Issued refresh tokens in SQLite. */
import type { SqliteDb } from '../sqlite/database';
import { type IssuedRefreshToken, issuedRefreshToken, type PresentedToken, type RefreshRotation, type RefreshTokenRecord, type RefreshTokens, refusedRotation } from './types';

function statements(db: SqliteDb['db']) {
  return {
    add: db.prepare<[string, string, string, string, number]>(`
      INSERT INTO rps_refresh_token (hash, remote_system, family, credential, expires_at) VALUES (?, ?, ?, ?, ?)`),
    // Expired tokens are of no use, not even to detect a replay (it would be refused as unknown).
    dropExpired: db.prepare<[number]>('DELETE FROM rps_refresh_token WHERE expires_at <= ?'),
    // A remote system keeps its newest grants only: one that asks for grant after grant
    // cannot fill the store.
    dropOldFamilies: db.prepare<[string, string, number]>(`
      DELETE FROM rps_refresh_token WHERE remote_system = ? AND family IN (
        SELECT family FROM rps_refresh_token WHERE remote_system = ?
        GROUP BY family ORDER BY max(expires_at) DESC LIMIT -1 OFFSET ?)`),
    get: db.prepare<[string], RefreshTokenRecord>('SELECT * FROM rps_refresh_token WHERE hash = ?'),
    use: db.prepare<[number, string]>('UPDATE rps_refresh_token SET used_at = ? WHERE hash = ? AND used_at IS NULL'),
    revokeFamily: db.prepare<[string]>('DELETE FROM rps_refresh_token WHERE family = ?'),
  };
}

export class SqliteRefreshTokens implements RefreshTokens {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async add(t: IssuedRefreshToken, now: number, maxFamilies: number): Promise<void> {
    await this.s.durable(() => {
      this.sql.dropExpired.run(now);
      this.sql.add.run(t.hash, t.remoteSystem, t.family, t.credential, t.expiresAt);
      this.sql.dropOldFamilies.run(t.remoteSystem, t.remoteSystem, maxFamilies);
    });
  }

  async rotate(presented: PresentedToken, next: { hash: string; expiresAt: number }, now: number, graceMs: number): Promise<RefreshRotation> {
    return this.s.durable((): RefreshRotation => {
      const r = this.sql.get.get(presented.hash);
      if (!r) return { status: 'unknown' };
      const refused = refusedRotation(r, presented, now, graceMs);
      if (refused) {
        this.sql.revokeFamily.run(r.family);
        return { status: refused };
      }
      if (r.used_at === null) this.sql.use.run(now, r.hash);
      this.sql.add.run(next.hash, r.remote_system, r.family, r.credential, next.expiresAt);
      return { status: 'rotated', previous: issuedRefreshToken(r) };
    });
  }
}
