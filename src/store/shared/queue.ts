/** What the outbound and inbound queues share: statuses, counts and the filters people and schedules select rows by. */
import type { ErrorKind } from '../../core/inbound-finish';

export type { ErrorKind } from '../../core/inbound-finish';

export type QueueStatus = 'ready' | 'processing' | 'processed' | 'error' | 'skipped';

export type StatusCounts = Record<QueueStatus, number>;

/** Selects queue rows for the retry schedule and for people's reprocess / skip. */
export interface QueueFilter {
  remoteSystem?: string;
  processEvent?: string;
  ids?: readonly number[];
  kinds?: readonly ErrorKind[];
  /** Only rows re-queued fewer times than this. */
  maxRetries?: number;
}

export interface ListFilter {
  remoteSystem?: string;
  processEvent?: string;
  statuses?: readonly QueueStatus[];
  /** Rows with a larger id than this (paging). */
  afterId?: number;
  limit: number;
}

/** Counts by status from `GROUP BY status` rows; statuses without rows count 0. */
export function countsOf(rows: readonly { status: QueueStatus; n: number }[]): StatusCounts {
  const out = emptyCounts();
  for (const r of rows) out[r.status] = r.n;
  return out;
}

export function emptyCounts(): StatusCounts {
  return { ready: 0, processing: 0, processed: 0, error: 0, skipped: 0 };
}
