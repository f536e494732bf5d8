/**
 * The inbound queue in PostgreSQL. Inbound rows have no lease in the interface: a store
 * holds a session-level advisory lock for as long as it is open (see ../postgres/session.ts),
 * stamps the rows it emits with it, and a store that opens emits again only the rows of
 * sessions that are gone (a process that died or closed), never those of a live process.
 * Accepting a batch applies its correlation messages, and finishing rows updates
 * correlations and queues correlation replies: each in one transaction, through the
 * other concerns' statement-level functions.
 */
import { type FinishResult, finishResults, type InboundOutcome, netCorrelationChanges, planCorrelations, planFinish, STALE_REASON } from '../../core/inbound-finish';
import { type Message, type ResultStatus, streamOf } from '../../core/protocol';
import { journalsReceived } from '../../core/journal';
import { applyCorrelationChanges } from '../correlations/postgres';
import { markNew, seenAny } from '../journal-marks/postgres';
import { enqueueIn } from '../outbound/postgres';
import type { PgContext } from '../postgres/context';
import { byId, type Db, query, rows, sql, transaction } from '../postgres/db';
import { FILTER, filterParams, LIST, listParams } from '../postgres/filter';
import { SESSION_LOCK } from '../postgres/session';
import { countsOf, type ListFilter, type QueueFilter, type QueueStatus, type StatusCounts } from '../shared/queue';
import { type ConflictNote, type Done, doneOf, FINISH_COLUMNS, type FinishRecord, type InboundClaim, type InboundClaimOptions, type InboundQueue, type InboundRecord, inboundRow, type InboundRow, planAccept, processedMessage } from './types';

/**
 * EXISTS: a row of one record (`of`: its remote system, stream, table and id) in one
 * status, with one sequence if given. One index probe of rps_inbound_record, fenced from
 * the planner (OFFSET 0) and spelled as a range of (status[, sequence]) so that it
 * implies no partial index's predicate: it reads that status's entries of the record,
 * never the record's whole history or the whole table (see CLAIM).
 */
function recordHas(of: readonly [string, string, string, string], status: string, sequence?: string): string {
  const at = sequence === undefined ? `p.status >= '${status}' AND p.status <= '${status}'` : `(p.status, p.sequence) >= ('${status}', ${sequence}) AND (p.status, p.sequence) <= ('${status}', ${sequence})`;
  return `EXISTS (
    SELECT 1 FROM rps_inbound p
    WHERE p.remote_system = ${of[0]} AND p.stream = ${of[1]} AND p.source_table = ${of[2]} AND p.source_id = ${of[3]} AND ${at}
    OFFSET 0)`;
}

const OF_CANDIDATE = ['i.remote_system', 'i.stream', 'i.source_table', 'i.source_id'] as const;
const OF_WALK = ['w.rs', 'w.st', 'w.t', 'w.i'] as const;

// A candidate row `i` is its record's head: nothing of the record is processing or in
// error, and no ready row of it comes before it (a range of (status, sequence) in
// rps_inbound_record, see CLAIM). The claim and the gap-end question ask the same.
const IS_HEAD = `NOT ${recordHas(OF_CANDIDATE, 'processing')}
        AND NOT ${recordHas(OF_CANDIDATE, 'error')}
        AND NOT EXISTS (
          SELECT 1 FROM rps_inbound p
          WHERE p.remote_system = i.remote_system AND p.stream = i.stream
            AND p.source_table = i.source_table AND p.source_id = i.source_id
            AND p.status >= 'ready' AND (p.status, p.sequence) < ('ready', i.sequence)
          OFFSET 0)`;

