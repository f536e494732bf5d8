/**
 * The rps-attachment-sync editor form in headless Chromium on a real Node-RED: a node from
 * the palette starts in send mode with one output and the send rows only; switching the
 * mode shows the other mode's rows, asks for a process event in receive mode only, and
 * gives the node two outputs (and back to one) once Done; the help shows in the sidebar.
 * Screenshots of the form in each mode go to /tmp/att-form-send.png and
 * /tmp/att-form-receive.png, to look at the layout.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { type FlowNode, PROJECT_ROOT } from '../../tools/nodered';
import { doneAndDeploy, openNodeForm, useEditorForm } from './chromium';

const TAB = 'tab1';
const TYPE = 'rps-attachment-sync';

/** The form's strings, as the editor shows them. */
const STRINGS = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', `${TYPE}.json`), 'utf8')) as Record<string, Record<string, unknown>>)[TYPE];

/** A node's settings as the node definition gives their defaults (a new node has these). */
const DEFAULTS: Record<string, unknown> = {
  name: '',
  mode: 'send',
  remoteSystem: '',
  processEvent: '',
  property: 'attachments',
  strategy: 'deltas',
  removals: false,
  maxSizeMb: 0,
  extensions: '',
  keyDays: 7,
  localId: 'payload.id',
  localIdType: 'msg',
  localTable: '',
  existing: '',
  content: 'path',
};

const SEND_ROWS = ['property', 'strategy', 'removals', 'maxSizeMb', 'extensions', 'keyDays'];
const RECEIVE_ROWS = ['processEvent', 'localId', 'localTable', 'existing', 'content'];

/** A tab with one attachments node (send mode), and the config nodes to pick. */
function flows(): FlowNode[] {
  return [
    { id: TAB, type: 'tab', label: 'Attachments form' },
    { id: 'rs', type: 'rps-remote-system', name: 'Desk', url: 'http://127.0.0.1:9', activation: 'validate', authType: 'none' },
    { id: 'pe', type: 'rps-process-event', name: 'incident' },
    { id: 'att', type: TYPE, z: TAB, ...DEFAULTS, remoteSystem: 'rs', x: 200, y: 100, wires: [['a']] },
    { id: 'a', type: 'debug', z: TAB, name: 'a', active: false, x: 450, y: 100, wires: [] },
  ];
}

