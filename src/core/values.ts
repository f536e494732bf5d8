/**
 * Conversion of arbitrary JavaScript values (as they arrive in `msg.payload`) into
 * the JSON field values the protocol carries. Pure.
 */
import { type FieldValue, type Fields, setOwn } from './protocol';

export class ValueError extends Error {
  constructor(readonly path: string, what: string) {
    super(`${path}: ${what}`);
  }
}

/** Why a Buffer cannot be sent: fields are JSON values, and nothing else carries bytes. */
export const BINARY = 'is binary data, which a field cannot hold: convert it to text first (e.g. base64)';

/** Deeper values are refused: the receiver refuses them too, and recursion must stay bounded. */
export const MAX_VALUE_DEPTH = 16;

/** Dates become ISO strings, `undefined` properties are dropped; functions, symbols, bigints, cycles and deep nesting are refused. */
export function toFieldValue(v: unknown, path: string, seen: Set<object> = new Set()): FieldValue | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ValueError(path, 'is not a finite number');
    return v;
  }
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new ValueError(path, 'is an invalid date');
    return v.toISOString();
  }
  if (typeof v === 'object') {
    if (seen.has(v)) throw new ValueError(path, 'refers to itself');
    if (seen.size >= MAX_VALUE_DEPTH) throw new ValueError(path, `is nested deeper than ${MAX_VALUE_DEPTH} levels`);
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((item, i) => toFieldValue(item, `${path}[${i}]`, seen) ?? null);
      // Said as what the protocol can carry: text, numbers, booleans, null, lists and objects.
      if (Buffer.isBuffer(v)) throw new ValueError(path, BINARY);
      const out: Record<string, FieldValue> = {};
      for (const [k, item] of Object.entries(v)) {
        const converted = toFieldValue(item, `${path}.${k}`, seen);
        if (converted !== undefined) setOwn(out, k, converted);
      }
      return out;
    } finally {
      seen.delete(v);
    }
  }
  throw new ValueError(path, `has unsupported type ${typeof v}`);
}

export function toFields(v: unknown, path: string): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValueError(path, 'must be an object');
  return toFieldValue(v, path) as Fields;
}

/** Structural equality of two field values (key order does not matter). */
export function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  const ao = a as Record<string, FieldValue>;
  const bo = b as Record<string, FieldValue>;
  const keys = Object.keys(ao);
  if (keys.length !== Object.keys(bo).length) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && sameValue(ao[k], bo[k]));
}
