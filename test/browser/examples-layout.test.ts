/**
 * The shipped examples as a user sees them: each is imported in a fresh editor in
 * headless Chromium through Menu > Import > Examples, opened, deployed (and the help
 * desks given a record through their REST API, so that the nodes on the way show their
 * counts), then measured in the editor's DOM. No two nodes may overlap at the labels the
 * editor draws, no node may stick out left of or above the canvas, a status text may
 * cover no other node or status, and every wire runs from left to right without passing
 * under another node. A screenshot of each is kept in test-artifacts/examples/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DESK_A, DESK_B, EXAMPLES, REMOTE_SYSTEM_FORM } from '../../scripts/examples';
import { MODULE } from '../../src/nodes/common';
import { type FlowNode, NodeRedInstance, PROJECT_ROOT } from '../../tools/nodered';
import { launchChromium } from './chromium';

const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts', 'examples');

/** A rectangle on the canvas, in the flow's coordinates (those of x and y in the flow JSON). */
interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** A node as the editor drew it: its rectangle with its label and button, and its status when one shows. */
interface DrawnNode {
  id: string;
  name: string;
  box: Box;
  status: { box: Box; text: string } | undefined;
}

/** A wire as the editor drew it, sampled every few pixels along its path. */
interface DrawnWire {
  from: string;
  to: string;
  points: { x: number; y: number }[];
}

function statusText(type: string, key: string): string {
  const catalog = JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<string, { status: Record<string, string> }>;
  return catalog[type].status[key];
}

/** Statuses a node shows on its way to the one it settles on after a deploy. */
const PASSING: Record<string, string[]> = {
  'rps-inbound': [statusText('rps-inbound', 'loading')],
  'rps-queue-retry': [statusText('rps-queue-retry', 'counting')],
};

