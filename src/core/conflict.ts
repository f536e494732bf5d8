/**
 * Conflicts between two sides that edit the same record: which of a remote's field
 * values an inbound update may write over the local ones. Pure.
 *
 * Each side keeps a *stamp* per field of a local record: when and where the value it
 * holds was written (the capture time of the change, and the instance that captured it).
 * A local change stamps its changed fields (rps-capture); a remote change that is let
 * through stamps the fields it writes (rps-map, before the inbound flow writes them).
 * The policies:
 * - `last-writer` (default): a changed field is written when the remote's change was
 *   captured later than the local value's (ties broken by instance id, so both sides
 *   decide the same); two sides that edit a field at once end with the same value.
 * - `remote`: the remote's changes are always written.
 * - `local`: a remote's change of a field loses to a local change of that field made
 *   after it, or less than the conflict window before it; outside the window the later
 *   change wins. (Pair it with `remote` on the other side: both sides on `local`, or both
 *   on `remote`, keep their own or swap values, and do not converge.)
 * Whatever the policy, a value that came from the same instance as the change is
 * replaced (its changes arrive in sequence order, whatever their clocks say). Except
 * under `remote`, a field the remote did not change is left out: its value there is one
 * this side was sent, or an older one, and writing it could undo a local change that is
 * not stamped yet (made, but not yet captured, while the update was decided).
 */

export type ConflictPolicy = 'last-writer' | 'remote' | 'local';

export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['last-writer', 'remote', 'local'];

export const DEFAULT_CONFLICT_WINDOW_MS = 300_000;

/** When and where a field's value was written. */
export interface Stamp {
  /** Capture time, epoch milliseconds. */
  at: number;
  /** The instance that captured the change. */
  instance: string;
}

/** Later capture time first; at the same time, the greater instance id. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.instance === b.instance ? 0 : a.instance < b.instance ? -1 : 1;
}

export type ConflictReason = 'local-newer' | 'local-wins';

/** A remote's change of a field that was not written, and why (msg.rps.conflicts, the inbound row). */
export interface FieldConflict {
  field: string;
  reason: ConflictReason;
  /** The local value's stamp, capture time as ISO 8601. */
  local: { at: string; instance: string };
  remote: { at: string; instance: string };
}

export interface ConflictInput {
  policy: ConflictPolicy;
  /** This side's instance id. */
  self: string;
  /** The remote change's stamp: its capture time and the instance that captured it. */
  remote: Stamp;
  /** The fields the update writes (after mapping), changed or not. */
  fields: readonly string[];
  /** Of those, the ones the remote changed. */
  changedFields: readonly string[];
  /** The local record's stamps, by field (a field without one was never stamped). */
  stamps: ReadonlyMap<string, Stamp>;
  /** For `local`: how long before a local change a remote one still loses to it. */
  windowMs?: number;
}

export interface ConflictDecision {
  /** Fields to leave out of the update: the conflicts' and, except under `remote`, the unchanged ones. */
  drop: string[];
  conflicts: FieldConflict[];
  /** Changed fields written: each gets the remote's stamp. */
  stamp: string[];
}

const iso = (s: Stamp): { at: string; instance: string } => ({ at: new Date(s.at).toISOString(), instance: s.instance });

function loses(input: ConflictInput, local: Stamp): ConflictReason | undefined {
  if (local.instance === input.remote.instance || input.policy === 'remote') return undefined;
  if (input.policy === 'local' && local.instance === input.self) {
    const window = input.windowMs ?? DEFAULT_CONFLICT_WINDOW_MS;
    if (input.remote.at < local.at + window) return 'local-wins';
  }
  return compareStamps(input.remote, local) < 0 ? 'local-newer' : undefined;
}

/** Which fields of a remote's update of a correlated record are written. */
export function decideConflicts(input: ConflictInput): ConflictDecision {
  const changed = new Set(input.changedFields);
  const out: ConflictDecision = { drop: [], conflicts: [], stamp: [] };
  for (const field of input.fields) {
    const local = input.stamps.get(field);
    if (!changed.has(field)) {
      if (input.policy !== 'remote') out.drop.push(field);
      continue;
    }
    const reason = local ? loses(input, local) : undefined;
    if (reason && local) {
      out.drop.push(field);
      out.conflicts.push({ field, reason, local: iso(local), remote: iso(input.remote) });
    } else {
      out.stamp.push(field);
    }
  }
  return out;
}

/**
 * Whether a change that an inbound flow made (it came back through capture) wrote over a
 * local change captured after the inbound decision: its changed fields are stamped by this
 * side since. Such a change is the record's newest state and must go to every remote, the
 * one it came from included; otherwise it is that remote's own change coming back.
 */
export function overwroteLocalChange(changedFields: readonly string[], stamps: ReadonlyMap<string, Stamp>, self: string): boolean {
  return changedFields.some((f) => stamps.get(f)?.instance === self);
}
