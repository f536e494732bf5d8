/**
 * The embedded SQLite store (better-sqlite3, WAL). One Node-RED process owns the
 * file. Every method is one transaction; better-sqlite3 is synchronous, so a method
 * that returns has committed (or thrown, leaving nothing behind).
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Message, type ResultStatus, streamOf } from '../core/protocol';
import { GroupSync } from './group-sync';
import { SQLITE_MIGRATIONS } from './sqlite-migrations';
import type {
  Correlation,
  Enqueued,
  EnqueueItem,
  ErrorItem,
  ErrorItemStatus,
  FailItem,
  FinishResult,
  InboundClaim,
  IssuedRefreshToken,
  InboundClaimOptions,
  InboundOutcome,
  InboundRow,
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
import { correlation, CorrelationRecord, errorItem, ErrorItemRecord, InboundRecord, inboundRow, OutboundRecord, outboundRow, RefreshTokenRecord, issuedRefreshToken, PURGE_PLAN, type PurgeStep, refusedRotation, runPurge } from './rows';
import { countsOf } from './types';

type Db = Database.Database;


/** Applies pending migrations; safe when several processes open a new file at once. */
function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS rps_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = db.prepare('SELECT 1 FROM rps_migrations WHERE id = ?');
  const record = db.prepare('INSERT INTO rps_migrations (id, name, applied_at) VALUES (?, ?, ?)');
  for (const m of SQLITE_MIGRATIONS) {
    // IMMEDIATE takes the write lock before the check, so the check-then-apply is atomic across processes.
    db.transaction(() => {
      if (applied.get(m.id)) return;
      db.exec(m.sql);
      record.run(m.id, m.name, Date.now());
    }).immediate();
  }
  db.transaction(() => {
    db.prepare("INSERT INTO rps_meta (key, value) VALUES ('instance_id', ?) ON CONFLICT (key) DO NOTHING").run(randomUUID());
  }).immediate();
}

/** The parameters of the filter clause below, from a QueueFilter (null = no condition). */
function filterParams(f: QueueFilter): Record<string, string | number | null> {
  return {
    remote: f.remoteSystem ?? null,
    event: f.processEvent ?? null,
    ids: f.ids ? JSON.stringify(f.ids) : null,
    kinds: f.kinds ? JSON.stringify(f.kinds) : null,
    maxRetries: f.maxRetries ?? null,
  };
}

/** One WHERE fragment for every optional QueueFilter condition; a null parameter drops its condition. */
const FILTER = `
  (@remote IS NULL OR remote_system = @remote)
  AND (@event IS NULL OR process_event = @event)
  AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))
  AND (@kinds IS NULL OR error_kind IN (SELECT value FROM json_each(@kinds)))
  AND (@maxRetries IS NULL OR retries < @maxRetries)`;

/** Rows of a ListFilter, oldest first. */
const LIST = `
  (@remote IS NULL OR remote_system = @remote)
  AND (@event IS NULL OR process_event = @event)
  AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
  AND id > @afterId
  ORDER BY id
  LIMIT @limit`;

function listParams(f: ListFilter): Record<string, string | number | null> {
  return {
    remote: f.remoteSystem ?? null,
    event: f.processEvent ?? null,
    statuses: f.statuses ? JSON.stringify(f.statuses) : null,
    afterId: f.afterId ?? 0,
    limit: f.limit,
  };
}

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

