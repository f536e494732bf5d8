/**
 * Correlation lookups of many messages in one store call. rps-correlate asks for one
 * record's twin per message; lookups that arrive while a call is running (or in the same
 * tick) go together in the next call, one statement for the lot. Answers come back in
 * the order asked, so messages leave rps-correlate in the order they came: with one
 * PostgreSQL query per message on a pool, a later message could overtake an earlier
 * one of the same record.
 */
import { Batcher } from './batcher';
import type { Correlation, CorrelationKey, Correlations, RecordRef } from './stores';

export class CorrelationLookup {
  private readonly local: Batcher<CorrelationKey, Correlation | undefined>;
  private readonly remote: Batcher<CorrelationKey, Correlation | undefined>;

  /**
   * `keyOf` gives the link key that a remote system's rows are stored under (its config
   * node id becomes the remote instance's id, see link-identity.ts); default: as given.
   */
  constructor(
    correlations: Correlations,
    maxBatch = 500,
    private readonly keyOf: (remoteSystem: string) => Promise<string> | string = (r) => r,
  ) {
    this.local = new Batcher((keys) => correlations.byLocal(keys), maxBatch);
    this.remote = new Batcher((keys) => correlations.byRemote(keys), maxBatch);
  }

  /** The twin on `remoteSystem` of our record `local`. */
  async byLocal(remoteSystem: string, local: RecordRef): Promise<Correlation | undefined> {
    return this.local.add({ remoteSystem: await this.keyOf(remoteSystem), table: local.table, id: local.id });
  }

  /** Our twin of `remoteSystem`'s record `remote`. */
  async byRemote(remoteSystem: string, remote: RecordRef): Promise<Correlation | undefined> {
    return this.remote.add({ remoteSystem: await this.keyOf(remoteSystem), table: remote.table, id: remote.id });
  }
}
