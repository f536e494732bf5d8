/** Correlations in PostgreSQL: batch lookups, and the writes of accept and finish (applyCorrelationChanges). */
import type { PgContext } from '../postgres/context';
import { type Db, query, rows, sql } from '../postgres/db';
import type { CorrelationChanges, LinkPair } from '../../core/inbound-finish';
import type { CorrelationSide, CorrelationState, CorrelationStateChange } from './types';
import { correlation, type Correlation, type CorrelationKey, type CorrelationRecord, type Correlations } from './types';

// A batch of lookups in one statement: each key's link (if any) with the key's position ($1..$3 in step).
const BY_LOCAL = sql('correlation_by_local', `
  SELECT k.n, c.*
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (rs, t, i, n)
  JOIN rps_correlation c ON c.remote_system = k.rs AND c.local_table = k.t AND c.local_id = k.i`);

const BY_REMOTES = sql('correlation_by_remotes', `
  SELECT k.n, c.*
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (rs, t, i, n)
  JOIN rps_correlation c ON c.remote_system = k.rs AND c.remote_table = k.t AND c.remote_id = k.i`);

// The stored links of the batch's records are removed (a link takes the place of the
// older links of either of its records), and the links that stand at the end of the
// batch written, in one statement; a link keeps the creation time of the removed link
// of its local record. The old links are found by the two unique keys, one index probe
// each (an OR in one join would read the whole table), and removed by id.
const LINK = sql('correlation_link', `
  WITH pair AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u (rs, lt, li, rt, ri)
  ), old AS (
    SELECT c.id FROM pair p JOIN rps_correlation c ON c.remote_system = p.rs AND c.local_table = p.lt AND c.local_id = p.li
    UNION
    SELECT c.id FROM pair p JOIN rps_correlation c ON c.remote_system = p.rs AND c.remote_table = p.rt AND c.remote_id = p.ri
  ), cleared AS (
    DELETE FROM rps_correlation c USING old o WHERE c.id = o.id
    RETURNING c.remote_system, c.local_table, c.local_id, c.created_at)
  INSERT INTO rps_correlation (remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
  SELECT n.rs, n.lt, n.li, n.rt, n.ri, n.st,
         coalesce((SELECT x.created_at FROM cleared x WHERE x.remote_system = n.rs AND x.local_table = n.lt AND x.local_id = n.li), $11::bigint),
         $11::bigint
  FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $12::text[]) WITH ORDINALITY AS n (rs, lt, li, rt, ri, st, ord)
  ORDER BY n.ord`);

const DEACTIVATE = sql('correlation_deactivate', `
  UPDATE rps_correlation c SET state = 'inactive', updated_at = $1::bigint
  FROM unnest($2::text[], $3::text[], $4::text[]) AS u (rs, t, i)
  WHERE c.remote_system = u.rs AND c.remote_table = u.t AND c.remote_id = u.i`);

// The states of a batch of links, by the record of one side ($2..$5: one key and state
// per record, each record once), in one statement: the links whose state changes are
// updated (and answered from RETURNING); the ones already in that state are read as
// they are, unwritten. A row changed by another transaction after this statement's
// snapshot can be answered by both branches; `changed` tells which answer is the newer.
function setStateStatement(side: CorrelationSide) {
  const [table, id] = side === 'local' ? ['local_table', 'local_id'] : ['remote_table', 'remote_id'];
  return sql(`correlation_state_${side}`, `
  WITH u AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u (rs, t, i, st)
  ), changed AS (
    UPDATE rps_correlation c SET state = u.st, updated_at = $1::bigint
    FROM u WHERE c.remote_system = u.rs AND c.${table} = u.t AND c.${id} = u.i AND c.state <> u.st
    RETURNING c.*)
  SELECT true AS changed, x.* FROM changed x
  UNION ALL
  SELECT false AS changed, c.* FROM u JOIN rps_correlation c ON c.remote_system = u.rs AND c.${table} = u.t AND c.${id} = u.i AND c.state = u.st`);
}

const SET_STATE = { local: setStateStatement('local'), remote: setStateStatement('remote') };

/** Applies a batch's correlation writes, in the caller's transaction (accept, finish): two statements at most. */
export async function applyCorrelationChanges(db: Db, changes: CorrelationChanges, now: number): Promise<void> {
  const { deactivations: d, cleared, links } = changes;
  if (d.length > 0) await query(db, DEACTIVATE, [now, d.map((x) => x.remoteSystem), d.map((x) => x.source.table), d.map((x) => x.source.id)]);
  if (cleared.length === 0) return;
  const columns = (pairs: readonly LinkPair[]): string[][] => [
    pairs.map((p) => p.remoteSystem),
    pairs.map((p) => p.local.table),
    pairs.map((p) => p.local.id),
    pairs.map((p) => p.source.table),
    pairs.map((p) => p.source.id),
  ];
  await query(db, LINK, [...columns(cleared), ...columns(links), now, links.map((l) => l.state)]);
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

  async setState(side: CorrelationSide, changes: readonly CorrelationStateChange[], now: number): Promise<(Correlation | undefined)[]> {
    if (changes.length === 0) return [];
    const key = (remoteSystem: string, table: string, id: string): string => JSON.stringify([remoteSystem, table, id]);
    // A record given twice takes its last state: one UPDATE cannot change a row twice.
    const last = new Map<string, CorrelationStateChange>();
    for (const c of changes) last.set(key(c.remoteSystem, c.table, c.id), c);
    const distinct = [...last.values()];
    const found = await rows<CorrelationRecord & { changed: boolean }>(this.p.pool, SET_STATE[side], [
      now,
      distinct.map((c) => c.remoteSystem),
      distinct.map((c) => c.table),
      distinct.map((c) => c.id),
      distinct.map((c): CorrelationState => c.state),
    ]);
    const links = new Map<string, Correlation>();
    for (const r of found) {
      const k = side === 'local' ? key(r.remote_system, r.local_table, r.local_id) : key(r.remote_system, r.remote_table, r.remote_id);
      if (r.changed || !links.has(k)) links.set(k, correlation(r));
    }
    return changes.map((c) => links.get(key(c.remoteSystem, c.table, c.id)));
  }
}
