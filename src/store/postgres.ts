/**
 * The PostgreSQL store (`pg`): several Node-RED processes share one set of queues
 * (DESIGN.md §6). Same tables and meaning as the SQLite store (sqlite.ts); where that
 * store runs one transaction per method, this one runs one PostgreSQL transaction or
 * one statement. What changes because several processes share it:
 *
 * - Outbound rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease
 *   (`locked_by`, `locked_until`): workers never wait for each other, and a row whose
 *   lease has run out (its worker died) is taken over by the next claim. Nothing is
 *   released at open: the others' rows are in flight.
 * - Per-record order holds across workers: a row is claimed only when every earlier
 *   unfinished row of its record is claimed in the same batch (see claimOutbound).
 * - Inbound rows have no lease in the interface; a store holds a session-level
 *   advisory lock for as long as it is open, stamps the rows it emits with it, and a
 *   store that opens emits again only the rows of sessions that are gone (a process
 *   that died or closed), never those of a live process.
 * - Migrations run under an advisory lock (see migrate).
 * - The server may restart under a running store. Connections that break are dropped
 *   and opened again on the next call; calls fail meanwhile with StoreUnavailableError
 *   (see postgres-faults.ts); no error of a broken connection may go unhandled (an
 *   unhandled 'error' event ends the process); the session lock is taken again.
 *
 * Times are bigint epoch milliseconds, as in SQLite; int8 values are read as numbers.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { Client, Pool, type PoolClient, type PoolConfig, type QueryResultRow, types } from 'pg';
import { type Message, type ResultStatus, streamOf } from '../core/protocol';
import { unreachable } from './postgres-faults';
import { POSTGRES_MIGRATIONS } from './postgres-migrations';
import type {
  Correlation,
  Enqueued,
  EnqueueItem,
  ErrorItem,
  ErrorItemStatus,
  FailItem,
  FinishResult,
  InboundClaim,
  InboundClaimOptions,
  InboundOutcome,
  InboundRow,
  IssuedRefreshToken,
  ListFilter,
  OutboundRow,
  PurgeResult,
  QueueFilter,
  QueueStatus,
  RefreshRotation,
  RetentionPolicy,
  RetryItem,
  StatusCounts,
  Store,
  StoredValue,
  ValueChange,
} from './types';
import { correlation, CorrelationRecord, errorItem, ErrorItemRecord, InboundRecord, inboundRow, OutboundRecord, outboundRow, RefreshTokenRecord, issuedRefreshToken, PURGE_PLAN, refusedRotation, runPurge } from './rows';
import { countsOf } from './types';

/** Key of `pg_advisory_xact_lock` while migrating: one migrator at a time per database. */
const MIGRATION_LOCK = 539_451_501;
/** First key of the two-key session locks (`pg_advisory_lock(SESSION_LOCK, session)`). */
const SESSION_LOCK = 539_451_502;
/** Schema names we accept: no quoting needed anywhere (SQL, search_path option). */
/** A schema name we accept unquoted: lower-case letters, digits and _, at most 63. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** int8 (ids, counts, epoch ms) as JS numbers: every value we store is below 2^53. */
const INT8 = 20;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? (v: string) => Number(v) : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
};

type Db = Pool | PoolClient;


const byId = <T extends { id: number }>(rows: T[]): T[] => rows.sort((a, b) => a.id - b.id);

/**
 * The optional conditions of a QueueFilter, on parameters $1..$5 (see filterParams); a
 * null parameter drops its condition.
 */
const FILTER = `
  ($1::text IS NULL OR remote_system = $1)
  AND ($2::text IS NULL OR process_event = $2)
  AND ($3::bigint[] IS NULL OR id = ANY ($3))
  AND ($4::text[] IS NULL OR error_kind = ANY ($4))
  AND ($5::integer IS NULL OR retries < $5)`;

function filterParams(f: QueueFilter): unknown[] {
  return [f.remoteSystem ?? null, f.processEvent ?? null, f.ids ? [...f.ids] : null, f.kinds ? [...f.kinds] : null, f.maxRetries ?? null];
}

/** Rows of a ListFilter, oldest first, on parameters $1..$5 (see listParams). */
const LIST = `
  ($1::text IS NULL OR remote_system = $1)
  AND ($2::text IS NULL OR process_event = $2)
  AND ($3::text[] IS NULL OR status = ANY ($3))
  AND id > $4::bigint
  ORDER BY id
  LIMIT $5::integer`;

function listParams(f: ListFilter): unknown[] {
  return [f.remoteSystem ?? null, f.processEvent ?? null, f.statuses ? [...f.statuses] : null, f.afterId ?? 0, f.limit];
}

/**
 * Every statement, by name. Each runs as a named prepared statement (parsed once per
 * connection), except the claims (see PLANNED_PER_CALL). Parameters are cast where they
 * are first used, because a prepared statement's parameter types are fixed when it is
 * parsed.
 */