function statements(db: Db) {
  return {
    instanceId: db.prepare<[], { value: string }>("SELECT value FROM rps_meta WHERE key = 'instance_id'"),

    // Gives the next sequence of one of our records for one remote; 1 on first use.
    nextSequence: db.prepare<[string, string, string], { last_sequence: number }>(`
      INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
      VALUES (?, 'out', '', ?, ?, 1)
      ON CONFLICT (remote_system, direction, stream, record_table, record_id)
      DO UPDATE SET last_sequence = last_sequence + 1
      RETURNING last_sequence`),
    applied: db.prepare<[string, string, string, string], { last_sequence: number }>(`
      SELECT last_sequence FROM rps_sequence
      WHERE remote_system = ? AND direction = 'in' AND stream = ? AND record_table = ? AND record_id = ?`),
    // The inbound cursor only moves forward: an old message processed after a gap wait must not rewind it.
    setApplied: db.prepare<[string, string, string, string, number]>(`
      INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
      VALUES (?, 'in', ?, ?, ?, ?)
      ON CONFLICT (remote_system, direction, stream, record_table, record_id)
      DO UPDATE SET last_sequence = max(last_sequence, excluded.last_sequence)`),
    // A message of this sequence that is done already (processed or skipped out of turn).
    filled: db.prepare<[string, string, string, string, number], { n: number }>(`
      SELECT 1 AS n FROM rps_inbound
      WHERE remote_system = ? AND stream = ? AND source_table = ? AND source_id = ? AND sequence = ?
        AND status IN ('processed', 'skipped')
      LIMIT 1`),

    insertOutbound: db.prepare(`
      INSERT INTO rps_outbound (message_id, remote_system, process_event, kind, operation, record_table, record_id,
                                sequence, status, payload, next_attempt_at, created_at)
      VALUES (@messageId, @remoteSystem, @processEvent, @kind, @operation, @recordTable, @recordId,
              @sequence, 'ready', @payload, @now, @now)`),

    // Takes the oldest sendable rows of one remote, in one statement. A row waits while an
    // earlier row of the same record is in flight, failed, or waiting for its own retry
    // time: that is what keeps changes of one record in order. Rows of other records are
    // not held back. A row whose lease has run out was held by a worker that died: it is
    // sendable again. (RETURNING gives no order: the caller sorts by id.)
    claimOutbound: db.prepare<[{ remote: string; now: number; limit: number; owner: string; until: number }], OutboundRecord>(`
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
    outboundProcessed: db.prepare<[{ now: number; ids: string }]>(`
      UPDATE rps_outbound SET status = 'processed', processed_at = @now, last_error = NULL, error_kind = NULL,
                              locked_by = NULL, locked_until = NULL
      WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'processing'`),
    outboundRetry: db.prepare<[number, string, number, number]>(`
      UPDATE rps_outbound SET status = 'ready', next_attempt_at = ?, last_error = ?, tries = tries + ?,
                              locked_by = NULL, locked_until = NULL
      WHERE id = ? AND status = 'processing'`),
    outboundFail: db.prepare<[string, string, number]>(`
      UPDATE rps_outbound SET status = 'error', last_error = ?, error_kind = ?, tries = tries + 1,
                              locked_by = NULL, locked_until = NULL
      WHERE id = ? AND status = 'processing'`),
    outboundRelease: db.prepare<[number, string, string]>(`
      UPDATE rps_outbound SET status = 'ready', next_attempt_at = ?, locked_by = NULL, locked_until = NULL
      WHERE remote_system = ? AND status = 'processing' AND locked_by = ?`),
    outboundReleaseAll: db.prepare<[number]>(`
      UPDATE rps_outbound SET status = 'ready', next_attempt_at = ?, locked_by = NULL, locked_until = NULL
      WHERE status = 'processing'`),
    outboundRequeue: db.prepare<[Record<string, string | number | null>], { id: number }>(`
      UPDATE rps_outbound SET status = 'ready', tries = 0, retries = retries + @count, next_attempt_at = @now, error_kind = NULL
      WHERE status = 'error' AND ${FILTER}
      RETURNING id`),
    // Without ids only `error` rows are skipped: skipping what is merely waiting takes a person naming it.
    outboundSkip: db.prepare<[Record<string, string | number | null>], { id: number }>(`
      UPDATE rps_outbound SET status = 'skipped', processed_at = @now, locked_by = NULL, locked_until = NULL
      WHERE (status = 'error' OR (@ids IS NOT NULL AND status = 'ready')) AND ${FILTER}
      RETURNING id`),
    listOutbound: db.prepare<[Record<string, string | number | null>], OutboundRecord>(`SELECT * FROM rps_outbound WHERE ${LIST}`),
    // The next retry time, or the end of a lease: a row left processing (a store fault
    // while recording its answer) is taken again then.
    nextOutboundAttempt: db.prepare<[{ remote: string; now: number }], { at: number | null }>(`
      SELECT min(CASE status WHEN 'ready' THEN next_attempt_at ELSE locked_until END) AS at
      FROM rps_outbound
      WHERE remote_system = @remote AND status IN ('ready', 'processing')
        AND ((status = 'ready' AND next_attempt_at > @now) OR (status = 'processing' AND locked_until > @now))`),
    countOutbound: db.prepare<[], { status: QueueStatus; n: number }>('SELECT status, count(*) AS n FROM rps_outbound GROUP BY status'),
    countOutboundFor: db.prepare<[string], { status: QueueStatus; n: number }>(
      'SELECT status, count(*) AS n FROM rps_outbound WHERE remote_system = ? GROUP BY status',
    ),
    getOutbound: db.prepare<[number], OutboundRecord>('SELECT * FROM rps_outbound WHERE id = ?'),

    insertInbound: db.prepare(`
      INSERT INTO rps_inbound (message_id, remote_system, process_event, kind, operation, stream, source_table, source_id,
                               sequence, status, payload, received_at, processed_at)
      VALUES (@messageId, @remoteSystem, @processEvent, @kind, @operation, @stream, @sourceTable, @sourceId,
              @sequence, @status, @payload, @now, @processedAt)
      ON CONFLICT (remote_system, message_id) DO NOTHING`),

    // The head of each record's line (its lowest ready sequence, when nothing of the
    // record is processing or in error) that may go now: the next in sequence, stale
    // (at or below the applied cursor: skipped), or waiting for a gap longer than the
    // gap wait. Heads held by a gap are left out here, so they never fill the limit.
    inboundHeads: db.prepare<[{ remote: string; event: string; gapCutoff: number; limit: number }], InboundRecord & { applied: number }>(`
      SELECT i.*, coalesce(c.last_sequence, 0) AS applied
      FROM rps_inbound i
      LEFT JOIN rps_sequence c
        ON c.remote_system = i.remote_system AND c.direction = 'in' AND c.stream = i.stream
       AND c.record_table = i.source_table AND c.record_id = i.source_id
      WHERE i.remote_system = @remote AND i.process_event = @event AND i.status = 'ready'
        AND (i.sequence <= coalesce(c.last_sequence, 0) + 1 OR i.received_at <= @gapCutoff)
        AND NOT EXISTS (
          SELECT 1 FROM rps_inbound p
          WHERE p.remote_system = i.remote_system AND p.stream = i.stream
            AND p.source_table = i.source_table AND p.source_id = i.source_id
            AND p.status IN ('processing', 'error'))
        AND NOT EXISTS (
          SELECT 1 FROM rps_inbound p
          WHERE p.remote_system = i.remote_system AND p.stream = i.stream
            AND p.source_table = i.source_table AND p.source_id = i.source_id
            AND p.status = 'ready' AND p.sequence < i.sequence)
      ORDER BY i.id
      LIMIT @limit`),
    // When the first head held by a gap may go ahead (for the dispatcher's timer).
    gapHeld: db.prepare<[{ remote: string; event: string; gapCutoff: number }], { at: number | null }>(`
      SELECT min(i.received_at) AS at
      FROM rps_inbound i
      LEFT JOIN rps_sequence c
        ON c.remote_system = i.remote_system AND c.direction = 'in' AND c.stream = i.stream
       AND c.record_table = i.source_table AND c.record_id = i.source_id
      WHERE i.remote_system = @remote AND i.process_event = @event AND i.status = 'ready'
        AND i.sequence > coalesce(c.last_sequence, 0) + 1 AND i.received_at > @gapCutoff
        AND NOT EXISTS (
          SELECT 1 FROM rps_inbound p
          WHERE p.remote_system = i.remote_system AND p.stream = i.stream
            AND p.source_table = i.source_table AND p.source_id = i.source_id
            AND (p.status IN ('processing', 'error') OR (p.status = 'ready' AND p.sequence < i.sequence)))`),
    // One statement for the whole claim. (RETURNING gives no order: the caller keeps the heads' order.)
    takeInbound: db.prepare<[{ now: number; owner: string; ids: string }], InboundRecord>(`
      UPDATE rps_inbound SET status = 'processing', attempts = attempts + 1, started_at = @now, locked_by = @owner
      WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'ready'
      RETURNING *`),
    staleInbound: db.prepare<[number, string, number], InboundRecord>(`
      UPDATE rps_inbound SET status = 'skipped', processed_at = ?, last_error = ?
      WHERE id = ? AND status = 'ready'
      RETURNING *`),
    getInbound: db.prepare<[number], InboundRecord>('SELECT * FROM rps_inbound WHERE id = ?'),
    inboundProcessed: db.prepare<[number, number]>(`
      UPDATE rps_inbound SET status = 'processed', processed_at = ?, last_error = NULL, error_kind = NULL, locked_by = NULL
      WHERE id = ?`),
    inboundError: db.prepare<[string, string, number]>(`
      UPDATE rps_inbound SET status = 'error', last_error = ?, error_kind = ?, locked_by = NULL WHERE id = ?`),
    expireInbound: db.prepare<[string, string, string, number], InboundRecord>(`
      UPDATE rps_inbound SET status = 'error', last_error = ?, error_kind = 'timeout', locked_by = NULL
      WHERE remote_system = ? AND process_event = ? AND status = 'processing' AND started_at < ?
      RETURNING *`),
    reclaimInbound: db.prepare<[{ ids: string; before: number }], { id: number }>(`
      UPDATE rps_inbound SET status = 'ready', locked_by = NULL
      WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'processing' AND started_at < @before
      RETURNING id`),
    releaseInboundAll: db.prepare(`UPDATE rps_inbound SET status = 'ready', locked_by = NULL WHERE status = 'processing'`),
    inboundRequeue: db.prepare<[Record<string, string | number | null>], { id: number }>(`
      UPDATE rps_inbound SET status = 'ready', retries = retries + @count, error_kind = NULL
      WHERE status = 'error' AND ${FILTER}
      RETURNING id`),
    inboundSkip: db.prepare<[Record<string, string | number | null>], InboundRecord>(`
      UPDATE rps_inbound SET status = 'skipped', processed_at = @now, locked_by = NULL
      WHERE (status = 'error' OR (@ids IS NOT NULL AND status = 'ready')) AND ${FILTER}
      RETURNING *`),
    listInbound: db.prepare<[Record<string, string | number | null>], InboundRecord>(`SELECT * FROM rps_inbound WHERE ${LIST}`),
    countInbound: db.prepare<[], { status: QueueStatus; n: number }>('SELECT status, count(*) AS n FROM rps_inbound GROUP BY status'),
    countInboundFor: db.prepare<[string], { status: QueueStatus; n: number }>(
      'SELECT status, count(*) AS n FROM rps_inbound WHERE remote_system = ? GROUP BY status',
    ),

    correlationByLocal: db.prepare<[string, string, string], CorrelationRecord>(`
      SELECT * FROM rps_correlation WHERE remote_system = ? AND local_table = ? AND local_id = ?`),
    correlationByRemote: db.prepare<[string, string, string], CorrelationRecord>(`
      SELECT * FROM rps_correlation WHERE remote_system = ? AND remote_table = ? AND remote_id = ?`),
    // A link replaces any older link of either of its two records: one local record has
    // one twin per remote, and one remote record has one twin here.
    unlinkCorrelation: db.prepare<[string, string, string, string, string]>(`
      DELETE FROM rps_correlation
      WHERE remote_system = ? AND ((local_table = ? AND local_id = ?) OR (remote_table = ? AND remote_id = ?))`),
    linkCorrelation: db.prepare(`
      INSERT INTO rps_correlation (remote_system, local_table, local_id, remote_table, remote_id, state, created_at, updated_at)
      VALUES (@remoteSystem, @localTable, @localId, @remoteTable, @remoteId, 'active', @createdAt, @now)`),
    deactivateCorrelation: db.prepare<[number, string, string, string]>(`
      UPDATE rps_correlation SET state = 'inactive', updated_at = ?
      WHERE remote_system = ? AND remote_table = ? AND remote_id = ?`),

    addErrorItem: db.prepare<[string, string, string, number, number]>(`
      INSERT INTO rps_error_queue (owner, message, error, status, created_at, updated_at) VALUES (?, ?, ?, 'error', ?, ?)`),
    // A held message that failed again: its tries so far decide whether it gets another.
    failErrorItem: db.prepare<[string, number, number, number, string], { status: ErrorItemStatus }>(`
      UPDATE rps_error_queue
      SET error = ?, status = CASE WHEN retries >= ? THEN 'failed' ELSE 'error' END, updated_at = ?
      WHERE id = ? AND owner = ?
      RETURNING status`),
    dueErrorItems: db.prepare<[string, number, number], { id: number }>(`
      SELECT id FROM rps_error_queue WHERE owner = ? AND status = 'error' AND retries < ? ORDER BY id LIMIT ?`),
    takeErrorItem: db.prepare<[number, number], ErrorItemRecord>(`
      UPDATE rps_error_queue SET status = 'retrying', retries = retries + 1, updated_at = ?
      WHERE id = ? AND status = 'error'
      RETURNING *`),
    settleErrorItems: db.prepare<[number, string, number]>(`
      UPDATE rps_error_queue SET status = 'processed', updated_at = ?
      WHERE owner = ? AND status = 'retrying' AND updated_at < ?`),
    resetErrorItems: db.prepare<[number, string]>(`
      UPDATE rps_error_queue SET status = 'error', updated_at = ? WHERE owner = ? AND status = 'retrying'`),
    countErrorItems: db.prepare<[string], { status: ErrorItemStatus; n: number }>(
      'SELECT status, count(*) AS n FROM rps_error_queue WHERE owner = ? GROUP BY status',
    ),

    readValue: db.prepare<[string], { value: string }>('SELECT value FROM rps_value WHERE key = ?'),
    writeValue: db.prepare<[string, string, number]>(`
      INSERT INTO rps_value (key, value, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    deleteValue: db.prepare<[string]>('DELETE FROM rps_value WHERE key = ?'),
    // The first writer wins; a second process starting at the same time reads its value.
    initValue: db.prepare<[string, string, number]>('INSERT INTO rps_value (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING'),
    listValues: db.prepare<[{ prefix: string }], { key: string; value: string }>(
      'SELECT key, value FROM rps_value WHERE substr(key, 1, length(@prefix)) = @prefix ORDER BY key',
    ),
    replaceValue: db.prepare<[string, number, string, string]>('UPDATE rps_value SET value = ?, updated_at = ? WHERE key = ? AND value = ?'),

    addRefreshToken: db.prepare<[string, string, string, string, number]>(`
      INSERT INTO rps_refresh_token (hash, remote_system, family, credential, expires_at) VALUES (?, ?, ?, ?, ?)`),
    // Expired tokens are of no use, not even to detect a replay (it would be refused as unknown).
    dropExpiredRefreshTokens: db.prepare<[number]>('DELETE FROM rps_refresh_token WHERE expires_at <= ?'),
    // A remote system keeps its newest grants only: one that asks for grant after grant
    // cannot fill the store.
    dropOldRefreshFamilies: db.prepare<[string, string, number]>(`
      DELETE FROM rps_refresh_token WHERE remote_system = ? AND family IN (
        SELECT family FROM rps_refresh_token WHERE remote_system = ?
        GROUP BY family ORDER BY max(expires_at) DESC LIMIT -1 OFFSET ?)`),
    getRefreshToken: db.prepare<[string], RefreshTokenRecord>('SELECT * FROM rps_refresh_token WHERE hash = ?'),
    useRefreshToken: db.prepare<[number, string]>('UPDATE rps_refresh_token SET used_at = ? WHERE hash = ? AND used_at IS NULL'),
    revokeRefreshFamily: db.prepare<[string]>('DELETE FROM rps_refresh_token WHERE family = ?'),
  };
}

/** Deletes up to `batch` rows of one status older than `before` (by `column`); the cleaner's unit of work. */
function purgeStatement(db: Db, table: string, column: string): Database.Statement<[string, number, number]> {
  // column may be an expression: error rows age from their last attempt, not from when they were queued.
  return db.prepare(`
    DELETE FROM ${table} WHERE id IN (
      SELECT id FROM ${table} WHERE status = ? AND ${column} < ? LIMIT ?)`);
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly instanceId: string;
  private readonly db: Db;
  /** Flushes the WAL for the commits that must survive power loss; none for an in-memory store. */
  private readonly sync: GroupSync | undefined;
  private readonly sql: ReturnType<typeof statements>;
  private readonly purges: (PurgeStep & { stmt: Database.Statement<[string, number, number]> })[];

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // Commits are flushed to disk by GroupSync where that is promised (see durable()).
    this.db.pragma('synchronous = NORMAL');
    this.sync = path === ':memory:' ? undefined : new GroupSync(`${path}-wal`);
    this.db.pragma('busy_timeout = 5000');
    // A checkpoint (copying the WAL into the database file, with two fsyncs) blocks the
    // event loop; every 10,000 pages rather than 1,000, a busy queue rewrites the same
    // index pages many times between checkpoints and pays for them once. The WAL grows to
    // about 40 MB. The cache (64 MB rather than 2 MB) keeps the queue's index pages in
    // memory instead of reading them back from the OS on every claim.
    this.db.pragma('wal_autocheckpoint = 10000');
    this.db.pragma('cache_size = -65536');
    migrate(this.db);
    this.sql = statements(this.db);
    this.instanceId = (this.sql.instanceId.get() as { value: string }).value;
    this.purges = PURGE_PLAN.map((step) => ({ ...step, stmt: purgeStatement(this.db, step.sqlTable, step.column) }));
    // One process owns an SQLite store: anything left "processing" belongs to a
    // process that died, so it goes back to ready (to be sent or emitted again).
    this.db.transaction(() => {
      this.sql.outboundReleaseAll.run(Date.now());
      this.sql.releaseInboundAll.run();
    })();
  }

  /**
   * Runs `work` in a transaction that only records our own progress: claims, outcomes,
   * retries, releases, purges. Its commit is not waited for on disk (see GroupSync):
   * a process crash loses no commit; an OS crash or power loss can lose the last
   * progress commits only, which puts rows back as they were (processing rows are taken
   * back at open), so a message is sent or emitted again, which the receiver's
   * de-duplication and the per-record order absorb after any crash.
   */
  private progress<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  /**
   * Runs `work` in a transaction that promises something to someone else (a message
   * queued for rps-send's flow, a batch answered "accepted" to a remote, a held error
   * item, a token, a person's skip) and resolves once it is on disk: it
   * survives power loss, not just a process crash. Flushing the WAL also makes every
   * earlier progress commit durable.
   */
  private async durable<T>(work: () => T): Promise<T> {
    const out = this.db.transaction(work)();
    await this.sync?.flushed();
    return out;
  }

  private nextSequence(remoteSystem: string, table: string, id: string): number {
    return (this.sql.nextSequence.get(remoteSystem, table, id) as { last_sequence: number }).last_sequence;
  }

  /**
   * Records that `sequence` of a sender's record is done. With `inTurn`, only when it
   * is the next one (a correlation message or a skip out of turn must not jump over
   * changes still waiting); otherwise (a message processed after a gap wait) the
   * cursor moves up to it. Then it moves on over messages already done out of turn.
   */
  private advance(remote: string, stream: string, table: string, id: string, sequence: number, inTurn: boolean): void {
    let cursor = (this.sql.applied.get(remote, stream, table, id) as { last_sequence: number } | undefined)?.last_sequence ?? 0;
    if (sequence <= cursor || (inTurn && sequence !== cursor + 1)) return;
    cursor = sequence;
    while (this.sql.filled.get(remote, stream, table, id, cursor + 1)) cursor += 1;
    this.sql.setApplied.run(remote, stream, table, id, cursor);
  }

  private insertOutbound(item: EnqueueItem, now: number): Enqueued {
    const { message } = item;
    const sequence = this.nextSequence(item.remoteSystem, message.source.table, message.source.id);
    // Our stream towards this remote: this store and this remote system.
    const payload = JSON.stringify({ ...message, stream: `${this.instanceId}/${item.remoteSystem}`, sequence });
    const info = this.sql.insertOutbound.run({
      messageId: message.id,
      remoteSystem: item.remoteSystem,
      processEvent: message.processEvent,
      kind: message.kind,
      operation: message.operation,
      recordTable: message.source.table,
      recordId: message.source.id,
      sequence,
      payload,
      now,
    });
    return { id: Number(info.lastInsertRowid), messageId: message.id, sequence };
  }

  async enqueueOutbound(items: readonly EnqueueItem[], now: number): Promise<Enqueued[]> {
    return this.durable(() => items.map((item) => this.insertOutbound(item, now)));
  }

  async claimOutbound(remoteSystem: string, limit: number, now: number, owner: string, leaseMs: number): Promise<OutboundRow[]> {
    const taken = this.progress(() => this.sql.claimOutbound.all({ remote: remoteSystem, now, limit, owner, until: now + leaseMs }) as OutboundRecord[]);
    return taken.sort((a, b) => a.id - b.id).map(outboundRow);
  }

  async markOutboundProcessed(ids: readonly number[], now: number): Promise<void> {
    if (ids.length === 0) return;
    this.progress(() => this.sql.outboundProcessed.run({ now, ids: JSON.stringify(ids) }));
  }

  async retryOutbound(items: readonly RetryItem[], _now: number): Promise<void> {
    this.progress(() => {
      for (const item of items) this.sql.outboundRetry.run(item.nextAttemptAt, item.error, item.countTry ? 1 : 0, item.id);
    });
  }

  async failOutbound(items: readonly FailItem[], _now: number): Promise<void> {
    this.progress(() => {
      for (const item of items) this.sql.outboundFail.run(item.error, item.kind, item.id);
    });
  }

  async requeueOutbound(filter: QueueFilter, countRetry: boolean, now: number): Promise<number[]> {
    // Progress: a re-queue lost to a power cut is made again by the next scheduled run.
    const rows = this.progress(() => this.sql.outboundRequeue.all({ ...filterParams(filter), count: countRetry ? 1 : 0, now }) as { id: number }[]);
    return rows.map((r) => r.id);
  }

  async skipOutbound(filter: QueueFilter, now: number): Promise<number[]> {
    const rows = await this.durable(() => this.sql.outboundSkip.all({ ...filterParams(filter), now }) as { id: number }[]);
    return rows.map((r) => r.id);
  }

  async listOutbound(filter: ListFilter): Promise<OutboundRow[]> {
    return (this.sql.listOutbound.all(listParams(filter)) as OutboundRecord[]).map(outboundRow);
  }

  async releaseOutbound(remoteSystem: string, owner: string, now: number): Promise<number> {
    return this.sql.outboundRelease.run(now, remoteSystem, owner).changes;
  }

  async nextOutboundAttempt(remoteSystem: string, now: number): Promise<number | null> {
    return (this.sql.nextOutboundAttempt.get({ remote: remoteSystem, now }) as { at: number | null }).at;
  }


  async countOutbound(remoteSystem?: string): Promise<StatusCounts> {
    return countsOf(remoteSystem === undefined ? this.sql.countOutbound.all() : this.sql.countOutboundFor.all(remoteSystem));
  }

  async getOutbound(id: number): Promise<OutboundRow | undefined> {
    const r = this.sql.getOutbound.get(id) as OutboundRecord | undefined;
    return r && outboundRow(r);
  }

  private link(remoteSystem: string, local: { table: string; id: string }, remote: { table: string; id: string }, now: number): void {
    const old = this.sql.correlationByLocal.get(remoteSystem, local.table, local.id) as CorrelationRecord | undefined;
    this.sql.unlinkCorrelation.run(remoteSystem, local.table, local.id, remote.table, remote.id);
    this.sql.linkCorrelation.run({
      remoteSystem,
      localTable: local.table,
      localId: local.id,
      remoteTable: remote.table,
      remoteId: remote.id,
      createdAt: old?.created_at ?? now,
      now,
    });
  }

  async acceptInbound(remoteSystem: string, messages: readonly Message[], now: number): Promise<ResultStatus[]> {
    return this.durable(() =>
      messages.map((m): ResultStatus => {
        const isCorrelation = m.kind === 'correlation';
        const info = this.sql.insertInbound.run({
          messageId: m.id,
          remoteSystem,
          processEvent: m.processEvent,
          kind: m.kind,
          operation: m.operation,
          stream: streamOf(m),
          sourceTable: m.source.table,
          sourceId: m.source.id,
          sequence: m.sequence,
          // A correlation message needs no flow: it is applied here, in the same transaction.
          status: isCorrelation ? 'processed' : 'ready',
          payload: JSON.stringify(m),
          now,
          processedAt: isCorrelation ? now : null,
        });
        if (info.changes === 0) return 'duplicate';
        if (isCorrelation && m.target) {
          this.link(remoteSystem, m.target, m.source, now);
          this.advance(remoteSystem, streamOf(m), m.source.table, m.source.id, m.sequence, true);
        }
        return 'accepted';
      }),
    );
  }

  async claimInbound(o: InboundClaimOptions): Promise<InboundClaim> {
    return this.progress(() => {
      const where = { remote: o.remoteSystem, event: o.processEvent, gapCutoff: o.now - o.gapWaitMs };
      const heads = this.sql.inboundHeads.all({ ...where, limit: o.limit }) as (InboundRecord & { applied: number })[];
      const claim: InboundClaim = { rows: [], stale: [], gaps: [] };
      const take: (InboundRecord & { applied: number })[] = [];
      for (const h of heads) {
        if (h.sequence <= h.applied) {
          const reason = `stale: sequence ${h.sequence} is at or below ${h.applied}, already applied`;
          const r = this.sql.staleInbound.get(o.now, reason, h.id) as InboundRecord | undefined;
          if (r) claim.stale.push(inboundRow(r));
        } else {
          take.push(h);
        }
      }
      if (take.length > 0) {
        const taken = new Map((this.sql.takeInbound.all({ now: o.now, owner: o.owner, ids: JSON.stringify(take.map((h) => h.id)) }) as InboundRecord[]).map((r) => [r.id, r]));
        for (const h of take) {
          const r = taken.get(h.id);
          if (!r) continue;
          const row = inboundRow(r);
          claim.rows.push(row);
          if (h.sequence > h.applied + 1) claim.gaps.push({ row, applied: h.applied });
        }
      }
      // Only a claim that found nothing needs to know when a gap-held row may go: the
      // dispatcher claims again after every outcome, and that last, empty claim arms its timer.
      if (heads.length === 0) {
        const held = (this.sql.gapHeld.get(where) as { at: number | null }).at;
        if (held !== null) claim.waitingUntil = held + o.gapWaitMs;
      }
      return claim;
    });
  }

  async finishInbound(outcomes: readonly InboundOutcome[], now: number): Promise<FinishResult[]> {
    return this.progress(() =>
      outcomes.map((o): FinishResult => {
        const row = this.sql.getInbound.get(o.id) as InboundRecord | undefined;
        // Only the attempt that is out may finish a row: a late answer for an attempt
        // that timed out and was emitted again must not finish the new attempt. A late
        // answer for the attempt that timed out still counts: the flow did finish it.
        if (!row || row.attempts !== o.attempt || (row.status !== 'processing' && row.status !== 'error')) return 'stale';
        if (o.status === 'error') {
          this.sql.inboundError.run(o.error ?? 'error', o.errorKind ?? 'flow', o.id);
          return 'finished';
        }
        this.sql.inboundProcessed.run(now, o.id);
        this.advance(row.remote_system, row.stream, row.source_table, row.source_id, row.sequence, false);
        const source = { table: row.source_table, id: row.source_id };
        if (o.local) {
          const current = this.sql.correlationByRemote.get(row.remote_system, source.table, source.id) as CorrelationRecord | undefined;
          const changed = !current || current.local_table !== o.local.table || current.local_id !== o.local.id || current.state !== 'active';
          if (changed && !o.deactivate) {
            this.link(row.remote_system, o.local, source, now);
            if (o.reply) this.insertOutbound({ remoteSystem: row.remote_system, message: o.reply }, now);
          }
        }
        if (o.deactivate) this.sql.deactivateCorrelation.run(now, row.remote_system, source.table, source.id);
        return 'finished';
      }),
    );
  }

  async expireInbound(remoteSystem: string, processEvent: string, startedBefore: number, error: string, _now: number): Promise<InboundRow[]> {
    return (this.sql.expireInbound.all(error, remoteSystem, processEvent, startedBefore) as InboundRecord[]).map(inboundRow);
  }

  async reclaimInbound(ids: readonly number[], startedBefore: number, _now: number): Promise<number[]> {
    if (ids.length === 0) return [];
    return (this.sql.reclaimInbound.all({ ids: JSON.stringify(ids), before: startedBefore }) as { id: number }[]).map((r) => r.id);
  }

  async requeueInbound(filter: QueueFilter, countRetry: boolean, _now: number): Promise<number[]> {
    // Progress, as requeueOutbound.
    const rows = this.progress(() => this.sql.inboundRequeue.all({ ...filterParams(filter), count: countRetry ? 1 : 0 }) as { id: number }[]);
    return rows.map((r) => r.id);
  }

  async skipInbound(filter: QueueFilter, now: number): Promise<number[]> {
    return this.durable(() => {
      const rows = this.sql.inboundSkip.all({ ...filterParams(filter), now }) as InboundRecord[];
      // A skipped message counts as applied for its record's order, so the next one does not wait for a gap.
      for (const r of [...rows].sort((x, y) => x.sequence - y.sequence)) {
        this.advance(r.remote_system, r.stream, r.source_table, r.source_id, r.sequence, true);
      }
      return rows.map((r) => r.id);
    });
  }

  async listInbound(filter: ListFilter): Promise<InboundRow[]> {
    return (this.sql.listInbound.all(listParams(filter)) as InboundRecord[]).map(inboundRow);
  }

  async countInbound(remoteSystem?: string): Promise<StatusCounts> {
    return countsOf(remoteSystem === undefined ? this.sql.countInbound.all() : this.sql.countInboundFor.all(remoteSystem));
  }

  async getInbound(id: number): Promise<InboundRow | undefined> {
    const r = this.sql.getInbound.get(id) as InboundRecord | undefined;
    return r && inboundRow(r);
  }

  async findCorrelationByLocal(remoteSystem: string, table: string, id: string): Promise<Correlation | undefined> {
    const r = this.sql.correlationByLocal.get(remoteSystem, table, id) as CorrelationRecord | undefined;
    return r && correlation(r);
  }

  async findCorrelationByRemote(remoteSystem: string, table: string, id: string): Promise<Correlation | undefined> {
    const r = this.sql.correlationByRemote.get(remoteSystem, table, id) as CorrelationRecord | undefined;
    return r && correlation(r);
  }

  async addErrorItems(items: readonly { owner: string; message: string; error: string }[], now: number): Promise<number[]> {
    return this.durable(() => items.map((i) => Number(this.sql.addErrorItem.run(i.owner, i.message, i.error, now, now).lastInsertRowid)));
  }

  async failErrorItem(owner: string, id: number, error: string, maxRetries: number, now: number): Promise<ErrorItemStatus | undefined> {
    const r = await this.durable(() => this.sql.failErrorItem.get(error, maxRetries, now, id, owner) as { status: ErrorItemStatus } | undefined);
    return r?.status;
  }

  async takeErrorItems(owner: string, maxRetries: number, limit: number, now: number): Promise<ErrorItem[]> {
    return this.db.transaction(() => {
      const ids = this.sql.dueErrorItems.all(owner, maxRetries, limit) as { id: number }[];
      const items: ErrorItem[] = [];
      for (const { id } of ids) {
        const r = this.sql.takeErrorItem.get(now, id) as ErrorItemRecord | undefined;
        if (r) items.push(errorItem(r));
      }
      return items;
    })();
  }

  async settleErrorItems(owner: string, retryingBefore: number, now: number): Promise<number> {
    return this.sql.settleErrorItems.run(now, owner, retryingBefore).changes;
  }

  async resetErrorItems(owner: string, now: number): Promise<number> {
    return this.sql.resetErrorItems.run(now, owner).changes;
  }

  async countErrorItems(owner: string): Promise<Record<ErrorItemStatus, number>> {
    const out: Record<ErrorItemStatus, number> = { error: 0, retrying: 0, processed: 0, failed: 0 };
    for (const r of this.sql.countErrorItems.all(owner) as { status: ErrorItemStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  async purge(policy: RetentionPolicy, now: number, batch: number): Promise<PurgeResult> {
    return runPurge(this.purges, policy, now, batch, (p, before) => p.stmt.run(p.status, before, batch).changes);
  }


  async readValue(key: string): Promise<string | undefined> {
    return (this.sql.readValue.get(key) as { value: string } | undefined)?.value;
  }

  async writeValue(key: string, value: string | undefined, now: number): Promise<void> {
    await this.durable(() => (value === undefined ? this.sql.deleteValue.run(key) : this.sql.writeValue.run(key, value, now)));
  }

  async initValue(key: string, value: string, now: number): Promise<string> {
    return this.durable(() => {
      this.sql.initValue.run(key, value, now);
      return (this.sql.readValue.get(key) as { value: string }).value;
    });
  }

  async listValues(prefix: string): Promise<StoredValue[]> {
    return this.sql.listValues.all({ prefix }) as StoredValue[];
  }

  async replaceValues(changes: readonly ValueChange[], now: number): Promise<string[]> {
    if (changes.length === 0) return [];
    // What is replaced here (a token or key in clear, written by an earlier version) must
    // not stay in the file: secure_delete overwrites the old cells with zeros (for this
    // transaction only: the queues do not need it), and the checkpoint copies the new
    // pages into the database file and truncates the write-ahead log, which held the old
    // ones (a reader of the file, e.g. a backup running, can keep it from finishing; the
    // log is then overwritten as it is reused).
    this.db.pragma('secure_delete = ON');
    let replaced: string[];
    try {
      replaced = this.db.transaction(() => changes.filter((c) => this.sql.replaceValue.run(c.value, now, c.key, c.expected).changes === 1).map((c) => c.key))();
    } finally {
      this.db.pragma('secure_delete = OFF');
    }
    if (replaced.length > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
    await this.sync?.flushed();
    return replaced;
  }

  async addRefreshToken(t: IssuedRefreshToken, now: number, maxFamilies: number): Promise<void> {
    await this.durable(() => {
      this.sql.dropExpiredRefreshTokens.run(now);
      this.sql.addRefreshToken.run(t.hash, t.remoteSystem, t.family, t.credential, t.expiresAt);
      this.sql.dropOldRefreshFamilies.run(t.remoteSystem, t.remoteSystem, maxFamilies);
    });
  }

  async rotateRefreshToken(
    presented: { hash: string; remoteSystem: string; credential: string },
    next: { hash: string; expiresAt: number },
    now: number,
    graceMs: number,
  ): Promise<RefreshRotation> {
    return this.durable((): RefreshRotation => {
      const r = this.sql.getRefreshToken.get(presented.hash) as RefreshTokenRecord | undefined;
      if (!r) return { status: 'unknown' };
      const refused = refusedRotation(r, presented, now, graceMs);
      if (refused) {
        this.sql.revokeRefreshFamily.run(r.family);
        return { status: refused };
      }
      if (r.used_at === null) this.sql.useRefreshToken.run(now, r.hash);
      this.sql.addRefreshToken.run(next.hash, r.remote_system, r.family, r.credential, next.expiresAt);
      return { status: 'rotated', previous: issuedRefreshToken(r) };
    });
  }

  /** Opened in the constructor. */
  async opened(): Promise<void> {}

  async close(): Promise<void> {
    await this.sync?.close();
    if (this.db.open) this.db.close();
  }
}
