/**
 * The rps-capture editor form in headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium), on a real Node-RED: a record posted through an `http in` node
 * reaches the capture, so that its "fields seen" have names; then the form is filled in
 * the way a user does it (double-click, condition groups and rows, a field picked from
 * the fields seen, Done, Deploy) and the flow Node-RED keeps must hold exactly what was
 * entered. Screenshots go to test-artifacts/capture-form/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { type FlowNode, NodeRedInstance, PROJECT_ROOT } from '../../tools/nodered';
import { openNodeForm } from './chromium';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts', 'capture-form');

/** The form's strings, as the editor shows them. */
const STRINGS = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-capture.json'), 'utf8')) as Record<string, Record<string, Record<string, string>>>)['rps-capture'];

const TAB = 'tab1';
/** The record posted to the http in node: the names the capture sees. */
const RECORD = { number: 'INC1', short_description: 'Printer on fire', state: 'new', priority: 2 };

/** A tab with http in → capture (and → http response), and an old capture saved before the condition builder. */
function flows(extra: FlowNode[] = []): FlowNode[] {
  return [
    { id: TAB, type: 'tab', label: 'Capture form' },
    { id: 'in', type: 'http in', z: TAB, url: '/records', method: 'post', x: 120, y: 80, wires: [['cap', 'res']] },
    { id: 'res', type: 'http response', z: TAB, x: 330, y: 140, wires: [] },
    { id: 'cap', type: 'rps-capture', z: TAB, table: 'incident', idField: 'number', insert: true, update: true, delete: true, x: 330, y: 80, wires: [[]] },
    // As the form saved it before includedFields, conditions and captureNonInteractive.
    { id: 'old', type: 'rps-capture', z: TAB, table: 'problem', idField: 'id', insert: true, update: true, delete: false, fields: 'a, b', x: 330, y: 220, wires: [[]] },
    ...extra,
  ];
}

