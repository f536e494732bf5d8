/**
 * What Node-RED and its flow library need from the package: the declared nodes exist
 * with editor, help and messages; every key the runtime uses is translated; the
 * shipped examples are current and use every node.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXAMPLES, EXAMPLES_DIR, exampleText } from '../scripts/examples';
import { MODULE } from '../src/nodes/common';
import { PROJECT_ROOT } from '../tools/nodered';

interface Pkg {
  name: string;
  keywords: string[];
  license: string;
  engines: { node: string };
  scripts: Record<string, string>;
  'node-red': { version: string; nodes: Record<string, string>; plugins?: Record<string, string> };
}

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as Pkg;
const types = Object.keys(pkg['node-red'].nodes);
const CONFIG_TYPES = ['rps-store', 'rps-process-event', 'rps-remote-system'];

function catalog(type: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<string, unknown>;
}

function has(obj: Record<string, unknown>, dotted: string): boolean {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (typeof cur !== 'object' || cur === null || !(part in cur)) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string';
}

describe('package', () => {
  it('declares what the Node-RED scorecard checks', () => {
    assert.equal(pkg.name, MODULE);
    assert.match(pkg.name, /^@[^/]+\//, 'scoped name');
    assert.ok(pkg.keywords.includes('node-red'));
    assert.ok(pkg.license);
    assert.equal(pkg.engines.node, '>=20');
    // Node-RED 4.1 (Node.js 20) and 5 (Node.js 22.9+) are what CI runs: 4.1 by `npm test`, 5 by `npm run test:node-red-5`.
    assert.equal(pkg['node-red'].version, '>=4.1.0');
  });

  for (const type of types) {
    it(`${type}: entry point, editor, help and messages exist`, () => {
      assert.equal(pkg['node-red'].nodes[type], `nodes/${type}.js`);
      for (const file of [`nodes/${type}.js`, `nodes/${type}.html`, `nodes/locales/en-US/${type}.json`, `nodes/locales/en-US/${type}.html`]) {
        assert.ok(existsSync(join(PROJECT_ROOT, file)), `${file} exists`);
      }
      const help = readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', `${type}.html`), 'utf8');
      assert.match(help, new RegExp(`data-help-name="${type}"`));
      const editor = readFileSync(join(PROJECT_ROOT, 'nodes', `${type}.html`), 'utf8');
      assert.match(editor, new RegExp(`registerType\\(\\s*['"]${type}['"]`));
      assert.match(editor, new RegExp(`data-template-name="${type}"`));
    });
  }

  it('declares the rps-monitor plugin, with its editor part, its page and every text its view and API use', () => {
    assert.deepEqual(pkg['node-red'].plugins, { 'rps-monitor': 'nodes/rps-monitor.js' });
    for (const file of ['nodes/rps-monitor.js', 'nodes/rps-monitor.html', 'nodes/locales/en-US/rps-monitor.json', 'resources/rps-monitor-view.js', 'resources/rps-monitor-page.html', 'resources/rps-monitor-page.js', 'resources/rps-monitor.css']) {
      assert.ok(existsSync(join(PROJECT_ROOT, file)), `${file} exists`);
    }
    assert.match(readFileSync(join(PROJECT_ROOT, 'nodes', 'rps-monitor.html'), 'utf8'), /RED\.plugins\.registerPlugin\(\s*'rps-monitor'/);
    const texts = catalog('rps-monitor')['rps-monitor'] as Record<string, unknown>;
    const missing: string[] = [];
    const view = readFileSync(join(PROJECT_ROOT, 'resources', 'rps-monitor-view.js'), 'utf8');
    for (const m of view.matchAll(/\bt\('([a-z-]+\.[a-z-]+)'/g)) if (!has(texts, m[1])) missing.push(`view: ${m[1]}`);
    // Keys built from a value: every value they can take.
    for (const st of ['loading', 'disabled', 'active', 'error', 'paused']) if (!has(texts, `state.${st}`)) missing.push(`state.${st}`);
    for (const st of ['ready', 'processing', 'error', 'processed', 'skipped']) if (!has(texts, `status.${st}`)) missing.push(`status.${st}`);
    for (const k of ['retry-done', 'skip-done', 'pause', 'resume', 'paused', 'resumed', 'outbound', 'inbound']) if (!has(texts, `view.${k}`)) missing.push(`view.${k}`);
    for (const dir of ['monitor', 'nodes']) {
      for (const file of readdirSync(join(PROJECT_ROOT, 'src', dir)).filter((f) => f.endsWith('.ts'))) {
        const source = readFileSync(join(PROJECT_ROOT, 'src', dir, file), 'utf8');
        for (const m of source.matchAll(/\b(?:text|host\.text|this\.host\.text)\('((?:api|log)\.[a-z-]+)'/g)) if (!has(texts, m[1])) missing.push(`${file}: ${m[1]}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it("no palette label is the name of one of Node-RED's core nodes (ours ends inbound messages; core complete is another node)", () => {
    const core = join(dirname(require.resolve('@node-red/nodes/package.json')), 'core');
    const coreTypes = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.html')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)) coreTypes.add(m[1].toLowerCase());
        }
      }
    };
    walk(core);
    assert.ok(coreTypes.has('complete') && coreTypes.has('catch'), `core node types found: ${[...coreTypes].join(', ')}`);
    for (const type of types) {
      const label = (catalog(type)[type] as { paletteLabel?: unknown }).paletteLabel;
      assert.equal(typeof label, 'string', `${type} has a palette label`);
      assert.ok(!coreTypes.has(String(label).toLowerCase()), `${type}'s palette label "${String(label)}" is a core node's name`);
    }
    assert.equal((catalog('rps-complete')['rps-complete'] as { paletteLabel: string }).paletteLabel, 'complete inbound');
  });

  it('npm test sees to Chromium first (pretest: scripts/browser-deps.sh), which has nothing to do when it is there', () => {
    assert.equal(pkg.scripts.pretest, 'scripts/browser-deps.sh');
    const script = join(PROJECT_ROOT, 'scripts', 'browser-deps.sh');
    assert.ok((statSync(script).mode & 0o111) !== 0, 'executable, as npm runs it');
    // The browser tests need it anyway, so it is there whenever the suite can pass.
    assert.ok(existsSync('/usr/bin/chromium'), '/usr/bin/chromium is installed');
    assert.equal(execFileSync(script, { encoding: 'utf8' }), '', 'silent, and exit status 0');
  });

  it('every message key the runtime uses exists in its catalog', () => {
    const missing: string[] = [];
    const dir = join(PROJECT_ROOT, 'src', 'nodes');
    for (const file of readdirSync(dir).filter((f) => f.startsWith('rps-') && f.endsWith('.ts'))) {
      const type = file.replace(/\.ts$/, '');
      const source = readFileSync(join(dir, file), 'utf8');
      const own = catalog(type);
      for (const m of source.matchAll(/['"`](rps-[a-z-]+)\.((?:status|errors|warnings|label)\.[a-z-]+)['"`$]/g)) {
        if (m[1] !== type || !has(own, `${m[1]}.${m[2]}`)) missing.push(`${file}: ${m[1]}.${m[2]}`);
      }
      // A node's own shorthand for its keys: t('status.x') is RED._('<type>.status.x').
      for (const m of source.matchAll(/\bt\('((?:status|errors|warnings|label)\.[a-z-]+)'/g)) {
        if (!has(own, `${type}.${m[1]}`)) missing.push(`${file}: ${type}.${m[1]}`);
      }
      for (const m of source.matchAll(/common\(RED, '([a-z.-]+)'/g)) {
        if (!has(catalog('rps-store'), `rps-common.${m[1]}`)) missing.push(`${file}: rps-common.${m[1]}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('the committed examples match scripts/examples.ts (run `npm run examples` after changing it)', () => {
    for (const [file, make] of Object.entries(EXAMPLES)) {
      assert.equal(readFileSync(join(EXAMPLES_DIR, file), 'utf8'), exampleText(make()), file);
    }
  });

  it('every node that is not a config node appears in an example', () => {
    const used = new Set<string>();
    for (const make of Object.values(EXAMPLES)) for (const n of make()) used.add(n.type);
    for (const type of types.filter((t) => !CONFIG_TYPES.includes(t))) assert.ok(used.has(type), `${type} in an example`);
  });

  it("every example tab's info says what to fill in on its remote system, named as the form labels the fields", () => {
    const form = catalog('rps-remote-system')['rps-remote-system'] as { label: Record<string, string> };
    const { label } = form;
    for (const [file, make] of Object.entries(EXAMPLES)) {
      const flow = make();
      const info = String(flow.find((n) => n.type === 'tab')?.info ?? '');
      for (const remote of flow.filter((n) => n.type === 'rps-remote-system')) assert.ok(info.includes(`remote system "${String(remote.name)}"`), `${file} names its remote system`);
      for (const phrase of [`- ${label.outbound}: ${label.url}`, `${label.user} and ${label.password}`, `- ${label.inbound}:`, `${label.inboundUser} and ${label.inboundPassword}`]) {
        assert.ok(info.includes(phrase), `${file} says "${phrase}"`);
      }
    }
  });

  it('examples carry no credentials', () => {
    for (const make of Object.values(EXAMPLES)) {
      for (const n of make()) assert.equal('credentials' in n, false, `${n.id} has no credentials`);
    }
  });
});
