/**
 * The field names each deployed rps-capture node has seen in the records it was given,
 * for the form's "fields seen" drop-down (served by an admin route). In memory only and
 * bounded: a name list for picking fields, not a record of the data.
 */

/** Names kept per capture node; a record with more fields adds only until then. */
export const MAX_FIELDS_SEEN = 500;

const seen = new Map<string, Set<string>>();

/** Adds the names of `record`'s own properties to what capture `nodeId` has seen. */
export function noteFieldsSeen(nodeId: string, record: unknown): void {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return;
  let names = seen.get(nodeId);
  if (!names) seen.set(nodeId, (names = new Set()));
  if (names.size >= MAX_FIELDS_SEEN) return;
  for (const name of Object.keys(record)) {
    if (names.size >= MAX_FIELDS_SEEN) break;
    names.add(name);
  }
}

/** The names capture `nodeId` has seen, sorted; none when it is not deployed or saw nothing. */
export function fieldsSeen(nodeId: string): string[] {
  return [...(seen.get(nodeId) ?? [])].sort((a, b) => a.localeCompare(b));
}

/** Forgets a capture node's names (when it is removed). */
export function forgetFieldsSeen(nodeId: string): void {
  seen.delete(nodeId);
}
