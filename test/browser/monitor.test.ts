/**
 * The process sync monitor (issue 15) against two real Node-RED instances, A sending to B,
 * seen in headless Chromium: the editor's "process sync" sidebar tab and the full page at
 * <admin>/rps-monitor/ on A, with adminAuth (an admin and a read-only viewer).
 *
 * A scripted run leaves on A: rows processed (B applied them), rows in error (a process
 * event B does not know: refused `unknown-process-event`), and rows waiting (A's remote
 * system paused through the monitor's API). The views must show what the figures API and
 * the store say, draw their charts, and their actions must change the queue (checked in
 * A's SQLite file, opened read-only). Waits are on selectors, responses and the stores,
 * never on time: the views re-render when the runtime pushes new figures.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { hashSync } from 'bcryptjs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { A_TO_B, B_TO_A, PROCESS_EVENT, receiverFlow, senderFlow } from '../../tools/flows';
import { type FlowNode, NodeRedInstance } from '../../tools/nodered';
import { untilStores } from '../harness/pair';
import { RecordsServer } from '../harness/records';
import { artifactsDir, screenshot, startWithChromium } from './chromium';

/** A process event of A that B does not define (until the test adds it on B). */
const UNKNOWN_EVENT = 'Not on B';
const ADMIN = { username: 'admin', password: 'admin-pass-0001' };
const VIEWER = { username: 'viewer', password: 'viewer-pass-0002' };
const METRICS_TOKEN = 'prometheus-scrape-token-0003';

interface QueueFigures {
  direction: string;
  remoteSystem: string;
  processEvent: string;
  counts: Record<string, number>;
}
interface Figures {
  stores: { id: string }[];
  remotes: { id: string; outbound: string; paused: boolean }[];
  queues: QueueFigures[];
  depth: Record<'outbound' | 'inbound', Record<string, number>>;
  errors: { total: number; rows: { store: string; direction: string; id: number; processEvent: string }[] };
}

/** A: the test sender flow (`POST /change`, process event PROCESS_EVENT) plus `POST /change-x` → capture → correlate → send with UNKNOWN_EVENT. */
function flowsOfA(bUrl: string): FlowNode[] {
  const z = 'tab-sender';
  const sender = senderFlow({ remoteUrl: bUrl, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A });
  /** The sender's node `id` (its http in, its change that unpacks the body) again, with `changes`. */
  const like = (id: string, changes: Partial<FlowNode>): FlowNode => {
    const node = sender.find((n) => n.id === id);
    if (!node) throw new Error(`the sender flow has no node ${id}`);
    return { ...node, ...changes };
  };
  return [
    ...sender,
    { id: 'pe-x', type: 'rps-process-event', name: UNKNOWN_EVENT },
    like('in', { id: 'in-x', url: '/change-x', y: 300, wires: [['unpack-x']] }),
    like('unpack', { id: 'unpack-x', y: 300, wires: [['cap-x']] }),
    { id: 'cap-x', type: 'rps-capture', z, table: 'other', idField: 'id', insert: true, update: true, delete: true, fields: '', x: 400, y: 300, wires: [['cor-x']] },
    { id: 'cor-x', type: 'rps-correlate', z, remoteSystem: 'rs', x: 550, y: 300, wires: [['snd-x'], ['snd-x']] },
    { id: 'snd-x', type: 'rps-send', z, remoteSystem: 'rs', processEvent: 'pe-x', x: 700, y: 300, wires: [['ok-x']] },
    { id: 'ok-x', type: 'http response', z, statusCode: '', x: 850, y: 300, wires: [] },
  ];
}

/** B: the test receiver flow into `records`; with `knowsUnknown`, UNKNOWN_EVENT is defined there too (its rows then wait on B's inbound queue). */
function flowsOfB(aUrl: string, records: RecordsServer, knowsUnknown: boolean): FlowNode[] {
  const flows = receiverFlow({ remoteUrl: aUrl, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: records.url });
  return knowsUnknown ? [...flows, { id: 'pe-x', type: 'rps-process-event', name: UNKNOWN_EVENT }] : flows;
}