// A received batch in one statement. A message id seen before from this remote (in an
// earlier batch or earlier in this one) is left out: it is a duplicate. A correlation
// message needs no flow: it is stored as processed and applied in the same transaction.
const INSERT = sql('inbound_insert', `
  INSERT INTO rps_inbound (message_id, remote_system, process_event, kind, operation, stream, source_table, source_id,
                           sequence, status, payload, received_at, processed_at)
  SELECT m, $1::text, e, k, op, st, t, i, s,
         CASE WHEN k = 'correlation' THEN 'processed' ELSE 'ready' END, p, $2::bigint,
         CASE WHEN k = 'correlation' THEN $2::bigint END
  FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[])
       WITH ORDINALITY AS u (m, e, k, op, st, t, i, s, p, ord)
  ORDER BY ord
  ON CONFLICT (remote_system, message_id) DO NOTHING
  RETURNING message_id`);

// The head of each record's line (its lowest ready sequence, when nothing of the
// record is processing or in error) that may go now: the next in sequence, stale (at
// or below the applied cursor: skipped), or waiting for a gap longer than the gap
// wait; as in SQLite. Taken in one statement: stale heads become skipped, the others
// processing, stamped with this store's session ($7); a stale head's reason is made of
// the words of core's STALE_REASON ($8..$10) around its sequence and the cursor.
//
// Across workers: a head another claim holds is skipped (SKIP LOCKED), and the
// record's next message is no head while that one is ready or processing, so two
// messages of one record are never out at once. A head claimed and committed by
// another worker since the snapshot is dropped when re-checked under the lock.
//
// A walk, one head per step, for the same reasons as the outbound claim: as one
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
// free, reads it whole for each candidate, and sorts. (So "processing or error" is two
// probes, recordHas: spelled as IN, the plan read the record's whole history of done
// rows at every candidate.)
const CLAIM = sql('inbound_claim', `
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
        AND ${IS_HEAD}
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
                        THEN $8::text || i.sequence || $9::text || h.applied || $10::text
                        ELSE i.last_error END
  FROM walk h
  WHERE i.id = h.id
  RETURNING i.*, h.applied`, { perCall: true });

// When the first head held by a gap may go ahead (for the dispatcher's timer).
const GAP_HELD = sql('inbound_gap_held', `
  SELECT min(i.received_at) AS at
  FROM rps_inbound i
  LEFT JOIN rps_sequence c
    ON c.remote_system = i.remote_system AND c.direction = 'in' AND c.stream = i.stream
   AND c.record_table = i.source_table AND c.record_id = i.source_id
  WHERE i.remote_system = $1::text AND i.process_event = $2::text AND i.status = 'ready'
    AND i.sequence > coalesce(c.last_sequence, 0) + 1 AND i.received_at > $3::bigint
    AND ${IS_HEAD}`);

// The rows a batch of outcomes finishes, locked (in id order: no deadlock between two
// finishers) so that a late answer and a timeout cannot both finish one row; each with the
// link of its source record, for the correlation plan.
const LOCK = sql('inbound_lock', `
  SELECT ${FINISH_COLUMNS}
  WHERE i.id = ANY ($1::bigint[])
  ORDER BY i.id
  FOR UPDATE OF i`);

