/**
 * The "Monitoring with Dashboard 2.0" example on a real Node-RED with FlowFuse Dashboard
 * 2.0 loaded (linked from the project's dev dependencies): its store is a temporary SQLite
 * file holding known rows and minute stats (test/harness/monitor-rows) before the flow is
 * deployed. In headless Chromium the editor flags no node of the example as invalid, and
 * the dashboard page draws the chart (a canvas with the outbound series' colour on it) and
 * shows the figures' numbers in the text widgets, the gauge and the template.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { monitoringDashboard } from '../../scripts/examples';
import { SqliteStore } from '../../src/store/sqlite';
import { type FlowNode, NodeRedInstance } from '../../tools/nodered';
import { artifactsDir, screenshot, startWithChromium } from '../browser/chromium';
import { fillStatsRows, STATS_EXPECTED } from '../harness/monitor-rows';

const DASHBOARD = '@flowfuse/node-red-dashboard';
const REMOTE = 'monitoring-rs';
const STATS = 'monitoring-stats';
const EVENT = 'Incident exchange';
/** The chart's colour of its first series (outbound), as the example sets it. */
const OUTBOUND_COLOUR = [0x00, 0x95, 0xff];

/** The example with its remote system on a store of its own, `path`, and no URL (nothing is sent: the rows stay as written). */
function exampleOn(path: string): FlowNode[] {
  const flow = monitoringDashboard().map((n) => (n.id === REMOTE ? { ...n, url: '', store: 'monitoring-test-store' } : n));
  return [...flow, { id: 'monitoring-test-store', type: 'rps-store', name: 'test store', storeType: 'sqlite', path, instanceName: 'dashboard-test' }];
}

/** The parts of the browser's canvas that canvasPixels reads (the project compiles without the DOM library). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}

/**
 * Runs in the page (a waitForFunction predicate): how many colours the first canvas under
 * `selector` has, once a pixel of it is close to `rgb` (anti-aliasing blends the edges of
 * lines); null until then.
 */
function canvasPixels({ selector, rgb }: { selector: string; rgb: number[] }): { colours: number } | null {
  const doc = (globalThis as unknown as { document: { querySelector(s: string): Canvas | null } }).document;
  const canvas = doc.querySelector(selector);
  const ctx = canvas?.getContext('2d');
  if (!canvas || !ctx || canvas.width === 0 || canvas.height === 0) return null;
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set<number>();
  let hasColour = false;
  for (let i = 0; i < data.length; i += 4) {
    colours.add(data[i] * 0x1000000 + data[i + 1] * 0x10000 + data[i + 2] * 0x100 + data[i + 3]);
    if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) < 24 && Math.abs(data[i + 1] - rgb[1]) < 24 && Math.abs(data[i + 2] - rgb[2]) < 24) hasColour = true;
  }
  return hasColour ? { colours: colours.size } : null;
}

describe('"Monitoring with Dashboard 2.0" example (real Node-RED, Dashboard 2.0, Chromium)', function () {
  this.timeout(120_000);
  const artifacts = artifactsDir('dashboard-example');
  let red: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;

  before(async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'rps-dashboard-')), 'store.sqlite');
    const store = new SqliteStore(path);
    await store.opened();
    await fillStatsRows(store, REMOTE, EVENT, Date.now());
    await store.close();
    await startWithChromium(NodeRedInstance.start({ name: 'dashboard-example', modules: [DASHBOARD] }), (started, launched) => {
      red = started;
      browser = launched;
    });
    assert.ok(red && browser);
    await red.deploy(exampleOn(path));
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  afterEach(async function () {
    if (!page) return;
    const failed = this.currentTest?.state === 'failed';
    await screenshot(page, artifacts, `${failed ? 'failed-' : ''}${this.currentTest?.title ?? 'page'}`);
    if (failed && red) console.log(red.log.slice(-40).join('\n'));
    await page.close();
    page = undefined;
  });

  it('the editor flags no node of the example as invalid (every widget has its required properties)', async () => {
    assert.ok(red && browser);
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(30_000);
    await page.goto(`${red.url}/`);
    await page.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${STATS}"]`).waitFor({ state: 'visible' });
    const invalid = await page.evaluate(() => {
      const out: string[] = [];
      const red = (globalThis as unknown as { RED: { nodes: { eachNode(f: (n: Record<string, unknown>) => void): void; eachConfig(f: (n: Record<string, unknown>) => void): void } } }).RED;
      const check = (n: Record<string, unknown>): void => {
        if (n.valid === false) out.push(`${String(n.type)} ${String(n.id)}: ${JSON.stringify(n.validationErrors ?? [])}`);
      };
      red.nodes.eachNode(check);
      red.nodes.eachConfig(check);
      return out;
    });
    assert.deepEqual(invalid, []);
    assert.ok(!red.log.some((l) => /Waiting for missing types/.test(l)), 'Node-RED knows every node type of the example');
  });

  it('the dashboard page draws the chart and shows the figures in its widgets', async () => {
    assert.ok(red && browser);
    const expected = STATS_EXPECTED.remote.outbound;
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(30_000);
    await page.goto(`${red.url}/dashboard/sync`);

    // The text widgets show their figure of msg.payload (the node sends a second after the deploy, then every 10 s).
    await page.locator('.rps-waiting').getByText(String(expected.waiting), { exact: true }).waitFor();
    await page.locator('.rps-error').getByText(String(expected.error), { exact: true }).waitFor();
    await page.locator('.rps-p95').getByText(String(expected.p95Ms), { exact: true }).waitFor();
    assert.match(await page.locator('.rps-waiting').innerText(), /Outbound waiting/);
    // The template's table: both directions, side by side.
    await page.locator('.rps-directions table.rps-figures').waitFor();
    const perHour = page.locator('.rps-directions tr', { hasText: 'last hour' });
    assert.equal(await perHour.locator('.rps-out').innerText(), String(expected.perHour));
    assert.equal(await perHour.locator('.rps-in').innerText(), String(STATS_EXPECTED.remote.inbound.perHour));
    // The gauge shows the success rate.
    await page.locator('.rps-success').getByText(String(expected.successPercent)).first().waitFor();

    // The chart: a canvas, drawn with the outbound series (its colour is in the line and the legend).
    const canvas = '.rps-chart canvas';
    await page.locator(canvas).first().waitFor();
    const look = { selector: canvas, rgb: OUTBOUND_COLOUR };
    // ECharts draws after its data arrives: wait until the outbound colour is on the canvas.
    const drawn = (await (await page.waitForFunction(canvasPixels, look)).jsonValue()) as { colours: number };
    assert.ok(drawn.colours > 2, `the chart is not blank: ${drawn.colours} colours`);
  });
});
