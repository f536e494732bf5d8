/**
 * The monitor's figures in SQLite. Every answer is one aggregate statement: the minute
 * sums are a range of rps_stats_minute's primary key; the queue figures read the monitor
 * indexes of migration 10, not the rows (queueGroupsSql).
 */
import type { Direction, StatsIncrement } from '../../core/stats';
import type { SqliteDb } from '../sqlite/database';
import { BUCKET_COLUMNS, directionsOf, incrementsJson, type QueueGroupRecord, queueFigures, queueGroupsSql, statsTotal, SUM_COLUMNS, type TotalRecord } from './shared';
import { type InboundRecord, type InboundRow, inboundRow } from '../inbound/types';
import { type OutboundRecord, type OutboundRow, outboundRow } from '../outbound/types';
import type { Metrics, QueueFigures, StatsFilter, StatsPoint, StatsTotal } from './types';

type Params = Record<string, string | number | null>;

/** The StatsFilter conditions on named parameters (null: no condition). */
const FILTER = `
  (@remotes IS NULL OR remote_system IN (SELECT value FROM json_each(@remotes)))
  AND (@event IS NULL OR process_event = @event)`;

/** The same for rps_stats_minute, which has a direction column. */
const STATS_FILTER = `${FILTER} AND (@direction IS NULL OR direction = @direction)`;

function filterParams(f: StatsFilter): Params {
  return { remotes: f.remoteSystems ? JSON.stringify(f.remoteSystems) : null, event: f.processEvent ?? null, direction: f.direction ?? null };
}

const SUMS = SUM_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ');

function statements(db: SqliteDb['db']) {
  return {
    // One statement per batch: the increments as JSON, the same key twice adds up twice
    // (each row of the SELECT is its own upsert). last_at keeps the later of the two; a
    // null on either side is no time (SQLite's max of a null is null, hence the coalesces).
    record: db.prepare<[string]>(`
      INSERT INTO rps_stats_minute (minute, direction, remote_system, process_event, ${SUM_COLUMNS.join(', ')}, last_at)
      SELECT json_extract(value, '$.m'), json_extract(value, '$.d'), json_extract(value, '$.r'), json_extract(value, '$.e'),
             json_extract(value, '$.p'), json_extract(value, '$.x'), json_extract(value, '$.t'),
             ${BUCKET_COLUMNS.map((_, i) => `json_extract(value, '$.b[${i}]')`).join(', ')},
             json_extract(value, '$.l')
      FROM json_each(?) WHERE true
      ON CONFLICT (minute, direction, remote_system, process_event) DO UPDATE SET
        ${SUM_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')},
        last_at = max(coalesce(last_at, excluded.last_at), coalesce(excluded.last_at, last_at))`),
    totals: db.prepare<[Params], TotalRecord>(`
      SELECT direction, remote_system, process_event, ${SUMS}
      FROM rps_stats_minute
      WHERE minute >= @since AND ${STATS_FILTER}
      GROUP BY direction, remote_system, process_event`),
    // Steps start at `since`: step k holds the minutes [since + k·step, since + (k+1)·step).
    // (better-sqlite3 binds numbers as reals: the casts make the division an integer one.)
    series: db.prepare<[Params], { at: number; direction: Direction; processed: number; errors: number }>(`
      SELECT CAST(@since AS INTEGER) + ((minute - CAST(@since AS INTEGER)) / CAST(@step AS INTEGER)) * CAST(@step AS INTEGER) AS at, direction, sum(processed) AS processed, sum(errors) AS errors
      FROM rps_stats_minute
      WHERE minute >= @since AND ${STATS_FILTER}
      GROUP BY at, direction
      ORDER BY at, direction`),
    outboundGroups: db.prepare<[Params], QueueGroupRecord>(queueGroupsSql('outbound', FILTER)),
    inboundGroups: db.prepare<[Params], QueueGroupRecord>(queueGroupsSql('inbound', FILTER)),
    // The status is a literal so that the monitor index (status first) finds the error rows.
    outboundErrors: db.prepare<[Params], OutboundRecord>(`SELECT * FROM rps_outbound WHERE status = 'error' AND ${FILTER} ORDER BY id DESC LIMIT @limit`),
    inboundErrors: db.prepare<[Params], InboundRecord>(`SELECT * FROM rps_inbound WHERE status = 'error' AND ${FILTER} ORDER BY id DESC LIMIT @limit`),
    // The oldest minutes first, `limit` of them: a bounded delete the cleaner repeats.
    prune: db.prepare<[number, number]>(`
      DELETE FROM rps_stats_minute WHERE (minute, direction, remote_system, process_event) IN (
        SELECT minute, direction, remote_system, process_event FROM rps_stats_minute WHERE minute < ? ORDER BY minute LIMIT ?)`),
  };
}

export class SqliteMetrics implements Metrics {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async record(increments: readonly StatsIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    // A progress commit: sums lost to a power cut only make the charts a little low.
    this.s.progress(() => this.sql.record.run(incrementsJson(increments)));
  }

  async totals(filter: StatsFilter, since: number): Promise<StatsTotal[]> {
    return this.sql.totals.all({ ...filterParams(filter), since }).map(statsTotal);
  }

  async series(filter: StatsFilter, since: number, stepMs: number): Promise<StatsPoint[]> {
    return this.sql.series.all({ ...filterParams(filter), since, step: stepMs });
  }

  async queues(filter: StatsFilter): Promise<QueueFigures[]> {
    const params = filterParams(filter);
    delete params.direction;
    // One read transaction: both queues and the stats as of the same moment.
    return this.s.db.transaction(() =>
      directionsOf(filter.direction).flatMap((d) => queueFigures(d, (d === 'outbound' ? this.sql.outboundGroups : this.sql.inboundGroups).all(params))),
    )();
  }

  async outboundErrors(filter: StatsFilter, limit: number): Promise<OutboundRow[]> {
    const { direction: _, ...params } = filterParams(filter);
    return this.sql.outboundErrors.all({ ...params, limit }).map(outboundRow);
  }

  async inboundErrors(filter: StatsFilter, limit: number): Promise<InboundRow[]> {
    const { direction: _, ...params } = filterParams(filter);
    return this.sql.inboundErrors.all({ ...params, limit }).map(inboundRow);
  }

  async prune(before: number, limit: number): Promise<number> {
    return this.s.progress(() => this.sql.prune.run(before, limit).changes);
  }
}
