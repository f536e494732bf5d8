/**
 * The capture condition (rps-capture's condition builder): groups of rules, a group
 * holds when all its rules hold, the condition when any group holds (or when it has
 * no groups). Evaluated against the record after the change and, for the "changes…"
 * operators, the record before it. Pure.
 *
 * Type rules (the help text of rps-capture says the same):
 * - A field has no value when it is missing, null or the empty string "".
 * - is / is not / is one of: exact text comparison, case-sensitive, of the field's text
 *   (a number as JavaScript writes it, true/false for booleans, objects and lists as
 *   JSON); except that a number field, or a rule value and a field that both read as
 *   numbers, compare as numbers ("2" is 2.0). A field without a value is never equal
 *   to anything ("is not" holds for it).
 * - contains / does not contain / starts with / ends with: on the field's text, not
 *   case-sensitive. A field without a value contains nothing.
 * - < <= > >= between (both ends included): as numbers when the field and the rule
 *   value(s) all read as numbers (a number, or a string of one); as instants when they
 *   are all ISO 8601 dates or date-times (2026-12-07, 2026-12-07T10:00:00Z); otherwise
 *   the rule does not hold. A field without a value never compares.
 * - changes: the field's value differs from its value before the change (structural
 *   equality; missing and null are the same "no value"). changes to X: it changes and
 *   now "is X". changes from X: it changes and was "X" before. With nothing known
 *   before (an insert, or a record this capture never saw) every field was without a
 *   value. A delete changes no field.
 */
import type { FieldValue, Fields } from './protocol';
import { sameValue } from './values';

export const CONDITION_OPERATORS = [
  'is',
  'isNot',
  'isEmpty',
  'isNotEmpty',
  'contains',
  'notContains',
  'startsWith',
  'endsWith',
  'in',
  'lt',
  'lte',
  'gt',
  'gte',
  'between',
  'changes',
  'changesTo',
  'changesFrom',
] as const;

export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** What each operator reads besides the field: nothing, one value, two (between), a list (is one of). */
export const OPERATOR_OPERANDS: Readonly<Record<ConditionOperator, 'none' | 'one' | 'two' | 'list'>> = Object.freeze({
  is: 'one',
  isNot: 'one',
  isEmpty: 'none',
  isNotEmpty: 'none',
  contains: 'one',
  notContains: 'one',
  startsWith: 'one',
  endsWith: 'one',
  in: 'list',
  lt: 'one',
  lte: 'one',
  gt: 'one',
  gte: 'one',
  between: 'two',
  changes: 'none',
  changesTo: 'one',
  changesFrom: 'one',
});

/** One row of the builder, as stored in the flow JSON. */
export interface ConditionRule {
  field: string;
  op: ConditionOperator;
  /** The operand of one-value operators; the lower end of `between`. */
  value?: string;
  /** The upper end of `between`. */
  value2?: string;
  /** The list of `in` (is one of). */
  values?: string[];
}

/** Rules joined by AND. */
export interface ConditionGroup {
  rules: ConditionRule[];
}

/** Groups joined by OR; no groups: always holds. */
export type Condition = readonly ConditionGroup[];

export class ConditionError extends Error {}

const CHANGE_OPERATORS: ReadonlySet<ConditionOperator> = new Set(['changes', 'changesTo', 'changesFrom']);

/** True when some rule compares with the record before the change (the capture must know it). */
export function needsPrevious(condition: Condition): boolean {
  return condition.some((g) => g.rules.some((r) => CHANGE_OPERATORS.has(r.op)));
}

/** The fields that "changes…" rules compare with their value before the change: what a capture must keep of a record. */
export function changeFields(condition: Condition): string[] {
  return [...new Set(condition.flatMap((g) => g.rules.filter((r) => CHANGE_OPERATORS.has(r.op)).map((r) => r.field)))];
}

/** The fields a condition reads, in order of first mention. */
export function conditionFields(condition: Condition): string[] {
  return [...new Set(condition.flatMap((g) => g.rules.map((r) => r.field)))];
}

/**
 * Checks the groups saved by the editor and returns them trimmed; refuses a bad rule
 * with a message that names it (group and row, counted from 1). An empty group is
 * dropped: it would otherwise hold for every change.
 */
export function compileCondition(raw: unknown): ConditionGroup[] {
  if (raw === undefined || raw === null || raw === '') return [];
  if (!Array.isArray(raw)) throw new ConditionError('conditions must be a list of groups');
  const groups: ConditionGroup[] = [];
  raw.forEach((g: unknown, gi) => {
    const rules = typeof g === 'object' && g !== null ? (g as { rules?: unknown }).rules : undefined;
    if (!Array.isArray(rules)) throw new ConditionError(`group ${gi + 1}: no rules`);
    const out: ConditionRule[] = rules.map((r: unknown, ri) => compileRule(r, `group ${gi + 1}, row ${ri + 1}`));
    if (out.length > 0) groups.push({ rules: out });
  });
  return groups;
}

function compileRule(raw: unknown, where: string): ConditionRule {
  if (typeof raw !== 'object' || raw === null) throw new ConditionError(`${where}: not a rule`);
  const r = raw as Record<string, unknown>;
  const field = typeof r.field === 'string' ? r.field.trim() : '';
  if (field === '') throw new ConditionError(`${where}: no field`);
  const op = r.op;
  if (typeof op !== 'string' || !(CONDITION_OPERATORS as readonly string[]).includes(op)) {
    throw new ConditionError(`${where}: unknown operator "${String(op)}"`);
  }
  const rule: ConditionRule = { field, op: op as ConditionOperator };
  const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  switch (OPERATOR_OPERANDS[rule.op]) {
    case 'none':
      break;
    case 'one':
      rule.value = text(r.value);
      if (isOrdering(rule.op) && !comparable(rule.value)) throw new ConditionError(`${where}: "${rule.value}" is neither a number nor an ISO date`);
      break;
    case 'two':
      rule.value = text(r.value);
      rule.value2 = text(r.value2);
      if (!comparable(rule.value) || !comparable(rule.value2)) throw new ConditionError(`${where}: between needs two numbers or two ISO dates`);
      break;
    case 'list':
      if (!Array.isArray(r.values) || r.values.length === 0) throw new ConditionError(`${where}: is one of needs at least one value`);
      rule.values = r.values.map(text);
      break;
  }
  return rule;
}

