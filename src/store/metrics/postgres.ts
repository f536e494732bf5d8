/**
 * The monitor's figures in PostgreSQL. Every answer is one aggregate statement: the minute
 * sums are a range of rps_stats_minute's primary key; the queue figures read the monitor
 * indexes of migration 10, not the rows. Several processes share the store: each adds its
 * increments to the same minute rows (the upsert adds, under the row's lock).
 */
import type { Direction, StatsIncrement } from '../../core/stats';
import type { PgContext } from '../postgres/context';
import { query, rows, sql, transaction } from '../postgres/db';
import { BUCKET_COLUMNS, directionsOf, incrementsJson, type QueueGroupRecord, queueFigures, queueGroupsSql, statsTotal, SUM_COLUMNS, type TotalRecord } from './shared';
import { type InboundRecord, type InboundRow, inboundRow } from '../inbound/types';
import { type OutboundRecord, type OutboundRow, outboundRow } from '../outbound/types';
import type { Metrics, QueueFigures, StatsFilter, StatsPoint, StatsTotal } from './types';

/** The StatsFilter conditions on $1 (remote systems), $2 (process event) and $3 (direction); null: no condition. */
const FILTER = `
  ($1::text[] IS NULL OR remote_system = ANY ($1))
  AND ($2::text IS NULL OR process_event = $2)
  AND ($3::text IS NULL OR direction = $3)`;

/** The same for a queue table, which has no direction column ($3 is not sent). */
const QUEUE_FILTER = `
  ($1::text[] IS NULL OR remote_system = ANY ($1))
  AND ($2::text IS NULL OR process_event = $2)`;

function filterParams(f: StatsFilter): unknown[] {
  return [f.remoteSystems ? [...f.remoteSystems] : null, f.processEvent ?? null, f.direction ?? null];
}

// sum(bigint) is numeric in PostgreSQL: cast back, every sum fits in a bigint.
const SUMS = SUM_COLUMNS.map((c) => `sum(${c})::bigint AS ${c}`).join(', ');

/**
 * One statement per batch. The increments come as JSON; the same key twice in one batch
 * is added up first (an upsert may not touch one row twice in a statement), and the rows
 * are written in key order so that two processes adding to the same minutes do not deadlock.
 * last_at keeps the latest (max and GREATEST pass over nulls).
 */
const RECORD = sql('metrics_record', `
  INSERT INTO rps_stats_minute (minute, direction, remote_system, process_event, ${SUM_COLUMNS.join(', ')}, last_at)
  SELECT i.m, i.d, i.r, i.e, sum(i.p), sum(i.x), sum(i.t), ${BUCKET_COLUMNS.map((_, k) => `sum(i.b[${k + 1}])`).join(', ')}, max(i.l)
  FROM jsonb_to_recordset($1::jsonb) AS i (d text, r text, e text, m bigint, p bigint, x bigint, t bigint, b bigint[], l bigint)
  GROUP BY i.m, i.d, i.r, i.e
  ORDER BY i.m, i.d, i.r, i.e
  ON CONFLICT (minute, direction, remote_system, process_event) DO UPDATE SET
    ${SUM_COLUMNS.map((c) => `${c} = rps_stats_minute.${c} + excluded.${c}`).join(', ')},
    last_at = GREATEST(rps_stats_minute.last_at, excluded.last_at)`);

const TOTALS = sql('metrics_totals', `
  SELECT direction, remote_system, process_event, ${SUMS}
  FROM rps_stats_minute
  WHERE minute >= $4::bigint AND ${FILTER}
  GROUP BY direction, remote_system, process_event`);

// Steps start at `since`: step k holds the minutes [since + k·step, since + (k+1)·step).
const SERIES = sql('metrics_series', `
  SELECT $4::bigint + ((minute - $4::bigint) / $5::bigint) * $5::bigint AS at, direction,
         sum(processed)::bigint AS processed, sum(errors)::bigint AS errors
  FROM rps_stats_minute
  WHERE minute >= $4::bigint AND ${FILTER}
  GROUP BY 1, direction
  ORDER BY 1, direction`);

const OUTBOUND_GROUPS = sql('metrics_outbound_groups', queueGroupsSql('outbound', QUEUE_FILTER));
const INBOUND_GROUPS = sql('metrics_inbound_groups', queueGroupsSql('inbound', QUEUE_FILTER));

// The status is a literal: it matches the partial error index of migration 3 and the
// monitor index, so only error rows are read, whatever the size of the queue.
const OUTBOUND_ERRORS = sql('metrics_outbound_errors', `SELECT * FROM rps_outbound WHERE status = 'error' AND ${QUEUE_FILTER} ORDER BY id DESC LIMIT $3::integer`);
const INBOUND_ERRORS = sql('metrics_inbound_errors', `SELECT * FROM rps_inbound WHERE status = 'error' AND ${QUEUE_FILTER} ORDER BY id DESC LIMIT $3::integer`);

// The oldest minutes first, `limit` of them: a bounded delete the cleaner repeats.
const PRUNE = sql('metrics_prune', `
  DELETE FROM rps_stats_minute WHERE ctid IN (
    SELECT ctid FROM rps_stats_minute WHERE minute < $1::bigint ORDER BY minute LIMIT $2::integer)`);

export class PostgresMetrics implements Metrics {
  constructor(private readonly p: PgContext) {}

  async record(increments: readonly StatsIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    await query(this.p.pool, RECORD, [incrementsJson(increments)]);
  }

  async totals(filter: StatsFilter, since: number): Promise<StatsTotal[]> {
    return (await rows<TotalRecord>(this.p.pool, TOTALS, [...filterParams(filter), since])).map(statsTotal);
  }

  async series(filter: StatsFilter, since: number, stepMs: number): Promise<StatsPoint[]> {
    return rows<{ at: number; direction: Direction; processed: number; errors: number }>(this.p.pool, SERIES, [...filterParams(filter), since, stepMs]);
  }

  async queues(filter: StatsFilter): Promise<QueueFigures[]> {
    const params = filterParams(filter).slice(0, 2);
    // One REPEATABLE READ snapshot: both queues and the stats as of the same moment.
    return transaction(this.p.pool, async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const out: QueueFigures[] = [];
      for (const d of directionsOf(filter.direction)) out.push(...queueFigures(d, await rows<QueueGroupRecord>(c, d === 'outbound' ? OUTBOUND_GROUPS : INBOUND_GROUPS, params)));
      return out;
    });
  }

  async outboundErrors(filter: StatsFilter, limit: number): Promise<OutboundRow[]> {
    return (await rows<OutboundRecord>(this.p.pool, OUTBOUND_ERRORS, [...filterParams(filter).slice(0, 2), limit])).map(outboundRow);
  }

  async inboundErrors(filter: StatsFilter, limit: number): Promise<InboundRow[]> {
    return (await rows<InboundRecord>(this.p.pool, INBOUND_ERRORS, [...filterParams(filter).slice(0, 2), limit])).map(inboundRow);
  }

  async prune(before: number, limit: number): Promise<number> {
    return (await query(this.p.pool, PRUNE, [before, limit])).rowCount;
  }
}
