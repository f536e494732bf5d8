/**
 * The rps-delta-load editor form in headless Chromium on a real Node-RED: the rows of the
 * chosen source, schedule and initial load show and the others hide; the URL is checked
 * as the runtime reads it; a REST source filled in the way a user does it (selects, the
 * headers list, a remote system picked, Done, Deploy) is kept by Node-RED exactly as
 * entered; and a node dragged from the palette starts with the contract's defaults.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { type FlowNode, PROJECT_ROOT } from '../../tools/nodered';
import { artifactsDir, doneAndDeploy, openNodeForm, screenshot, useEditorForm } from './chromium';

const TAB = 'tab1';

/** The form's strings, as the editor shows them. */
const STRINGS = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-delta-load.json'), 'utf8')) as Record<string, Record<string, Record<string, string>>>)['rps-delta-load'];

/** A node's settings as the contract gives their defaults (a new node has these). */
const DEFAULTS: Record<string, unknown> = {
  name: '',
  source: 'rest',
  url: '',
  remoteSystem: '',
  tls: '',
  headers: [],
  recordsPath: '',
  idField: 'id',
  updatedField: 'updated_at',
  timeFormat: 'iso8601',
  table: '',
  pageSize: 100,
  lookBack: 5,
  pagesInFlight: 1,
  recordTimeout: 60,
  initial: 'all',
  startAfter: '',
  initialFilter: '',
  createdField: '',
  schedule: 'interval',
  interval: 60,
  cron: '',
  runOnStart: true,
  store: '',
};

/** A tab with a delta load that does nothing by itself (runs only when told, not at start), and a remote system to pick. */
function flows(): FlowNode[] {
  return [
    { id: TAB, type: 'tab', label: 'Delta load form' },
    { id: 'rs', type: 'rps-remote-system', name: 'Desk', url: 'http://127.0.0.1:9', activation: 'validate', authType: 'none' },
    { id: 'dl', type: 'rps-delta-load', z: TAB, ...DEFAULTS, schedule: 'input', runOnStart: false, x: 200, y: 100, wires: [['records'], ['pages']] },
    { id: 'records', type: 'debug', z: TAB, name: 'records', active: false, x: 450, y: 80, wires: [] },
    { id: 'pages', type: 'debug', z: TAB, name: 'pages', active: false, x: 450, y: 140, wires: [] },
  ];
}

