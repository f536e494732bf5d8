/**
 * What the browser tests share: Debian's Chromium (/usr/bin/chromium) started headless
 * through playwright-core, and a folder for their screenshots (test-artifacts/, git-ignored).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type FlowNode, NodeRedInstance, PROJECT_ROOT } from '../../tools/nodered';

export const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Throws, saying how to install it, when Debian's Chromium is not there. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: these browser tests need Debian's Chromium. Install it with ` +
        '`sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium` (.ci/run does this on CI).',
    );
  }
}

/** Starts Chromium headless; rejects with a message that names it when it does not start. */
export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 });
  } catch (err) {
    throw new Error(`${CHROMIUM} did not start: ${String(err)}`);
  }
}

/** Where a test file keeps its screenshots: test-artifacts/<folder>/ in the project. */
export function artifactsDir(folder: string): string {
  const dir = join(PROJECT_ROOT, 'test-artifacts', folder);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A screenshot of the whole page as `<dir>/<name>.png`; logs where, or why there is none. */
export async function screenshot(page: Page, dir: string, name: string): Promise<void> {
  const file = join(dir, `${name.match(/[\w-]+/g)?.join('-').slice(0, 80) ?? 'page'}.png`);
  await page.screenshot({ path: file, fullPage: true }).then(
    () => console.log(`      screenshot: ${file}`),
    (err: unknown) => console.log(`      no screenshot: ${String(err)}`),
  );
}

/**
 * Starts a server (a Node-RED, a pair) and Chromium together. `keep` is given whichever
 * started, before a failure of the other is thrown, so that after() stops it.
 */
export async function startWithChromium<T>(server: Promise<T>, keep: (server: T | undefined, browser: Browser | undefined) => void): Promise<void> {
  requireChromium();
  const [started, launched] = await Promise.allSettled([server, launchChromium()]);
  keep(started.status === 'fulfilled' ? started.value : undefined, launched.status === 'fulfilled' ? launched.value : undefined);
  if (started.status === 'rejected') throw started.reason;
  if (launched.status === 'rejected') throw launched.reason;
}

/**
 * Opens a node's edit form by double-clicking it on the workspace, and resolves once the
 * edit tray has slid into its place. Node-RED draws the tray off screen and moves it in
 * with a 0.25 s CSS transition that starts on a timer: on a loaded machine the tray can
 * sit still off screen long enough for Playwright to call it stable, and a click then
 * lands where the control was, not where it is (a CI run's checkbox "did not change its
 * state" so). Every tray open is at `right: 0` once its move ends.
 */
export async function openNodeForm(page: Page, nodeId: string): Promise<void> {
  await page.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${nodeId}"] rect.red-ui-flow-node`).dblclick();
  await traysInPlace(page);
}

/**
 * Resolves once every edit tray in the page has slid into its place: see openNodeForm. (A
 * config node's tray replaces its user's, which slides out first: wait for the new form
 * to be there, then for this.)
 */
export async function traysInPlace(page: Page): Promise<void> {
  // A string, evaluated in the page: this project compiles without the DOM's types.
  await page.waitForFunction(`[...document.querySelectorAll('.red-ui-tray')].every((t) => getComputedStyle(t).right === '0px') && document.querySelector('.red-ui-tray') !== null`);
}

/** Done on the open node form, then Deploy; resolves once Node-RED has taken the new flows. */
export async function doneAndDeploy(page: Page): Promise<void> {
  await page.locator('#node-dialog-ok').click();
  await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
  const deployed = page.waitForResponse((r) => new URL(r.url()).pathname === '/flows' && r.request().method() === 'POST');
  await page.locator('#red-ui-header-button-deploy').click();
  const status = (await deployed).status();
  if (status !== 200) throw new Error(`deploy answered ${status}`);
}

/**
 * A new page on the editor at `url`, once the node `nodeId` is drawn on its workspace;
 * the page's uncaught errors are pushed to `errors`.
 */
export async function editorPage(browser: Browser, url: string, nodeId: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (err) => void errors.push(String(err)));
  await page.goto(`${url}/`);
  await page.locator(`#red-ui-workspace g.red-ui-flow-node-group[id="${nodeId}"]`).waitFor({ state: 'visible', timeout: 30_000 });
  return page;
}

/** One form test file's Node-RED, browser and page (see useEditorForm). */
export interface EditorFormSession {
  /** The running Node-RED. */
  red(): NodeRedInstance;
  /** Errors the editor page threw since the last openEditor(). */
  readonly pageErrors: string[];
  /** Deploys the file's flows and opens the editor on them (centred on `nodeId`). */
  openEditor(): Promise<Page>;
}

/**
 * The mocha hooks of a form test file: a Node-RED and Chromium for the file, a screenshot
 * of each test's end (named "failed-…" when it failed, with Node-RED's log) in
 * test-artifacts/<name>/, and the page closed after each test.
 */
export function useEditorForm(name: string, flows: () => FlowNode[], nodeId: string): EditorFormSession {
  const artifacts = artifactsDir(name);
  let red: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];

  before(async function () {
    await startWithChromium(NodeRedInstance.start({ name }), (started, launched) => {
      red = started;
      browser = launched;
    });
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
    browser = red = undefined;
  });

  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed';
    if (page) await screenshot(page, artifacts, `${failed ? 'failed' : 'end'}-${this.currentTest?.title ?? 'test'}`);
    await page?.close();
    page = undefined;
    if (failed && red) console.log('--- Node-RED log ---\n' + red.log.slice(-30).join('\n'));
  });

  return {
    red: () => {
      if (!red) throw new Error(`${name}: Node-RED is not running`);
      return red;
    },
    pageErrors,
    async openEditor() {
      if (!red || !browser) throw new Error(`${name}: Node-RED or Chromium is not running`);
      await red.deploy(flows());
      pageErrors.length = 0;
      page = await editorPage(browser, red.url, nodeId, pageErrors);
      return page;
    },
  };
}