// Records that sequences of senders' records are done ($1..$5: remote system, stream,
// table, id, sequence). Per record, from its highest sequence given: the cursor moves
// to it when it is past the cursor, then on over messages already done out of turn.
// With $6, "in turn", the cursor moves only to the very next sequence (a correlation
// message or a skip out of turn must not jump over changes still waiting): each
// sequence given is then a start of its own, and the one next to the cursor, if any,
// moves it, on over the others when they are done. The cursor rows are locked and
// read as committed now, in key order (no deadlock between two advances), so two
// advances of one record take turns; it only ever moves forward.
//
// Every read is a probe per record, whatever the statistics say: the cursors by
// primary key (LATERAL), and each step of the walk two probes (recordHas: a processed
// or a skipped row of that sequence). Written as joins, with the
// statistics of a queue that has just filled, the plan read every cursor of the remote
// and hashed every done message of it, for each batch.
const ADVANCE_STEPS = `
  given AS (
    SELECT DISTINCT rs, st, t, i, s FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS u (rs, st, t, i, s)
  ), cur AS (
    SELECT r.rs, r.st, r.t, r.i, c.last_sequence
    FROM (SELECT DISTINCT rs, st, t, i FROM given ORDER BY rs, st, t, i) r
    LEFT JOIN LATERAL (
      SELECT c.last_sequence FROM rps_sequence c
      WHERE c.remote_system = r.rs AND c.direction = 'in' AND c.stream = r.st AND c.record_table = r.t AND c.record_id = r.i
      FOR UPDATE) c ON true
  ), done AS (
    SELECT rs, st, t, i, s FROM given WHERE $6::boolean
    UNION ALL
    SELECT rs, st, t, i, max(s) FROM given WHERE NOT $6::boolean GROUP BY rs, st, t, i
  ), walk (rs, st, t, i, s) AS (
    SELECT d.rs, d.st, d.t, d.i, d.s
    FROM done d
    JOIN cur c ON c.rs = d.rs AND c.st = d.st AND c.t = d.t AND c.i = d.i
    WHERE d.s > coalesce(c.last_sequence, 0)
      AND (NOT $6::boolean OR d.s = coalesce(c.last_sequence, 0) + 1)
    UNION ALL
    SELECT w.rs, w.st, w.t, w.i, w.s + 1
    FROM walk w
    WHERE ${recordHas(OF_WALK, 'processed', 'w.s + 1')} OR ${recordHas(OF_WALK, 'skipped', 'w.s + 1')}
  )
  INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
  SELECT rs, 'in', st, t, i, max(s) FROM walk GROUP BY rs, st, t, i ORDER BY rs, st, t, i
  ON CONFLICT (remote_system, direction, stream, record_table, record_id)
  DO UPDATE SET last_sequence = greatest(rps_sequence.last_sequence, excluded.last_sequence)`;

const ADVANCE = sql('inbound_advance', `WITH RECURSIVE ${ADVANCE_STEPS}`);

// The writes of a finish in one statement: rows put in error ($7..$9: id, reason,
// kind), rows processed ($10, at $11), and the cursors of the processed rows moved
// ($1..$6, as ADVANCE). The walk does not see this statement's own updates, and need
// not: a batch holds one row per record at most (a record has one message out at a time).
const FINISH = sql('inbound_finish', `
  WITH RECURSIVE errored AS (
    UPDATE rps_inbound i
    SET status = 'error', last_error = u.error, error_kind = u.kind, locked_by = NULL, locked_session = NULL
    FROM unnest($7::bigint[], $8::text[], $9::text[]) AS u (id, error, kind)
    WHERE i.id = u.id
  ), processed AS (
    UPDATE rps_inbound
    SET status = 'processed', processed_at = $11::bigint, last_error = NULL, error_kind = NULL, locked_by = NULL, locked_session = NULL
    WHERE id = ANY ($10::bigint[])
  ), ${ADVANCE_STEPS}`);

const EXPIRE = sql('inbound_expire', `
  WITH expired AS (
    UPDATE rps_inbound SET status = 'error', last_error = $1::text, error_kind = 'timeout', locked_by = NULL, locked_session = NULL
    WHERE remote_system = $2::text AND process_event = $3::text AND status = 'processing' AND started_at < $4::bigint
    RETURNING *)
  SELECT * FROM expired ORDER BY id`);

const RECLAIM = sql('inbound_reclaim', `
  WITH reclaimed AS (
    UPDATE rps_inbound SET status = 'ready', locked_by = NULL, locked_session = NULL
    WHERE id = ANY ($1::bigint[]) AND status = 'processing' AND started_at < $2::bigint
    RETURNING id)
  SELECT id FROM reclaimed ORDER BY id`);

// Rows emitted by a store whose session is gone (its process died, or it closed):
// nobody will complete them, so they are emitted again, as SQLite does at a restart.
// A store holds its session lock for as long as it is open, so no live process's
// rows are touched. (Rows without a session are from no live store either.)
const RELEASE_GONE_SESSIONS = sql('inbound_release_gone_sessions', `
  UPDATE rps_inbound i SET status = 'ready', locked_by = NULL, locked_session = NULL
  WHERE i.status = 'processing'
    AND NOT EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::integer::oid AND l.objid = i.locked_session::oid)`);

