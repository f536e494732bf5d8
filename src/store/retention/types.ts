/** Retention: the cleaner deletes rows older than the policy allows. */

/** How long rows are kept, per status, in ms; 0 keeps them for ever. */
export interface RetentionPolicy {
  processedMs: number;
  skippedMs: number;
  errorMs: number;
  readyMs: number;
}

export interface PurgeResult {
  outbound: number;
  inbound: number;
  errorQueue: number;
  /** Of the outbound and inbound rows: those never delivered or applied (ready, error). */
  undelivered: number;
  /** True when the batch limit was reached: call again (later) for the rest. */
  more: boolean;
}

export interface Retention {
  /** Deletes rows older than the policy allows, at most `batch` per table; never a row in flight. */
  purge(policy: RetentionPolicy, now: number, batch: number): Promise<PurgeResult>;
}

/** One step of the cleaner: rows of one status in one table, aged by `column` (an SQL expression). */
export interface PurgeStep {
  table: 'outbound' | 'inbound' | 'errorQueue';
  status: string;
  policy: keyof RetentionPolicy;
  sqlTable: string;
  column: string;
}

/** What the cleaner deletes, in both stores. Error rows age from their last attempt, not from when they were queued. */
export const PURGE_PLAN: readonly PurgeStep[] = (
  [
    ['outbound', 'processed', 'processedMs', 'rps_outbound', 'processed_at'],
    ['outbound', 'skipped', 'skippedMs', 'rps_outbound', 'processed_at'],
    ['outbound', 'error', 'errorMs', 'rps_outbound', 'coalesce(last_attempt_at, created_at)'],
    ['outbound', 'ready', 'readyMs', 'rps_outbound', 'created_at'],
    ['inbound', 'processed', 'processedMs', 'rps_inbound', 'processed_at'],
    ['inbound', 'skipped', 'skippedMs', 'rps_inbound', 'processed_at'],
    ['inbound', 'error', 'errorMs', 'rps_inbound', 'coalesce(started_at, received_at)'],
    ['inbound', 'ready', 'readyMs', 'rps_inbound', 'received_at'],
    ['errorQueue', 'processed', 'processedMs', 'rps_error_queue', 'updated_at'],
    ['errorQueue', 'failed', 'errorMs', 'rps_error_queue', 'updated_at'],
    ['errorQueue', 'error', 'errorMs', 'rps_error_queue', 'updated_at'],
  ] as const
).map(([table, status, policy, sqlTable, column]) => ({ table, status, policy, sqlTable, column }));

/**
 * Runs the steps the policy asks for, at most `batch` rows each (one short statement
 * per step, so delivery is never held up for long), and tallies what went.
 */
export async function runPurge<S extends PurgeStep>(
  steps: readonly S[],
  policy: RetentionPolicy,
  now: number,
  batch: number,
  remove: (step: S, before: number) => number | Promise<number>,
): Promise<PurgeResult> {
  const result: PurgeResult = { outbound: 0, inbound: 0, errorQueue: 0, undelivered: 0, more: false };
  for (const step of steps) {
    const keepMs = policy[step.policy];
    if (!keepMs || keepMs <= 0) continue;
    const n = await remove(step, now - keepMs);
    result[step.table] += n;
    if (step.table !== 'errorQueue' && (step.status === 'ready' || step.status === 'error')) result.undelivered += n;
    if (n >= batch) result.more = true;
  }
  return result;
}
