/** Correlations: which local record is the twin of which record of a remote system. */

export type CorrelationState = 'active' | 'inactive';

export interface Correlation {
  remoteSystem: string;
  localTable: string;
  localId: string;
  remoteTable: string;
  remoteId: string;
  state: CorrelationState;
  createdAt: number;
  updatedAt: number;
}

/** A record of one side of a link, on the link of one remote system. */
export interface CorrelationKey {
  remoteSystem: string;
  table: string;
  id: string;
}

/** Which record of a link a key names: ours (`local`) or the remote's (`remote`). */
export type CorrelationSide = 'local' | 'remote';

/** The state a record's link is to have, the record named as in the lookups. */
export interface CorrelationStateChange extends CorrelationKey {
  state: CorrelationState;
}

/**
 * Lookups by batch: one statement for all keys, answers in the keys' order (undefined
 * where a record has no link). The engine gathers the lookups of many messages into one.
 */
export interface Correlations {
  byLocal(keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]>;
  byRemote(keys: readonly CorrelationKey[]): Promise<(Correlation | undefined)[]>;
  /**
   * Sets the state of the link of each record (named on `side`), in one statement: a
   * record given twice ends with its last state; a record without a link stays without
   * one. `updatedAt` becomes `now` only on the links whose state changes. Answers in the
   * changes' order: the record's link after the batch (undefined where it has none).
   * The twins stay as they are: this only starts or stops syncing a link.
   */
  setState(side: CorrelationSide, changes: readonly CorrelationStateChange[], now: number): Promise<(Correlation | undefined)[]>;
}

/** A record of one side of a link. */
export interface RecordRef {
  table: string;
  id: string;
}

export interface CorrelationRecord {
  remote_system: string;
  local_table: string;
  local_id: string;
  remote_table: string;
  remote_id: string;
  state: CorrelationState;
  created_at: number;
  updated_at: number;
}

export function correlation(r: CorrelationRecord): Correlation {
  return {
    remoteSystem: r.remote_system,
    localTable: r.local_table,
    localId: r.local_id,
    remoteTable: r.remote_table,
    remoteId: r.remote_id,
    state: r.state,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
