/**
 * The field stamps of local records (core/conflict.ts) as the nodes use them: rps-map
 * decides an inbound update's conflicts, rps-capture stamps a local change and asks
 * whether a change an inbound flow made wrote over a newer local one. Each gathers the
 * calls of many messages into one store call (Batcher); one FieldClock per store.
 *
 * Crash safety: a decision's stamps and conflict note are committed before the message
 * goes on to the flow that writes the record, and a local change's stamps before the
 * change goes on to be queued. A process that dies in between leaves stamps for a write
 * or a message that did not happen; decided again, the same message lets the same
 * fields through (a value from the change's own instance is always replaced), and a
 * local stamp with no message only makes older remote values lose, as they would have.
 */
import { type ConflictDecision, type ConflictPolicy, decideConflicts, overwroteLocalChange, type Stamp } from '../core/conflict';
import { Batcher } from './batcher';
import { stampedKey, type StampedRecord, type StampWrite, type Store } from './stores';

export interface UpdateToDecide {
  policy: ConflictPolicy;
  windowMs?: number;
  /** The remote change: its capture time and the instance that captured it. */
  remote: Stamp;
  /** The local record the update writes. */
  table: string;
  id: string;
  fields: readonly string[];
  changedFields: readonly string[];
  /** The inbound row to note the conflicts on. */
  queueId?: number;
}

export interface LocalChange {
  table: string;
  id: string;
  changedFields: readonly string[];
  at: number;
}

type Stamps = Map<string, Stamp>;

export class FieldClock {
  private readonly decisions: Batcher<UpdateToDecide, ConflictDecision>;
  private readonly locals: Batcher<LocalChange, undefined>;
  private readonly reads: Batcher<StampedRecord, Stamps>;

  constructor(private readonly store: Store, maxBatch = 500) {
    this.decisions = new Batcher((items) => this.decideBatch(items), maxBatch);
    this.locals = new Batcher((items) => this.stampBatch(items), maxBatch);
    this.reads = new Batcher(async (records) => {
      const found = await this.store.fieldStamps.get(records);
      return records.map((r) => found.get(stampedKey(r.table, r.id)) ?? new Map());
    }, maxBatch);
  }

  /** Which fields of an inbound update are written; its stamps and conflicts are in the store when this resolves. */
  decide(update: UpdateToDecide): Promise<ConflictDecision> {
    return this.decisions.add(update);
  }

  /** Stamps a local change's changed fields as this instance's, at its capture time. */
  stampLocal(change: LocalChange): Promise<void> {
    return this.locals.add(change);
  }

  /** Whether a change an inbound flow made wrote over a local change captured since the inbound decision. */
  async overwroteLocal(table: string, id: string, changedFields: readonly string[]): Promise<boolean> {
    if (changedFields.length === 0) return false;
    await this.store.opened();
    return overwroteLocalChange(changedFields, await this.reads.add({ table, id }), this.store.instanceId);
  }

  private async decideBatch(items: UpdateToDecide[]): Promise<ConflictDecision[]> {
    // The instance id is known once the store is open (a PostgreSQL store opens in the background).
    await this.store.opened();
    const self = this.store.instanceId;
    const found = await this.store.fieldStamps.get(items.map((u) => ({ table: u.table, id: u.id })));
    const writes: StampWrite[] = [];
    const notes: { id: number; conflicts: string }[] = [];
    const decisions = items.map((u) => {
      const key = stampedKey(u.table, u.id);
      let stamps = found.get(key);
      if (!stamps) found.set(key, (stamps = new Map()));
      const d = decideConflicts({ ...u, self, stamps });
      // A later update of the same record in this batch compares with what this one wrote.
      for (const field of d.stamp) {
        stamps.set(field, u.remote);
        writes.push({ table: u.table, id: u.id, field, ...u.remote });
      }
      if (u.queueId !== undefined && d.conflicts.length > 0) notes.push({ id: u.queueId, conflicts: JSON.stringify(d.conflicts) });
      return d;
    });
    const now = Date.now();
    await this.store.fieldStamps.put(writes, now);
    await this.store.inbound.noteConflicts(notes);
    return decisions;
  }

  private async stampBatch(items: LocalChange[]): Promise<undefined[]> {
    await this.store.opened();
    const instance = this.store.instanceId;
    const writes = items.flatMap((c) => c.changedFields.map((field): StampWrite => ({ table: c.table, id: c.id, field, at: c.at, instance })));
    await this.store.fieldStamps.put(writes, Date.now());
    return items.map(() => undefined);
  }
}

const clocks = new WeakMap<Store, FieldClock>();

/** The one FieldClock of a store (the nodes that use a store share its batches). */
export function fieldClockOf(store: Store): FieldClock {
  let clock = clocks.get(store);
  if (!clock) clocks.set(store, (clock = new FieldClock(store)));
  return clock;
}
