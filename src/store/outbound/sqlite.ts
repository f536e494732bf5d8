/** The outbound queue in SQLite: one transaction per call (see SqliteDb.progress / durable). */
import { journalMarksOf, journalsToSend, markKey } from '../../core/journal';
import { markNew } from '../journal-marks/sqlite';
import type { SqliteDb } from '../sqlite/database';
import { FILTER, filterParams, LIST, listParams, type Params } from '../sqlite/filter';
import { countsOf, type ListFilter, type QueueFilter, type QueueStatus, type StatusCounts } from '../shared/queue';
import {
  type Enqueued,
  type EnqueueItem,
  type FailItem,
  type OutboundQueue,
  type OutboundRecord,
  type OutboundRow,
  outboundPayload,
  outboundStream,
  outboundRow,
  type RetryItem,
} from './types';

/**
 * An earlier row of the same record that must go first: in flight (live lease), failed,
 * or waiting for its own retry time. (An earlier ready row that is due is not in the
 * way: it comes first in the same claim.)
 */
const EARLIER_ROW_HOLDS = `
  SELECT 1 FROM rps_outbound p
  WHERE p.remote_system = o.remote_system AND p.record_table = o.record_table AND p.record_id = o.record_id
    AND p.id < o.id
    AND ((p.status = 'processing' AND p.locked_until > @now) OR p.status = 'error'
         OR (p.status = 'ready' AND p.next_attempt_at > @now))`;

type Counted = { status: QueueStatus; n: number };