/**
 * Whether `op` compares in order (< <= > >= between): its values must be numbers or ISO
 * dates (`comparable`). The editor's form runs it too (resources/rps-rules.js).
 */
export function isOrdering(op: string): boolean {
  return op === 'lt' || op === 'lte' || op === 'gt' || op === 'gte' || op === 'between';
}

/** A field value as text, for the text operators; undefined when it has no value. */
function textOf(v: FieldValue | undefined): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function hasValue(v: FieldValue | undefined): boolean {
  return textOf(v) !== undefined;
}

/** A number read from a field value or a rule value: a number, or a string that is one (not blank). */
export function numberOf(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** An instant read from an ISO 8601 date or date-time (no time zone: read as UTC). */
export function instantOf(v: FieldValue | undefined): number | undefined {
  // 2026-12-07, 2026-12-07T10:00, 2026-12-07T10:00:00.123+01:00. Written in the body,
  // not as a module constant: the editor's script carries this function's text alone.
  const isoDate = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
  if (typeof v !== 'string' || !isoDate.test(v)) return undefined;
  const zoned = /T|\s/.test(v) && !/(?:Z|[+-]\d{2}:?\d{2})$/.test(v) ? `${v.replace(' ', 'T')}Z` : v.replace(' ', 'T');
  const t = Date.parse(zoned);
  return Number.isFinite(t) ? t : undefined;
}

/** A value that < <= > >= between can compare with: a number or an ISO date (the editor's form checks with it too). */
export function comparable(text: string): boolean {
  return numberOf(text) !== undefined || instantOf(text) !== undefined;
}

/** Field and rule values as numbers, else as instants, else undefined (the rule does not hold). */
function ordered(field: FieldValue | undefined, operands: readonly string[]): { field: number; operands: number[] } | undefined {
  for (const read of [numberOf, instantOf]) {
    const f = read(field);
    const ops = operands.map((o) => read(o));
    if (f !== undefined && ops.every((o): o is number => o !== undefined)) return { field: f, operands: ops };
  }
  return undefined;
}

/** "is": see the type rules above. */
function equals(field: FieldValue | undefined, value: string): boolean {
  if (!hasValue(field)) return false;
  const asNumber = numberOf(field);
  const wanted = numberOf(value);
  if (asNumber !== undefined && wanted !== undefined && (typeof field === 'number' || typeof field === 'string')) return asNumber === wanted;
  return textOf(field) === value;
}

function noValueAsUndefined(v: FieldValue | undefined): FieldValue | undefined {
  return v === null ? undefined : v;
}

/** The record before and after the change, as the rules see it. */
export interface ConditionInput {
  record: Fields;
  /** The record before the change; undefined when nothing is known (every field was without a value). */
  previous?: Fields;
  /** A delete changes no field. */
  isDelete: boolean;
}

function changed(rule: ConditionRule, input: ConditionInput): boolean {
  if (input.isDelete) return false;
  const now = noValueAsUndefined(input.record[rule.field]);
  const before = noValueAsUndefined(input.previous?.[rule.field]);
  return !sameValue(now, before);
}

export function ruleHolds(rule: ConditionRule, input: ConditionInput): boolean {
  const v = input.record[rule.field];
  const value = rule.value ?? '';
  const lower = (s: string | undefined): string | undefined => s?.toLowerCase();
  switch (rule.op) {
    case 'is':
      return equals(v, value);
    case 'isNot':
      return !equals(v, value);
    case 'isEmpty':
      return !hasValue(v);
    case 'isNotEmpty':
      return hasValue(v);
    case 'contains':
      return lower(textOf(v))?.includes(value.toLowerCase()) ?? false;
    case 'notContains':
      return !(lower(textOf(v))?.includes(value.toLowerCase()) ?? false);
    case 'startsWith':
      return lower(textOf(v))?.startsWith(value.toLowerCase()) ?? false;
    case 'endsWith':
      return lower(textOf(v))?.endsWith(value.toLowerCase()) ?? false;
    case 'in':
      return (rule.values ?? []).some((x) => equals(v, x));
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      if (!hasValue(v)) return false;
      const o = ordered(v, [value]);
      if (!o) return false;
      const [x] = o.operands;
      return rule.op === 'lt' ? o.field < x : rule.op === 'lte' ? o.field <= x : rule.op === 'gt' ? o.field > x : o.field >= x;
    }
    case 'between': {
      if (!hasValue(v)) return false;
      const o = ordered(v, [value, rule.value2 ?? '']);
      if (!o) return false;
      const [low, high] = o.operands;
      return o.field >= low && o.field <= high;
    }
    case 'changes':
      return changed(rule, input);
    case 'changesTo':
      return changed(rule, input) && equals(v, value);
    case 'changesFrom':
      return changed(rule, input) && equals(input.previous?.[rule.field], value);
  }
}

/** True when the change must be sent: no groups, or some group whose every rule holds. */
export function conditionHolds(condition: Condition, input: ConditionInput): boolean {
  if (condition.length === 0) return true;
  return condition.some((g) => g.rules.every((r) => ruleHolds(r, input)));
}
