/**
 * The rps-map editor form in headless Chromium (playwright-core, Debian's /usr/bin/chromium),
 * on a real Node-RED: rows are added as a user does it (the expression through Node-RED's
 * expression editor), saved with Done, deployed, and read back from GET /flows; the
 * deployed node then maps a record sent to it over HTTP. Screenshots go to
 * test-artifacts/map-form/.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import type { MappingRow } from '../../src/core/mapping';
import { type FlowNode, NodeRedInstance, PROJECT_ROOT } from '../../tools/nodered';
import { artifactsDir, launchChromium, openNodeForm, requireChromium, screenshot, traysInPlace } from './chromium';

const STRINGS = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-map.json'), 'utf8')) as Record<string, Record<string, Record<string, string>>>)['rps-map'];

/** Rows as a flow saved before display values, expressions, defaults and onInsert holds them. */
const OLD_ROWS: MappingRow[] = [
  { target: 'title', type: 'field', value: 'short_description' },
  { target: 'source', type: 'fixed', value: 'desk A', valueType: 'str' },
  { target: 'state', type: 'value', value: 'state', map: '{"1":"new"}' },
];

const EXPRESSION = 'first & " " & $uppercase(last)';

const TAB = 'tab';
const FLOW: FlowNode[] = [
  { id: TAB, type: 'tab', label: 'map form' },
  { id: 'in', type: 'http in', z: TAB, url: '/map-test', method: 'post', x: 120, y: 100, wires: [['map']] },
  { id: 'map', type: 'rps-map', z: TAB, name: 'map under test', mappings: OLD_ROWS, keepUnmapped: false, x: 320, y: 100, wires: [['out']] },
  { id: 'out', type: 'http response', z: TAB, statusCode: '', x: 520, y: 100, wires: [] },
];

