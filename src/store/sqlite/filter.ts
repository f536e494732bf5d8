/** The WHERE fragments of the queues' QueueFilter and ListFilter, in SQLite, with their named parameters. */
import type { ListFilter, QueueFilter } from '../shared/queue';

export type Params = Record<string, string | number | null>;

/** One WHERE fragment for every optional QueueFilter condition; a null parameter drops its condition. */
export const FILTER = `
  (@remote IS NULL OR remote_system = @remote)
  AND (@event IS NULL OR process_event = @event)
  AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))
  AND (@kinds IS NULL OR error_kind IN (SELECT value FROM json_each(@kinds)))
  AND (@maxRetries IS NULL OR retries < @maxRetries)`;

/** The parameters of FILTER, from a QueueFilter (null = no condition). */
export function filterParams(f: QueueFilter): Params {
  return {
    remote: f.remoteSystem ?? null,
    event: f.processEvent ?? null,
    ids: f.ids ? JSON.stringify(f.ids) : null,
    kinds: f.kinds ? JSON.stringify(f.kinds) : null,
    maxRetries: f.maxRetries ?? null,
  };
}

/** Rows of a ListFilter, oldest first. */
export const LIST = `
  (@remote IS NULL OR remote_system = @remote)
  AND (@event IS NULL OR process_event = @event)
  AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
  AND id > @afterId
  ORDER BY id
  LIMIT @limit`;

export function listParams(f: ListFilter): Params {
  return {
    remote: f.remoteSystem ?? null,
    event: f.processEvent ?? null,
    statuses: f.statuses ? JSON.stringify(f.statuses) : null,
    afterId: f.afterId ?? 0,
    limit: f.limit,
  };
}