function statements(db: SqliteDb['db']) {
  return {
    // Gives the next sequence of one of our records for one remote; 1 on first use.
    nextSequence: db.prepare<[string, string, string], { last_sequence: number; out_stream: string | null }>(`
      INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
      VALUES (?, 'out', '', ?, ?, 1)
      ON CONFLICT (remote_system, direction, stream, record_table, record_id)
      DO UPDATE SET last_sequence = last_sequence + 1
      RETURNING last_sequence, out_stream`),
    // A remote system whose instance is known is queued under its id (as PostgreSQL's enqueue does; see there).
    redirect: db.prepare<[string], { instance_id: string }>(`SELECT instance_id FROM rps_peer WHERE kind = 'node' AND name = ?`),
    insert: db.prepare(`
      INSERT INTO rps_outbound (message_id, remote_system, process_event, kind, operation, record_table, record_id,
                                sequence, status, payload, next_attempt_at, created_at)
      VALUES (@messageId, @remoteSystem, @processEvent, @kind, @operation, @recordTable, @recordId,
              @sequence, 'ready', @payload, @now, @now)`),
    // Takes the oldest sendable rows of one remote, in one statement. A row waits while an
    // earlier row of the same record is in flight, failed, or waiting for its own retry
    // time: that is what keeps changes of one record in order. Rows of other records are
    // not held back. A row whose lease has run out was held by a worker that died: it is
    // sendable again. (RETURNING gives no order: the caller sorts by id.)
    claim: db.prepare<[{ remote: string; now: number; limit: number; owner: string; until: number }], OutboundRecord>(`
      UPDATE rps_outbound
      SET status = 'processing', attempts = attempts + 1, locked_by = @owner, locked_until = @until,
          first_attempt_at = coalesce(first_attempt_at, @now), last_attempt_at = @now
      WHERE id IN (
        SELECT o.id FROM rps_outbound o
        WHERE o.remote_system = @remote
          -- Spelled out so the planner walks rps_outbound_claim and not the whole history.
          AND o.status IN ('ready', 'processing')
          AND ((o.status = 'ready' AND o.next_attempt_at <= @now) OR (o.status = 'processing' AND o.locked_until <= @now))
          AND NOT EXISTS (${EARLIER_ROW_HOLDS})
        ORDER BY o.id
        LIMIT @limit)
      RETURNING *`),
    processed: db.prepare<[{ now: number; ids: string }]>(`
      UPDATE rps_outbound SET status = 'processed', processed_at = @now, last_error = NULL, error_kind = NULL,
                              locked_by = NULL, locked_until = NULL
      -- +status: found by id. Without the +, SQLite walks a status-led index over every row
      -- of that status (EXPLAIN QUERY PLAN; test/store/sqlite-plans.test.ts).
      WHERE id IN (SELECT value FROM json_each(@ids)) AND +status = 'processing'`),
    retry: db.prepare<[number, string, number, number]>(`
      UPDATE rps_outbound SET status = 'ready', next_attempt_at = ?, last_error = ?, tries = tries + ?,
                              locked_by = NULL, locked_until = NULL
      WHERE id = ? AND status = 'processing'`),
    fail: db.prepare<[string, string, number]>(`
      UPDATE rps_outbound SET status = 'error', last_error = ?, error_kind = ?, tries = tries + 1,
                              locked_by = NULL, locked_until = NULL
      WHERE id = ? AND status = 'processing'`),
    release: db.prepare<[number, string, string]>(`
      UPDATE rps_outbound SET status = 'ready', next_attempt_at = ?, locked_by = NULL, locked_until = NULL
      WHERE remote_system = ? AND status = 'processing' AND locked_by = ?`),
    releaseAll: db.prepare<[number]>(`
      UPDATE rps_outbound SET status = 'ready', next_attempt_at = ?, locked_by = NULL, locked_until = NULL
      WHERE status = 'processing'`),
    requeue: db.prepare<[Params], { id: number }>(`
      UPDATE rps_outbound SET status = 'ready', tries = 0, retries = retries + @count, next_attempt_at = @now, error_kind = NULL
      WHERE status = 'error' AND ${FILTER}
      RETURNING id`),
    // Without ids only `error` rows are skipped: skipping what is merely waiting takes a person naming it.
    skip: db.prepare<[Params], { id: number }>(`
      UPDATE rps_outbound SET status = 'skipped', processed_at = @now, locked_by = NULL, locked_until = NULL
      WHERE (status = 'error' OR (@ids IS NOT NULL AND status = 'ready')) AND ${FILTER}
      RETURNING id`),
    list: db.prepare<[Params], OutboundRecord>(`SELECT * FROM rps_outbound WHERE ${LIST}`),
    // The next retry time, or the end of a lease: a row left processing (a store fault
    // while recording its answer) is taken again then.
    nextAttempt: db.prepare<[{ remote: string; now: number }], { at: number | null }>(`
      SELECT min(CASE status WHEN 'ready' THEN next_attempt_at ELSE locked_until END) AS at
      FROM rps_outbound
      WHERE remote_system = @remote AND status IN ('ready', 'processing')
        AND ((status = 'ready' AND next_attempt_at > @now) OR (status = 'processing' AND locked_until > @now))`),
    count: db.prepare<[], Counted>('SELECT status, count(*) AS n FROM rps_outbound GROUP BY status'),
    countFor: db.prepare<[string], Counted>('SELECT status, count(*) AS n FROM rps_outbound WHERE remote_system = ? GROUP BY status'),
    get: db.prepare<[number], OutboundRecord>('SELECT * FROM rps_outbound WHERE id = ?'),
  };
}

export class SqliteOutbound implements OutboundQueue {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  /** The key a remote system's rows are queued under: its instance id once known, else its own. */
  private keyOf(remoteSystem: string): string {
    return this.sql.redirect.get(remoteSystem)?.instance_id ?? remoteSystem;
  }

  /** Queues one message with its next per-record sequence, in the caller's transaction (`key`: keyOf its remote system, when the caller has it). */
  insert(given: EnqueueItem, now: number, key = this.keyOf(given.remoteSystem)): Enqueued {
    const item = { ...given, remoteSystem: key };
    const { message } = item;
    const counter = this.sql.nextSequence.get(item.remoteSystem, message.source.table, message.source.id)!;
    const sequence = counter.last_sequence;
    const stream = counter.out_stream ?? outboundStream(this.s.instanceId, item.remoteSystem);
    const info = this.sql.insert.run({
      messageId: message.id,
      remoteSystem: item.remoteSystem,
      processEvent: message.processEvent,
      kind: message.kind,
      operation: message.operation,
      recordTable: message.source.table,
      recordId: message.source.id,
      sequence,
      payload: outboundPayload(item, stream, sequence),
      now,
    });
    return { id: Number(info.lastInsertRowid), messageId: message.id, sequence };
  }

