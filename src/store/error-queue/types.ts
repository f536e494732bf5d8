/** The durable error queue of rps-queue-retry nodes: messages held for another try. */
export type ErrorItemStatus = 'error' | 'retrying' | 'processed' | 'failed';

/** One message held by an rps-queue-retry node's durable error queue. */
export interface ErrorItem {
  id: number;
  /** The rps-queue-retry node that holds it. */
  owner: string;
  /** The Node-RED message as JSON text. */
  message: string;
  error: string;
  retries: number;
  status: ErrorItemStatus;
  createdAt: number;
  updatedAt: number;
}

export interface NewErrorItem {
  owner: string;
  message: string;
  error: string;
}

export interface ErrorQueue {
  /** Holds messages for an rps-queue-retry node; returns their ids. */
  add(items: readonly NewErrorItem[], now: number): Promise<number[]>;
  /** A held message failed again: back to `error`, or `failed` once it has been retried `maxRetries` times. */
  fail(owner: string, id: number, error: string, maxRetries: number, now: number): Promise<ErrorItemStatus | undefined>;
  /** Takes up to `limit` held messages due for another try (fewer than `maxRetries` tries), marking them `retrying`. */
  take(owner: string, maxRetries: number, limit: number, now: number): Promise<ErrorItem[]>;
  /** `retrying` items that did not come back within the settle time are done: `processed`. */
  settle(owner: string, retryingBefore: number, now: number): Promise<number>;
  /** After a restart: `retrying` items may not have been tried; they are `error` again. */
  reset(owner: string, now: number): Promise<number>;
  count(owner: string): Promise<Record<ErrorItemStatus, number>>;
}

export interface ErrorItemRecord {
  id: number;
  owner: string;
  message: string;
  error: string;
  retries: number;
  status: ErrorItemStatus;
  created_at: number;
  updated_at: number;
}

export function errorItem(r: ErrorItemRecord): ErrorItem {
  return {
    id: r.id,
    owner: r.owner,
    message: r.message,
    error: r.error,
    retries: r.retries,
    status: r.status,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Counts by status; statuses without items count 0. */
export function errorCounts(rows: readonly { status: ErrorItemStatus; n: number }[]): Record<ErrorItemStatus, number> {
  const out: Record<ErrorItemStatus, number> = { error: 0, retrying: 0, processed: 0, failed: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}
