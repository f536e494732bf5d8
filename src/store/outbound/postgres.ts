/**
 * The outbound queue in PostgreSQL: one statement per call, whatever the batch size.
 * Several processes share the queue: rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease (`locked_by`, `locked_until`), and
 * a row whose lease has run out (its worker died) is taken over by the next claim.
 */
import type { PgContext } from '../postgres/context';
import { journalMarksOf, journalsToSend, markKey } from '../../core/journal';
import { markNew } from '../journal-marks/postgres';
import { byId, type Db, query, rows, sql, transaction } from '../postgres/db';
import { FILTER, filterParams, LIST, listParams } from '../postgres/filter';
import { countsOf, type ListFilter, type QueueFilter, type QueueStatus, type StatusCounts } from '../shared/queue';
import {
  type Enqueued,
  type EnqueueItem,
  type FailItem,
  type OutboundQueue,
  type OutboundRecord,
  type OutboundRow,
  payloadBeforeStream,
  outboundRow,
  type RetryItem,
  SEQUENCE_MEMBER,
  STREAM_MEMBER,
} from './types';

// A whole batch in one statement (an enqueue needs no transaction of its own). Each
// record's sequences are reserved in one upsert of its count, and handed out in the
// batch's order; the rows are inserted in the batch's order, so ids follow it. The
// counters are taken in a fixed order, so two enqueues of the same records cannot
// deadlock; and their row locks serialise the enqueues of one record until commit, so
// a record's later rows always get higher ids. A remote system whose instance is known
// (rps_peer) is queued under that instance's id, whatever key the caller gave: another
// process of the same flows may not have learned it yet (peers/types.ts), and its counter
// moved there. Each payload gets its sequence as its
// last member, after its stream (the counter's own, or `$12/<remote system>`, see
// outboundStream): $8 holds the payloads up to them, $13 the words before the stream,
// $10 and $11 the words around the sequence.
const ENQUEUE = sql('outbound_enqueue', `
  WITH item AS (
    SELECT u.m, coalesce(peer.instance_id, u.r) AS r, u.e, u.kind, u.op, u.t, u.i, u.p, u.ord
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
         WITH ORDINALITY AS u (m, r, e, kind, op, t, i, p, ord)
    LEFT JOIN rps_peer peer ON peer.kind = 'node' AND peer.name = u.r
  ), reserved AS (
    INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
    SELECT r, 'out', '', t, i, count(*) FROM item GROUP BY r, t, i ORDER BY r, t, i
    ON CONFLICT (remote_system, direction, stream, record_table, record_id)
    DO UPDATE SET last_sequence = rps_sequence.last_sequence + excluded.last_sequence
    RETURNING remote_system, record_table, record_id, last_sequence, out_stream
  ), numbered AS (
    SELECT item.*, c.last_sequence - count(*) OVER w + row_number() OVER w AS s,
           coalesce(c.out_stream, $12::text || '/' || item.r) AS stream
    FROM item
    JOIN reserved c ON c.remote_system = item.r AND c.record_table = item.t AND c.record_id = item.i
    WINDOW w AS (PARTITION BY item.r, item.t, item.i ORDER BY item.ord ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
  )
  INSERT INTO rps_outbound (message_id, remote_system, process_event, kind, operation, record_table, record_id,
                            sequence, status, payload, next_attempt_at, created_at)
  SELECT m, r, e, kind, op, t, i, s, 'ready', left(p, -1) || $13::text || to_json(stream)::text || $10::text || s || $11::text, $9::bigint, $9::bigint
  FROM numbered
  ORDER BY ord
  RETURNING id, remote_system, message_id, sequence`);

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
const CLAIM = sql('outbound_claim', `
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
  RETURNING o.*`, { perCall: true });

const PROCESSED = sql('outbound_processed', `
  UPDATE rps_outbound
  SET status = 'processed', processed_at = $2::bigint, last_error = NULL, error_kind = NULL, locked_by = NULL, locked_until = NULL
  WHERE id = ANY ($1::bigint[]) AND status = 'processing'`);