/** Logs in to A's admin API (the editor's password grant); resolves with the access token. */
async function login(instance: NodeRedInstance, user: { username: string; password: string }): Promise<string> {
  const res = await fetch(`${instance.adminUrl}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: user.username, password: user.password }).toString(),
  });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.access_token);
  return body.access_token;
}

/** A row of A's outbound queue, read from its SQLite file (read-only: A is running). */
function outboundRow(a: NodeRedInstance, id: number): { status: string; attempts: number; process_event: string } {
  const db = new Database(join(a.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT status, attempts, process_event FROM rps_outbound WHERE id = ?').get(id) as { status: string; attempts: number; process_event: string };
  } finally {
    db.close();
  }
}

/** Counts of A's outbound rows of `event` by status, from its SQLite file. */
function outboundCounts(a: NodeRedInstance, event: string): Record<string, number> {
  const db = new Database(join(a.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT status, count(*) AS n FROM rps_outbound WHERE process_event = ? GROUP BY status').all(event) as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  } finally {
    db.close();
  }
}

/** The login dialog of the editor at `url`: fills it in and resolves once the editor has loaded for that user. */
async function editorLogin(page: Page, url: string, user: { username: string; password: string }): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('#node-dialog-login-username').fill(user.username);
  await page.locator('#node-dialog-login-password').fill(user.password);
  await page.locator('#node-dialog-login-submit').click();
  await page.locator('#red-ui-tab-rps-monitor').waitFor({ state: 'attached', timeout: 30_000 });
}

/**
 * Opens the editor's "process sync" sidebar tab as a user does: its button when the
 * sidebar shows it, else from the sidebar's tab menu (▾), where tabs that do not fit go.
 */
async function openSidebarTab(page: Page): Promise<Locator> {
  const button = page.locator('#red-ui-tab-rps-monitor-link-button');
  if (await button.isVisible()) {
    await button.click();
  } else {
    await page.locator('#red-ui-sidebar .red-ui-tab-link-button-menu').click();
    await page.locator('#red-ui-tabs-menu-option-rps-monitor').click();
  }
  const sidebar = page.locator('.rps-monitor-sidebar');
  await sidebar.waitFor({ state: 'visible' });
  return sidebar;
}

/** The count cell of `status` in the queue row of A's remote system `rs`, outbound, `event`. */
function cell(view: Locator, event: string, status: string): Locator {
  return view.locator(`tr[data-queue="outbound/rs/${event}"] td[data-status="${status}"]`);
}

/** Resolves once the cell shows `n` (the view re-renders as figures are pushed). */
async function shows(view: Locator, event: string, status: string, n: number): Promise<void> {
  await view.locator(`tr[data-queue="outbound/rs/${event}"] td[data-status="${status}"]:text-is("${n}")`).waitFor({ timeout: 30_000 });
}

/** Every queue row and the outbound tiles of the view show what `figures` say. */
async function showsFigures(view: Locator, figures: Figures): Promise<void> {
  for (const q of figures.queues) {
    for (const [status, n] of Object.entries(q.counts)) {
      const c = view.locator(`tr[data-queue="${q.direction}/${q.remoteSystem}/${q.processEvent}"] td[data-status="${status}"]`);
      assert.equal(await c.textContent(), String(n), `${q.direction}/${q.processEvent} ${status}`);
    }
  }
  const d = figures.depth.outbound;
  assert.equal(await view.locator('[data-figure="outbound.waiting"] .rps-monitor-tile-value').textContent(), String(d.ready + d.processing));
  assert.equal(await view.locator('[data-figure="outbound.error"] .rps-monitor-tile-value').textContent(), String(d.error));
  assert.equal(await view.locator('[data-section="errors"] tr[data-row]').count(), figures.errors.rows.length);
}

/** What the test uses of a scrolling element (the project compiles without the DOM's types). */
/** The parts of the sidebar's element this test reads in the page. */
interface PartsBox {
  getBoundingClientRect(): { left: number; right: number };
  querySelectorAll(selector: string): Iterable<{ getAttribute(name: string): string | null; getBoundingClientRect(): { left: number; right: number } }>;
}

interface ScrollBox {
  scrollTop: number;
  getBoundingClientRect(): { top: number };
  querySelector(selector: string): { getBoundingClientRect(): { top: number } } | null;
}

/** What the test reads of a canvas element (the project compiles without the DOM's types). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}

/**
 * What the chart `key` drew: the number of colours on its canvas (transparent pixels
 * left out), and whether one of them is within 24 of one of `rgbs` on each channel.
 */
async function chartPixels(view: Locator, key: string, rgbs: readonly (readonly [number, number, number])[]): Promise<{ colours: number; has: boolean }> {
  return view.locator(`[data-chart="${key}"] canvas`).first().evaluate((canvas: Canvas, wants: number[][]) => {
    const ctx = canvas.getContext('2d');
    if (!ctx || canvas.width === 0 || canvas.height === 0) return { colours: 0, has: false };
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set<number>();
    let has = false;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) continue;
      seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      if (wants.some((w) => Math.abs(data[i] - w[0]) < 24 && Math.abs(data[i + 1] - w[1]) < 24 && Math.abs(data[i + 2] - w[2]) < 24)) has = true;
    }
    return { colours: seen.size, has };
  }, rgbs.map((c) => [...c]));
}

/**
 * The three charts are drawn: more than one colour each, the processed rows' lines in
 * theirs (outbound or inbound: on A both directions processed as many rows, its
 * correlation replies from B, so one line may lie on the other).
 */
async function chartsDrawn(view: Locator): Promise<void> {
  const outbound = [0x3d, 0x7a, 0xb8] as const;
  const inbound = [0x5a, 0x9a, 0x3d] as const;
  const success = [0x5a, 0x9a, 0x3d] as const;
  for (const [key, colours] of [['hour', [outbound, inbound]], ['day', [outbound, inbound]], ['success', [success]]] as const) {
    // A chart is drawn just after it is made, and made again as figures are pushed: read it until drawn.
    let drawn = { colours: 0, has: false };
    await untilStores(`chart ${key} drawn`, async () => {
      // A canvas drawn anew as it is read is read again.
      drawn = await chartPixels(view, key, colours).catch(() => ({ colours: 0, has: false }));
      return drawn.colours > 1 && drawn.has;
    }, 15_000).catch(() => undefined);
    assert.ok(drawn.colours > 1, `chart ${key} is blank (${drawn.colours} colour)`);
    assert.ok(drawn.has, `chart ${key} has no line in ${colours.map((c) => `rgb(${c.join(',')})`).join(' or ')}`);
  }
}

describe('the process sync monitor: sidebar and page on two real Node-RED, with adminAuth (headless Chromium)', function () {
  this.timeout(240_000);
  const artifacts = artifactsDir('monitor');
  const records = new RecordsServer();
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  let browser: Browser | undefined;
  let admin: BrowserContext | undefined;
  let adminToken = '';
  const pages: Page[] = [];
  const pageErrors: string[] = [];

  function A(): NodeRedInstance {
    if (!a) throw new Error('A is not running');
    return a;
  }

  async function figures(): Promise<Figures> {
    const res = await fetch(`${A().adminUrl}/rps-monitor/figures`, { headers: { Authorization: `Bearer ${adminToken}` } });
    assert.equal(res.status, 200);
    return (await res.json()) as Figures;
  }

  function queue(f: Figures, event: string): QueueFigures | undefined {
    return f.queues.find((q) => q.direction === 'outbound' && q.remoteSystem === 'rs' && q.processEvent === event);
  }

  /**
   * Resolves once the view shows what the figures API says, both read again until they
   * agree (rows may still be finishing: B's correlation replies reach A's inbound queue
   * after its changes were applied); rejects with the last difference.
   */
  async function untilShown(view: Locator): Promise<void> {
    let difference: unknown;
    await untilStores('the view showing the figures', async () => {
      try {
        await showsFigures(view, await figures());
        return true;
      } catch (err) {
        difference = err;
        return false;
      }
    }, 30_000).catch(() => {
      throw difference;
    });
  }

  async function untilFigures(what: string, done: (f: Figures) => boolean): Promise<Figures> {
    let last: Figures | undefined;
    await untilStores(what, async () => done((last = await figures())), 30_000);
    return last as Figures;
  }

  async function change(route: '/change' | '/change-x', id: string, n: number): Promise<void> {
    const res = await fetch(`${A().url}${route}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ operation: n === 0 ? 'insert' : 'update', record: { id, name: `${id} v${n}`, n } }),
    });
    assert.equal(res.status, 200, `${route} ${id}: ${await res.text()}`);
  }

  async function newPage(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => void pageErrors.push(String(err)));
    pages.push(page);
    return page;
  }

  async function post(path: string, token: string | undefined, body: unknown): Promise<{ status: number; body: string }> {
    const res = await fetch(`${A().adminUrl}/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.text() };
  }

  before(async function () {
    await records.start();
    const settings = {
      adminAuth: {
        type: 'credentials',
        users: [
          { username: ADMIN.username, password: hashSync(ADMIN.password, 8), permissions: '*' },
          { username: VIEWER.username, password: hashSync(VIEWER.password, 8), permissions: 'read' },
        ],
      },
      rpsMonitor: { metricsToken: METRICS_TOKEN },
    };
    const pair = Promise.all([NodeRedInstance.start({ name: 'monitor-a', settings }), NodeRedInstance.start({ name: 'monitor-b' })]);
    await startWithChromium(pair, (started, launched) => {
      [a, b] = started ?? [undefined, undefined];
      browser = launched;
    });
    const [sender, receiver] = [A(), b as NodeRedInstance];
    adminToken = await login(sender, ADMIN);
    sender.adminToken = adminToken;
    await receiver.deploy(flowsOfB(sender.url, records, false));
    await sender.deploy(flowsOfA(receiver.url));
    await Promise.all([sender.remoteSystemLoaded('rs'), receiver.remoteSystemLoaded('rs')]);

    // Processed: five records reach B.
    for (let i = 0; i < 5; i++) await change('/change', `ok-${i}`, 0);
    await records.waitFor(() => records.applies.length >= 5, 30_000, 'five changes applied on B');
    await untilFigures('five processed rows on A', (f) => queue(f, PROCESS_EVENT)?.counts.processed === 5);
    // In error: three of a process event B does not know.
    for (let i = 0; i < 3; i++) await change('/change-x', `x-${i}`, 0);
    await untilFigures('three rows in error on A', (f) => queue(f, UNKNOWN_EVENT)?.counts.error === 3);
    // Waiting: A's remote system paused through the API, then two more changes.
    const paused = await post('rps-monitor/remote/rs/pause', adminToken, {});
    assert.equal(paused.status, 200, paused.body);
    for (let i = 0; i < 2; i++) await change('/change', `wait-${i}`, 0);
    const f = await untilFigures('two rows waiting on A', (x) => queue(x, PROCESS_EVENT)?.counts.ready === 2);
    assert.deepEqual(outboundCounts(sender, PROCESS_EVENT), { processed: 5, ready: 2 });
    assert.deepEqual(outboundCounts(sender, UNKNOWN_EVENT), { error: 3 });
    assert.equal(f.remotes.find((r) => r.id === 'rs')?.paused, true);
    assert.equal(records.applies.length, 5, 'B got nothing while A is paused');

    admin = await browser!.newContext({ viewport: { width: 1600, height: 1000 } });
  });

  let failed = false;
  afterEach(async function () {
    const title = this.currentTest?.title ?? 'test';
    if (this.currentTest?.state === 'failed') {
      failed = true;
      for (const [i, page] of pages.entries()) if (!page.isClosed()) await screenshot(page, artifacts, `failed-${i}-${title}`);
    }
    for (const page of pages.splice(0)) await page.close().catch(() => undefined);
  });

  after(async function () {
    if (failed) for (const n of [a, b]) if (n) console.log(`--- ${n.name} log ---\n${n.log.slice(-40).join('\n')}`);
    await browser?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await records.stop();
  });

  it("the editor's sidebar tab (admin) shows A's counts, its paused remote system and drawn charts", async () => {
    const page = await newPage(admin!);
    await editorLogin(page, A().url, ADMIN);
    const sidebar = await openSidebarTab(page);
    await shows(sidebar, PROCESS_EVENT, 'ready', 2);
    await untilShown(sidebar);
    assert.equal(await cell(sidebar, PROCESS_EVENT, 'processed').textContent(), '5');
    assert.equal(await cell(sidebar, UNKNOWN_EVENT, 'error').textContent(), '3');
    assert.equal(await sidebar.locator('[data-remote="rs"] [data-state]').first().getAttribute('data-state'), 'paused');
    assert.equal(await sidebar.locator('[data-remote="rs"] [data-action="resume"]').isEnabled(), true);
    assert.equal(await sidebar.locator('[data-read-only]').count(), 0);
    const errorText = await sidebar.locator('[data-section="errors"] tr[data-row]').first().textContent();
    assert.match(errorText ?? '', /unknown process event/);
    await chartsDrawn(sidebar);
    // A received no attachment file: the section says so.
    assert.equal(await sidebar.locator('[data-section="files"] h3').textContent(), 'Attachment files');
    assert.equal(await sidebar.locator('[data-section="files"] .rps-monitor-empty').textContent(), 'No attachment file was received.');
    await screenshot(page, artifacts, 'sidebar-admin');
    // Scrolled by the sidebar (which stays) to a part of the view (which pushed figures draw anew at any time).
    for (const [part, name] of [['[data-chart="hour"]', 'charts'], ['[data-section="queues"]', 'queues'], ['[data-section="errors"]', 'errors']]) {
      await sidebar.evaluate((e: ScrollBox, selector: string) => {
        const target = e.querySelector(selector);
        if (target) e.scrollTop += target.getBoundingClientRect().top - e.getBoundingClientRect().top;
      }, part);
      await screenshot(page, artifacts, `sidebar-admin-${name}`);
    }
    // Nothing needs a sideways scroll in the narrow sidebar: every button and chart is within it.
    // Read in one go in the page: a pushed update may draw the view anew between two reads from here.
    const outside = await sidebar.evaluate((e: PartsBox) => {
      const box = e.getBoundingClientRect();
      const parts = [...e.querySelectorAll('button[data-action], [data-chart] canvas')];
      const out = parts
        .map((p) => ({ what: p.getAttribute('data-action') ?? 'chart', r: p.getBoundingClientRect() }))
        .filter(({ r }) => r.left < box.left || r.right > box.right)
        .map(({ what, r }) => `${what}: ${r.left}–${r.right} in ${box.left}–${box.right}`);
      return { parts: parts.length, out };
    });
    assert.ok(outside.parts > 0, 'the sidebar has buttons and charts');
    assert.deepEqual(outside.out, [], 'every button and chart within the sidebar');
    const overflow = await sidebar.evaluate((e: { scrollWidth: number; clientWidth: number }) => e.scrollWidth - e.clientWidth);
    assert.equal(overflow, 0, 'the sidebar scrolls sideways');

    // Pushed figures redraw the view: a reader scrolled down to the errors, with a payload open, stays there.
    const firstRow = sidebar.locator('[data-section="errors"] tr[data-row]').first();
    await firstRow.locator('summary').click();
    // Pushed figures carry no payloads: the view reads this one from the API (read permission).
    await firstRow.locator('pre', { hasText: '"processEvent"' }).waitFor({ state: 'visible' });
    const scrolled = await sidebar.evaluate((e: { scrollTop: number }) => e.scrollTop);
    assert.ok(scrolled > 0, 'the sidebar is scrolled down to the errors');
    const updated = sidebar.locator('p.rps-monitor-note', { hasText: 'Figures of' });
    const before = await updated.textContent();
    // Pausing again changes nothing but pokes the push: new figures (the oldest row is older) come within seconds.
    assert.equal((await post('rps-monitor/remote/rs/pause', adminToken, {})).status, 200);
    await sidebar.locator('p.rps-monitor-note', { hasText: 'Figures of' }).filter({ hasNotText: before ?? '' }).waitFor({ timeout: 30_000 });
    assert.equal(await sidebar.evaluate((e: { scrollTop: number }) => e.scrollTop), scrolled, 'the sidebar kept its scroll position');
    await sidebar.locator('[data-section="errors"] tr[data-row]').first().locator('pre').waitFor({ state: 'visible' });
    assert.deepEqual(pageErrors, []);
  });

  it('the page (admin): same counts; retry and skip change the queue; Pause holds rows, Resume drains them', async () => {
    // B learns the process event it refused: a retried row can now go through.
    await b!.deploy(flowsOfB(A().url, records, true));
    await b!.remoteSystemLoaded('rs');
    const page = await newPage(admin!);
    await page.goto(`${A().url}/rps-monitor/`);
    const view = page.locator('#rps-monitor');
    await shows(view, PROCESS_EVENT, 'ready', 2);
    await untilShown(view);
    await chartsDrawn(view);
    await screenshot(page, artifacts, 'page-admin');

    // "Show node" opens the editor on the node that sends the row.
    const popup = page.waitForEvent('popup');
    await view.locator('[data-section="errors"] tr[data-row] [data-action="reveal"]').first().click();
    const editor = await popup;
    pages.push(editor);
    await editor.waitForURL(/#node\/snd-x$/);
    await editor.close();

    const rows = view.locator('[data-section="errors"] tr[data-row]');
    const [retried, skipped] = await Promise.all([rows.nth(0).getAttribute('data-row'), rows.nth(1).getAttribute('data-row')]);
    const idOf = (key: string | null): number => Number(key?.split('/')[2]);

    // Retry one row: back to ready (A is paused, so it stays there).
    const retry = page.waitForResponse((r) => r.url().endsWith('/rps-monitor/retry'));
    await view.locator(`tr[data-row="${retried}"] [data-action="retry"]`).click();
    assert.equal((await retry).status(), 200);
    await view.locator('[data-message]').waitFor();
    await shows(view, UNKNOWN_EVENT, 'ready', 1);
    assert.equal(outboundRow(A(), idOf(retried)).status, 'ready');
    assert.equal(await view.locator(`tr[data-row="${retried}"]`).count(), 0);

    // Skip another: skipped, for good.
    const skip = page.waitForResponse((r) => r.url().endsWith('/rps-monitor/skip'));
    await view.locator(`tr[data-row="${skipped}"] [data-action="skip"]`).click();
    assert.equal((await skip).status(), 200);
    await shows(view, UNKNOWN_EVENT, 'skipped', 1);
    assert.equal(outboundRow(A(), idOf(skipped)).status, 'skipped');
    await shows(view, UNKNOWN_EVENT, 'error', 1);

    // Resume: the two waiting rows and the retried one go; B applies the two.
    await view.locator('[data-remote="rs"] [data-action="resume"]').click();
    await view.locator('[data-remote="rs"] [data-state="active"]').first().waitFor();
    await records.waitFor(() => records.applies.length >= 7, 30_000, 'seven changes applied on B');
    await shows(view, PROCESS_EVENT, 'processed', 7);
    await shows(view, UNKNOWN_EVENT, 'processed', 1);
    assert.equal(await cell(view, PROCESS_EVENT, 'ready').textContent(), '0');
    assert.equal(outboundRow(A(), idOf(retried)).status, 'processed');

    // Pause: new changes stay ready on A, and B gets none of them.
    await view.locator('[data-remote="rs"] [data-action="pause"]').click();
    await view.locator('[data-remote="rs"] [data-state="paused"]').first().waitFor();
    for (let i = 0; i < 2; i++) await change('/change', `held-${i}`, 0);
    await shows(view, PROCESS_EVENT, 'ready', 2);
    assert.deepEqual(outboundCounts(A(), PROCESS_EVENT), { processed: 7, ready: 2 });
    assert.equal(records.applies.length, 7, 'B got nothing while A is paused');
    await screenshot(page, artifacts, 'page-admin-paused');

    // Resume: they drain.
    await view.locator('[data-remote="rs"] [data-action="resume"]').click();
    await records.waitFor(() => records.applies.length >= 9, 30_000, 'nine changes applied on B');
    await shows(view, PROCESS_EVENT, 'processed', 9);
    assert.deepEqual(outboundCounts(A(), PROCESS_EVENT), { processed: 9 });
    // The windows catch up with the queues (the minute sums are written just after the rows): 9 + the retried one.
    await view.locator('[data-figure="outbound.day"] .rps-monitor-tile-value:text-is("10")').waitFor({ timeout: 30_000 });
    assert.deepEqual(records.applies.map((x) => x.source).sort(), [...[0, 1].map((i) => `item/held-${i}`), ...[0, 1, 2, 3, 4].map((i) => `item/ok-${i}`), ...[0, 1].map((i) => `item/wait-${i}`)].sort());
    await screenshot(page, artifacts, 'page-admin-end');
    assert.deepEqual(pageErrors, []);
  });

  it('a read-only viewer sees the figures with every action disabled, and the API refuses their actions; without a login the page says to log in', async () => {
    const viewer = await browser!.newContext({ viewport: { width: 1600, height: 1000 } });
    try {
      const editor = await newPage(viewer);
      await editorLogin(editor, A().url, VIEWER);
      const sidebar = await openSidebarTab(editor);
      await sidebar.locator('[data-read-only]').waitFor();
      await shows(sidebar, PROCESS_EVENT, 'processed', 9);

      const page = await newPage(viewer);
      await page.goto(`${A().url}/rps-monitor/`);
      const view = page.locator('#rps-monitor');
      await shows(view, PROCESS_EVENT, 'processed', 9);
      await view.locator('[data-read-only]').waitFor();
      await untilShown(view);
      for (const v of [view, sidebar]) {
        const actions = v.locator('button[data-action]:not([data-action="reveal"])');
        assert.ok((await actions.count()) >= 4, 'the action buttons are drawn');
        for (const button of await actions.all()) assert.equal(await button.isDisabled(), true, `${await button.getAttribute('data-action')} is disabled`);
        for (const box of await v.locator('[data-section="errors"] input[type="checkbox"]').all()) assert.equal(await box.isDisabled(), true);
      }
      await screenshot(page, artifacts, 'page-viewer');

      // The viewer's own token (as the editor keeps it in the browser) may read, not act.
      const stored = await page.evaluate("localStorage.getItem('auth-tokens')");
      const token = (JSON.parse(typeof stored === 'string' ? stored : '{}') as { access_token?: string }).access_token;
      assert.ok(token);
      const read = await fetch(`${A().adminUrl}/rps-monitor/figures`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(read.status, 200);
      const before = outboundCounts(A(), UNKNOWN_EVENT);
      const row = (await figures()).errors.rows[0];
      assert.ok(row, 'a row in error is left');
      for (const [path, body] of [
        ['rps-monitor/retry', { store: row.store, direction: row.direction, ids: [row.id] }],
        ['rps-monitor/skip', { all: true }],
        ['rps-monitor/remote/rs/pause', {}],
      ] as const) {
        const answer = await post(path, token, body);
        assert.ok(answer.status === 401 || answer.status === 403, `${path} as viewer: ${answer.status} ${answer.body}`);
      }
      assert.deepEqual(outboundCounts(A(), UNKNOWN_EVENT), before);
      assert.equal((await figures()).remotes.find((r) => r.id === 'rs')?.paused, false);

      // The admin's token may act (a skip of no rows: nothing changes)...
      const allowed = await post('rps-monitor/skip', adminToken, { all: true, processEvent: 'no such event' });
      assert.equal(allowed.status, 200, allowed.body);
      assert.deepEqual(JSON.parse(allowed.body), { count: 0 });
      // ...and so may the admin's page: the last error row, selected and retried, goes through (B knows its event now).
      const adminPage = await newPage(admin!);
      await adminPage.goto(`${A().url}/rps-monitor/`);
      const adminView = adminPage.locator('#rps-monitor');
      const key = `${row.store}/${row.direction}/${row.id}`;
      await adminView.locator(`tr[data-row="${key}"] input[type="checkbox"]`).check();
      const retried = adminPage.waitForResponse((r) => r.url().endsWith('/rps-monitor/retry'));
      await adminView.locator('[data-action="retry-selected"]').click();
      assert.equal((await retried).status(), 200);
      await untilStores('the retried row processed', () => outboundRow(A(), row.id).status === 'processed', 30_000);
      await shows(adminView, UNKNOWN_EVENT, 'processed', 2);
      await adminView.locator('[data-section="errors"] tr[data-row]').waitFor({ state: 'detached' });
    } finally {
      await viewer.close();
    }

    const anonymous = await browser!.newContext();
    try {
      const page = await newPage(anonymous);
      await page.goto(`${A().url}/rps-monitor/`);
      const note = page.locator('[data-login]');
      await note.waitFor();
      assert.match((await note.textContent()) ?? '', /Log in to the Node-RED editor first/);
      assert.equal(await page.locator('[data-section]').count(), 0);
      await screenshot(page, artifacts, 'page-no-login');
    } finally {
      await anonymous.close();
    }
    assert.deepEqual(pageErrors, []);
  });

  it('the Prometheus endpoint wants a login or the metrics token', async () => {
    const metrics = (authorization?: string): Promise<Response> =>
      fetch(`${A().adminUrl}/rps-monitor/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
    assert.equal((await metrics()).status, 401);
    assert.equal((await metrics('Bearer not-the-token')).status, 401);
    for (const authorization of [`Bearer ${adminToken}`, `Bearer ${METRICS_TOKEN}`]) {
      const res = await metrics(authorization);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(text, new RegExp(`rps_queue_rows\\{[^}]*direction="outbound",remote_system="rs",process_event="${PROCESS_EVENT}",status="processed"\\} 9`));
      assert.match(text, /rps_remote_system_paused\{[^}]*remote_system="rs"[^}]*\} 0/);
      assert.match(text, /^rps_attachment_files\{[^}]*remote_system="rs",status="error"\} 0$/m);
    }
  });
});