const REQUEUE = sql('inbound_requeue', `
  WITH requeued AS (
    UPDATE rps_inbound SET status = 'ready', retries = retries + $6::integer, error_kind = NULL
    WHERE status = 'error' AND ${FILTER}
    RETURNING id)
  SELECT id FROM requeued ORDER BY id`);

const SKIP = sql('inbound_skip', `
  WITH skipped AS (
    UPDATE rps_inbound SET status = 'skipped', processed_at = $6::bigint, locked_by = NULL, locked_session = NULL
    WHERE (status = 'error' OR ($3::bigint[] IS NOT NULL AND status = 'ready')) AND ${FILTER}
    RETURNING *)
  SELECT * FROM skipped ORDER BY id`);

const LIST_ROWS = sql('inbound_list_rows', `SELECT * FROM rps_inbound WHERE ${LIST}`);

const COUNT = sql('inbound_count', 'SELECT status, count(*) AS n FROM rps_inbound GROUP BY status');

const COUNT_FOR = sql('inbound_count_for', 'SELECT status, count(*) AS n FROM rps_inbound WHERE remote_system = $1::text GROUP BY status');

const GET = sql('inbound_get', 'SELECT * FROM rps_inbound WHERE id = $1::bigint');

// The last note of a row in the batch wins (DISTINCT ON, latest first).
const NOTE_CONFLICTS = sql('inbound_note_conflicts', `
  UPDATE rps_inbound i SET conflicts = n.c
  FROM (SELECT DISTINCT ON (id) id, c FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS u (id, c, ord) ORDER BY id, ord DESC) n
  WHERE i.id = n.id`);
/** ADVANCE's parameters: the sequences done, and whether they must be in turn. */
function advanceParams(done: readonly Done[], inTurn: boolean): unknown[] {
  return [done.map((d) => d.remoteSystem), done.map((d) => d.stream), done.map((d) => d.table), done.map((d) => d.id), done.map((d) => d.sequence), inTurn];
}

async function advance(db: Db, done: readonly Done[], inTurn: boolean): Promise<void> {
  if (done.length === 0) return;
  await query(db, ADVANCE, advanceParams(done, inTurn));
}

/**
 * Emits again the rows of stores whose session is gone; at open, after this store's
 * session lock is held.
 */
export async function releaseGoneSessions(db: Db): Promise<void> {
  await query(db, RELEASE_GONE_SESSIONS, [SESSION_LOCK]);
}

export class PostgresInbound implements InboundQueue {
  constructor(private readonly p: PgContext) {}

