/**
 * The editor and the runtime agree: resources/rps-rules.js is what src/core makes of it
 * (so the forms get the runtime's lists, defaults, limits, checks and migrations), and no
 * form keeps a copy of a list or number that src/core defines.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { migrateConfig } from '../../src/core/config-migrations';
import { compileMappings, type MappingRow } from '../../src/core/mapping';
import { checkRemoteUrl, REMOTE_SYSTEM_NUMBERS } from '../../src/core/settings';
import { EDITOR_CONSTANTS, editorRulesScript, RULES_FILE } from '../../scripts/editor-rules';

const NODES_DIR = join(resolve(__dirname, '..', '..', '..'), 'nodes');

interface EditorRules {
  compileMappings(rows: unknown[]): unknown;
  checkRemoteUrl(text: string): URL | undefined;
  migrate(type: string, node: Record<string, unknown>): Record<string, unknown>;
  [constant: string]: unknown;
}

/** Runs the generated script as the editor does, and returns what it defines. */
function loadRules(): EditorRules {
  const window: { RpsRules?: EditorRules } = {};
  runInNewContext(readFileSync(RULES_FILE, 'utf8'), { window, URL });
  assert.ok(window.RpsRules, 'rps-rules.js defines window.RpsRules');
  return window.RpsRules;
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
    const form = readFileSync(join(NODES_DIR, 'rps-remote-system.html'), 'utf8');
    for (const name of Object.keys(REMOTE_SYSTEM_NUMBERS)) {
      assert.match(form, new RegExp(`\\b${name}: numberSetting\\('${name}'\\)`), `rps-remote-system.html takes ${name} from REMOTE_SYSTEM_NUMBERS`);
    }
  });
});
