/**
 * Correlation lookups of many messages in one store call. rps-correlate asks for one
 * record's twin per message; lookups that arrive while a call is running (or in the same
 * tick) go together in the next call, one statement for the lot. Answers come back in
 * the order asked, so messages leave rps-correlate in the order they came: with one
 * PostgreSQL query per message on a pool, a later message could overtake an earlier
 * one of the same record.
 *
 * A message may also set its link's state (reactivate or deactivate it) with its lookup.
 * That goes through the same batches, so it keeps its place among the lookups: a message
 * that comes after a reactivation of its record finds the link active, one that came
 * before it finds it as it was.
 */
import { Batcher } from './batcher';
import type { Correlation, CorrelationKey, Correlations, CorrelationSide, CorrelationState, CorrelationStateChange, RecordRef } from './stores';

/** One message's lookup, and the state it sets its record's link to, if any. */
interface LookupItem {
  key: CorrelationKey;
  state?: CorrelationState;
}

function keyOf(k: CorrelationKey): string {
  return JSON.stringify([k.remoteSystem, k.table, k.id]);
}

/**
 * The answers of a batch of lookups and state changes, in order, as if each were made one
 * by one: `before` holds each item's link as stored before the batch, `after` (for the
 * items that set a state) the link as the store left it. A lookup before a record's last
 * change sees the states set before it in the batch; from the last change on, the store's
 * answer holds.
 */
export function answersInOrder(
  items: readonly LookupItem[],
  before: readonly (Correlation | undefined)[],
  after: ReadonlyMap<string, Correlation | undefined>,
): (Correlation | undefined)[] {
  const lastChange = new Map<string, number>();
  items.forEach((item, n) => {
    if (item.state !== undefined) lastChange.set(keyOf(item.key), n);
  });
  const current = new Map<string, Correlation | undefined>();
  return items.map((item, n) => {
    const k = keyOf(item.key);
    if (!current.has(k)) current.set(k, before[n]);
    if (item.state !== undefined) {
      const link = current.get(k);
      current.set(k, lastChange.get(k) === n ? after.get(k) : link && { ...link, state: item.state });
    }
    return current.get(k);
  });
}

export class CorrelationLookup {
  private readonly local: Batcher<LookupItem, Correlation | undefined>;
  private readonly remote: Batcher<LookupItem, Correlation | undefined>;

  /**
   * `linkKeyOf` gives the link key that a remote system's rows are stored under (its config
   * node id becomes the remote instance's id, see link-identity.ts); default: as given.
   */
  constructor(
    private readonly correlations: Correlations,
    maxBatch = 500,
    private readonly linkKeyOf: (remoteSystem: string) => Promise<string> | string = (r) => r,
    private readonly clock: () => number = Date.now,
  ) {
    this.local = new Batcher((items) => this.resolve('local', items), maxBatch);
    this.remote = new Batcher((items) => this.resolve('remote', items), maxBatch);
  }

  /** The twin on `remoteSystem` of our record `local`; with `state`, its link is first set to that state. */
  async byLocal(remoteSystem: string, local: RecordRef, state?: CorrelationState): Promise<Correlation | undefined> {
    return this.local.add({ key: { remoteSystem: await this.linkKeyOf(remoteSystem), table: local.table, id: local.id }, state });
  }

  /** Our twin of `remoteSystem`'s record `remote`; with `state`, its link is first set to that state. */
  async byRemote(remoteSystem: string, remote: RecordRef, state?: CorrelationState): Promise<Correlation | undefined> {
    return this.remote.add({ key: { remoteSystem: await this.linkKeyOf(remoteSystem), table: remote.table, id: remote.id }, state });
  }

  /** One lookup statement for a batch without state changes (the usual case); a lookup and a state change otherwise. */
  private async resolve(side: CorrelationSide, items: readonly LookupItem[]): Promise<(Correlation | undefined)[]> {
    const keys = items.map((i) => i.key);
    const lookup = (k: CorrelationKey[]): Promise<(Correlation | undefined)[]> => (side === 'local' ? this.correlations.byLocal(k) : this.correlations.byRemote(k));
    const changes = items.flatMap((i): CorrelationStateChange[] => (i.state === undefined ? [] : [{ ...i.key, state: i.state }]));
    if (changes.length === 0) return lookup(keys);
    const before = await lookup(keys);
    const set = await this.correlations.setState(side, changes, this.clock());
    const after = new Map<string, Correlation | undefined>(changes.map((c, n) => [keyOf(c), set[n]]));
    return answersInOrder(items, before, after);
  }
}