describe('rps-attachment-sync editor form (headless Chromium)', function () {
  this.timeout(90_000);
  const form = useEditorForm('attachment-form', flows, 'att');
  const { pageErrors } = form;

  function ports(p: Page, id: string): Promise<number> {
    return p.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${id}"] g.red-ui-flow-port-output`).count();
  }

  async function openForm(p: Page, id: string): Promise<Locator> {
    await openNodeForm(p, id);
    const form = p.locator('form:has(#node-input-keyDays)');
    await form.locator('#node-input-mode').waitFor({ state: 'visible' });
    return form;
  }

  /** Whether the row of each setting shows (a typed input hides its own input: its row is what counts). */
  async function shown(form: Locator, props: string[]): Promise<Record<string, boolean>> {
    const result: Record<string, boolean> = {};
    for (const prop of props) result[prop] = await form.locator(`.form-row:has(#node-input-${prop})`).isVisible();
    return result;
  }

  function all(props: string[], value: boolean): Record<string, boolean> {
    return Object.fromEntries(props.map((prop) => [prop, value]));
  }

  async function hasError(input: Locator): Promise<boolean> {
    return /\binput-error\b/.test((await input.getAttribute('class')) ?? '');
  }

  /** The open edit tray, as a picture. */
  async function screenshotForm(p: Page, file: string): Promise<void> {
    await p.locator('.red-ui-tray').last().screenshot({ path: file });
    console.log(`      screenshot: ${file}`);
  }

  async function fromPalette(p: Page): Promise<{ id: string; outputs: number; settings: Record<string, unknown> }> {
    const paletteNode = p.locator(`.red-ui-palette-node[data-palette-type="${TYPE}"]`);
    assert.equal((await paletteNode.innerText()).trim(), STRINGS.paletteLabel);
    const before = await p.locator('#red-ui-workspace g.red-ui-flow-node-group').count();
    await paletteNode.dragTo(p.locator('#red-ui-workspace-chart'), { targetPosition: { x: 300, y: 350 } });
    await p.locator('#red-ui-workspace g.red-ui-flow-node-group').nth(before).waitFor({ state: 'attached' });
    const added = await p.evaluate(
      ({ type, props }) => {
        const w = globalThis as unknown as { RED: { nodes: { filterNodes: (f: { type: string }) => (Record<string, unknown> & { id: string; outputs: number })[] } } };
        return w.RED.nodes
          .filterNodes({ type })
          .filter((n) => n.id !== 'att')
          .map((n) => ({ id: n.id, outputs: n.outputs, settings: Object.fromEntries(props.map((prop) => [prop, n[prop]])) }));
      },
      { type: TYPE, props: Object.keys(DEFAULTS) },
    );
    assert.equal(added.length, 1, 'one node added from the palette');
    return added[0];
  }

  async function saved(id: string): Promise<FlowNode> {
    const node = (await form.red().flows()).find((n) => n.id === id);
    assert.ok(node, `node ${id} in the deployed flows`);
    return node;
  }

  it('a new node: send rows in send mode, receive rows in receive mode, two outputs after Done', async () => {
    const p = await form.openEditor();
    const added = await fromPalette(p);
    assert.deepEqual(added.settings, DEFAULTS);
    assert.equal(added.outputs, 1);
    assert.equal(await ports(p, added.id), 1);

    const f = await openForm(p, added.id);
    // Every label is translated (a missing string shows its key).
    assert.doesNotMatch(await f.innerText(), /rps-attachment-sync\./);
    assert.equal(await f.locator('#node-input-mode').inputValue(), 'send');
    assert.deepEqual(await shown(f, SEND_ROWS), all(SEND_ROWS, true));
    assert.deepEqual(await shown(f, RECEIVE_ROWS), all(RECEIVE_ROWS, false));
    assert.equal(await f.locator('.form-row:has(#node-input-remoteSystem)').isVisible(), true);
    // No process event is needed to send.
    assert.equal(await hasError(f.locator('#node-input-processEvent')), false);
    // Number settings are checked as the runtime reads them.
    // (Node-RED checks on change or keyup: a key press as a user types.)
    await f.locator('#node-input-keyDays').fill('0');
    await f.locator('#node-input-keyDays').press('End');
    assert.equal(await hasError(f.locator('#node-input-keyDays')), true, 'keys live a day at least');
    await f.locator('#node-input-keyDays').fill('7');
    await f.locator('#node-input-keyDays').press('End');
    assert.equal(await hasError(f.locator('#node-input-keyDays')), false);
    await f.locator('#node-input-remoteSystem').selectOption('rs');
    await screenshotForm(p, '/tmp/att-form-send.png');

    await f.locator('#node-input-mode').selectOption('receive');
    assert.deepEqual(await shown(f, SEND_ROWS), all(SEND_ROWS, false));
    assert.deepEqual(await shown(f, RECEIVE_ROWS), all(RECEIVE_ROWS, true));
    assert.equal(await f.locator('.form-row:has(#node-input-remoteSystem)').isVisible(), true);
    assert.doesNotMatch(await f.innerText(), /rps-attachment-sync\./);
    // Receive mode needs one: it is marked until one is picked.
    assert.equal(await hasError(f.locator('#node-input-processEvent')), true, 'process event required in receive mode');
    await f.locator('#node-input-processEvent').selectOption('pe');
    assert.equal(await hasError(f.locator('#node-input-processEvent')), false);
    await screenshotForm(p, '/tmp/att-form-receive.png');

    await doneAndDeploy(p);
    const node = await saved(added.id);
    assert.equal(node.mode, 'receive');
    assert.equal(node.processEvent, 'pe');
    assert.equal(Number(node.outputs), 2);
    assert.equal(await ports(p, added.id), 2);
    const valid = await p.evaluate((id) => (globalThis as unknown as { RED: { nodes: { node: (id: string) => { valid?: boolean } } } }).RED.nodes.node(id).valid, added.id);
    assert.equal(valid, true);
    assert.deepEqual(pageErrors, []);
  });

  it('back to send mode: one output, its wires to output 1 kept', async () => {
    const p = await form.openEditor();
    let f = await openForm(p, 'att');
    await f.locator('#node-input-mode').selectOption('receive');
    await f.locator('#node-input-processEvent').selectOption('pe');
    await doneAndDeploy(p);
    assert.equal(Number((await saved('att')).outputs), 2);
    assert.deepEqual((await saved('att')).wires, [['a'], []]);

    f = await openForm(p, 'att');
    assert.equal(await f.locator('#node-input-mode').inputValue(), 'receive');
    assert.deepEqual(await shown(f, RECEIVE_ROWS), all(RECEIVE_ROWS, true));
    await f.locator('#node-input-mode').selectOption('send');
    await doneAndDeploy(p);
    const node = await saved('att');
    assert.equal(node.mode, 'send');
    assert.equal(Number(node.outputs), 1);
    assert.deepEqual(node.wires, [['a']]);
    assert.equal(await ports(p, 'att'), 1);
    assert.deepEqual(pageErrors, []);
  });

  it('shows its help in the sidebar', async () => {
    const p = await form.openEditor();
    await openForm(p, 'att');
    await p.locator('.red-ui-tray-footer-left button:has(i.fa-book)').click();
    // The help section holds the node's help (Node-RED nests a .red-ui-help in it).
    const help = p.locator('.red-ui-sidebar-help-stack .red-ui-help').first();
    await help.getByRole('heading', { name: 'Receive mode' }).waitFor({ state: 'visible' });
    const text = await help.innerText();
    for (const expected of ['Send mode', 'Receive mode', 'msg.attachments', 'must end in complete', 'fileId']) assert.ok(text.includes(expected), `the help says ${expected}`);
    await p.locator('#node-dialog-cancel').click();
    assert.deepEqual(pageErrors, []);
  });
});