  /**
   * One process owns an SQLite store: at open, anything left "processing" belongs to a
   * process that died, so it goes back to ready (to be sent again). In the caller's transaction.
   */
  releaseAll(now: number): void {
    this.sql.releaseAll.run(now);
  }

  async enqueue(items: readonly EnqueueItem[], now: number): Promise<Enqueued[]> {
    return this.s.durable(() => {
      // Journal entries: marked for their remote in this transaction; only new marks are sent.
      const fresh = new Set(markNew(this.s.db, journalMarksOf(items), now).map((m) => markKey(m.remoteSystem, m.entryId)));
      const messages = journalsToSend(items, fresh);
      // One lookup per remote system of the batch (mostly one), not one per message.
      const keys = new Map<string, string>();
      const keyOf = (remoteSystem: string): string => {
        let key = keys.get(remoteSystem);
        if (key === undefined) keys.set(remoteSystem, (key = this.keyOf(remoteSystem)));
        return key;
      };
      return items.map((item, i) => {
        const message = messages[i];
        return message ? this.insert({ ...item, message }, now, keyOf(item.remoteSystem)) : { id: 0, messageId: item.message.id, sequence: 0, skipped: true as const };
      });
    });
  }

  async claim(remoteSystem: string, limit: number, now: number, owner: string, leaseMs: number): Promise<OutboundRow[]> {
    const taken = this.s.progress(() => this.sql.claim.all({ remote: remoteSystem, now, limit, owner, until: now + leaseMs }));
    return taken.sort((a, b) => a.id - b.id).map(outboundRow);
  }

  async markProcessed(ids: readonly number[], now: number): Promise<void> {
    if (ids.length === 0) return;
    this.s.progress(() => this.sql.processed.run({ now, ids: JSON.stringify(ids) }));
  }

  async retry(items: readonly RetryItem[], _now: number): Promise<void> {
    this.s.progress(() => {
      for (const item of items) this.sql.retry.run(item.nextAttemptAt, item.error, item.countTry ? 1 : 0, item.id);
    });
  }

  async fail(items: readonly FailItem[], _now: number): Promise<void> {
    this.s.progress(() => {
      for (const item of items) this.sql.fail.run(item.error, item.kind, item.id);
    });
  }

  async requeue(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]> {
    // Progress: a re-queue lost to a power cut is made again by the next scheduled run.
    return this.s.progress(() => this.sql.requeue.all({ ...filterParams(filter), count: countRetry ? 1 : 0, now })).map((r) => r.id);
  }

  async skip(filter: QueueFilter, now: number): Promise<number[]> {
    return (await this.s.durable(() => this.sql.skip.all({ ...filterParams(filter), now }))).map((r) => r.id);
  }

  async list(filter: ListFilter): Promise<OutboundRow[]> {
    return this.sql.list.all(listParams(filter)).map(outboundRow);
  }

  async release(remoteSystem: string, owner: string, now: number): Promise<number> {
    return this.sql.release.run(now, remoteSystem, owner).changes;
  }

  async nextAttempt(remoteSystem: string, now: number): Promise<number | null> {
    return this.sql.nextAttempt.get({ remote: remoteSystem, now })!.at;
  }

  async count(remoteSystem?: string): Promise<StatusCounts> {
    return countsOf(remoteSystem === undefined ? this.sql.count.all() : this.sql.countFor.all(remoteSystem));
  }

  async get(id: number): Promise<OutboundRow | undefined> {
    const r = this.sql.get.get(id);
    return r && outboundRow(r);
  }
}
