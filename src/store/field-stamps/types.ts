/**
 * Field stamps: for each field of a local record, when and where the value it holds was
 * written (core/conflict.ts), so that an inbound update can tell which of its values are
 * newer than the local ones. Keyed by the local table, the record's id and the field.
 */
import type { Stamp } from '../../core/conflict';

export interface StampedRecord {
  table: string;
  id: string;
}

export interface StampWrite extends StampedRecord, Stamp {
  field: string;
}

/** The key of a record in the map `get` answers. */
export function stampedKey(table: string, id: string): string {
  return `${table}\u0000${id}`;
}

export interface FieldStamps {
  /** The stamps of these records, by stampedKey (a record without any is absent). One statement. */
  get(records: readonly StampedRecord[]): Promise<Map<string, Map<string, Stamp>>>;
  /**
   * Writes a batch in one transaction. A field keeps the later of its stamp and the one
   * written (compareStamps' order), so writers in several processes cannot move it back.
   */
  put(writes: readonly StampWrite[], now: number): Promise<void>;
  /** Deletes at most `batch` stamps written before `before`; returns how many. */
  forget(before: number, batch: number): Promise<number>;
}

export interface StampRecord {
  record_table: string;
  record_id: string;
  field: string;
  at: number | string;
  instance: string;
}

export function stampsOf(rows: readonly StampRecord[]): Map<string, Map<string, Stamp>> {
  const out = new Map<string, Map<string, Stamp>>();
  for (const r of rows) {
    const key = stampedKey(r.record_table, r.record_id);
    let fields = out.get(key);
    if (!fields) out.set(key, (fields = new Map()));
    fields.set(r.field, { at: Number(r.at), instance: r.instance });
  }
  return out;
}