describe('rps-map editor form (headless Chromium)', function () {
  this.timeout(60_000);
  const shots = artifactsDir('map-form');
  let red: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;

  before(async function () {
    requireChromium();
    // Started together; whichever started is kept, so that after() stops it when the other failed.
    const [started, launched] = await Promise.allSettled([NodeRedInstance.start({ name: 'map-form' }), launchChromium()]);
    if (started.status === 'fulfilled') red = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
    await red!.deploy(FLOW);
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
    browser = red = undefined;
  });

  beforeEach(async function () {
    page = await browser!.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(15_000);
    await page.goto(`${red!.url}/`);
    await page.locator('#red-ui-workspace g.red-ui-flow-node-group#map').waitFor({ state: 'visible', timeout: 30_000 });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) await screenshot(page, shots, `failed-${this.currentTest.title}`);
      if (red) console.log('--- Node-RED log ---\n' + red.log.slice(-30).join('\n'));
    }
    await page?.close();
    page = undefined;
  });

  /** Opens the map node's form by double-clicking it; resolves with its list of rows. */
  async function openForm(): Promise<Locator> {
    const p = page!;
    await openNodeForm(p, 'map');
    const list = p.locator('#node-input-mappings-container');
    await list.waitFor({ state: 'visible' });
    return list;
  }

  /** Adds a row with the list's add button; resolves with the new row. */
  async function addRow(list: Locator): Promise<Locator> {
    const rows = list.locator(':scope > li');
    const before = await rows.count();
    await page!.locator('.red-ui-editableList:has(#node-input-mappings-container) .red-ui-editableList-addButton').click();
    await rows.nth(before).waitFor();
    return rows.nth(before);
  }

  /** Picks `type` from a typedInput's menu (the typedInput inside `scope`). */
  async function chooseType(scope: Locator, type: string): Promise<void> {
    await scope.locator('.red-ui-typedInput-type-select').click();
    // Node-RED slides the menu down (jQuery, 100 ms): on a loaded machine a click during the
    // slide was lost (the menu stayed open, the type unchanged). Click once it has stopped,
    // and go on once the menu has closed, as a chosen type closes it.
    await page!.waitForFunction(`$('.red-ui-typedInput-options:visible').length === 1 && !$('.red-ui-typedInput-options:visible').is(':animated')`);
    const option = page!.locator(`.red-ui-typedInput-options a[value="${type}"]:visible`);
    await option.click();
    await option.waitFor({ state: 'hidden' });
  }

  /** The row's source typedInput (first line), its visible text input, and the label of its type. */
  function source(row: Locator): { scope: Locator; input: Locator; label: Locator } {
    const scope = row.locator('.rps-map-line').first().locator('.red-ui-typedInput-container');
    return { scope, input: scope.locator('input.red-ui-typedInput-input'), label: scope.locator('.red-ui-typedInput-type-label') };
  }

  it('adds an expression row through the expression editor and a value-map row; Done and Deploy save them; old rows stay as they were', async () => {
    const p = page!;
    const list = await openForm();
    const rows = list.locator(':scope > li');
    assert.equal(await rows.count(), OLD_ROWS.length, 'the saved rows are listed');
    assert.equal(await rows.nth(0).locator('input.rps-map-target').inputValue(), 'title');
    assert.equal((await source(rows.nth(0)).label.innerText()).trim(), STRINGS.type.field);
    assert.equal(await source(rows.nth(0)).input.inputValue(), 'short_description');
    assert.equal((await source(rows.nth(2)).label.innerText()).trim(), STRINGS.type.value);
    assert.equal(await rows.nth(2).locator('.rps-map-line-map').isVisible(), true, 'a value-map row shows its map');
    assert.equal(await rows.nth(0).locator('.rps-map-line-map').isVisible(), false, 'a field row does not');

    // An expression, typed in Node-RED's expression editor.
    const expressionRow = await addRow(list);
    await expressionRow.locator('input.rps-map-target').fill('full_name');
    await chooseType(source(expressionRow).scope, 'jsonata');
    await source(expressionRow).scope.locator('button.red-ui-typedInput-option-expand').click();
    const expressionEditor = p.locator('#red-ui-editor-type-expression');
    await expressionEditor.waitFor({ state: 'visible' });
    await expressionEditor.click();
    await p.keyboard.insertText(EXPRESSION);
    await screenshot(p, shots, 'expression-editor');
    await p.locator('.red-ui-tray').last().locator('#node-dialog-ok').click();
    await expressionEditor.waitFor({ state: 'detached' });
    // The node's tray slides back in now: clicks must wait for it to be in place (a CI run's
    // type choice on the next row was lost while it moved).
    await traysInPlace(p);
    assert.equal(await source(expressionRow).input.inputValue(), EXPRESSION, 'the expression editor filled the row');

    // A value map with a default for unlisted values, only when creating the record.
    const valueRow = await addRow(list);
    await valueRow.locator('input.rps-map-target').fill('urgency');
    await chooseType(source(valueRow).scope, 'value');
    await source(valueRow).input.fill('prio');
    await valueRow.locator('.rps-map-line-map input.red-ui-typedInput-input').fill('{"1":"high","2":"medium"}');
    const fallback = valueRow.locator('.rps-map-line-default .red-ui-typedInput-container');
    assert.equal((await fallback.locator('.red-ui-typedInput-type-label').innerText()).trim(), STRINGS.type.keep, 'unlisted values pass unchanged unless set');
    await chooseType(fallback, 'str');
    await fallback.locator('input.red-ui-typedInput-input').fill('low');
    await valueRow.locator('input.rps-map-onInsert').check();
    // The conflict policy: last writer wins until chosen otherwise; local wins has a window.
    const policy = p.locator('#node-input-conflicts');
    assert.equal(await policy.inputValue(), 'last-writer', 'a node made before the policy decides as the default does');
    assert.equal(await p.locator('#node-row-conflictWindow').isVisible(), false);
    await policy.selectOption('local');
    await p.locator('#node-input-conflictWindow').fill('120');
    await screenshot(p, shots, 'rows-entered');

    await p.locator('.red-ui-tray').last().locator('#node-dialog-ok').click();
    await list.waitFor({ state: 'detached' });
    const deployed = p.waitForResponse((r) => new URL(r.url()).pathname === '/flows' && r.request().method() === 'POST');
    await p.locator('#red-ui-header-button-deploy').click();
    assert.equal((await deployed).status(), 200);
    await screenshot(p, shots, 'deployed');

    const map = (await red!.flows()).find((n) => n.id === 'map');
    assert.ok(map, 'the map node is in GET /flows');
    assert.deepEqual([map.conflicts, map.conflictWindow], ['local', '120']);
    assert.deepEqual(map.mappings, [
      ...OLD_ROWS,
      { target: 'full_name', type: 'jsonata', value: EXPRESSION },
      { target: 'urgency', type: 'value', value: 'prio', map: '{"1":"high","2":"medium"}', default: 'low', defaultType: 'str', onInsert: true },
    ]);

    // The deployed node maps with what was entered (no msg.rps: a new record).
    const res = await fetch(`${red!.url}/map-test`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ short_description: 'Printer', state: 1, first: 'Ada', last: 'Lovelace', prio: 7 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { title: 'Printer', source: 'desk A', state: 'new', full_name: 'Ada LOVELACE', urgency: 'low' });
  });

  it('marks a row with an empty target (and an empty source field) red', async () => {
    const p = page!;
    const list = await openForm();
    const row = await addRow(list);
    const target = row.locator('input.rps-map-target');
    assert.match((await target.getAttribute('class')) ?? '', /\binput-error\b/, 'an empty target is red');
    assert.match((await source(row).scope.getAttribute('class')) ?? '', /\binput-error\b/, 'an empty source field is red');
    await screenshot(p, shots, 'empty-target');
    await target.pressSequentially('title2');
    await source(row).input.pressSequentially('title');
    assert.doesNotMatch((await target.getAttribute('class')) ?? '', /\binput-error\b/, 'a target is no longer red');
    assert.doesNotMatch((await source(row).scope.getAttribute('class')) ?? '', /\binput-error\b/, 'a source field is no longer red');
    await p.locator('.red-ui-tray').last().locator('#node-dialog-cancel').click();
    await list.waitFor({ state: 'detached' });
  });
});