const RETRY = sql('outbound_retry', `
  UPDATE rps_outbound o
  SET status = 'ready', next_attempt_at = u.at, last_error = u.error, tries = o.tries + u.counted,
      locked_by = NULL, locked_until = NULL
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[]) AS u (id, at, error, counted)
  WHERE o.id = u.id AND o.status = 'processing'`);

const FAIL = sql('outbound_fail', `
  UPDATE rps_outbound o
  SET status = 'error', last_error = u.error, error_kind = u.kind, tries = o.tries + 1, locked_by = NULL, locked_until = NULL
  FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, error, kind)
  WHERE o.id = u.id AND o.status = 'processing'`);

// Only the owner's own rows: the others' are in flight in live processes.
const RELEASE = sql('outbound_release', `
  UPDATE rps_outbound SET status = 'ready', next_attempt_at = $1::bigint, locked_by = NULL, locked_until = NULL
  WHERE remote_system = $2::text AND status = 'processing' AND locked_by = $3::text`);

const REQUEUE = sql('outbound_requeue', `
  WITH requeued AS (
    UPDATE rps_outbound
    SET status = 'ready', tries = 0, retries = retries + $6::integer, next_attempt_at = $7::bigint, error_kind = NULL
    WHERE status = 'error' AND ${FILTER}
    RETURNING id)
  SELECT id FROM requeued ORDER BY id`);

// Without ids only `error` rows are skipped: skipping what is merely waiting takes a person naming it.
const SKIP = sql('outbound_skip', `
  WITH skipped AS (
    UPDATE rps_outbound SET status = 'skipped', processed_at = $6::bigint, locked_by = NULL, locked_until = NULL
    WHERE (status = 'error' OR ($3::bigint[] IS NOT NULL AND status = 'ready')) AND ${FILTER}
    RETURNING id)
  SELECT id FROM skipped ORDER BY id`);

const LIST_ROWS = sql('outbound_list_rows', `SELECT * FROM rps_outbound WHERE ${LIST}`);

// The next retry time, or the end of a lease: a row left processing (a store fault
// while recording its answer, or a worker that died) is taken again then.
const NEXT_ATTEMPT = sql('outbound_next_attempt', `
  SELECT min(CASE status WHEN 'ready' THEN next_attempt_at ELSE locked_until END) AS at
  FROM rps_outbound
  WHERE remote_system = $1::text AND status IN ('ready', 'processing')
    AND ((status = 'ready' AND next_attempt_at > $2::bigint) OR (status = 'processing' AND locked_until > $2::bigint))`);

const COUNT = sql('outbound_count', 'SELECT status, count(*) AS n FROM rps_outbound GROUP BY status');

const COUNT_FOR = sql('outbound_count_for', 'SELECT status, count(*) AS n FROM rps_outbound WHERE remote_system = $1::text GROUP BY status');

const GET = sql('outbound_get', 'SELECT * FROM rps_outbound WHERE id = $1::bigint');
/**
 * Gives each item its per-record sequence and inserts the batch: one statement, whatever
 * its size, alone or in the caller's transaction (the finish of inbound rows that queues
 * correlation replies).
 */
export async function enqueueIn(db: Db, instanceId: string, items: readonly EnqueueItem[], now: number): Promise<Enqueued[]> {
  if (items.length === 0) return [];
  const inserted = await rows<{ id: number; remote_system: string; message_id: string; sequence: number }>(db, ENQUEUE, [
    items.map((i) => i.message.id),
    items.map((i) => i.remoteSystem),
    items.map((i) => i.message.processEvent),
    items.map((i) => i.message.kind),
    items.map((i) => i.message.operation),
    items.map((i) => i.message.source.table),
    items.map((i) => i.message.source.id),
    items.map((i) => payloadBeforeStream(i)),
    now,
    ...SEQUENCE_MEMBER,
    instanceId,
    STREAM_MEMBER,
  ]);
  // By message id: a row may be under its remote's instance id rather than the key given.
  const byMessage = new Map(inserted.map((r) => [r.message_id, r]));
  return items.map((i) => {
    const r = byMessage.get(i.message.id);
    return { id: r?.id ?? 0, messageId: i.message.id, sequence: r?.sequence ?? 0 };
  });
}