describe('rps-capture editor form (headless Chromium)', function () {
  this.timeout(90_000);
  let red: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let pageErrors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} not found: these browser tests need Debian's Chromium. Install it with ` +
          '`sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium` (.ci/run does this on CI).',
      );
    }
    // This run's screenshots only.
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    // Started together; whichever started is kept, so that after() stops it when the other failed.
    const [started, launched] = await Promise.allSettled([
      NodeRedInstance.start({ name: 'capture-form' }),
      chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 }),
    ]);
    if (started.status === 'fulfilled') red = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw new Error(`${CHROMIUM} did not start: ${String(launched.reason)}`);
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
    browser = red = undefined;
  });

  afterEach(async function () {
    const title = (this.currentTest?.title.match(/\w+/g) ?? ['test']).join('-').slice(0, 60);
    if (page) {
      await screenshot(`${this.currentTest?.state === 'failed' ? 'failed' : 'end'}-${title}`);
      await page.close();
      page = undefined;
    }
    if (this.currentTest?.state === 'failed' && red) console.log('--- Node-RED log ---\n' + red.log.slice(-30).join('\n'));
  });

  async function screenshot(name: string): Promise<void> {
    const file = join(ARTIFACTS, `${name}.png`);
    await page?.screenshot({ path: file, fullPage: true }).then(
      () => undefined,
      (err: unknown) => console.log(`      no screenshot ${file}: ${String(err)}`),
    );
  }

  /** Deploys `nodes` through the admin API and opens the editor on them. */
  async function openEditor(nodes: FlowNode[]): Promise<Page> {
    await red!.deploy(nodes);
    pageErrors = [];
    page = await browser!.newPage({ viewport: { width: 1600, height: 1200 } });
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => void pageErrors.push(String(err)));
    await page.goto(`${red!.url}/`);
    await page.locator('#red-ui-workspace g.red-ui-flow-node-group#cap').waitFor({ state: 'visible', timeout: 30_000 });
    return page;
  }

  /** Opens a capture's form by double-clicking it on the workspace; resolves with the form. */
  async function openCapture(id: string): Promise<Locator> {
    const p = page!;
    await openNodeForm(p, id);
    const form = p.locator('form:has(#node-input-table)');
    await form.locator('#node-input-table').waitFor({ state: 'visible' });
    return form;
  }

  /** Done, then Deploy; resolves once Node-RED has taken the new flows. */
  async function doneAndDeploy(): Promise<void> {
    const p = page!;
    await p.locator('#node-dialog-ok').click();
    await p.locator('#node-dialog-ok').waitFor({ state: 'detached' });
    const deployed = p.waitForResponse((r) => new URL(r.url()).pathname === '/flows' && r.request().method() === 'POST');
    await p.locator('#red-ui-header-button-deploy').click();
    assert.equal((await deployed).status(), 200);
  }

  async function savedNode(id: string): Promise<FlowNode> {
    const node = (await red!.flows()).find((n) => n.id === id);
    assert.ok(node, `node ${id} in the deployed flows`);
    return node;
  }

  /** The editable list items of a list (its rows' content). */
  function items(list: Locator): Locator {
    return list.locator(':scope > li > .red-ui-editableList-item-content');
  }

  /** The add button of the editable list around `list`. */
  function addButton(list: Locator, label: string): Locator {
    return list
      .locator('xpath=ancestor::div[contains(concat(" ", normalize-space(@class), " "), " red-ui-editableList ")][1]')
      .locator(`:scope > button.red-ui-editableList-addButton:has-text("${label}")`);
  }

  /** Fills one condition row. */
  async function fillRow(row: Locator, rule: { field: string; op: string; value?: string; value2?: string }): Promise<void> {
    await row.locator('.rps-capture-field').fill(rule.field);
    await row.locator('.rps-capture-op').selectOption(rule.op);
    if (rule.value !== undefined) await row.locator('.rps-capture-value').fill(rule.value);
    if (rule.value2 !== undefined) await row.locator('.rps-capture-value2').fill(rule.value2);
  }

  /** The values of inputs or options, in order. */
  function values(elements: Locator): Promise<string[]> {
    return elements.evaluateAll((list) => list.map((e) => (e as unknown as { value: string }).value));
  }

  async function hasError(input: Locator): Promise<boolean> {
    return /\binput-error\b/.test((await input.getAttribute('class')) ?? '');
  }

  it('offers the fields a capture has seen (a record posted through http in) and saves one picked into the included fields', async () => {
    const p = await openEditor(flows());
    // One record through http in → capture: its names are what the capture has seen.
    const posted = await fetch(`${red!.url}/records`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(RECORD) });
    assert.equal(posted.status, 200);

    const seen = p.waitForResponse((r) => new URL(r.url()).pathname === '/rps-capture/cap/fields-seen');
    const form = await openCapture('cap');
    assert.equal((await seen).status(), 200, 'the form asked for the fields seen');
    const pick = form.locator('#rps-capture-seen-pick');
    await pick.locator('option[value="short_description"]').waitFor({ state: 'attached' });
    assert.deepEqual(await values(pick.locator('option')), ['', ...Object.keys(RECORD).sort()]);
    assert.deepEqual(await values(form.locator('#rps-capture-fields-seen option')), Object.keys(RECORD).sort(), 'the field inputs suggest the fields seen');

    const included = form.locator('#node-input-includedFields-container');
    await pick.selectOption('short_description');
    await form.locator('#rps-capture-seen-add').click();
    assert.deepEqual(await values(included.locator('.rps-capture-included')), ['short_description']);
    // Picked again: not listed twice.
    await pick.selectOption('short_description');
    await form.locator('#rps-capture-seen-add').click();
    assert.deepEqual(await values(included.locator('.rps-capture-included')), ['short_description']);
    assert.equal(await pick.inputValue(), '', 'the pick goes back to its prompt');
    await screenshot('fields-seen');

    await doneAndDeploy();
    const node = await savedNode('cap');
    assert.deepEqual(node.includedFields, ['short_description']);
    assert.deepEqual(node.conditions, []);
    assert.deepEqual(pageErrors, []);
  });

  it('saves the condition groups, the included fields and the non-interactive setting as entered', async () => {
    await openEditor(flows());
    const form = await openCapture('cap');

    // The store: "None", visible, first and chosen (no store exists: the editor would say "Add new…").
    const store = form.locator('#node-input-store');
    assert.equal(await store.locator('option').first().innerText(), STRINGS.form.storeNone);
    assert.equal(await store.inputValue(), '_ADD_');
    // A node without the setting captures non-interactive changes.
    assert.equal(await form.locator('#node-input-captureNonInteractive').isChecked(), true);
    await form.locator('#node-input-captureNonInteractive').uncheck();
    // A node made before field times has none; ticked, it keeps them.
    assert.equal(await form.locator('#node-input-fieldTimes').isChecked(), false);
    await form.locator('#node-input-fieldTimes').check();

    // Conditions: group 1 = state is one of (new, in progress) AND priority between 1 and 3;
    // group 2 = state changes to closed.
    const groups = form.locator('#node-input-conditions-container');
    assert.equal(await items(groups).count(), 0, 'no group: every change');
    await addButton(groups, STRINGS.form.addGroup).click();
    const group1 = items(groups).nth(0).locator('ol.rps-capture-rules');
    assert.equal(await items(group1).count(), 1, 'a new group starts with one row');
    const row1 = items(group1).nth(0);
    assert.equal(await hasError(row1.locator('.rps-capture-field')), true, 'a row without a field is red');
    await fillRow(row1, { field: 'state', op: 'in', value: 'new, in progress ,' });
    assert.equal(await hasError(row1.locator('.rps-capture-field')), false);
    assert.equal(await row1.locator('.rps-capture-value2').isVisible(), false, 'is one of reads one list');

    await addButton(group1, STRINGS.form.addRow).click();
    const row2 = items(group1).nth(1);
    await fillRow(row2, { field: 'priority', op: 'between', value: 'high', value2: '3' });
    assert.equal(await hasError(row2.locator('.rps-capture-value')), true, 'between "high": neither a number nor an ISO date');
    assert.equal(await hasError(row2.locator('.rps-capture-value2')), false);
    await row2.locator('.rps-capture-value').fill('1');
    assert.equal(await hasError(row2.locator('.rps-capture-value')), false);

    await addButton(groups, STRINGS.form.addGroup).click();
    const row3 = items(items(groups).nth(1).locator('ol.rps-capture-rules')).nth(0);
    await fillRow(row3, { field: 'state', op: 'changesTo', value: 'closed' });
    assert.equal(await row3.locator('.rps-capture-op option:checked').innerText(), STRINGS.operators.changesTo);
    assert.equal(await row3.locator('.rps-capture-value').isVisible(), true, 'changes to reads one value');
    // A third group left empty is not saved.
    await addButton(groups, STRINGS.form.addGroup).click();
    const lonelyRow = items(items(groups).nth(2).locator('ol.rps-capture-rules')).nth(0);
    await lonelyRow.locator('xpath=..').locator(':scope > .red-ui-editableList-item-remove').click();
    // The list removes a row once it has faded out.
    await lonelyRow.waitFor({ state: 'detached' });
    assert.equal(await items(groups).count(), 3, 'the group is still in the form');

    // Included fields: two typed (one with spaces around it), and one left empty.
    const included = form.locator('#node-input-includedFields-container');
    await addButton(included, STRINGS.form.addField).click();
    await addButton(included, STRINGS.form.addField).click();
    await addButton(included, STRINGS.form.addField).click();
    await items(included).nth(0).locator('.rps-capture-included').fill('short_description');
    await items(included).nth(1).locator('.rps-capture-included').fill(' number ');
    // Every label is translated (a missing string shows its key).
    assert.doesNotMatch(await form.innerText(), /rps-capture\./);
    await screenshot('filled-in');

    await doneAndDeploy();
    const node = await savedNode('cap');
    assert.deepEqual(node.conditions, [
      {
        rules: [
          { field: 'state', op: 'in', values: ['new', 'in progress'] },
          { field: 'priority', op: 'between', value: '1', value2: '3' },
        ],
      },
      { rules: [{ field: 'state', op: 'changesTo', value: 'closed' }] },
    ]);
    assert.deepEqual(node.includedFields, ['short_description', 'number']);
    assert.equal(node.captureNonInteractive, false);
    assert.equal(node.fieldTimes, true);
    assert.equal(node.store, '');
    assert.equal(node.fields, '');
    assert.deepEqual([node.table, node.idField, node.insert, node.update, node.delete], ['incident', 'number', true, true, true], 'the other settings as they were');
    assert.deepEqual(pageErrors, []);

    // Opened again, the form shows what was saved.
    const again = await openCapture('cap');
    const savedGroups = again.locator('#node-input-conditions-container');
    assert.equal(await items(savedGroups).count(), 2);
    const first = items(items(savedGroups).nth(0).locator('ol.rps-capture-rules'));
    assert.equal(await first.nth(0).locator('.rps-capture-value').inputValue(), 'new, in progress');
    assert.equal(await first.nth(1).locator('.rps-capture-value2').inputValue(), '3');
    assert.deepEqual(await values(again.locator('#node-input-includedFields-container .rps-capture-included')), ['short_description', 'number']);
    assert.equal(await again.locator('#node-input-captureNonInteractive').isChecked(), false);
    await page!.locator('#node-dialog-cancel').click();
  });

  it('marks the node invalid while a row has no field or an ordering value that is neither a number nor an ISO date', async () => {
    const p = await openEditor(flows());
    const valid = (): Promise<boolean | undefined> =>
      p.evaluate(() => (globalThis as unknown as { RED: { nodes: { node(id: string): { valid?: boolean } } } }).RED.nodes.node('cap').valid);
    let form = await openCapture('cap');
    await addButton(form.locator('#node-input-conditions-container'), STRINGS.form.addGroup).click();
    const row = (f: Locator): Locator => items(items(f.locator('#node-input-conditions-container')).nth(0).locator('ol.rps-capture-rules')).nth(0);
    await fillRow(row(form), { field: ' ', op: 'gt', value: 'soon' });
    assert.equal(await hasError(row(form).locator('.rps-capture-field')), true);
    assert.equal(await hasError(row(form).locator('.rps-capture-value')), true);
    await p.locator('#node-dialog-ok').click();
    await p.locator('#node-dialog-ok').waitFor({ state: 'detached' });
    assert.equal(await valid(), false, 'no field, and "soon" does not compare');

    form = await openCapture('cap');
    await fillRow(row(form), { field: 'opened_at', op: 'gt', value: '2026-12-07T10:00' });
    assert.equal(await hasError(row(form).locator('.rps-capture-field')), false);
    assert.equal(await hasError(row(form).locator('.rps-capture-value')), false, 'an ISO date-time compares');
    await p.locator('#node-dialog-ok').click();
    await p.locator('#node-dialog-ok').waitFor({ state: 'detached' });
    assert.equal(await valid(), true);
    assert.deepEqual(pageErrors, []);
  });

  it('opens an old node with its comma-separated fields in the included list, and None is a store it can choose', async () => {
    // A store exists, and the old node uses it: the editor's own "None" choice is relabelled and moved first.
    const stored = flows([{ id: 'st', type: 'rps-store', name: 'Shared store', storeType: 'sqlite', path: join(red!.userDir, 'capture-form.sqlite') }]).map((n) =>
      n.id === 'old' ? { ...n, store: 'st' } : n,
    );
    await openEditor(stored);
    const form = await openCapture('old');
    const included = form.locator('#node-input-includedFields-container .rps-capture-included');
    assert.deepEqual(await values(included), ['a', 'b']);
    assert.equal(await form.locator('#node-input-captureNonInteractive').isChecked(), true, 'an old node captured non-interactive changes');
    assert.equal(await items(form.locator('#node-input-conditions-container')).count(), 0);
    // Undeployed or never fed: no fields seen, and no error.
    assert.equal(await form.locator('#rps-capture-seen-pick').isDisabled(), true);
    assert.equal(await form.locator('.rps-capture-seen-hint').innerText(), '');

    const store = form.locator('#node-input-store');
    assert.equal(await store.inputValue(), 'st');
    const labels = await store.locator('option').allInnerTexts();
    assert.equal(labels[0], STRINGS.form.storeNone, `None first: ${JSON.stringify(labels)}`);
    assert.ok(labels.includes('Shared store'), JSON.stringify(labels));
    await store.selectOption({ label: STRINGS.form.storeNone });
    await screenshot('old-node');

    await doneAndDeploy();
    const node = await savedNode('old');
    assert.deepEqual(node.includedFields, ['a', 'b']);
    assert.equal(node.fields, '', 'the old text is not kept beside the list');
    assert.deepEqual(node.conditions, []);
    assert.equal(node.captureNonInteractive, true);
    assert.equal(node.store, '', 'None chosen');
    assert.equal(node.delete, false);
    assert.deepEqual(pageErrors, []);
  });
});
