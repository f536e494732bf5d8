/**
 * Field mapping (the `rps-map` node): builds the target record from the source
 * record, and translates the list of changed fields to target names. Pure.
 */
import type { FieldValue, Fields } from './protocol';

export type Mapping =
  | { type: 'field'; target: string; source: string }
  | { type: 'fixed'; target: string; value: FieldValue }
  | { type: 'value'; target: string; source: string; map: Record<string, FieldValue> };

export interface MappingResult {
  fields: Fields;
  changedFields: string[];
}

/** The name of the source field a mapping reads, if any. */
function sourceOf(m: Mapping): string | undefined {
  return m.type === 'fixed' ? undefined : m.source;
}

function mapValue(m: Mapping, fields: Fields): FieldValue | undefined {
  switch (m.type) {
    case 'fixed':
      return m.value;
    case 'field':
      return fields[m.source];
    case 'value': {
      const v = fields[m.source];
      if (v === undefined) return undefined;
      const key = v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      // A value the map does not list passes through unchanged.
      return Object.prototype.hasOwnProperty.call(m.map, key) ? m.map[key] : v;
    }
  }
}

/**
 * Applies `mappings` in order (a later mapping of the same target wins). A source
 * field that is absent leaves its target absent rather than null, so a partial
 * record never blanks fields on the other side. A fixed value counts as changed
 * only for a new record (`isNew`): it never changes afterwards.
 */
export function applyMappings(
  mappings: readonly Mapping[],
  fields: Fields,
  changedFields: readonly string[],
  keepUnmapped: boolean,
  isNew = false,
): MappingResult {
  const out: Fields = {};
  const changed = new Set<string>();
  const changedIn = new Set(changedFields);
  if (keepUnmapped) {
    const consumed = new Set(mappings.map(sourceOf).filter((s): s is string => s !== undefined));
    for (const [k, v] of Object.entries(fields)) {
      if (consumed.has(k)) continue;
      out[k] = v;
      if (changedIn.has(k)) changed.add(k);
    }
  }
  for (const m of mappings) {
    const v = mapValue(m, fields);
    if (v === undefined) continue;
    out[m.target] = v;
    const source = sourceOf(m);
    if (source === undefined ? isNew : changedIn.has(source)) changed.add(m.target);
  }
  return { fields: out, changedFields: [...changed] };
}

export type MappingRowType = 'field' | 'fixed' | 'value';

/** One row of the editor's mapping table, as stored in the flow JSON. */
export interface MappingRow {
  target: string;
  type: MappingRowType;
  /** field: source field name; fixed: the value as text; value: source field name. */
  value: string;
  /** fixed: how to read `value` (str, num, bool, json). */
  valueType?: string;
  /** value: the value map as a JSON object text. */
  map?: string;
}

export class MappingError extends Error {}

export function parseFixed(row: MappingRow): FieldValue {
  const text = row.value;
  switch (row.valueType ?? 'str') {
    case 'str':
      return text;
    case 'num': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new MappingError(`"${row.target}": "${text}" is not a number`);
      return n;
    }
    case 'bool':
      if (text !== 'true' && text !== 'false') throw new MappingError(`"${row.target}": "${text}" is not true or false`);
      return text === 'true';
    case 'json':
      try {
        return JSON.parse(text) as FieldValue;
      } catch {
        throw new MappingError(`"${row.target}": value is not valid JSON`);
      }
    default:
      throw new MappingError(`"${row.target}": unknown value type "${row.valueType}"`);
  }
}

/** Turns the editor's rows into mappings, refusing a bad row with a message that names it. */
export function compileMappings(rows: readonly MappingRow[]): Mapping[] {
  return rows.map((row, i) => {
    if (!row || typeof row.target !== 'string' || row.target.trim() === '') {
      throw new MappingError(`row ${i + 1}: target field is empty`);
    }
    const target = row.target.trim();
    switch (row.type) {
      case 'field':
        if (!row.value || row.value.trim() === '') throw new MappingError(`"${target}": source field is empty`);
        return { type: 'field', target, source: row.value.trim() };
      case 'fixed':
        return { type: 'fixed', target, value: parseFixed({ ...row, target }) };
      case 'value': {
        if (!row.value || row.value.trim() === '') throw new MappingError(`"${target}": source field is empty`);
        let map: unknown;
        try {
          map = JSON.parse(row.map ?? '{}');
        } catch {
          throw new MappingError(`"${target}": value map is not valid JSON`);
        }
        if (typeof map !== 'object' || map === null || Array.isArray(map)) {
          throw new MappingError(`"${target}": value map must be a JSON object`);
        }
        return { type: 'value', target, source: row.value.trim(), map: map as Record<string, FieldValue> };
      }
      default:
        throw new MappingError(`"${target}": unknown mapping type "${String((row as { type: unknown }).type)}"`);
    }
  });
}