/** Everything reached from `start` along wires (without `start`). */
function downstream(flow: FlowNode[], start: string): string[] {
  const byId = new Map(flow.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const next = [start];
  while (next.length > 0) {
    const wires = (byId.get(next.pop()!)?.wires ?? []) as string[][];
    for (const id of wires.flat()) {
      if (seen.has(id)) continue;
      seen.add(id);
      next.push(id);
    }
  }
  seen.delete(start);
  return [...seen];
}

/** Overlap of two boxes as "W×H px", or undefined when they do not overlap. */
function overlap(a: Box, b: Box): string | undefined {
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  return w > 0 && h > 0 ? `${Math.round(w)}×${Math.round(h)} px` : undefined;
}

/** What is wrong with the drawn flow, one line per problem. */
function layoutProblems(nodes: DrawnNode[], wires: DrawnWire[]): string[] {
  const problems: string[] = [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const n of nodes) {
    if (n.box.left < 0 || n.box.top < 0) problems.push(`${n.name} is off the canvas: left ${Math.round(n.box.left)}, top ${Math.round(n.box.top)}`);
  }
  for (const [i, a] of nodes.entries()) {
    for (const b of nodes.slice(i + 1)) {
      const o = overlap(a.box, b.box);
      if (o) problems.push(`${a.name} and ${b.name} overlap by ${o}`);
    }
  }
  for (const a of nodes) {
    if (!a.status) continue;
    for (const b of nodes) {
      if (b === a) continue;
      const onNode = overlap(a.status.box, b.box);
      if (onNode) problems.push(`the status of ${a.name} ("${a.status.text}") covers ${b.name} by ${onNode}`);
      const onStatus = b.status && nodes.indexOf(b) > nodes.indexOf(a) ? overlap(a.status.box, b.status.box) : undefined;
      if (onStatus) problems.push(`the statuses of ${a.name} and ${b.name} overlap by ${onStatus}`);
    }
  }
  for (const w of wires) {
    const from = byId.get(w.from);
    const to = byId.get(w.to);
    if (!from || !to) {
      problems.push(`a wire from ${w.from} to ${w.to} joins a node that is not drawn`);
      continue;
    }
    if (to.box.left <= from.box.right) problems.push(`the wire from ${from.name} to ${to.name} runs back to the left`);
    for (const n of nodes) {
      if (n === from || n === to) continue;
      // A pixel of slack: a wire may touch a node's edge where it passes close by.
      const under = w.points.some((p) => p.x > n.box.left + 1 && p.x < n.box.right - 1 && p.y > n.box.top + 1 && p.y < n.box.bottom - 1);
      if (under) problems.push(`the wire from ${from.name} to ${to.name} passes under ${n.name}`);
    }
  }
  return problems;
}

/** The nodes and wires of the open tab, measured from the editor's SVG. */
async function measure(page: Page): Promise<{ nodes: DrawnNode[]; wires: DrawnWire[] }> {
  return page.locator('#red-ui-workspace-chart').evaluate((chart) => {
    interface Rect {
      left: number;
      top: number;
      right: number;
      bottom: number;
      width: number;
      height: number;
    }
    interface El {
      id: string;
      textContent: string | null;
      classList: { contains(name: string): boolean };
      style: { display: string };
      getBoundingClientRect(): Rect;
      querySelector(selector: string): El | null;
      querySelectorAll(selector: string): ArrayLike<El>;
    }
    interface Point {
      x: number;
      y: number;
      matrixTransform(m: unknown): Point;
    }
    interface WirePath extends El {
      __data__: { source: { id: string }; target: { id: string } };
      getTotalLength(): number;
      getPointAtLength(at: number): Point;
      getScreenCTM(): unknown;
    }
    const root = chart as unknown as El;
    const scale = (globalThis as unknown as { RED: { view: { scale(): number } } }).RED.view.scale();
    // The canvas is the chart's SVG: its top-left corner is x = 0, y = 0 of the flow.
    const origin = root.querySelector('svg')!.getBoundingClientRect();
    const toCanvas = (r: { left: number; top: number; right: number; bottom: number }) => ({
      left: (r.left - origin.left) / scale,
      top: (r.top - origin.top) / scale,
      right: (r.right - origin.left) / scale,
      bottom: (r.bottom - origin.top) / scale,
    });
    const union = (a: Omit<Rect, 'width' | 'height'>, b: Rect | undefined) =>
      b ? { left: Math.min(a.left, b.left), top: Math.min(a.top, b.top), right: Math.max(a.right, b.right), bottom: Math.max(a.bottom, b.bottom) } : a;
    const nodes = Array.from(root.querySelectorAll('g.red-ui-flow-node-group')).map((g) => {
      const label = g.querySelector('g.red-ui-flow-node-label');
      const labelText = (label?.textContent ?? '').trim();
      // A hidden label (a link node's, by default) takes no room.
      const labelBox = label && labelText !== '' && !label.classList.contains('hide') ? label.getBoundingClientRect() : undefined;
      // An inject's or a debug node's button sticks out of its rectangle.
      const button = g.querySelector('g.red-ui-flow-node-button');
      const statusGroup = g.querySelector('g.red-ui-flow-node-status-group');
      const statusShown = statusGroup !== null && statusGroup.style.display !== 'none';
      return {
        id: g.id,
        name: `"${labelText}" (${g.id})`,
        box: toCanvas(union(union(g.querySelector('rect.red-ui-flow-node')!.getBoundingClientRect(), labelBox), button?.getBoundingClientRect())),
        status: statusShown ? { box: toCanvas(statusGroup.getBoundingClientRect()), text: (statusGroup.textContent ?? '').trim() } : undefined,
      };
    });
    // Real wires only: the dashed ones a selected link node shows are not part of the layout.
    const wires = Array.from(root.querySelectorAll('path.red-ui-flow-link-line:not(.red-ui-flow-link-link)') as ArrayLike<WirePath>).map((path) => {
      const points: { x: number; y: number }[] = [];
      const length = path.getTotalLength();
      const ctm = path.getScreenCTM();
      for (let at = 0; at <= length; at += 4) {
        const p = path.getPointAtLength(at).matrixTransform(ctm);
        points.push({ x: (p.x - origin.left) / scale, y: (p.y - origin.top) / scale });
      }
      return { from: path.__data__.source.id, to: path.__data__.target.id, points };
    });
    return { nodes, wires };
  });
}

/** Waits until each of `ids` shows a status that is not one it shows only on its way (`passing[id]`). */
async function statusesShown(page: Page, ids: string[], passing: Record<string, string[]>): Promise<void> {
  await page.waitForFunction(
    ([list, skip]) => {
      interface El {
        textContent: string | null;
        style: { display: string };
        querySelector(selector: string): El | null;
      }
      const doc = (globalThis as unknown as { document: { getElementById(id: string): El | null } }).document;
      return list.every((id) => {
        const group = doc.getElementById(id)?.querySelector('g.red-ui-flow-node-status-group');
        const text = (group?.textContent ?? '').trim();
        return !!group && group.style.display !== 'none' && text !== '' && !(skip[id] ?? []).includes(text);
      });
    },
    [ids, passing] as const,
    { timeout: 30_000 },
  );
}

describe('shipped examples in the editor (headless Chromium)', function () {
  this.timeout(120_000);
  let nr: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  /** Where this example's lines begin in Node-RED's log. */
  let logFrom = 0;

  before(async function () {
    // Started together; whichever started is kept, so that after() stops it when the other failed.
    const [started, launched] = await Promise.allSettled([NodeRedInstance.start({ name: 'examples', modules: ['@flowfuse/node-red-dashboard'] }), launchChromium()]);
    if (started.status === 'fulfilled') nr = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && nr) console.log('--- Node-RED log of this example ---\n' + nr.log.slice(logFrom).join('\n'));
    await context?.close();
    context = undefined;
  });

  after(async function () {
    await browser?.close();
    await nr?.stop();
    browser = nr = undefined;
  });

  for (const [file, make] of Object.entries(EXAMPLES)) {
    const flow = make();
    const tab = flow.find((n) => n.type === 'tab')!;
    const desk = [DESK_A, DESK_B].find((d) => file.endsWith(`/${d.title}.json`));

    it(`${file}: imported from Menu > Import > Examples, nothing overlaps or leaves the canvas, wires run left to right`, async () => {
      // A fresh start: nothing deployed, a new browser profile.
      logFrom = nr!.log.length;
      await nr!.deploy([]);
      context = await browser!.newContext({ viewport: { width: 2200, height: 1100 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${nr!.url}/`);
      await page.locator(`.red-ui-palette-node[data-palette-type="rps-send"]`).waitFor({ state: 'visible', timeout: 30_000 });

      await page.locator('#red-ui-header-button-sidemenu').click();
      await page.locator('#menu-item-import').click();
      await page.locator('#red-ui-clipboard-dialog-import-tabs a:has-text("Examples")').click();
      const library = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
      for (const entry of [MODULE, ...file.replace(/\.json$/, '').split('/')]) {
        await library.locator(`.red-ui-treeList-label:has(> .red-ui-treeList-label-text:text-is("${entry}"))`).click();
      }
      // Import is enabled once the editor has fetched and read the example: on a loaded machine
      // (a CI run failed so) that took longer than the default 15 s for the largest example.
      await page.locator('#red-ui-clipboard-dialog-ok:not([disabled])').waitFor({ state: 'visible', timeout: 60_000 });
      await page.locator('#red-ui-clipboard-dialog-ok').click();
      await page.locator(`#red-ui-workspace-tabs li.red-ui-tab[flowname="${String(tab.label)}"] a.red-ui-tab-label`).click();
      // The tab's info, in the Information sidebar, says what to fill in on the remote system.
      await page.locator('.red-ui-sidebar-info-stack li').filter({ hasText: `${REMOTE_SYSTEM_FORM.label.inbound}:` }).waitFor();
      const drawn = flow.filter((n) => n.z === tab.id);
      for (const n of drawn) await page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${n.id}"]`).waitFor({ state: 'attached' });

      await page.locator('#red-ui-header-button-deploy').click();
      await page.locator('.red-ui-notification-success').waitFor({ state: 'visible' });
      await statusesShown(
        page,
        drawn.filter((n) => n.type in PASSING).map((n) => n.id),
        Object.fromEntries(drawn.filter((n) => n.type in PASSING).map((n) => [n.id, PASSING[n.type]])),
      );
      if (desk) {
        // One record through the desk's REST API: capture, correlate, map and send show their counts.
        const record = Object.fromEntries(
          desk.toShared.map((row) => [row.value, row.map ? Object.keys(JSON.parse(row.map) as Record<string, unknown>)[0] : 'The printer on floor 2 is out of paper']),
        );
        const res = await fetch(`${nr!.url}${desk.path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(record) });
        assert.equal(res.status, 201, await res.text());
        const capture = drawn.find((n) => n.type === 'rps-capture')!;
        await statusesShown(page, [capture.id, ...downstream(flow, capture.id)], {});
      }

      const shot = join(ARTIFACTS, `${file.replace(/\.json$/, '').replace(/\//g, ' - ')}.png`);
      await page.screenshot({ path: shot });
      const { nodes, wires } = await measure(page);
      assert.deepEqual(
        nodes.map((n) => n.id).sort(),
        drawn.map((n) => n.id).sort(),
        'the editor drew every node of the example',
      );
      assert.deepEqual(layoutProblems(nodes, wires), [], `layout of ${file} (screenshot: ${shot})`);
    });
  }
});
