/**
 * The "Two help desks" example as it ships (no credentials: examples never carry them),
 * imported into two real Node-RED instances and seen in A's editor in headless Chromium
 * (playwright-core, Debian's /usr/bin/chromium): what a new user sees before filling in
 * the four fields on each side. A's inbound node names the fields and the remote system
 * to set, its send node says that B serves no rps/1 endpoint (not just "HTTP 404"), and
 * the remote system's form warns until an API user and password are entered.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { type FlowNode, NodeRedInstance, PROJECT_ROOT } from '../../tools/nodered';

const BROWSER = '/usr/bin/chromium';

type Catalog = Record<string, Record<string, string>>;

/** A node's en-US strings, as the editor and the runtime show them. */
function strings(type: string): Catalog {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<string, Catalog>)[type];
}

/** A text with its __name__ parameters filled in, as Node-RED's i18n does. */
function render(text: string, params: Record<string, string | number>): string {
  return text.replace(/__(\w+)__/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** A shipped example flow with its remote system's URL pointed at `url` (the example's own ports may be taken here). */
function example(file: string, url: string): FlowNode[] {
  const flows = JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples', 'Two help desks', file), 'utf8')) as FlowNode[];
  return flows.map((n) => (n.type === 'rps-remote-system' ? { ...n, url } : n));
}

describe('the Two help desks example without credentials, in the editor (headless Chromium)', function () {
  this.timeout(60_000);
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;

  before(async function () {
    if (!existsSync(BROWSER)) throw new Error(`${BROWSER} not found: the browser tests need Debian's Chromium (npm test installs it when it may)`);
    const started = await Promise.allSettled([
      NodeRedInstance.start({ name: 'desk-a' }),
      NodeRedInstance.start({ name: 'desk-b' }),
      chromium.launch({ executablePath: BROWSER, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'], timeout: 30_000 }),
    ]);
    // Whatever started is kept, so that after() stops it when something else failed.
    if (started[0].status === 'fulfilled') a = started[0].value;
    if (started[1].status === 'fulfilled') b = started[1].value;
    if (started[2].status === 'fulfilled') browser = started[2].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    await a!.deploy(example('Help desk A.json', b!.url));
    await b!.deploy(example('Help desk B.json', a!.url));
    page = await browser!.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(15_000);
    await page.goto(`${a!.url}/`);
  });

  let failed = false;
  afterEach(function () {
    failed ||= this.currentTest?.state === 'failed';
  });

  after(async function () {
    if (failed || !page) {
      for (const desk of [a, b]) if (desk) console.log(`--- ${desk.name} log ---\n${desk.logText().split('\n').slice(-30).join('\n')}`);
    }
    await browser?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  /** The status text shown under node `id` on A's workspace. */
  function statusOf(id: string): Locator {
    return page!.locator(`#red-ui-workspace g.red-ui-flow-node-group#${id} text.red-ui-flow-node-status-label`);
  }

  const rs = strings('rps-remote-system');
  const noInboundUser = render(rs.errors['no-inbound-user'], { remote: 'Help desk B' });

  it("A's inbound node names the settings to set and where, not \"validate and activate\"", async () => {
    await page!.locator('#red-ui-workspace g.red-ui-flow-node-group#desk-a-inbound').waitFor({ state: 'visible', timeout: 30_000 });
    await statusOf('desk-a-inbound').filter({ hasText: noInboundUser }).waitFor();
    assert.equal(await statusOf('desk-a-inbound').textContent(), noInboundUser);
  });

  it("A's send node says that B serves no rps/1 inbound endpoint once a change is sent", async () => {
    const res = await fetch(`${a!.url}/incidents`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ short_description: 'Printer on fire', description: 'Floor 3', priority: 1, state: 'new' }),
    });
    assert.ok(res.status < 300, `POST /incidents: ${res.status} ${await res.text()}`);
    // Three attempts (after 1 s and 2 s), then the remote system's state is error with the reason.
    const expected = render(strings('rps-send').status['remote-error'], { count: 1, error: rs.reasons['no-endpoint'] });
    await statusOf('desk-a-send').filter({ hasText: expected }).waitFor({ timeout: 30_000 });
  });

  it("the remote system's form warns until an API user and password are entered, and its state line names them", async () => {
    // The config node's edit dialog, as the pencil next to a node's Remote system opens it.
    await page!.evaluate("RED.editor.editConfig('', 'rps-remote-system', 'desk-a-rs')");
    const form = page!.locator('form:has(#node-config-input-inboundAuth)');
    const warning = form.locator('.rps-remote-system-no-inbound');
    await warning.waitFor({ state: 'visible' });
    assert.equal((await warning.innerText()).trim(), rs.warning['no-inbound-user']);
    await form.locator('.rps-state-inbound-detail').filter({ hasText: noInboundUser }).waitFor();

    await form.locator('#node-config-input-inboundUser').fill('desk-b');
    await warning.waitFor({ state: 'visible' });
    await form.locator('#node-config-input-inboundPassword').fill('secret 2');
    await warning.waitFor({ state: 'hidden' });
    await form.locator('#node-config-input-inboundUser').fill('');
    await warning.waitFor({ state: 'visible' });
    await form.locator('#node-config-input-inboundAuth').selectOption('jwt');
    await warning.waitFor({ state: 'hidden' });
    await page!.locator('#node-config-dialog-cancel').click();
  });
});