describe('rps-delta-load editor form (headless Chromium)', function () {
  this.timeout(90_000);
  const artifacts = artifactsDir('delta-load-form');
  const form = useEditorForm('delta-load-form', flows, 'dl');
  const { pageErrors } = form;
  const openEditor = (): Promise<Page> => form.openEditor();

  async function openForm(p: Page, id: string): Promise<Locator> {
    await openNodeForm(p, id);
    const form = p.locator('form:has(#node-input-updatedField)');
    await form.locator('#node-input-updatedField').waitFor({ state: 'visible' });
    return form;
  }

  async function saved(id: string): Promise<FlowNode> {
    const node = (await form.red().flows()).find((n) => n.id === id);
    assert.ok(node, `node ${id} in the deployed flows`);
    return node;
  }

  async function hasError(input: Locator): Promise<boolean> {
    return /\binput-error\b/.test((await input.getAttribute('class')) ?? '');
  }

  /** Which of the form's fields (by property) are shown. */
  async function shown(form: Locator, props: string[]): Promise<Record<string, boolean>> {
    const result: Record<string, boolean> = {};
    for (const prop of props) {
      // An empty editable list has no height: its list, with the add button, is what shows.
      const selector = prop === 'headers' ? '.red-ui-editableList:has(#node-input-headers-container)' : `#node-input-${prop}`;
      result[prop] = await form.locator(selector).isVisible();
    }
    return result;
  }

  /** The editable list items of the headers list. */
  function headerRows(form: Locator): Locator {
    return form.locator('#node-input-headers-container > li > .red-ui-editableList-item-content');
  }

  it('shows the rows of the chosen source, schedule and initial load only', async () => {
    const p = await openEditor();
    const form = await openForm(p, 'dl');
    // Every label is translated (a missing string shows its key).
    assert.doesNotMatch(await form.innerText(), /rps-delta-load\./);
    const flowTip = form.locator('.form-tips.rps-delta-load-flow-row');

    // REST: its URL, remote system, TLS (no remote system chosen), headers and records path.
    assert.equal(await form.locator('#node-input-source').inputValue(), 'rest');
    assert.deepEqual(await shown(form, ['url', 'remoteSystem', 'tls', 'headers', 'recordsPath']), {
      url: true,
      remoteSystem: true,
      tls: true,
      headers: true,
      recordsPath: true,
    });
    assert.equal(await flowTip.isVisible(), false);
    // A remote system brings its own TLS settings.
    await form.locator('#node-input-remoteSystem').selectOption('rs');
    assert.equal(await form.locator('#node-input-tls').isVisible(), false);

    // Flow: none of the REST rows, and the tip that says how page requests work.
    await form.locator('#node-input-source').selectOption('flow');
    assert.deepEqual(await shown(form, ['url', 'remoteSystem', 'tls', 'headers', 'recordsPath']), {
      url: false,
      remoteSystem: false,
      tls: false,
      headers: false,
      recordsPath: false,
    });
    assert.equal(await flowTip.isVisible(), true);
    // Fields every source has.
    assert.deepEqual(await shown(form, ['idField', 'updatedField', 'timeFormat', 'pageSize', 'lookBack', 'pagesInFlight', 'recordTimeout', 'store', 'name']), {
      idField: true,
      updatedField: true,
      timeFormat: true,
      pageSize: true,
      lookBack: true,
      pagesInFlight: true,
      recordTimeout: true,
      store: true,
      name: true,
    });

    // Schedule: the interval for "interval", the cron expression for "cron", neither for "input".
    const schedule = form.locator('#node-input-schedule');
    assert.equal(await schedule.inputValue(), 'input');
    assert.deepEqual(await shown(form, ['interval', 'cron']), { interval: false, cron: false });
    await schedule.selectOption('interval');
    assert.deepEqual(await shown(form, ['interval', 'cron']), { interval: true, cron: false });
    await schedule.selectOption('cron');
    assert.deepEqual(await shown(form, ['interval', 'cron']), { interval: false, cron: true });

    // Initial load: the start time only for "after a start time".
    const initial = form.locator('#node-input-initial');
    assert.equal(await initial.inputValue(), 'all');
    assert.equal(await form.locator('#node-input-startAfter').isVisible(), false);
    await initial.selectOption('after');
    assert.equal(await form.locator('#node-input-startAfter').isVisible(), true);
    await initial.selectOption('all');
    assert.equal(await form.locator('#node-input-startAfter').isVisible(), false);
    await screenshot(p, artifacts, 'rows');
    assert.deepEqual(pageErrors, []);
  });

  it('saves a REST source as entered, headers and all', async () => {
    const p = await openEditor();
    const form = await openForm(p, 'dl');
    const url = form.locator('#node-input-url');

    // The URL as the runtime reads it: an http(s) URL, or a path relative to a remote system's URL.
    await url.fill('not a url');
    await url.dispatchEvent('change');
    assert.equal(await hasError(url), true, 'not a URL');
    await url.fill('/api/incidents?updated_after={updatedAfter}&id_after={idAfter}&limit={limit}');
    await url.dispatchEvent('change');
    assert.equal(await hasError(url), true, 'a path without a remote system');
    // Choosing a remote system marks the URL again.
    await form.locator('#node-input-remoteSystem').selectOption('rs');
    assert.equal(await hasError(url), false, 'a path relative to the remote system');

    // Headers: two filled in, one left without a name (not saved).
    const addHeader = form.locator('.red-ui-editableList:has(#node-input-headers-container) > button.red-ui-editableList-addButton');
    for (let i = 0; i < 3; i++) await addHeader.click();
    const rows = headerRows(form);
    assert.equal(await rows.count(), 3);
    await rows.nth(0).locator('.rps-delta-load-header-name').fill('Accept');
    await rows.nth(0).locator('.rps-delta-load-header-value').fill('application/json');
    await rows.nth(1).locator('.rps-delta-load-header-name').fill(' X-Tenant ');
    await rows.nth(1).locator('.rps-delta-load-header-value').fill('acme');

    await form.locator('#node-input-recordsPath').fill('result');
    await form.locator('#node-input-idField').fill('number');
    await form.locator('#node-input-updatedField').fill('sys_updated_on');
    await form.locator('#node-input-timeFormat').selectOption('epoch-ms');
    await form.locator('#node-input-createdField').fill('sys_created_on');
    await form.locator('#node-input-table').fill('incident');
    await form.locator('#node-input-pageSize').fill('50');
    await form.locator('#node-input-lookBack').fill('10');
    await form.locator('#node-input-pagesInFlight').fill('3');
    await form.locator('#node-input-recordTimeout').fill('120');

    await form.locator('#node-input-initial').selectOption('after');
    const startAfter = form.locator('#node-input-startAfter');
    assert.equal(await hasError(startAfter), true, 'a start time is needed once chosen');
    await startAfter.fill('yesterday');
    await startAfter.dispatchEvent('change');
    assert.equal(await hasError(startAfter), true, 'not an ISO 8601 time');
    await startAfter.fill('2026-01-01T00:00:00Z');
    await startAfter.dispatchEvent('change');
    assert.equal(await hasError(startAfter), false);
    // The initial filter is a JSONata typed input: typed into its own input.
    await form.locator('#node-input-initialFilter + .red-ui-typedInput-container input.red-ui-typedInput-input').fill('state != "closed"');

    await form.locator('#node-input-schedule').selectOption('cron');
    const cron = form.locator('#node-input-cron');
    await cron.fill('every 5 minutes');
    await cron.dispatchEvent('change');
    assert.equal(await hasError(cron), true, 'not five fields');
    await cron.fill('*/5 * * * *');
    await cron.dispatchEvent('change');
    assert.equal(await hasError(cron), false);
    await form.locator('#node-input-runOnStart').uncheck();
    await form.locator('#node-input-name').fill('incidents since yesterday');
    await screenshot(p, artifacts, 'rest-filled-in');

    await doneAndDeploy(p);
    const node = await saved('dl');
    const expected: Record<string, unknown> = {
      name: 'incidents since yesterday',
      source: 'rest',
      url: '/api/incidents?updated_after={updatedAfter}&id_after={idAfter}&limit={limit}',
      remoteSystem: 'rs',
      tls: '',
      headers: [
        { name: 'Accept', value: 'application/json' },
        { name: 'X-Tenant', value: 'acme' },
      ],
      recordsPath: 'result',
      idField: 'number',
      updatedField: 'sys_updated_on',
      timeFormat: 'epoch-ms',
      table: 'incident',
      pageSize: '50',
      lookBack: '10',
      pagesInFlight: '3',
      recordTimeout: '120',
      initial: 'after',
      startAfter: '2026-01-01T00:00:00Z',
      initialFilter: 'state != "closed"',
      createdField: 'sys_created_on',
      schedule: 'cron',
      interval: 60,
      cron: '*/5 * * * *',
      runOnStart: false,
      store: '',
    };
    assert.deepEqual(Object.keys(expected).sort(), Object.keys(DEFAULTS).sort(), 'every property of the contract is checked');
    for (const [prop, value] of Object.entries(expected)) {
      // The editor keeps what a text field holds as text; an untouched number stays as it was deployed.
      assert.deepEqual(node[prop], value, prop);
    }
    assert.deepEqual(node.wires, [['records'], ['pages']], 'two outputs, wires kept');
    assert.deepEqual(pageErrors, []);

    // Opened again, the form shows what was saved.
    const again = await openForm(p, 'dl');
    assert.equal(await again.locator('#node-input-schedule').inputValue(), 'cron');
    assert.equal(await again.locator('#node-input-cron').isVisible(), true);
    assert.equal(await again.locator('#node-input-startAfter').isVisible(), true);
    const rowsAgain = headerRows(again);
    assert.equal(await rowsAgain.count(), 2);
    assert.equal(await rowsAgain.nth(1).locator('.rps-delta-load-header-name').inputValue(), 'X-Tenant');
    assert.equal(await again.locator('#node-input-runOnStart').isChecked(), false);
    await p.locator('#node-dialog-cancel').click();
  });

  it('a node from the palette has the contract defaults, two outputs, and the palette label', async () => {
    const p = await openEditor();
    const paletteNode = p.locator('.red-ui-palette-node[data-palette-type="rps-delta-load"]');
    assert.equal((await paletteNode.innerText()).trim(), STRINGS.paletteLabel);
    const before = await p.locator('#red-ui-workspace g.red-ui-flow-node-group').count();
    await paletteNode.dragTo(p.locator('#red-ui-workspace-chart'), { targetPosition: { x: 300, y: 400 } });
    await p.locator('#red-ui-workspace g.red-ui-flow-node-group').nth(before).waitFor({ state: 'attached' });
    const added = await p.evaluate((props) => {
      const w = globalThis as unknown as { RED: { nodes: { filterNodes: (f: { type: string }) => (Record<string, unknown> & { id: string; outputs: number })[] } } };
      return w.RED.nodes
        .filterNodes({ type: 'rps-delta-load' })
        .filter((n) => n.id !== 'dl')
        .map((n) => ({ id: n.id, outputs: n.outputs, settings: Object.fromEntries(props.map((prop) => [prop, n[prop]])) }));
    }, Object.keys(DEFAULTS));
    assert.equal(added.length, 1, 'one node added from the palette');
    assert.equal(added[0].outputs, 2);
    assert.deepEqual(added[0].settings, DEFAULTS);
    assert.equal(await p.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${added[0].id}"] g.red-ui-flow-port-output`).count(), 2);
    assert.deepEqual(pageErrors, []);
  });
});
