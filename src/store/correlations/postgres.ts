/** Correlations in PostgreSQL. `link`, `recordByRemote` and `deactivate` run in the caller's transaction (accept, finish). */
import type { PgContext } from '../postgres/context';
import { type Db, query, rows, sql } from '../postgres/db';
import { correlation, type Correlation, type CorrelationKey, type CorrelationRecord, type Correlations, type RecordRef } from './types';

// A batch of lookups in one statement: each key's link (if any) with the key's position ($1..$3 in step).
const BY_LOCAL = sql('correlation_by_local', `
  SELECT k.n, c.*
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (rs, t, i, n)
  JOIN rps_correlation c ON c.remote_system = k.rs AND c.local_table = k.t AND c.local_id = k.i`);

const BY_REMOTES = sql('correlation_by_remotes', `
  SELECT k.n, c.*
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (rs, t, i, n)
  JOIN rps_correlation c ON c.remote_system = k.rs AND c.remote_table = k.t AND c.remote_id = k.i`);

const BY_REMOTE = sql('correlation_by_remote', 'SELECT * FROM rps_correlation WHERE remote_system = $1::text AND remote_table = $2::text AND remote_id = $3::text');

// A link replaces any older link of either of its two records (one local record has
// one twin per remote, and one remote record has one twin here); the local record's
// link keeps its creation time.
const LINK = sql('correlation_link', `
  WITH unlinked AS (
    DELETE FROM rps_correlation
    WHERE remote_system = $1::text
      AND ((local_table = $2::text AND local_id = $3::text) OR (remote_table = $4::text AND remote_id = $5::text))
    RETURNING local_table, local_id, created_at)
  INSERT INTO rps_correlation (remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
  SELECT $1, $2, $3, $4, $5, 'active',
         coalesce((SELECT created_at FROM unlinked WHERE local_table = $2 AND local_id = $3), $6::bigint), $6`);

const DEACTIVATE = sql('correlation_deactivate', `
  UPDATE rps_correlation SET state = 'inactive', updated_at = $1::bigint
  WHERE remote_system = $2::text AND remote_table = $3::text AND remote_id = $4::text`);
export async function link(db: Db, remoteSystem: string, local: RecordRef, remote: RecordRef, now: number): Promise<void> {
  await query(db, LINK, [remoteSystem, local.table, local.id, remote.table, remote.id, now]);
}

export async function recordByRemote(db: Db, remoteSystem: string, remote: RecordRef): Promise<CorrelationRecord | undefined> {
  return (await rows<CorrelationRecord>(db, BY_REMOTE, [remoteSystem, remote.table, remote.id]))[0];
}

export async function deactivate(db: Db, remoteSystem: string, remote: RecordRef, now: number): Promise<void> {
  await query(db, DEACTIVATE, [now, remoteSystem, remote.table, remote.id]);
}

/** The links of `keys` by one of the batch lookups, in the keys' order. */
async function lookup(db: Db, statement: typeof BY_LOCAL, keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]> {
  if (keys.length === 0) return [];
  const found = await rows<CorrelationRecord & { n: number }>(db, statement, [keys.map((k) => k.remoteSystem), keys.map((k) => k.table), keys.map((k) => k.id)]);
  const answers: (Correlation | undefined)[] = keys.map(() => undefined);
  for (const r of found) answers[r.n - 1] = correlation(r);
  return answers;
}

export class PostgresCorrelations implements Correlations {
  constructor(private readonly p: PgContext) {}

  byLocal(keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]> {
    return lookup(this.p.pool, BY_LOCAL, keys);
  }

  byRemote(keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]> {
    return lookup(this.p.pool, BY_REMOTES, keys);
  }
}
