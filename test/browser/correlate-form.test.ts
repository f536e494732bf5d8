/**
 * The rps-correlate form and its ports in headless Chromium on a real Node-RED: a node
 * saved before the inactive-link output keeps its two ports and wires, a new one from
 * the palette has three, and ticking or unticking the setting adds or removes the third
 * port (and its wires) in the flow Node-RED keeps.
 */
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import type { FlowNode } from '../../tools/nodered';
import { doneAndDeploy, openNodeForm, useEditorForm } from './chromium';

const TAB = 'tab1';

function flows(): FlowNode[] {
  return [
    { id: TAB, type: 'tab', label: 'Correlate form' },
    // As deployed before the setting: no inactiveOutput, no outputs, two ports wired.
    { id: 'old', type: 'rps-correlate', z: TAB, name: 'old', remoteSystem: '', x: 200, y: 100, wires: [['a'], ['b']] },
    { id: 'new', type: 'rps-correlate', z: TAB, name: 'new', remoteSystem: '', inactiveOutput: true, outputs: 3, x: 200, y: 260, wires: [['a'], ['b'], ['c']] },
    { id: 'a', type: 'debug', z: TAB, name: 'a', active: false, x: 500, y: 80, wires: [] },
    { id: 'b', type: 'debug', z: TAB, name: 'b', active: false, x: 500, y: 180, wires: [] },
    { id: 'c', type: 'debug', z: TAB, name: 'c', active: false, x: 500, y: 280, wires: [] },
  ];
}

describe('rps-correlate editor form (headless Chromium)', function () {
  this.timeout(90_000);
  const form = useEditorForm('correlate-form', flows, 'old');
  const { pageErrors } = form;
  const openEditor = (): Promise<Page> => form.openEditor();

  function ports(p: Page, id: string): Promise<number> {
    return p.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${id}"] g.red-ui-flow-port-output`).count();
  }

  async function openForm(p: Page, id: string): Promise<Locator> {
    await openNodeForm(p, id);
    const form = p.locator('form:has(#node-input-inactiveOutput)');
    await form.locator('#node-input-inactiveOutput').waitFor({ state: 'attached' });
    return form;
  }

  async function saved(id: string): Promise<FlowNode> {
    const node = (await form.red().flows()).find((n) => n.id === id);
    assert.ok(node, `node ${id} in the deployed flows`);
    return node;
  }

  it('an old node keeps two ports and its wires; ticking the setting adds the third port', async () => {
    const p = await openEditor();
    assert.equal(await ports(p, 'old'), 2);
    assert.equal(await ports(p, 'new'), 3);
    const form = await openForm(p, 'old');
    assert.equal(await form.locator('#node-input-inactiveOutput').isChecked(), false, 'as the runtime reads it: no third output');
    await form.locator('#node-input-inactiveOutput').check();
    await doneAndDeploy(p);
    const node = await saved('old');
    assert.equal(node.inactiveOutput, true);
    assert.equal(Number(node.outputs), 3);
    assert.deepEqual(node.wires, [['a'], ['b'], []]);
    assert.equal(await ports(p, 'old'), 3);
    assert.deepEqual(pageErrors, []);
  });

  it('unticking the setting removes the third port and its wires; a node from the palette has three ports', async () => {
    const p = await openEditor();
    const form = await openForm(p, 'new');
    assert.equal(await form.locator('#node-input-inactiveOutput').isChecked(), true);
    await form.locator('#node-input-inactiveOutput').uncheck();
    await doneAndDeploy(p);
    const node = await saved('new');
    assert.equal(node.inactiveOutput, false);
    assert.equal(Number(node.outputs), 2);
    assert.deepEqual(node.wires, [['a'], ['b']]);
    assert.equal(await ports(p, 'new'), 2);

    const before = await p.locator('#red-ui-workspace g.red-ui-flow-node-group').count();
    await p.locator('.red-ui-palette-node[data-palette-type="rps-correlate"]').dragTo(p.locator('#red-ui-workspace-chart'), { targetPosition: { x: 300, y: 450 } });
    await p.locator('#red-ui-workspace g.red-ui-flow-node-group').nth(before).waitFor({ state: 'attached' });
    const added = await p.evaluate(() => {
      const w = globalThis as unknown as { RED: { nodes: { filterNodes: (f: { type: string }) => { id: string; outputs: number; inactiveOutput: boolean }[] } } };
      return w.RED.nodes.filterNodes({ type: 'rps-correlate' }).filter((n) => n.id !== 'old' && n.id !== 'new').map((n) => ({ id: n.id, outputs: n.outputs, inactiveOutput: n.inactiveOutput }));
    });
    assert.equal(added.length, 1, 'one node added from the palette');
    assert.deepEqual([added[0].outputs, added[0].inactiveOutput], [3, true]);
    assert.equal(await ports(p, added[0].id), 3);
    assert.deepEqual(pageErrors, []);
  });
});
