/**
 * Field mapping (the `rps-map` node): builds the target record from the source
 * record, and translates the list of changed fields to target names. Pure: a JSONata
 * row's expression is compiled and evaluated by a function the caller gives
 * (`ExpressionCompiler`), so this file knows no JSONata engine and no Node-RED.
 */
import { type FieldValue, type Fields, setOwn } from './protocol';
import { toFieldValue, ValueError } from './values';

/** What a JSONata row's expression sees. */
export interface ExpressionScope {
  /** `$`: the source record (msg.payload before mapping). */
  record: Fields;
  /** `$previous`: the record before the change (msg.previous), when the message has one. */
  previous: Fields | undefined;
  /** `$rps`: msg.rps as it arrived. */
  rps: unknown;
}

/** Evaluates one row's expression in a scope; resolves with its raw result, which applyMappings checks. */
export type Evaluator = (scope: ExpressionScope) => Promise<unknown>;

/** Compiles a row's expression once, at deploy; throws when its syntax is wrong. */
export type ExpressionCompiler = (expression: string) => Evaluator;

interface RowCommon {
  target: string;
  /** The row's position in the list, from 1, to name it in errors. */
  row: number;
  /** Applies only when the record is new (see `MappingInput.isNew`). */
  onInsert: boolean;
}

export type Mapping = RowCommon &
  (
    | { type: 'field'; source: string }
    | { type: 'display'; source: string }
    | { type: 'fixed'; value: FieldValue }
    | { type: 'value'; source: string; map: Record<string, FieldValue>; default?: FieldValue }
    | { type: 'jsonata'; expression: string; evaluate: Evaluator }
  );

/** One message, as applyMappings reads it. */
export interface MappingInput {
  /** The source record. */
  fields: Fields;
  /** The source fields that changed. */
  changedFields: readonly string[];
  /** The record is new (an insert, or a message that does not say). */
  isNew: boolean;
  /** msg.rps.displayValues: the display text of fields, by field name. */
  displayValues?: Readonly<Record<string, unknown>>;
  /** For JSONata rows: `$previous` and `$rps`. */
  previous?: Fields;
  rps?: unknown;
}

export interface MappingResult {
  fields: Fields;
  changedFields: string[];
  /** The display values under the target names (see applyMappings); absent when none are left. */
  displayValues?: Record<string, string>;
}

/**
 * A row that failed on one message: its expression failed (`evaluation`), or gave what
 * is not a field value (`result`). The message is not mapped.
 */
export class MappingRunError extends Error {
  constructor(
    readonly target: string,
    readonly row: number,
    readonly reason: 'evaluation' | 'result',
    readonly detail: string,
  ) {
    super(`row ${row} ("${target}"): ${reason === 'evaluation' ? 'expression failed' : 'expression result'}: ${detail}`);
  }
}

