/**
 * The editor and the runtime agree: resources/rps-rules.js is what src/core makes of it
 * (so the forms get the runtime's lists, defaults, limits, checks and migrations), and no
 * form keeps a copy of a list or number that src/core defines.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { comparable, compileCondition, CONDITION_OPERATORS, isOrdering, OPERATOR_OPERANDS } from '../../src/core/condition';
import { migrateConfig } from '../../src/core/config-migrations';
import { compileMappings, type MappingRow } from '../../src/core/mapping';
import {
  checkRemoteUrl,
  ATTACHMENT_NUMBERS, DELTA_LOAD_NUMBERS,
  INBOUND_NUMBERS,
  numberAccepted,
  type NumberRule,
  type NumberRules,
  QUEUE_RETRY_NUMBERS,
  REMOTE_SYSTEM_NUMBERS,
  ruledNumber,
  STORE_NUMBERS,
} from '../../src/core/settings';
import { EDITOR_CONSTANTS, editorRulesScript, RULES_FILE } from '../../scripts/editor-rules';

const ROOT = resolve(__dirname, '..', '..', '..');
const NODES_DIR = join(ROOT, 'nodes');
const EDITOR_FILE = join(ROOT, 'resources', 'rps-editor.js');

/** Each node's number settings, by the node type whose form shows them, and the table's name in RpsRules. */
const NUMBER_TABLES: readonly [type: string, table: keyof typeof EDITOR_CONSTANTS, rules: NumberRules][] = [
  ['rps-remote-system', 'REMOTE_SYSTEM_NUMBERS', REMOTE_SYSTEM_NUMBERS],
  ['rps-store', 'STORE_NUMBERS', STORE_NUMBERS],
  ['rps-inbound', 'INBOUND_NUMBERS', INBOUND_NUMBERS],
  ['rps-queue-retry', 'QUEUE_RETRY_NUMBERS', QUEUE_RETRY_NUMBERS],
  ['rps-delta-load', 'DELTA_LOAD_NUMBERS', DELTA_LOAD_NUMBERS],
  ['rps-attachment-sync', 'ATTACHMENT_NUMBERS', ATTACHMENT_NUMBERS],
];

interface EditorRules {
  compileMappings(rows: unknown[]): unknown;
  checkRemoteUrl(text: string): URL | undefined;
  numberAccepted(rule: NumberRule, value: unknown): boolean;
  migrate(type: string, node: Record<string, unknown>): Record<string, unknown>;
  comparable(text: string): boolean;
  isOrdering(op: string): boolean;
  [constant: string]: unknown;
}

/** Runs the generated script as the editor does, and returns what it defines. */
function loadRules(): EditorRules {
  const window: { RpsRules?: EditorRules } = {};
  runInNewContext(readFileSync(RULES_FILE, 'utf8'), { window, URL });
  assert.ok(window.RpsRules, 'rps-rules.js defines window.RpsRules');
  return window.RpsRules;
}

/** A `defaults` entry of a form, as RpsEditor.numberSettings makes it. */
interface DefaultsEntry {
  value: unknown;
  validate(v: unknown): boolean;
}

interface Editor {
  numberSettings(table: unknown): Record<string, DefaultsEntry>;
}

/**
 * Runs resources/rps-editor.js after the generated rules, as a form page does (with just
 * enough of a document for its stylesheet link), and returns RpsEditor.
 */
function loadEditor(): Editor {
  const element = { appendChild: (): void => undefined };
  const document = { currentScript: null, head: element, getElementById: (): null => null, createElement: (): object => ({}) };
  const window: { RpsRules?: EditorRules; RpsEditor?: Editor } = {};
  const context = { window, document, URL };
  runInNewContext(readFileSync(RULES_FILE, 'utf8'), context);
  runInNewContext(readFileSync(EDITOR_FILE, 'utf8'), context);
  assert.ok(window.RpsEditor, 'rps-editor.js defines window.RpsEditor');
  return window.RpsEditor;
}

/** Values a person may type (or an old flow may hold) for a number setting with `rule`. */
function samples(rule: NumberRule): unknown[] {
  const near = [rule.value, rule.min, rule.min + 0.5, rule.min - 0.01, rule.min - 1, rule.value + 0.25, ...(rule.max === undefined ? [] : [rule.max, rule.max + 1])];
  return [...near, ...near.map((n) => ` ${n} `), '', '  ', undefined, null, 'abc', '1e3', 'Infinity', '0x10', 0, -5, 1.5, 2];
}