  async accept(remoteSystem: string, received: readonly Message[], now: number): Promise<ResultStatus[]> {
    if (received.length === 0) return [];
    let messages = received;
    const insert = async (db: Db): Promise<ResultStatus[]> => {
      const inserted = await rows<{ message_id: string }>(db, INSERT, [
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
    const ids = received.flatMap((m) => m.journal.map((e) => e.id));
    const correlating = received.some((m) => m.kind === 'correlation' && m.target);
    // Without correlation messages and journal entries the batch is one statement: no transaction to open.
    if (!correlating && ids.length === 0) return insert(this.p.pool);
    return transaction(this.p.pool, async (c) => {
      if (ids.length > 0) {
        // Journal entries seen before are dropped; the others are marked for the remote they came from.
        messages = journalsReceived(received, await seenAny(c, ids));
        await markNew(c, messages.flatMap((m) => m.journal.map((e) => ({ remoteSystem, entryId: e.id }))), now);
      }
      const results = await insert(c);
      if (!correlating) return results;
      const applied = planAccept(remoteSystem, messages, results);
      await applyCorrelationChanges(c, applied.changes, now);
      await advance(c, applied.done, true);
      return results;
    });
  }

  async claim(o: InboundClaimOptions): Promise<InboundClaim> {
    // Rows are stamped with the session: make sure its lock is held (after a lost connection too).
    await this.p.session.hold();
    const gapCutoff = o.now - o.gapWaitMs;
    const heads = byId(
      await rows<InboundRecord & { applied: number }>(this.p.pool, CLAIM, [
        o.remoteSystem,
        o.processEvent,
        gapCutoff,
        o.limit,
        o.now,
        o.owner,
        this.p.session.key,
        ...STALE_REASON,
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
    if (heads.length === 0 && o.askGapEnd !== false) {
      const [held] = await rows<{ at: number | null }>(this.p.pool, GAP_HELD, [o.remoteSystem, o.processEvent, gapCutoff]);
      if (held.at !== null) claim.waitingUntil = held.at + o.gapWaitMs;
    }
    return claim;
  }

  async finish(outcomes: readonly InboundOutcome[], now: number): Promise<FinishResult[]> {
    if (outcomes.length === 0) return [];
    return transaction(this.p.pool, async (c) => {
      const locked = new Map((await rows<FinishRecord>(c, LOCK, [[...new Set(outcomes.map((o) => o.id))]])).map((r) => [r.id, r]));
      const plan = planFinish(outcomes, locked);
      const { errors, processed } = plan;
      if (errors.length + processed.length === 0) return plan.results;
      await query(c, FINISH, [
        ...advanceParams(processed.map((p) => doneOf(p.row)), false),
        errors.map((e) => e.id),
        errors.map((e) => e.error),
        errors.map((e) => e.kind),
        processed.map((p) => p.row.id),
        now,
      ]);
      if (processed.length === 0) return plan.results;
      // Correlations: only the links that change are written (none for a change of a linked record).
      const links = planCorrelations(processed.map((p) => processedMessage(p.outcome, p.row)));
      await applyCorrelationChanges(c, netCorrelationChanges(links.writes), now);
      await enqueueIn(c, this.p.instanceId, links.replies, now);
      return finishResults(outcomes, plan.results, links);
    });
  }

  async expire(remoteSystem: string, processEvent: string, startedBefore: number, error: string, _now: number): Promise<InboundRow[]> {
    return (await rows<InboundRecord>(this.p.pool, EXPIRE, [error, remoteSystem, processEvent, startedBefore])).map(inboundRow);
  }

  async reclaim(ids: readonly number[], startedBefore: number, _now: number): Promise<number[]> {
    if (ids.length === 0) return [];
    return (await rows<{ id: number }>(this.p.pool, RECLAIM, [[...ids], startedBefore])).map((r) => r.id);
  }

  async requeue(filter: QueueFilter, countRetry: boolean, _now: number): Promise<number[]> {
    return (await rows<{ id: number }>(this.p.pool, REQUEUE, [...filterParams(filter), countRetry ? 1 : 0])).map((r) => r.id);
  }

  async skip(filter: QueueFilter, now: number): Promise<number[]> {
    return transaction(this.p.pool, async (c) => {
      const skipped = await rows<InboundRecord>(c, SKIP, [...filterParams(filter), now]);
      // A skipped message counts as applied for its record's order, so the next one does
      // not wait for a gap; in turn.
      await advance(c, skipped.map(doneOf), true);
      return skipped.map((r) => r.id);
    });
  }

  async list(filter: ListFilter): Promise<InboundRow[]> {
    return (await rows<InboundRecord>(this.p.pool, LIST_ROWS, listParams(filter))).map(inboundRow);
  }

  async count(remoteSystem?: string): Promise<StatusCounts> {
    type Counted = { status: QueueStatus; n: number };
    return countsOf(remoteSystem === undefined ? await rows<Counted>(this.p.pool, COUNT) : await rows<Counted>(this.p.pool, COUNT_FOR, [remoteSystem]));
  }

  async get(id: number): Promise<InboundRow | undefined> {
    const [r] = await rows<InboundRecord>(this.p.pool, GET, [id]);
    return r && inboundRow(r);
  }

  async noteConflicts(notes: readonly ConflictNote[]): Promise<void> {
    if (notes.length === 0) return;
    await query(this.p.pool, NOTE_CONFLICTS, [notes.map((n) => n.id), notes.map((n) => n.conflicts)]);
  }
}