export class PostgresOutbound implements OutboundQueue {
  constructor(private readonly p: PgContext) {}

  async enqueue(items: readonly EnqueueItem[], now: number): Promise<Enqueued[]> {
    if (items.length === 0) return [];
    // Without journal entries, one statement and no transaction.
    if (!items.some((i) => i.message.journal.length > 0)) return enqueueIn(this.p.pool, this.p.instanceId, items, now);
    // Journal entries: their marks and the rows in one transaction; only new marks are sent.
    return transaction(this.p.pool, async (c) => {
      const fresh = new Set((await markNew(c, journalMarksOf(items), now)).map((m) => markKey(m.remoteSystem, m.entryId)));
      const messages = journalsToSend(items, fresh);
      const kept = items.flatMap((item, i) => (messages[i] ? [{ ...item, message: messages[i] }] : []));
      const queued = new Map((await enqueueIn(c, this.p.instanceId, kept, now)).map((q) => [q.messageId, q]));
      return items.map((item) => queued.get(item.message.id) ?? { id: 0, messageId: item.message.id, sequence: 0, skipped: true as const });
    });
  }

  async claim(remoteSystem: string, limit: number, now: number, owner: string, leaseMs: number): Promise<OutboundRow[]> {
    return byId(await rows<OutboundRecord>(this.p.pool, CLAIM, [remoteSystem, now, limit, owner, leaseMs])).map(outboundRow);
  }

  async markProcessed(ids: readonly number[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await query(this.p.pool, PROCESSED, [[...ids], now]);
  }

  async retry(items: readonly RetryItem[], _now: number): Promise<void> {
    if (items.length === 0) return;
    await query(this.p.pool, RETRY, [
      items.map((i) => i.id),
      items.map((i) => i.nextAttemptAt),
      items.map((i) => i.error),
      items.map((i) => (i.countTry ? 1 : 0)),
    ]);
  }

  async fail(items: readonly FailItem[], _now: number): Promise<void> {
    if (items.length === 0) return;
    await query(this.p.pool, FAIL, [items.map((i) => i.id), items.map((i) => i.error), items.map((i) => i.kind)]);
  }

  async requeue(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]> {
    return (await rows<{ id: number }>(this.p.pool, REQUEUE, [...filterParams(filter), countRetry ? 1 : 0, now])).map((x) => x.id);
  }

  async skip(filter: QueueFilter, now: number): Promise<number[]> {
    return (await rows<{ id: number }>(this.p.pool, SKIP, [...filterParams(filter), now])).map((x) => x.id);
  }

  async list(filter: ListFilter): Promise<OutboundRow[]> {
    return (await rows<OutboundRecord>(this.p.pool, LIST_ROWS, listParams(filter))).map(outboundRow);
  }

  async release(remoteSystem: string, owner: string, now: number): Promise<number> {
    return (await query(this.p.pool, RELEASE, [now, remoteSystem, owner])).rowCount;
  }

  async nextAttempt(remoteSystem: string, now: number): Promise<number | null> {
    return (await rows<{ at: number | null }>(this.p.pool, NEXT_ATTEMPT, [remoteSystem, now]))[0].at;
  }

  async count(remoteSystem?: string): Promise<StatusCounts> {
    type Counted = { status: QueueStatus; n: number };
    return countsOf(remoteSystem === undefined ? await rows<Counted>(this.p.pool, COUNT) : await rows<Counted>(this.p.pool, COUNT_FOR, [remoteSystem]));
  }

  async get(id: number): Promise<OutboundRow | undefined> {
    const [r] = await rows<OutboundRecord>(this.p.pool, GET, [id]);
    return r && outboundRow(r);
  }
}