/** A value of either realm (the script runs in a context of its own) as plain JSON data. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function outcome(run: () => unknown): unknown {
  try {
    return plain(run());
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

describe('editor rules (resources/rps-rules.js)', () => {
  it('is what src/core produces (npm run build writes it)', () => {
    assert.equal(readFileSync(RULES_FILE, 'utf8'), editorRulesScript(), 'resources/rps-rules.js is stale: run npm run build');
  });

  it('holds the runtime constants', () => {
    const rules = loadRules();
    for (const [name, value] of Object.entries(EDITOR_CONSTANTS)) assert.deepEqual(plain(rules[name]), plain(value), name);
  });

  it('checks mapping rows, URLs and migrates old nodes as the runtime does', () => {
    const rules = loadRules();
    const rows: unknown[] = [
      { target: 'a', type: 'field', value: ' number ' },
      { target: 'b', type: 'fixed', value: '12', valueType: 'num' },
      { target: 'b', type: 'fixed', value: 'x', valueType: 'num' },
      { target: 'c', type: 'fixed', value: 'maybe', valueType: 'bool' },
      { target: 'd', type: 'fixed', value: '{', valueType: 'json' },
      { target: 'e', type: 'value', value: 'state', map: '{"1":"new"}' },
      { target: 'e', type: 'value', value: 'state', map: '[1]' },
      { target: 'e', type: 'value', value: 'state', map: '{"1":"new"}', default: '0', defaultType: 'num', onInsert: true },
      { target: 'e', type: 'value', value: 'state', map: '{}', default: 'zero', defaultType: 'num' },
      { target: 'g', type: 'display', value: 'assigned_to', onInsert: false },
      { target: 'g', type: 'display', value: '' },
      { target: 'h', type: 'jsonata', value: 'first & " " & last', onInsert: true },
      { target: 'h', type: 'jsonata', value: '  ' },
      { target: ' ', type: 'field', value: 'x' },
      { target: 'f', type: 'other', value: 'x' },
      null,
    ];
    for (const row of rows) {
      assert.deepEqual(outcome(() => rules.compileMappings([row])), outcome(() => compileMappings([row as MappingRow])), JSON.stringify(row));
    }
    for (const url of ['https://b.example.com/x', 'http://127.0.0.1:1880', 'ftp://x', 'not a url', 'http://u:p@b.example.com', '']) {
      assert.equal(rules.checkRemoteUrl(url)?.href, checkRemoteUrl(url)?.href, url);
    }
    for (const node of [{}, { activation: 'validate', jwtAlgorithms: '' }, { authType: 'basic' }]) {
      assert.deepEqual(plain(rules.migrate('rps-remote-system', { ...node })), migrateConfig('rps-remote-system', node));
    }
  });

  it('checks the values of ordering conditions as the runtime does', () => {
    const rules = loadRules();
    const values = ['5', ' 5 ', '-1.5', '1e3', '', ' ', 'abc', '2026-12-07', '2026-12-07T10:00', '2026-12-07 10:00:00Z', '2026-12-07T10:00:00.123+01:00', '2026-13-45', '07/12/2026', 'Infinity', '0x10'];
    for (const value of values) assert.equal(rules.comparable(value), comparable(value), JSON.stringify(value));
    for (const op of CONDITION_OPERATORS) {
      assert.equal(rules.isOrdering(op), isOrdering(op), op);
      // What the editor marks red is what the runtime refuses: an ordering rule whose values do not compare.
      const rule = { field: 'f', op, value: 'abc', value2: 'abc', values: ['abc'] };
      const refused = typeof outcome(() => compileCondition([{ rules: [rule] }])) === 'string';
      assert.equal(refused, rules.isOrdering(op), `${op} (${OPERATOR_OPERANDS[op]}) with "abc"`);
    }
  });

  it('no form hard-codes a list or number that src/core defines', () => {
    const lists = Object.entries(EDITOR_CONSTANTS as Record<string, unknown>).filter((entry): entry is [string, readonly string[]] => Array.isArray(entry[1]));
    for (const file of readdirSync(NODES_DIR).filter((f) => f.endsWith('.html'))) {
      const html = readFileSync(join(NODES_DIR, file), 'utf8');
      for (const [name, list] of lists) {
        for (let i = 1; i < list.length; i++) {
          const pair = new RegExp(`['"]${list[i - 1]}['"]\\s*,\\s*['"]${list[i]}['"]`);
          assert.doesNotMatch(html, pair, `${file} copies ${name}`);
        }
      }
      assert.doesNotMatch(html, new RegExp(`['"]${EDITOR_CONSTANTS.DEFAULT_JWT_ALGORITHMS}['"]`), `${file} copies DEFAULT_JWT_ALGORITHMS`);
    }
    for (const [type, table, numbers] of NUMBER_TABLES) {
      const form = readFileSync(join(NODES_DIR, `${type}.html`), 'utf8');
      assert.match(form, new RegExp(`\\bnumbers = RpsEditor\\.numberSettings\\((RpsRules|rules)\\.${table}\\)`), `${type}.html reads ${table}`);
      for (const name of Object.keys(numbers)) {
        assert.match(form, new RegExp(`\\b${name}: numbers\\.${name}\\b`), `${type}.html takes ${name} from ${table}`);
      }
    }
    for (const file of readdirSync(NODES_DIR).filter((f) => f.endsWith('.html'))) {
      const html = readFileSync(join(NODES_DIR, file), 'utf8');
      assert.doesNotMatch(html, /\b\w+: \{ value: -?[0-9.]+\b/, `${file} keeps a number default of its own`);
    }
  });

  it('number settings: what a form accepts is what the runtime takes as it is, and an empty one is the default on both sides', () => {
    const rules = loadRules();
    const editor = loadEditor();
    for (const [type, table, numbers] of NUMBER_TABLES) {
      const entries = editor.numberSettings(rules[table]);
      assert.deepEqual(Object.keys(entries), Object.keys(numbers), `${type}: one defaults entry per number setting`);
      for (const [name, rule] of Object.entries<NumberRule>(numbers)) {
        const entry = entries[name];
        const where = `${type}.${name}`;
        assert.equal(entry.value, rule.value, `${where}: the form's default is the runtime's`);
        assert.equal(ruledNumber(rule, ''), rule.value, `${where}: the runtime reads an empty setting as the default`);
        assert.ok(entry.validate(entry.value), `${where}: the default passes the form's check`);
        for (const v of samples(rule)) {
          const accepted = entry.validate(v);
          const what = `${where} = ${JSON.stringify(v)}`;
          assert.equal(accepted, numberAccepted(rule, v), `${what}: the form checks by the runtime's rule`);
          const empty = String(v ?? '').trim() === '';
          if (accepted) assert.equal(ruledNumber(rule, v), empty ? rule.value : Number(String(v).trim()), `${what}: accepted, and taken as it is`);
          else assert.notEqual(ruledNumber(rule, v), Number(String(v).trim()), `${what}: refused by the form, and not taken as it is by the runtime`);
        }
      }
    }
  });
});