function own<T>(obj: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return obj !== undefined && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/**
 * The source field whose value a row copies: field and value-map rows. With "keep
 * unmapped fields", such a field appears only under its target name. A display row reads
 * msg.rps.displayValues, not the field, and an expression may read any field: neither
 * takes a field away.
 */
function consumedSource(m: Mapping): string | undefined {
  return m.type === 'field' || m.type === 'value' ? m.source : undefined;
}

/**
 * Whether a target that a row set counts as changed:
 * - a row that applies only to a new record: always (it applies only then);
 * - a fixed value: only for a new record, as it never changes afterwards;
 * - an expression: always, because it may read any field, `$previous` and `$rps`, and
 *   we cannot tell which; listing it costs at most a field written again with the same
 *   value, while leaving it out could lose a real change on the other side;
 * - field, display value and value map: when their source field changed.
 */
function countsAsChanged(m: Mapping, changedIn: ReadonlySet<string>, isNew: boolean): boolean {
  if (m.onInsert) return true;
  switch (m.type) {
    case 'fixed':
      return isNew;
    case 'jsonata':
      return true;
    default:
      return changedIn.has(m.source);
  }
}

/** The text a value map looks a value up by: `null` as "null", objects as JSON. */
function mapKey(v: FieldValue): string {
  return v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function plainValue(m: Exclude<Mapping, { type: 'jsonata' }>, input: MappingInput): FieldValue | undefined {
  switch (m.type) {
    case 'fixed':
      return m.value;
    case 'field':
      return own(input.fields, m.source);
    case 'display': {
      // Display values are text; anything else is treated as not there.
      const v = own(input.displayValues, m.source);
      return typeof v === 'string' ? v : undefined;
    }
    case 'value': {
      const v = own(input.fields, m.source);
      if (v === undefined) return undefined;
      const key = mapKey(v);
      if (Object.prototype.hasOwnProperty.call(m.map, key)) return m.map[key];
      // A value the map does not list becomes the default, or passes through unchanged without one.
      return m.default !== undefined ? m.default : v;
    }
  }
}

/** A JSONata function (a lambda or a built-in such as `$string`) as a result: an object of the engine's, not data. */
function isExpressionFunction(v: unknown): boolean {
  return typeof v === 'object' && v !== null && ('_jsonata_lambda' in v || '_jsonata_function' in v);
}

async function expressionValue(m: Extract<Mapping, { type: 'jsonata' }>, input: MappingInput): Promise<FieldValue | undefined> {
  let result: unknown;
  try {
    result = await m.evaluate({ record: input.fields, previous: input.previous, rps: input.rps });
  } catch (err) {
    throw new MappingRunError(m.target, m.row, 'evaluation', errorMessage(err));
  }
  try {
    if (isExpressionFunction(result)) throw new ValueError('result', 'is a function');
    // Copies the result: it may be (part of) the source record, which stays as it is.
    return toFieldValue(result, 'result');
  } catch (err) {
    if (err instanceof ValueError) throw new MappingRunError(m.target, m.row, 'result', err.message);
    throw err;
  }
}

/**
 * Applies `mappings` in order (a later mapping of the same target wins). A source
 * field (or display value, or expression result) that is absent leaves its target
 * absent rather than null, so a partial record never blanks fields on the other side.
 * A row marked `onInsert` applies only to a new record. Which targets count as
 * changed: see countsAsChanged. Rejects with a MappingRunError when an expression
 * fails or gives what is not a field value.
 */
export async function applyMappings(mappings: readonly Mapping[], input: MappingInput, keepUnmapped: boolean): Promise<MappingResult> {
  const out: Fields = {};
  const changed = new Set<string>();
  const changedIn = new Set(input.changedFields);
  // A display value follows its field's value: kept with an unmapped field, renamed with
  // a field copied to another name, so the payload and msg.rps.displayValues keep using
  // the same names (a value map or an expression makes a new value: its text is unknown).
  const display: Record<string, string> = {};
  const displayOf = (field: string): string | undefined => {
    const text = own(input.displayValues, field);
    return typeof text === 'string' ? text : undefined;
  };
  if (keepUnmapped) {
    const consumed = new Set(mappings.map(consumedSource).filter((s): s is string => s !== undefined));
    for (const [k, v] of Object.entries(input.fields)) {
      if (consumed.has(k)) continue;
      setOwn(out, k, v);
      if (changedIn.has(k)) changed.add(k);
      const text = displayOf(k);
      if (text !== undefined) setOwn(display, k, text);
    }
  }
  for (const m of mappings) {
    if (m.onInsert && !input.isNew) continue;
    const v = m.type === 'jsonata' ? await expressionValue(m, input) : plainValue(m, input);
    if (v === undefined) continue;
    setOwn(out, m.target, v);
    if (countsAsChanged(m, changedIn, input.isNew)) changed.add(m.target);
    const text = m.type === 'field' ? displayOf(m.source) : undefined;
    if (text !== undefined) setOwn(display, m.target, text);
    else delete display[m.target];
  }
  const result: MappingResult = { fields: out, changedFields: [...changed] };
  if (Object.keys(display).length > 0) result.displayValues = display;
  return result;
}

/** Whether any row has an expression (only those read `$previous` and `$rps`). */
export function hasExpressions(mappings: readonly Mapping[]): boolean {
  return mappings.some((m) => m.type === 'jsonata');
}

export type MappingRowType = 'field' | 'display' | 'fixed' | 'value' | 'jsonata';

/**
 * One row of the editor's mapping table, as stored in the flow JSON. Rows saved before
 * display values, expressions, defaults and `onInsert` have none of the new properties,
 * and their absence means what those rows always did.
 */
export interface MappingRow {
  target: string;
  type: MappingRowType;
  /** field, display, value: the source field's name; fixed: the value as text; jsonata: the expression. */
  value: string;
  /** fixed: how to read `value` (str, num, bool, json). */
  valueType?: string;
  /** value: the value map as a JSON object text. */
  map?: string;
  /** value: what a value the map does not list becomes, as text read by `defaultType`; absent: it passes unchanged. */
  default?: string;
  /** value: how to read `default` (str, num, bool, json). */
  defaultType?: string;
  /** Apply only when the record is new. */
  onInsert?: boolean;
}

export class MappingError extends Error {}

/** The message of what an expression engine threw: JSONata throws plain objects with a message at run time. */
export function errorMessage(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(err);
}

/** Reads a value typed in the form (`text` as `valueType`); `what` names it in the error ('' for the row's value). */
export function parseFixed(target: string, text: string, valueType: string | undefined, what: string): FieldValue {
  const name = what === '' ? '' : `${what} `;
  switch (valueType ?? 'str') {
    case 'str':
      return text;
    case 'num': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new MappingError(`"${target}": ${name}"${text}" is not a number`);
      return n;
    }
    case 'bool':
      if (text !== 'true' && text !== 'false') throw new MappingError(`"${target}": ${name}"${text}" is not true or false`);
      return text === 'true';
    case 'json':
      try {
        return JSON.parse(text) as FieldValue;
      } catch {
        throw new MappingError(`"${target}": ${name === '' ? 'value ' : name}is not valid JSON`);
      }
    default:
      throw new MappingError(`"${target}": unknown ${name}value type "${valueType}"`);
  }
}

/**
 * Turns the editor's rows into mappings, refusing a bad row with a message that names
 * it. `compile` compiles a JSONata row's expression (and throws on bad syntax); without
 * it (the editor checks syntax itself), an expression is only checked for being there.
 */
export function compileMappings(rows: readonly MappingRow[], compile?: ExpressionCompiler): Mapping[] {
  return rows.map((row, i): Mapping => {
    if (!row || typeof row.target !== 'string' || row.target.trim() === '') {
      throw new MappingError(`row ${i + 1}: target field is empty`);
    }
    const target = row.target.trim();
    const common = { target, row: i + 1, onInsert: row.onInsert === true };
    const source = (): string => {
      if (!row.value || row.value.trim() === '') throw new MappingError(`"${target}": source field is empty`);
      return row.value.trim();
    };
    switch (row.type) {
      case 'field':
        return { ...common, type: 'field', source: source() };
      case 'display':
        return { ...common, type: 'display', source: source() };
      case 'fixed':
        return { ...common, type: 'fixed', value: parseFixed(target, row.value, row.valueType, '') };
      case 'value': {
        const from = source();
        let map: unknown;
        try {
          map = JSON.parse(row.map ?? '{}');
        } catch {
          throw new MappingError(`"${target}": value map is not valid JSON`);
        }
        if (typeof map !== 'object' || map === null || Array.isArray(map)) {
          throw new MappingError(`"${target}": value map must be a JSON object`);
        }
        const mapping: Mapping = { ...common, type: 'value', source: from, map: map as Record<string, FieldValue> };
        if (row.default !== undefined && row.default !== null) mapping.default = parseFixed(target, String(row.default), row.defaultType, 'default');
        return mapping;
      }
      case 'jsonata': {
        const expression = typeof row.value === 'string' ? row.value : '';
        if (expression.trim() === '') throw new MappingError(`"${target}": JSONata expression is empty`);
        let evaluate: Evaluator;
        try {
          evaluate = compile ? compile(expression) : () => Promise.reject(new MappingError('no JSONata engine'));
        } catch (err) {
          throw new MappingError(`"${target}": JSONata expression is invalid: ${errorMessage(err)}`);
        }
        return { ...common, type: 'jsonata', expression, evaluate };
      }
      default:
        throw new MappingError(`"${target}": unknown mapping type "${String((row as { type: unknown }).type)}"`);
    }
  });
}
