/** The WHERE fragments of the queues' QueueFilter and ListFilter, in PostgreSQL, with their positional parameters. */
import type { ListFilter, QueueFilter } from '../shared/queue';

/**
 * The optional conditions of a QueueFilter, on parameters $1..$5 (see filterParams); a
 * null parameter drops its condition.
 */
export const FILTER = `
  ($1::text IS NULL OR remote_system = $1)
  AND ($2::text IS NULL OR process_event = $2)
  AND ($3::bigint[] IS NULL OR id = ANY ($3))
  AND ($4::text[] IS NULL OR error_kind = ANY ($4))
  AND ($5::integer IS NULL OR retries < $5)`;

export function filterParams(f: QueueFilter): unknown[] {
  return [f.remoteSystem ?? null, f.processEvent ?? null, f.ids ? [...f.ids] : null, f.kinds ? [...f.kinds] : null, f.maxRetries ?? null];
}

/** Rows of a ListFilter, oldest first, on parameters $1..$5 (see listParams). */
export const LIST = `
  ($1::text IS NULL OR remote_system = $1)
  AND ($2::text IS NULL OR process_event = $2)
  AND ($3::text[] IS NULL OR status = ANY ($3))
  AND id > $4::bigint
  ORDER BY id
  LIMIT $5::integer`;

export function listParams(f: ListFilter): unknown[] {
  return [f.remoteSystem ?? null, f.processEvent ?? null, f.statuses ? [...f.statuses] : null, f.afterId ?? 0, f.limit];
}
