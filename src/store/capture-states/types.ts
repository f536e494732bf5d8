/**
 * What a capture saw of each record: the values of the fields its condition reads, as
 * they were at the last change it was given, so that "changes", "changes to" and
 * "changes from" can tell what changed when the source does not send the record as it
 * was before (msg.previous). Keyed by the capture node's id, the table and the record's
 * id; bounded per capture (prune); kept across restarts.
 */
import type { Fields } from '../../core/protocol';

export interface CaptureStateWrite {
  id: string;
  /** The record's fields as last seen; null forgets the record (it was deleted). */
  fields: Fields | null;
}

export interface CaptureStates {
  /** The states kept of these records (a record without one is absent from the map). */
  get(capture: string, table: string, ids: readonly string[]): Promise<Map<string, Fields>>;
  /** Writes a batch in one transaction, in order (a later write of the same record wins); committed when the promise resolves. */
  put(capture: string, table: string, writes: readonly CaptureStateWrite[], now: number): Promise<void>;
  /** Keeps the `keep` most recently written records of a capture and forgets the others; returns how many it forgot. */
  prune(capture: string, keep: number): Promise<number>;
  /** Forgets every record of a capture (the node was removed). */
  clear(capture: string): Promise<void>;
}