const SQL = {
  // ---- outbound ----

  // Reserves n sequences for each record in one upsert and returns the last one. The
  // rows are taken in a fixed order, so two enqueues of the same records cannot
  // deadlock; and the row lock serialises the enqueues of one record until commit, so
  // a record's later rows always get higher ids.
  reserveSequences: `
    INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
    SELECT r, 'out', '', t, i, n
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u (r, t, i, n)
    ORDER BY r, t, i
    ON CONFLICT (remote_system, direction, stream, record_table, record_id)
    DO UPDATE SET last_sequence = rps_sequence.last_sequence + excluded.last_sequence
    RETURNING remote_system, record_table, record_id, last_sequence`,

  // A whole batch in one statement, inserted in its own order: ids follow the batch.
  insertOutbound: `
    INSERT INTO rps_outbound (message_id, remote_system, process_event, kind, operation, record_table, record_id,
                              sequence, status, payload, next_attempt_at, created_at)
    SELECT m, r, e, k, op, t, i, s, 'ready', p, $10::bigint, $10::bigint
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[])
         WITH ORDINALITY AS u (m, r, e, k, op, t, i, s, p, ord)
    ORDER BY ord
    RETURNING id, remote_system, message_id`,

  // Takes the oldest sendable rows of one remote ($1) at $2, at most $3, for owner $4
  // and a lease of $5 ms. Sendable, as in SQLite: ready and due, or processing with a
  // lease that has run out (its worker died); and no earlier row of the record in
  // flight, failed, or waiting for its own retry time.
  //
  // A walk, one row per step (a recursive CTE): each step takes the next sendable row
  // after the one before, in id order, and locks it; the walk ends after $3 rows or at
  // the end of the remote's live rows. So a claim costs what it takes, whatever the
  // queue holds. It is written so that no statistics (none after a bulk enqueue, stale
  // ones that say "all ready" or "nothing live", fresh ones) can change that plan:
  // - step: a LIMIT 1 over the keyset (remote_system, id) > ($1, previous id), ordered
  //   by (remote_system, id). Only rps_outbound_claim (live rows only) returns rows in
  //   that order; any other plan must read and sort every candidate first, and for one
  //   row that always costs more. (With `remote_system = $1 ORDER BY id` the primary
  //   key returns id order too, and statistics that say "all ready" let the planner
  //   walk it, through the whole history of processed rows.) The due test is a CASE so
  //   that its estimate is a constant, not read from statistics of next_attempt_at.
  // - SKIP LOCKED: a row another claim holds is passed over, never waited for. A row
  //   that another claim took and committed since this statement's snapshot is dropped
  //   when PostgreSQL re-checks it under the lock.
  // - order across workers: a row goes only when its record's nearest earlier
  //   unfinished row (ready, processing or error), if any, was taken by an earlier step
  //   (in `taken`); that row's own step checked the one before it, so every earlier
  //   unfinished row is in this batch. One that is not was in flight, failed, not yet
  //   due, or held or taken by another claim: the record waits. (The snapshot can only
  //   err towards waiting: a finished row never becomes unfinished again.) That nearest
  //   row is one backward probe of rps_outbound_record, ordered by (record_id, id) for
  //   the same reason as the step: the primary key cannot return that order, so no
  //   plan walks back through the record's history.
  // Rows that do not go are never locked.
  claimOutbound: `
    WITH RECURSIVE walk (id, n, taken) AS (
      SELECT 0::bigint, 0, ARRAY[]::bigint[]
      UNION ALL
      SELECT step.id, w.n + 1, w.taken || step.id
      FROM walk w
      CROSS JOIN LATERAL (
        SELECT o.id
        FROM rps_outbound o
        WHERE (o.remote_system, o.id) > ($1::text, w.id) AND o.remote_system <= $1::text
          AND o.status IN ('ready', 'processing')
          AND CASE o.status WHEN 'ready' THEN o.next_attempt_at <= $2::bigint ELSE o.locked_until <= $2::bigint END
          AND coalesce((
            SELECT p.id = ANY (w.taken)
            FROM rps_outbound p
            WHERE p.remote_system = o.remote_system AND p.record_table = o.record_table
              AND (p.record_id, p.id) < (o.record_id, o.id) AND p.record_id >= o.record_id
              AND p.status IN ('ready', 'processing', 'error')
            ORDER BY p.record_id DESC, p.id DESC
            LIMIT 1), true)
        ORDER BY o.remote_system, o.id
        LIMIT 1
        FOR UPDATE OF o SKIP LOCKED) step
      WHERE w.n < $3::integer
    )
    UPDATE rps_outbound o
    SET status = 'processing', attempts = o.attempts + 1, locked_by = $4::text, locked_until = $2::bigint + $5::bigint,
        first_attempt_at = coalesce(o.first_attempt_at, $2::bigint), last_attempt_at = $2::bigint
    FROM walk t
    WHERE o.id = t.id
    RETURNING o.*`,

  outboundProcessed: `
    UPDATE rps_outbound
    SET status = 'processed', processed_at = $2::bigint, last_error = NULL, error_kind = NULL, locked_by = NULL, locked_until = NULL
    WHERE id = ANY ($1::bigint[]) AND status = 'processing'`,

  outboundRetry: `
    UPDATE rps_outbound o
    SET status = 'ready', next_attempt_at = u.at, last_error = u.error, tries = o.tries + u.counted,
        locked_by = NULL, locked_until = NULL
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[]) AS u (id, at, error, counted)
    WHERE o.id = u.id AND o.status = 'processing'`,

  outboundFail: `
    UPDATE rps_outbound o
    SET status = 'error', last_error = u.error, error_kind = u.kind, tries = o.tries + 1, locked_by = NULL, locked_until = NULL
    FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, error, kind)
    WHERE o.id = u.id AND o.status = 'processing'`,

  // Only the owner's own rows: the others' are in flight in live processes.
  outboundRelease: `
    UPDATE rps_outbound SET status = 'ready', next_attempt_at = $1::bigint, locked_by = NULL, locked_until = NULL
    WHERE remote_system = $2::text AND status = 'processing' AND locked_by = $3::text`,

  outboundRequeue: `
    WITH requeued AS (
      UPDATE rps_outbound
      SET status = 'ready', tries = 0, retries = retries + $6::integer, next_attempt_at = $7::bigint, error_kind = NULL
      WHERE status = 'error' AND ${FILTER}
      RETURNING id)
    SELECT id FROM requeued ORDER BY id`,

  // Without ids only `error` rows are skipped: skipping what is merely waiting takes a person naming it.
  outboundSkip: `
    WITH skipped AS (
      UPDATE rps_outbound SET status = 'skipped', processed_at = $6::bigint, locked_by = NULL, locked_until = NULL
      WHERE (status = 'error' OR ($3::bigint[] IS NOT NULL AND status = 'ready')) AND ${FILTER}
      RETURNING id)
    SELECT id FROM skipped ORDER BY id`,

  listOutbound: `SELECT * FROM rps_outbound WHERE ${LIST}`,

  // The next retry time, or the end of a lease: a row left processing (a store fault
  // while recording its answer, or a worker that died) is taken again then.
  nextOutboundAttempt: `
    SELECT min(CASE status WHEN 'ready' THEN next_attempt_at ELSE locked_until END) AS at
    FROM rps_outbound
    WHERE remote_system = $1::text AND status IN ('ready', 'processing')
      AND ((status = 'ready' AND next_attempt_at > $2::bigint) OR (status = 'processing' AND locked_until > $2::bigint))`,

  countOutbound: 'SELECT status, count(*) AS n FROM rps_outbound GROUP BY status',
  countOutboundFor: 'SELECT status, count(*) AS n FROM rps_outbound WHERE remote_system = $1::text GROUP BY status',
  getOutbound: 'SELECT * FROM rps_outbound WHERE id = $1::bigint',

  // ---- inbound ----

  // A received batch in one statement. A message id seen before from this remote (in an
  // earlier batch or earlier in this one) is left out: it is a duplicate. A correlation
  // message needs no flow: it is stored as processed and applied in the same transaction.
  insertInbound: `
    INSERT INTO rps_inbound (message_id, remote_system, process_event, kind, operation, stream, source_table, source_id,
                             sequence, status, payload, received_at, processed_at)
    SELECT m, $1::text, e, k, op, st, t, i, s,
           CASE WHEN k = 'correlation' THEN 'processed' ELSE 'ready' END, p, $2::bigint,
           CASE WHEN k = 'correlation' THEN $2::bigint END
    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[])
         WITH ORDINALITY AS u (m, e, k, op, st, t, i, s, p, ord)
    ORDER BY ord
    ON CONFLICT (remote_system, message_id) DO NOTHING
    RETURNING message_id`,

  // The head of each record's line (its lowest ready sequence, when nothing of the
  // record is processing or in error) that may go now: the next in sequence, stale (at
  // or below the applied cursor: skipped), or waiting for a gap longer than the gap
  // wait; as in SQLite. Taken in one statement: stale heads become skipped, the others
  // processing, stamped with this store's session ($7).
  //
  // Across workers: a head another claim holds is skipped (SKIP LOCKED), and the
  // record's next message is no head while that one is ready or processing, so two
  // messages of one record are never out at once. A head claimed and committed by
  // another worker since the snapshot is dropped when re-checked under the lock.
  //
  // A walk, one head per step, for the same reasons as claimOutbound: as one
  // `ORDER BY id LIMIT n` query the plan followed the statistics (with "all ready" it
  // walked the primary key, through the history, and read every processing or error
  // row once per candidate). Each step is a LIMIT 1 over the keyset (process_event, id)
  // of rps_inbound_claim, which no other index returns in that order. The record checks
  // are fenced (OFFSET 0), so each stays a probe of rps_inbound_record per candidate
  // rather than a join the planner may build from a whole table. Every status test is
  // spelled so that it implies no partial index's predicate but the one meant (ready
  // heads: rps_inbound_claim's, not rps_inbound_purge_ready's; ready rows of the record:
  // a range of (status, sequence) in rps_inbound_record): statistics taken when the
  // queue was empty say a partial index is empty, and the planner then takes it for
  // free, reads it whole for each candidate, and sorts.
  claimInbound: `
    WITH RECURSIVE walk (id, applied, n) AS (
      SELECT 0::bigint, 0::bigint, 0
      UNION ALL
      SELECT step.id, step.applied, w.n + 1
      FROM walk w
      CROSS JOIN LATERAL (
        SELECT i.id, a.applied
        FROM rps_inbound i
        CROSS JOIN LATERAL (
          SELECT coalesce((
            SELECT c.last_sequence FROM rps_sequence c
            WHERE c.remote_system = i.remote_system AND c.direction = 'in' AND c.stream = i.stream
              AND c.record_table = i.source_table AND c.record_id = i.source_id), 0) AS applied) a
        WHERE i.remote_system = $1::text AND (i.process_event, i.id) > ($2::text, w.id) AND i.process_event <= $2::text
          AND i.status IN ('ready', 'processing') AND i.status <> 'processing'
          AND (i.sequence <= a.applied + 1 OR i.received_at <= $3::bigint)
          AND NOT EXISTS (
            SELECT 1 FROM rps_inbound p
            WHERE p.remote_system = i.remote_system AND p.stream = i.stream
              AND p.source_table = i.source_table AND p.source_id = i.source_id
              AND p.status IN ('processing', 'error')
            OFFSET 0)
          AND NOT EXISTS (
            SELECT 1 FROM rps_inbound p
            WHERE p.remote_system = i.remote_system AND p.stream = i.stream
              AND p.source_table = i.source_table AND p.source_id = i.source_id
              AND p.status >= 'ready' AND (p.status, p.sequence) < ('ready', i.sequence)
            OFFSET 0)
        ORDER BY i.process_event, i.id
        LIMIT 1
        FOR UPDATE OF i SKIP LOCKED) step
      WHERE w.n < $4::integer
    )
    UPDATE rps_inbound i
    SET status = CASE WHEN i.sequence <= h.applied THEN 'skipped' ELSE 'processing' END,
        attempts = i.attempts + CASE WHEN i.sequence <= h.applied THEN 0 ELSE 1 END,
        started_at = CASE WHEN i.sequence <= h.applied THEN i.started_at ELSE $5::bigint END,
        locked_by = CASE WHEN i.sequence <= h.applied THEN NULL ELSE $6::text END,
        locked_session = CASE WHEN i.sequence <= h.applied THEN NULL ELSE $7::integer END,
        processed_at = CASE WHEN i.sequence <= h.applied THEN $5::bigint ELSE i.processed_at END,
        last_error = CASE WHEN i.sequence <= h.applied
                          THEN 'stale: sequence ' || i.sequence || ' is at or below ' || h.applied || ', already applied'
                          ELSE i.last_error END
    FROM walk h
    WHERE i.id = h.id
    RETURNING i.*, h.applied`,

  // When the first head held by a gap may go ahead (for the dispatcher's timer).
  gapHeld: `
    SELECT min(i.received_at) AS at
    FROM rps_inbound i
    LEFT JOIN rps_sequence c
      ON c.remote_system = i.remote_system AND c.direction = 'in' AND c.stream = i.stream
     AND c.record_table = i.source_table AND c.record_id = i.source_id
    WHERE i.remote_system = $1::text AND i.process_event = $2::text AND i.status = 'ready'
      AND i.sequence > coalesce(c.last_sequence, 0) + 1 AND i.received_at > $3::bigint
      AND NOT EXISTS (
        SELECT 1 FROM rps_inbound p
        WHERE p.remote_system = i.remote_system AND p.stream = i.stream
          AND p.source_table = i.source_table AND p.source_id = i.source_id
          AND (p.status IN ('processing', 'error') OR (p.status = 'ready' AND p.sequence < i.sequence)))`,

  // The rows a batch of outcomes finishes, locked (in id order: no deadlock between two
  // finishers) so that a late answer and a timeout cannot both finish one row.
  lockInbound: 'SELECT * FROM rps_inbound WHERE id = ANY ($1::bigint[]) ORDER BY id FOR UPDATE',

  inboundProcessed: `
    UPDATE rps_inbound
    SET status = 'processed', processed_at = $2::bigint, last_error = NULL, error_kind = NULL, locked_by = NULL, locked_session = NULL
    WHERE id = ANY ($1::bigint[])`,

  inboundError: `
    UPDATE rps_inbound i
    SET status = 'error', last_error = u.error, error_kind = u.kind, locked_by = NULL, locked_session = NULL
    FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, error, kind)
    WHERE i.id = u.id`,

  // Records that sequences of senders' records are done ($2..$5: stream, table, id,
  // sequence; one remote, $1). Per record, from its highest sequence given: the cursor
  // moves to it when it is past the cursor (with $6, "in turn", only when it is the very
  // next one: a correlation message or a skip out of turn must not jump over changes
  // still waiting), then on over messages already done out of turn. The cursor rows are
  // locked and read as committed now, so two advances of one record take turns; it only
  // ever moves forward.
  advance: `
    WITH RECURSIVE done AS (
      SELECT st, t, i, max(s) AS s
      FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS u (st, t, i, s)
      GROUP BY st, t, i
    ), cur AS (
      SELECT c.stream, c.record_table, c.record_id, c.last_sequence
      FROM rps_sequence c
      JOIN done d ON c.remote_system = $1::text AND c.direction = 'in'
                 AND c.stream = d.st AND c.record_table = d.t AND c.record_id = d.i
      ORDER BY c.stream, c.record_table, c.record_id
      FOR UPDATE OF c
    ), walk (st, t, i, s) AS (
      SELECT d.st, d.t, d.i, d.s
      FROM done d
      LEFT JOIN cur c ON c.stream = d.st AND c.record_table = d.t AND c.record_id = d.i
      WHERE d.s > coalesce(c.last_sequence, 0)
        AND (NOT $6::boolean OR d.s = coalesce(c.last_sequence, 0) + 1)
      UNION ALL
      SELECT w.st, w.t, w.i, w.s + 1
      FROM walk w
      WHERE EXISTS (
        SELECT 1 FROM rps_inbound f
        WHERE f.remote_system = $1::text AND f.stream = w.st AND f.source_table = w.t AND f.source_id = w.i
          AND f.sequence = w.s + 1 AND f.status IN ('processed', 'skipped'))
    )
    INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
    SELECT $1::text, 'in', st, t, i, max(s) FROM walk GROUP BY st, t, i ORDER BY st, t, i
    ON CONFLICT (remote_system, direction, stream, record_table, record_id)
    DO UPDATE SET last_sequence = greatest(rps_sequence.last_sequence, excluded.last_sequence)`,

  expireInbound: `
    WITH expired AS (
      UPDATE rps_inbound SET status = 'error', last_error = $1::text, error_kind = 'timeout', locked_by = NULL, locked_session = NULL
      WHERE remote_system = $2::text AND process_event = $3::text AND status = 'processing' AND started_at < $4::bigint
      RETURNING *)
    SELECT * FROM expired ORDER BY id`,

  reclaimInbound: `
    WITH reclaimed AS (
      UPDATE rps_inbound SET status = 'ready', locked_by = NULL, locked_session = NULL
      WHERE id = ANY ($1::bigint[]) AND status = 'processing' AND started_at < $2::bigint
      RETURNING id)
    SELECT id FROM reclaimed ORDER BY id`,

  // Rows emitted by a store whose session is gone (its process died, or it closed):
  // nobody will complete them, so they are emitted again, as SQLite does at a restart.
  // A store holds its session lock for as long as it is open, so no live process's
  // rows are touched. (Rows without a session are from no live store either.)
  releaseInboundOfGoneSessions: `
    UPDATE rps_inbound i SET status = 'ready', locked_by = NULL, locked_session = NULL
    WHERE i.status = 'processing'
      AND NOT EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = $1::integer::oid AND l.objid = i.locked_session::oid)`,

  inboundRequeue: `
    WITH requeued AS (
      UPDATE rps_inbound SET status = 'ready', retries = retries + $6::integer, error_kind = NULL
      WHERE status = 'error' AND ${FILTER}
      RETURNING id)
    SELECT id FROM requeued ORDER BY id`,

  inboundSkip: `
    WITH skipped AS (
      UPDATE rps_inbound SET status = 'skipped', processed_at = $6::bigint, locked_by = NULL, locked_session = NULL
      WHERE (status = 'error' OR ($3::bigint[] IS NOT NULL AND status = 'ready')) AND ${FILTER}
      RETURNING *)
    SELECT * FROM skipped ORDER BY id`,

  listInbound: `SELECT * FROM rps_inbound WHERE ${LIST}`,
  countInbound: 'SELECT status, count(*) AS n FROM rps_inbound GROUP BY status',
  countInboundFor: 'SELECT status, count(*) AS n FROM rps_inbound WHERE remote_system = $1::text GROUP BY status',
  getInbound: 'SELECT * FROM rps_inbound WHERE id = $1::bigint',

  // ---- correlations ----

  correlationByLocal: 'SELECT * FROM rps_correlation WHERE remote_system = $1::text AND local_table = $2::text AND local_id = $3::text',
  correlationByRemote: 'SELECT * FROM rps_correlation WHERE remote_system = $1::text AND remote_table = $2::text AND remote_id = $3::text',
  // A link replaces any older link of either of its two records (one local record has
  // one twin per remote, and one remote record has one twin here); the local record's
  // link keeps its creation time.
  link: `
    WITH unlinked AS (
      DELETE FROM rps_correlation
      WHERE remote_system = $1::text
        AND ((local_table = $2::text AND local_id = $3::text) OR (remote_table = $4::text AND remote_id = $5::text))
      RETURNING local_table, local_id, created_at)
    INSERT INTO rps_correlation (remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
    SELECT $1, $2, $3, $4, $5, 'active',
           coalesce((SELECT created_at FROM unlinked WHERE local_table = $2 AND local_id = $3), $6::bigint), $6`,
  deactivateCorrelation: `
    UPDATE rps_correlation SET state = 'inactive', updated_at = $1::bigint
    WHERE remote_system = $2::text AND remote_table = $3::text AND remote_id = $4::text`,

  // ---- error queue (rps-queue-retry) ----

  addErrorItems: `
    INSERT INTO rps_error_queue (owner, message, error, status, created_at, updated_at)
    SELECT o, m, e, 'error', $4::bigint, $4::bigint
    FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u (o, m, e, ord)
    ORDER BY ord
    RETURNING id`,
  // A held message that failed again: its tries so far decide whether it gets another.
  failErrorItem: `
    UPDATE rps_error_queue
    SET error = $1::text, status = CASE WHEN retries >= $2::integer THEN 'failed' ELSE 'error' END, updated_at = $3::bigint
    WHERE id = $4::bigint AND owner = $5::text
    RETURNING status`,
  // Two processes running the same retry node take different items.
  takeErrorItems: `
    WITH due AS (
      SELECT id FROM rps_error_queue
      WHERE owner = $1::text AND status = 'error' AND retries < $2::integer
      ORDER BY id
      LIMIT $3::integer
      FOR UPDATE SKIP LOCKED)
    UPDATE rps_error_queue e SET status = 'retrying', retries = e.retries + 1, updated_at = $4::bigint
    FROM due
    WHERE e.id = due.id
    RETURNING e.*`,
  settleErrorItems: `
    UPDATE rps_error_queue SET status = 'processed', updated_at = $1::bigint
    WHERE owner = $2::text AND status = 'retrying' AND updated_at < $3::bigint`,
  resetErrorItems: `
    UPDATE rps_error_queue SET status = 'error', updated_at = $1::bigint WHERE owner = $2::text AND status = 'retrying'`,
  countErrorItems: 'SELECT status, count(*) AS n FROM rps_error_queue WHERE owner = $1::text GROUP BY status',

  // ---- values ----

  readValue: 'SELECT value FROM rps_value WHERE key = $1::text',
  writeValue: `
    INSERT INTO rps_value (key, value, updated_at) VALUES ($1::text, $2::text, $3::bigint)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  deleteValue: 'DELETE FROM rps_value WHERE key = $1::text',
  // The first writer wins; nothing comes back when the key has a value already.
  initValue: `
    INSERT INTO rps_value (key, value, updated_at) VALUES ($1::text, $2::text, $3::bigint)
    ON CONFLICT (key) DO NOTHING
    RETURNING value`,
  listValues: 'SELECT key, value FROM rps_value WHERE left(key, length($1::text)) = $1::text ORDER BY key',
  // Compare-and-set in one statement: a row updated by another transaction meanwhile is
  // checked again in its new version (READ COMMITTED), so it no longer matches `expected`.
  replaceValues: `
    UPDATE rps_value v SET value = c.value, updated_at = $4::bigint
    FROM unnest($1::text[], $2::text[], $3::text[]) AS c(key, expected, value)
    WHERE v.key = c.key AND v.value = c.expected
    RETURNING v.key`,

  // ---- refresh tokens we issued ----

  addRefreshToken: `
    INSERT INTO rps_refresh_token (hash, remote_system, family, credential, expires_at)
    VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint)`,
  // Expired tokens are of no use, not even to detect a replay (it would be refused as unknown).
  dropExpiredRefreshTokens: 'DELETE FROM rps_refresh_token WHERE expires_at <= $1::bigint',
  // A remote system keeps its newest grants only: one that asks for grant after grant
  // cannot fill the store.
  dropOldRefreshFamilies: `
    DELETE FROM rps_refresh_token WHERE remote_system = $1::text AND family IN (
      SELECT family FROM rps_refresh_token WHERE remote_system = $1
      GROUP BY family ORDER BY max(expires_at) DESC OFFSET $2::integer)`,
  // Locked: two workers rotating one token take turns, and the second sees it used.
  lockRefreshToken: 'SELECT * FROM rps_refresh_token WHERE hash = $1::text FOR UPDATE',
  useRefreshToken: 'UPDATE rps_refresh_token SET used_at = $1::bigint WHERE hash = $2::text AND used_at IS NULL',
  revokeRefreshFamily: 'DELETE FROM rps_refresh_token WHERE family = $1::text',
} as const;

type Statement = keyof typeof SQL;

/**
 * Statements planned afresh at every call, sent unnamed. A named statement settles, after
 * five calls, on a generic plan that it keeps for the life of the connection; for a claim
 * that is the plan that suited the queue's size then: made on an empty queue (just after
 * a start) it is a sort of the whole table at every step, kept while the queue fills
 * up. Planning a claim takes well under a millisecond; a claim moves a batch.
 */
const PLANNED_PER_CALL: ReadonlySet<Statement> = new Set<Statement>(['claimOutbound', 'claimInbound']);

async function query<R extends QueryResultRow>(db: Db, name: Statement, values: readonly unknown[] = []): Promise<{ rows: R[]; rowCount: number }> {
  const text = SQL[name];
  try {
    const r = await db.query<R>(PLANNED_PER_CALL.has(name) ? { text, values: values as unknown[] } : { name: `rps_${name}`, text, values: values as unknown[] });
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  } catch (err) {
    throw unreachable(err);
  }
}

async function rows<R extends QueryResultRow>(db: Db, name: Statement, values: readonly unknown[] = []): Promise<R[]> {
  return (await query<R>(db, name, values)).rows;
}

/** Deletes up to `batch` rows of one status older than `before` (by `column`); the cleaner's unit of work. */
function purgeStatement(table: string, status: string, column: string): string {
  // Locked and skipped when locked: a row that a claim holds is not deleted under it,
  // and the cleaner never waits for a worker. column may be an expression: error rows
  // age from their last attempt, not from when they were queued. The status is written
  // in (one of PURGE_PLAN's, not input): the indexes the cleaner reads are partial, one
  // per status (migration 3), and a parameter would not show the planner which.
  return `
    DELETE FROM ${table} WHERE id IN (
      SELECT id FROM ${table} WHERE status = '${status}' AND ${column} < $1::bigint LIMIT $2::integer FOR UPDATE SKIP LOCKED)`;
}

const PURGES = PURGE_PLAN.map((step) => ({ ...step, name: `rps_purge_${step.sqlTable}_${step.status}`, text: purgeStatement(step.sqlTable, step.status, step.column) }));

/** PostgreSQL's SQLSTATE of an error, if it has one. */
function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Runs `work` in one transaction on one pooled connection; retried when PostgreSQL broke a deadlock by aborting it. */
async function transaction<T>(pool: Pool, work: (c: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const c = await pool.connect().catch((err: unknown) => {
      throw unreachable(err);
    });
    let broken: Error | undefined;
    // A checked-out client has no listener of the pool's, and pg emits 'error' when its
    // connection ends (a server restart), between statements or during one: unhandled,
    // that error would end the process. The statement in progress fails by itself.
    const lost = (err: Error): void => {
      broken = err;
    };
    c.on('error', lost);
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: Error) => {
        broken ??= e; // the connection is gone: the pool must not hand it out again
      });
      // 40P01 deadlock_detected: the other transaction went on; this one can run again.
      if (sqlState(err) === '40P01' && attempt < 3) continue;
      throw unreachable(err);
    } finally {
      c.off('error', lost);
      c.release(broken);
    }
  }
}

/**
 * Applies pending migrations and returns the instance id. Everything runs in one
 * transaction holding `pg_advisory_xact_lock(MIGRATION_LOCK)`: several processes that
 * open a new schema at once wait for each other here, and the later ones find the
 * migrations recorded and apply nothing.
 */
async function migrate(pool: Pool, schema: string | undefined): Promise<string> {
  return transaction(pool, async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query('CREATE TABLE IF NOT EXISTS rps_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    const done = new Set((await c.query<{ id: number }>('SELECT id FROM rps_migrations')).rows.map((r) => r.id));
    for (const m of POSTGRES_MIGRATIONS) {
      if (done.has(m.id)) continue;
      await c.query(m.sql);
      await c.query('INSERT INTO rps_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, Date.now()]);
    }
    await c.query("INSERT INTO rps_meta (key, value) VALUES ('instance_id', $1) ON CONFLICT (key) DO NOTHING", [randomUUID()]);
    return (await c.query<{ value: string }>("SELECT value FROM rps_meta WHERE key = 'instance_id'")).rows[0].value;
  });
}

/**
 * This store's session: a connection of its own holding `pg_advisory_lock(SESSION_LOCK,
 * key)` while the store is open. PostgreSQL drops the lock when the connection ends,
 * also when the process is killed, so "the lock is held" means "that store is alive".
 * If the connection is lost (a server restart), the lock is taken again at once, and
 * while the server is away every few seconds: until then a store that opens takes this
 * one's inbound rows for a dead store's and emits them again. The next inbound claim
 * takes it too, before it stamps rows.
 */
class Session {
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retake: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: PoolConfig,
    public key = randomInt(1, 2 ** 31 - 1),
  ) {}

  /** Makes sure the lock is held (after a lost connection, too). */
  async hold(): Promise<void> {
    if (this.client || this.closed) return;
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    try {
      await this.connecting;
    } catch (err) {
      throw unreachable(err);
    }
  }

  /** Takes the lock again after `delayMs`, and again later while that fails. */
  private holdAgain(delayMs: number): void {
    if (this.closed || this.retake) return;
    this.retake = setTimeout(() => {
      this.retake = undefined;
      this.hold().catch(() => this.holdAgain(Math.min(5000, Math.max(250, delayMs * 2))));
    }, delayMs);
    this.retake.unref();
  }

  private async connect(): Promise<void> {
    const client = new Client({ ...this.config, options: undefined });
    // The listener also keeps a broken connection's 'error' from ending the process.
    const lost = (): void => {
      if (this.client !== client) return;
      this.client = undefined;
      this.holdAgain(0);
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    try {
      // A key held by another store (chance 1 in 2^31 per store) is not ours: draw again.
      for (let tries = 0; ; tries++) {
        const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [SESSION_LOCK, this.key]);
        if (r.rows[0].ok) break;
        if (tries >= 10) throw new Error('could not take a session lock');
        this.key = randomInt(1, 2 ** 31 - 1);
      }
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retake);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // Unlocked before the connection ends, so that a store opened right after sees it gone.
    await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * The connection string with the password put into it. pg lets every value of a
 * connection string override the same option, and it reads a URL without a password as
 * the password '' (so a `password` option next to such a URL is never used).
 */
function withPassword(connectionString: string, password: string | undefined): string {
  if (password === undefined) return connectionString;
  const url = new URL(connectionString);
  // Encoded whole: pg decodes the URL's password with decodeURIComponent.
  url.password = encodeURIComponent(password);
  return url.toString();
}

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (any `pg` connection string). */
  connectionString: string;
  /** The password, when it is kept apart from the connection string (Node-RED credentials). */
  password?: string;
  /** The schema holding the store's tables, created when missing; default: the connection's search_path. */
  schema?: string;
  pool?: { max?: number };
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;

  private constructor(
    private readonly pool: Pool,
    private readonly session: Session,
    readonly instanceId: string,
    readonly schema: string | undefined,
  ) {}

  /**
   * Connects, applies pending migrations (safe when several processes start at once),
   * takes this store's session lock, and emits again the inbound rows of stores that
   * are gone. Rows of live stores, and outbound leases that have not run out, are left
   * alone: other processes share the queues.
   */
  static async open(o: PostgresStoreOptions): Promise<PostgresStore> {
    if (o.schema !== undefined && !SCHEMA_NAME.test(o.schema)) {
      throw new Error(`schema "${o.schema}": use lower-case letters, digits and _ (at most 63), starting with a letter or _`);
    }
    const config: PoolConfig = {
      connectionString: withPassword(o.connectionString, o.password),
      max: o.pool?.max ?? 10,
      types: TYPES,
      // Every pooled connection resolves our unqualified table names in the schema.
      ...(o.schema ? { options: `-c search_path=${o.schema}` } : {}),
    };
    const pool = new Pool(config);
    // An idle connection that breaks (server restart) is dropped by the pool and the next
    // query opens a new one; without a listener the error would end the process.
    pool.on('error', () => undefined);
    const session = new Session(config);
    try {
      const instanceId = await migrate(pool, o.schema);
      await session.hold();
      await pool.query({ name: 'rps_releaseInboundOfGoneSessions', text: SQL.releaseInboundOfGoneSessions, values: [SESSION_LOCK] });
      return new PostgresStore(pool, session, instanceId, o.schema);
    } catch (err) {
      await session.close();
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  private tx<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.pool, work);
  }

  /** Gives each item its per-record sequence and inserts the batch: two statements, whatever its size. */
  private async enqueue(db: Db, items: readonly EnqueueItem[], now: number): Promise<Enqueued[]> {
    if (items.length === 0) return [];
    const key = (remote: string, table: string, id: string): string => JSON.stringify([remote, table, id]);
    const counts = new Map<string, { remote: string; table: string; id: string; n: number }>();
    for (const { remoteSystem, message } of items) {
      const k = key(remoteSystem, message.source.table, message.source.id);
      const c = counts.get(k);
      if (c) c.n += 1;
      else counts.set(k, { remote: remoteSystem, table: message.source.table, id: message.source.id, n: 1 });
    }
    const cs = [...counts.values()];
    const reserved = await rows<{ remote_system: string; record_table: string; record_id: string; last_sequence: number }>(db, 'reserveSequences', [
      cs.map((c) => c.remote),
      cs.map((c) => c.table),
      cs.map((c) => c.id),
      cs.map((c) => c.n),
    ]);
    // The next sequence to hand out per record: the first of the n just reserved.
    const next = new Map<string, number>();
    for (const r of reserved) {
      const k = key(r.remote_system, r.record_table, r.record_id);
      next.set(k, r.last_sequence - (counts.get(k)?.n ?? 0) + 1);
    }
    const sequences = items.map(({ remoteSystem, message }) => {
      const k = key(remoteSystem, message.source.table, message.source.id);
      const s = next.get(k) ?? 1;
      next.set(k, s + 1);
      return s;
    });
    const inserted = await rows<{ id: number; remote_system: string; message_id: string }>(db, 'insertOutbound', [
      items.map((i) => i.message.id),
      items.map((i) => i.remoteSystem),
      items.map((i) => i.message.processEvent),
      items.map((i) => i.message.kind),
      items.map((i) => i.message.operation),
      items.map((i) => i.message.source.table),
      items.map((i) => i.message.source.id),
      sequences,
      // Our stream towards this remote: this store and this remote system.
      items.map((i, n) => JSON.stringify({ ...i.message, stream: `${this.instanceId}/${i.remoteSystem}`, sequence: sequences[n] })),
      now,
    ]);
    const ids = new Map(inserted.map((r) => [JSON.stringify([r.remote_system, r.message_id]), r.id]));
    return items.map((i, n) => ({
      id: ids.get(JSON.stringify([i.remoteSystem, i.message.id])) ?? 0,
      messageId: i.message.id,
      sequence: sequences[n],
    }));
  }

  async enqueueOutbound(items: readonly EnqueueItem[], now: number): Promise<Enqueued[]> {
    if (items.length === 0) return [];
    return this.tx((c) => this.enqueue(c, items, now));
  }

  async claimOutbound(remoteSystem: string, limit: number, now: number, owner: string, leaseMs: number): Promise<OutboundRow[]> {
    return byId(await rows<OutboundRecord>(this.pool, 'claimOutbound', [remoteSystem, now, limit, owner, leaseMs])).map(outboundRow);
  }

  async markOutboundProcessed(ids: readonly number[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await query(this.pool, 'outboundProcessed', [[...ids], now]);
  }

  async retryOutbound(items: readonly RetryItem[], _now: number): Promise<void> {
    if (items.length === 0) return;
    await query(this.pool, 'outboundRetry', [
      items.map((i) => i.id),
      items.map((i) => i.nextAttemptAt),
      items.map((i) => i.error),
      items.map((i) => (i.countTry ? 1 : 0)),
    ]);
  }

  async failOutbound(items: readonly FailItem[], _now: number): Promise<void> {
    if (items.length === 0) return;
    await query(this.pool, 'outboundFail', [items.map((i) => i.id), items.map((i) => i.error), items.map((i) => i.kind)]);
  }

  async requeueOutbound(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]> {
    const r = await rows<{ id: number }>(this.pool, 'outboundRequeue', [...filterParams(filter), countRetry ? 1 : 0, now]);
    return r.map((x) => x.id);
  }

  async skipOutbound(filter: QueueFilter, now: number): Promise<number[]> {
    return (await rows<{ id: number }>(this.pool, 'outboundSkip', [...filterParams(filter), now])).map((x) => x.id);
  }

  async listOutbound(filter: ListFilter): Promise<OutboundRow[]> {
    return (await rows<OutboundRecord>(this.pool, 'listOutbound', listParams(filter))).map(outboundRow);
  }

  async releaseOutbound(remoteSystem: string, owner: string, now: number): Promise<number> {
    return (await query(this.pool, 'outboundRelease', [now, remoteSystem, owner])).rowCount;
  }

  async nextOutboundAttempt(remoteSystem: string, now: number): Promise<number | null> {
    return (await rows<{ at: number | null }>(this.pool, 'nextOutboundAttempt', [remoteSystem, now]))[0].at;
  }


  async countOutbound(remoteSystem?: string): Promise<StatusCounts> {
    return countsOf(
      remoteSystem === undefined
        ? await rows<{ status: QueueStatus; n: number }>(this.pool, 'countOutbound')
        : await rows<{ status: QueueStatus; n: number }>(this.pool, 'countOutboundFor', [remoteSystem]),
    );
  }

  async getOutbound(id: number): Promise<OutboundRow | undefined> {
    const [r] = await rows<OutboundRecord>(this.pool, 'getOutbound', [id]);
    return r && outboundRow(r);
  }

  private async link(db: Db, remoteSystem: string, local: { table: string; id: string }, remote: { table: string; id: string }, now: number): Promise<void> {
    await query(db, 'link', [remoteSystem, local.table, local.id, remote.table, remote.id, now]);
  }

  /** See the `advance` statement; `done` are (stream, table, id, sequence) of one remote. */
  private async advance(db: Db, remoteSystem: string, done: readonly { stream: string; table: string; id: string; sequence: number }[], inTurn: boolean): Promise<void> {
    if (done.length === 0) return;
    await query(db, 'advance', [
      remoteSystem,
      done.map((d) => d.stream),
      done.map((d) => d.table),
      done.map((d) => d.id),
      done.map((d) => d.sequence),
      inTurn,
    ]);
  }

  async acceptInbound(remoteSystem: string, messages: readonly Message[], now: number): Promise<ResultStatus[]> {
    if (messages.length === 0) return [];
    const insert = async (db: Db): Promise<ResultStatus[]> => {
      const inserted = await rows<{ message_id: string }>(db, 'insertInbound', [
        remoteSystem,
        now,
        messages.map((m) => m.id),
        messages.map((m) => m.processEvent),
        messages.map((m) => m.kind),
        messages.map((m) => m.operation),
        messages.map((m) => streamOf(m)),
        messages.map((m) => m.source.table),
        messages.map((m) => m.source.id),
        messages.map((m) => m.sequence),
        messages.map((m) => JSON.stringify(m)),
      ]);
      // The first of a message id in the batch was inserted; a later one is a duplicate.
      const fresh = new Set(inserted.map((r) => r.message_id));
      return messages.map((m) => (fresh.delete(m.id) ? 'accepted' : 'duplicate'));
    };
    // Without correlation messages the batch is one statement: no transaction to open.
    if (!messages.some((m) => m.kind === 'correlation' && m.target)) return insert(this.pool);
    return this.tx(async (c) => {
      const results = await insert(c);
      for (const [n, m] of messages.entries()) {
        if (results[n] !== 'accepted' || m.kind !== 'correlation' || !m.target) continue;
        await this.link(c, remoteSystem, m.target, m.source, now);
        await this.advance(c, remoteSystem, [{ stream: streamOf(m), table: m.source.table, id: m.source.id, sequence: m.sequence }], true);
      }
      return results;
    });
  }

  async claimInbound(o: InboundClaimOptions): Promise<InboundClaim> {
    // Rows are stamped with the session: make sure its lock is held (after a lost connection too).
    await this.session.hold();
    const gapCutoff = o.now - o.gapWaitMs;
    const heads = byId(
      await rows<InboundRecord & { applied: number }>(this.pool, 'claimInbound', [
        o.remoteSystem,
        o.processEvent,
        gapCutoff,
        o.limit,
        o.now,
        o.owner,
        this.session.key,
      ]),
    );
    const claim: InboundClaim = { rows: [], stale: [], gaps: [] };
    for (const h of heads) {
      const row = inboundRow(h);
      if (h.status === 'skipped') {
        claim.stale.push(row);
        continue;
      }
      claim.rows.push(row);
      if (h.sequence > h.applied + 1) claim.gaps.push({ row, applied: h.applied });
    }
    // Only a claim that found nothing needs to know when a gap-held row may go: the
    // dispatcher claims again after every outcome, and that last, empty claim arms its timer.
    if (heads.length === 0) {
      const [held] = await rows<{ at: number | null }>(this.pool, 'gapHeld', [o.remoteSystem, o.processEvent, gapCutoff]);
      if (held.at !== null) claim.waitingUntil = held.at + o.gapWaitMs;
    }
    return claim;
  }

  async finishInbound(outcomes: readonly InboundOutcome[], now: number): Promise<FinishResult[]> {
    if (outcomes.length === 0) return [];
    return this.tx(async (c) => {
      const locked = new Map(
        (await rows<InboundRecord>(c, 'lockInbound', [[...new Set(outcomes.map((o) => o.id))]])).map((r) => [r.id, { ...r }]),
      );
      // Decided in order, as one by one: the last outcome of a row is the one written.
      const final = new Map<number, InboundOutcome>();
      const processed: { outcome: InboundOutcome; row: InboundRecord }[] = [];
      const results = outcomes.map((o): FinishResult => {
        const row = locked.get(o.id);
        // Only the attempt that is out may finish a row: a late answer for an attempt
        // that timed out and was emitted again must not finish the new attempt. A late
        // answer for the attempt that timed out still counts: the flow did finish it.
        if (!row || row.attempts !== o.attempt || (row.status !== 'processing' && row.status !== 'error')) return 'stale';
        row.status = o.status === 'error' ? 'error' : 'processed';
        final.set(o.id, o);
        if (o.status !== 'error') processed.push({ outcome: o, row });
        return 'finished';
      });
      const errors = [...final.values()].filter((o) => o.status === 'error');
      if (errors.length > 0) {
        await query(c, 'inboundError', [errors.map((o) => o.id), errors.map((o) => o.error ?? 'error'), errors.map((o) => o.errorKind ?? 'flow')]);
      }
      if (processed.length === 0) return results;
      await query(c, 'inboundProcessed', [processed.map((p) => p.row.id), now]);
      // The cursors move per remote system (one statement each, usually one in all).
      const byRemote = new Map<string, { stream: string; table: string; id: string; sequence: number }[]>();
      for (const { row } of processed) {
        const list = byRemote.get(row.remote_system) ?? [];
        list.push({ stream: row.stream, table: row.source_table, id: row.source_id, sequence: row.sequence });
        byRemote.set(row.remote_system, list);
      }
      for (const [remote, done] of byRemote) await this.advance(c, remote, done, false);
      // Correlations, in the order of the outcomes: each may see the link of the one before.
      for (const { outcome: o, row } of processed) {
        const source = { table: row.source_table, id: row.source_id };
        if (o.local) {
          const [current] = await rows<CorrelationRecord>(c, 'correlationByRemote', [row.remote_system, source.table, source.id]);
          const changed = !current || current.local_table !== o.local.table || current.local_id !== o.local.id || current.state !== 'active';
          if (changed && !o.deactivate) {
            await this.link(c, row.remote_system, o.local, source, now);
            if (o.reply) await this.enqueue(c, [{ remoteSystem: row.remote_system, message: o.reply }], now);
          }
        }
        if (o.deactivate) await query(c, 'deactivateCorrelation', [now, row.remote_system, source.table, source.id]);
      }
      return results;
    });
  }

  async expireInbound(remoteSystem: string, processEvent: string, startedBefore: number, error: string, _now: number): Promise<InboundRow[]> {
    return (await rows<InboundRecord>(this.pool, 'expireInbound', [error, remoteSystem, processEvent, startedBefore])).map(inboundRow);
  }

  async reclaimInbound(ids: readonly number[], startedBefore: number, _now: number): Promise<number[]> {
    if (ids.length === 0) return [];
    return (await rows<{ id: number }>(this.pool, 'reclaimInbound', [[...ids], startedBefore])).map((r) => r.id);
  }

  async requeueInbound(filter: QueueFilter, countRetry: boolean, _now: number): Promise<number[]> {
    return (await rows<{ id: number }>(this.pool, 'inboundRequeue', [...filterParams(filter), countRetry ? 1 : 0])).map((r) => r.id);
  }

  async skipInbound(filter: QueueFilter, now: number): Promise<number[]> {
    return this.tx(async (c) => {
      const skipped = await rows<InboundRecord>(c, 'inboundSkip', [...filterParams(filter), now]);
      // A skipped message counts as applied for its record's order, so the next one does
      // not wait for a gap; in turn and in sequence order, one by one.
      for (const r of [...skipped].sort((x, y) => x.sequence - y.sequence)) {
        await this.advance(c, r.remote_system, [{ stream: r.stream, table: r.source_table, id: r.source_id, sequence: r.sequence }], true);
      }
      return skipped.map((r) => r.id);
    });
  }

  async listInbound(filter: ListFilter): Promise<InboundRow[]> {
    return (await rows<InboundRecord>(this.pool, 'listInbound', listParams(filter))).map(inboundRow);
  }

  async countInbound(remoteSystem?: string): Promise<StatusCounts> {
    return countsOf(
      remoteSystem === undefined
        ? await rows<{ status: QueueStatus; n: number }>(this.pool, 'countInbound')
        : await rows<{ status: QueueStatus; n: number }>(this.pool, 'countInboundFor', [remoteSystem]),
    );
  }

  async getInbound(id: number): Promise<InboundRow | undefined> {
    const [r] = await rows<InboundRecord>(this.pool, 'getInbound', [id]);
    return r && inboundRow(r);
  }

  async findCorrelationByLocal(remoteSystem: string, table: string, id: string): Promise<Correlation | undefined> {
    const [r] = await rows<CorrelationRecord>(this.pool, 'correlationByLocal', [remoteSystem, table, id]);
    return r && correlation(r);
  }

  async findCorrelationByRemote(remoteSystem: string, table: string, id: string): Promise<Correlation | undefined> {
    const [r] = await rows<CorrelationRecord>(this.pool, 'correlationByRemote', [remoteSystem, table, id]);
    return r && correlation(r);
  }

  async addErrorItems(items: readonly { owner: string; message: string; error: string }[], now: number): Promise<number[]> {
    if (items.length === 0) return [];
    const r = await rows<{ id: number }>(this.pool, 'addErrorItems', [items.map((i) => i.owner), items.map((i) => i.message), items.map((i) => i.error), now]);
    // Inserted in the items' order, so their ids rise in that order.
    return r.map((x) => x.id).sort((a, b) => a - b);
  }

  async failErrorItem(owner: string, id: number, error: string, maxRetries: number, now: number): Promise<ErrorItemStatus | undefined> {
    const [r] = await rows<{ status: ErrorItemStatus }>(this.pool, 'failErrorItem', [error, maxRetries, now, id, owner]);
    return r?.status;
  }

  async takeErrorItems(owner: string, maxRetries: number, limit: number, now: number): Promise<ErrorItem[]> {
    return byId(await rows<ErrorItemRecord>(this.pool, 'takeErrorItems', [owner, maxRetries, limit, now])).map(errorItem);
  }

  async settleErrorItems(owner: string, retryingBefore: number, now: number): Promise<number> {
    return (await query(this.pool, 'settleErrorItems', [now, owner, retryingBefore])).rowCount;
  }

  async resetErrorItems(owner: string, now: number): Promise<number> {
    return (await query(this.pool, 'resetErrorItems', [now, owner])).rowCount;
  }

  async countErrorItems(owner: string): Promise<Record<ErrorItemStatus, number>> {
    const out: Record<ErrorItemStatus, number> = { error: 0, retrying: 0, processed: 0, failed: 0 };
    for (const r of await rows<{ status: ErrorItemStatus; n: number }>(this.pool, 'countErrorItems', [owner])) out[r.status] = r.n;
    return out;
  }

  async purge(policy: RetentionPolicy, now: number, batch: number): Promise<PurgeResult> {
    return runPurge(PURGES, policy, now, batch, async (p, before) => {
      try {
        return (await this.pool.query({ name: p.name, text: p.text, values: [before, batch] })).rowCount ?? 0;
      } catch (err) {
        throw unreachable(err);
      }
    });
  }


  async readValue(key: string): Promise<string | undefined> {
    return (await rows<{ value: string }>(this.pool, 'readValue', [key]))[0]?.value;
  }

  async writeValue(key: string, value: string | undefined, now: number): Promise<void> {
    if (value === undefined) await query(this.pool, 'deleteValue', [key]);
    else await query(this.pool, 'writeValue', [key, value, now]);
  }

  async initValue(key: string, value: string, now: number): Promise<string> {
    const [mine] = await rows<{ value: string }>(this.pool, 'initValue', [key, value, now]);
    if (mine) return mine.value;
    // Another writer was first. Read in a statement of its own: its snapshot is taken
    // after that writer committed, which the insert above waited for.
    return (await this.readValue(key)) ?? (await this.initValue(key, value, now));
  }

  async listValues(prefix: string): Promise<StoredValue[]> {
    return rows<StoredValue>(this.pool, 'listValues', [prefix]);
  }

  async replaceValues(changes: readonly ValueChange[], now: number): Promise<string[]> {
    if (changes.length === 0) return [];
    const replaced = await rows<{ key: string }>(this.pool, 'replaceValues', [changes.map((c) => c.key), changes.map((c) => c.expected), changes.map((c) => c.value), now]);
    return replaced.map((r) => r.key);
  }

  async addRefreshToken(t: IssuedRefreshToken, now: number, maxFamilies: number): Promise<void> {
    await this.tx(async (c) => {
      await query(c, 'dropExpiredRefreshTokens', [now]);
      await query(c, 'addRefreshToken', [t.hash, t.remoteSystem, t.family, t.credential, t.expiresAt]);
      await query(c, 'dropOldRefreshFamilies', [t.remoteSystem, maxFamilies]);
    });
  }

  async rotateRefreshToken(
    presented: { hash: string; remoteSystem: string; credential: string },
    next: { hash: string; expiresAt: number },
    now: number,
    graceMs: number,
  ): Promise<RefreshRotation> {
    return this.tx(async (c): Promise<RefreshRotation> => {
      const [r] = await rows<RefreshTokenRecord>(c, 'lockRefreshToken', [presented.hash]);
      if (!r) return { status: 'unknown' };
      const refused = refusedRotation(r, presented, now, graceMs);
      if (refused) {
        await query(c, 'revokeRefreshFamily', [r.family]);
        return { status: refused };
      }
      if (r.used_at === null) await query(c, 'useRefreshToken', [now, r.hash]);
      await query(c, 'addRefreshToken', [next.hash, r.remote_system, r.family, r.credential, next.expiresAt]);
      return { status: 'rotated', previous: issuedRefreshToken(r) };
    });
  }

  private closing: Promise<void> | undefined;

  /** Opened by `open`. */
  async opened(): Promise<void> {}

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.pool.end().catch(() => undefined);
      await this.session.close();
    })();
    await this.closing;
  }
}
