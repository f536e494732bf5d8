/**
 * The monitor's figures (see core/stats): small rolling per-minute sums that the engine
 * adds to as rows finish (with the latest time a row was processed), and aggregate
 * queries over the queues (depth by status, the oldest waiting row). Nothing here returns
 * rows: every answer is a handful of sums, computed by the database, so it stays quick
 * with a million rows in the queues.
 */
import type { Direction, StatsIncrement, StatsSums } from '../../core/stats';
import type { InboundRow } from '../inbound/types';
import type { OutboundRow } from '../outbound/types';
import type { StatusCounts } from '../shared/queue';

export interface StatsFilter {
  /** Only these remote systems (rows' remote_system: link keys). */
  remoteSystems?: readonly string[];
  processEvent?: string;
  direction?: Direction;
}

/** Sums for one (direction, remote system, process event). */
export interface StatsTotal extends StatsSums {
  direction: Direction;
  remoteSystem: string;
  processEvent: string;
}

/** One step of the throughput chart: rows finished from `at` to `at + step`. */
export interface StatsPoint {
  at: number;
  direction: Direction;
  processed: number;
  errors: number;
}

/** One queue's state for one (remote system, process event). */
export interface QueueFigures {
  direction: Direction;
  remoteSystem: string;
  processEvent: string;
  counts: StatusCounts;
  /** When the oldest row still `ready` or `processing` was created (outbound) or received (inbound); null when none waits. */
  oldestWaitingAt: number | null;
  /** When the last row was processed, from the minute stats (kept 8 days); null when none was in that time. */
  lastProcessedAt: number | null;
}

export interface Metrics {
  /** Adds increments to their minute rows (created when missing), in one transaction. */
  record(increments: readonly StatsIncrement[]): Promise<void>;
  /** Sums of the minutes at or after `since`, by direction, remote system and process event. */
  totals(filter: StatsFilter, since: number): Promise<StatsTotal[]>;
  /** Rows finished per `stepMs` (a multiple of a minute) since `since`, by direction; steps without rows are left out. */
  series(filter: StatsFilter, since: number, stepMs: number): Promise<StatsPoint[]>;
  /** Both queues' figures, by direction, remote system and process event. */
  queues(filter: StatsFilter): Promise<QueueFigures[]>;
  /**
   * The rows in `error` of each queue, newest first, at most `limit` of each: the one list
   * of rows the monitor shows, for an operator to act on. (The queues' own list pages by
   * ascending id for dispatchers; this reads the error rows through the monitor index.)
   */
  outboundErrors(filter: StatsFilter, limit: number): Promise<OutboundRow[]>;
  inboundErrors(filter: StatsFilter, limit: number): Promise<InboundRow[]>;
  /** Deletes up to `limit` minute rows older than `before`; returns how many. */
  prune(before: number, limit: number): Promise<number>;
}
