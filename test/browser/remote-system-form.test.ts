/**
 * The rps-remote-system editor form in headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium): two real Node-RED instances A and B that call each other with
 * OAuth2 tokens from each other's /rps/v1/token, both set to activate only after
 * "Validate and activate". The form is opened the way a user does it: double-click
 * the send node on A's workspace, then the edit button of its remote system.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page, Response } from 'playwright-core';
import { A_TO_B, B_TO_A, mutualOAuthRemote } from '../../tools/flows';
import { PROJECT_ROOT } from '../../tools/nodered';
import { Pair } from '../harness/pair';
import { artifactsDir, launchChromium, openNodeForm, requireChromium, screenshot, traysInPlace } from './chromium';

/** The form's strings, as the editor shows them. */
const STRINGS = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-remote-system.json'), 'utf8')) as Record<string, Record<string, Record<string, string>>>)['rps-remote-system'];


/** Rows shown for each outbound authentication type (the classes the form toggles). */
const OUTBOUND_ROWS = ['basic', 'bearer', 'oauth2', 'refresh'] as const;
const OUTBOUND_VISIBLE: Record<string, readonly (typeof OUTBOUND_ROWS)[number][]> = {
  none: [],
  basic: ['basic'],
  bearer: ['bearer'],
  'oauth2-client': ['oauth2'],
  'oauth2-refresh': ['oauth2', 'refresh'],
};
/** An input in each kind of row, to check that the rows hold the right fields. */
const OUTBOUND_INPUTS: Record<(typeof OUTBOUND_ROWS)[number], string[]> = {
  basic: ['user', 'password'],
  bearer: ['token'],
  oauth2: ['tokenUrl', 'clientId', 'clientSecret', 'scope', 'tokenAuthMethod', 'refreshWindow'],
  refresh: ['refreshToken'],
};
const INBOUND_INPUTS: Record<'basic' | 'jwt', string[]> = {
  basic: ['inboundUser', 'inboundPassword', 'tokenLifetime'],
  jwt: ['jwtIssuer', 'jwtAudience', 'jwksUrl', 'jwtAlgorithms', 'jwtSubject'],
};

/**
 * Whether each selector's elements are shown in the form: true when all are, false when
 * none is, 'mixed' otherwise, 'missing' when there is none. Read in one go in the page.
 */
async function visibility(form: Locator, selectors: string[]): Promise<Record<string, boolean | 'mixed' | 'missing'>> {
  return form.evaluate((root, list: string[]) => {
    const out: Record<string, boolean | 'mixed' | 'missing'> = {};
    for (const selector of list) {
      // Shown as Playwright counts it: the element has a box (jQuery's toggle sets display: none).
      const shown = Array.from(root.querySelectorAll(selector) as ArrayLike<{ getClientRects(): { length: number } }>).map((e) => e.getClientRects().length > 0);
      out[selector] = shown.length === 0 ? 'missing' : shown.every(Boolean) ? true : shown.some(Boolean) ? 'mixed' : false;
    }
    return out;
  }, selectors);
}

describe('rps-remote-system editor form (headless Chromium)', function () {
  this.timeout(60_000);
  let pair: Pair | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  /** Every answer the editor got, with its body (text), in order, and every websocket frame it received. */
  let responses: { url: string; method: string; status: number; body: string }[] = [];
  let frames: string[] = [];
  let pending: Promise<void>[] = [];

  before(async function () {
    requireChromium();
    // Started together; whichever started is kept, so that after() stops it when the other failed.
    const [started, launched] = await Promise.allSettled([Pair.start({ remoteA: mutualOAuthRemote(A_TO_B), remoteB: mutualOAuthRemote(B_TO_A) }), launchChromium()]);
    if (started.status === 'fulfilled') pair = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });

  after(async function () {
    await browser?.close();
    await pair?.stop();
    browser = pair = undefined;
  });

  /** A's editor, loaded once for the file (the editor takes seconds to load); reloaded after a failed test. */
  async function loadEditor(): Promise<void> {
    await page?.close();
    responses = [];
    frames = [];
    pending = [];
    page = await browser!.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(15_000);
    page.on('response', (res: Response) => {
      const entry = { url: res.url(), method: res.request().method(), status: res.status(), body: '' };
      responses.push(entry);
      pending.push(
        res.text().then(
          (body) => void (entry.body = body),
          () => undefined,
        ),
      );
    });
    page.on('websocket', (ws) => ws.on('framereceived', (frame) => void frames.push(String(frame.payload))));
    await page.goto(`${pair!.a.url}/`);
    await page.locator('#red-ui-workspace g.red-ui-flow-node-group#snd').waitFor({ state: 'visible', timeout: 30_000 });
  }

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) {
        await screenshot(page, artifactsDir('remote-system-form'), `failed-${this.currentTest.title}`);
        await page.close();
        page = undefined;
      }
      if (pair) {
        console.log('--- A log ---\n' + pair.a.log.slice(-30).join('\n'));
        console.log('--- B log ---\n' + pair.b.log.slice(-30).join('\n'));
      }
      return;
    }
    if (!page) return;
    // Close the remote system's form and the send node's, leaving the flows unchanged.
    for (const cancel of ['#node-config-dialog-cancel', '#node-dialog-cancel']) {
      const button = page!.locator(cancel);
      if (await button.isVisible()) {
        await button.click();
        await button.waitFor({ state: 'detached' });
      }
    }
  });

  /** Opens the remote system's form from the send node on A's workspace; resolves with the form. */
  async function openRemoteSystem(): Promise<Locator> {
    if (!page) await loadEditor();
    const p = page!;
    await openNodeForm(p, 'snd');
    const select = p.locator('select#node-input-remoteSystem');
    await select.waitFor({ state: 'visible' });
    assert.equal(await select.inputValue(), 'rs', 'the send node uses the deployed remote system');
    await p.locator('#node-input-btn-remoteSystem-edit').click();
    const form = p.locator('form:has(#node-config-input-authType)');
    await form.locator('#node-config-input-authType').waitFor({ state: 'attached' });
    await traysInPlace(p);
    return form;
  }

  /** The value shown after "Outbound:" or "Inbound:" on the State line. */
  function stateValue(form: Locator, direction: 'outbound' | 'inbound', value: string): Locator {
    const label = STRINGS.label[`${direction}State`];
    return form.locator(`.rps-remote-system-state .rps-state-name:text-is("${label}") + .rps-state-value.rps-state-${value}:text-is("${STRINGS.state[value]}")`);
  }

  /** The check list as shown: name (as labelled) → passed. */
  async function checkList(form: Locator): Promise<Map<string, boolean>> {
    const items = await form.locator('.rps-remote-system-results ul.rps-checks > li').all();
    const checks = new Map<string, boolean>();
    for (const item of items) {
      const name = await item.locator('.rps-check-name').innerText();
      const icon = (await item.locator('i.fa').getAttribute('class')) ?? '';
      assert.ok(!checks.has(name), `check ${name} listed once`);
      checks.set(name, /\brps-check-ok\b/.test(icon) && /\bfa-check\b/.test(icon));
    }
    return checks;
  }

  const check = (name: string): string => STRINGS.check[name];

  it('shows the state of a deployed remote system and the rows of each authentication type', async () => {
    const form = await openRemoteSystem();
    await stateValue(form, 'outbound', 'disabled').waitFor();
    await stateValue(form, 'inbound', 'disabled').waitFor();
    assert.equal(await form.locator('#node-config-input-activation').inputValue(), 'validate');
    assert.equal(await form.locator('#node-config-input-name').inputValue(), 'B');
    assert.equal(await form.locator('#node-config-input-clientId').inputValue(), A_TO_B.user);
    // Deployed and unchanged: no "deploy first" hint.
    await form.locator('.rps-remote-system-deploy-first').waitFor({ state: 'hidden' });
    // The labels are translated (a missing string would show its key).
    assert.equal((await form.locator('button.rps-remote-system-validate').innerText()).trim(), STRINGS.validate.button);
    assert.equal(await form.locator('#node-config-input-authType option[value="oauth2-client"]').innerText(), STRINGS.authType['oauth2-client']);
    // No store node exists: the one choice is the default file, by name (not Node-RED's "Add new rps-store..."), and it can be chosen.
    const store = form.locator('select#node-config-input-store');
    assert.deepEqual(await store.locator('option').allInnerTexts(), [STRINGS.label.noStore]);
    assert.equal(await store.isVisible(), true);
    await store.selectOption({ label: STRINGS.label.noStore });
    assert.equal(await store.inputValue(), '_ADD_', "Node-RED's value for none, saved as ''");

    const authType = form.locator('#node-config-input-authType');
    assert.equal(await authType.inputValue(), 'oauth2-client');
    for (const type of ['none', 'basic', 'bearer', 'oauth2-client', 'oauth2-refresh']) {
      await authType.selectOption(type);
      const expected: Record<string, boolean> = { '#node-config-input-url': true, '#node-config-input-inboundAuth': true };
      for (const row of OUTBOUND_ROWS) {
        const shown = OUTBOUND_VISIBLE[type].includes(row);
        expected[`.rps-remote-system-${row}-row`] = shown;
        for (const field of OUTBOUND_INPUTS[row]) expected[`#node-config-input-${field}`] = shown;
      }
      assert.deepEqual(await visibility(form, Object.keys(expected)), expected, `rows shown for authType ${type}`);
    }
    // A changed form is not what "Validate and activate" checks: the hint says so.
    await form.locator('.rps-remote-system-deploy-first').waitFor({ state: 'visible' });

    const inboundAuth = form.locator('#node-config-input-inboundAuth');
    assert.equal(await inboundAuth.inputValue(), 'basic');
    for (const type of ['jwt', 'basic'] as const) {
      await inboundAuth.selectOption(type);
      const expected: Record<string, boolean> = {};
      for (const row of ['basic', 'jwt'] as const) {
        expected[`.rps-remote-system-inbound-${row}-row`] = row === type;
        for (const field of INBOUND_INPUTS[row]) expected[`#node-config-input-${field}`] = row === type;
      }
      assert.deepEqual(await visibility(form, Object.keys(expected)), expected, `rows shown for inboundAuth ${type}`);
    }
    // The URL is http://: no TLS row.
    assert.deepEqual(await visibility(form, ['.rps-remote-system-tls-row']), { '.rps-remote-system-tls-row': false }, 'http URL: no TLS row');
  });

  it('Validate and activate lists every check, activates A, and passes all checks once B has validated too', async () => {
    const form = await openRemoteSystem();
    await stateValue(form, 'outbound', 'disabled').waitFor();
    // The form holds the deployed settings (the previous test cancelled its changes): no "deploy first" hint.
    await form.locator('.rps-remote-system-deploy-first').waitFor({ state: 'hidden' });
    const button = form.locator('button.rps-remote-system-validate');
    const results = form.locator('.rps-remote-system-results');

    const validated = page!.waitForResponse((r) => r.url().endsWith('/rps-remote-system/rs/validate') && r.request().method() === 'POST');
    await button.click();
    assert.equal((await validated).status(), 200);
    await results.locator(`.rps-state-error:has(> span:text-is("${STRINGS.validate['not-passed']}"))`).waitFor();
    const first = await checkList(form);
    for (const name of ['url', 'connection', 'token', 'auth', 'protocol', 'events', 'clock']) {
      assert.equal(first.get(check(name)), true, `${name} is green: ${JSON.stringify([...first])}`);
    }
    assert.equal(first.get(check('activation')), false, "the remote's activation is red: B has not validated A");
    assert.deepEqual(
      [...first].filter(([, ok]) => !ok).map(([name]) => name),
      [check('activation')],
      'only the activation check failed',
    );
    assert.match(await results.locator(`li:has(.rps-check-name:text-is("${check('activation')}")) .rps-check-detail`).innerText(), /not activated us/);
    await stateValue(form, 'outbound', 'active').waitFor();
    await stateValue(form, 'inbound', 'active').waitFor();
    assert.equal(await button.isEnabled(), true, 'the button is enabled again');

    // B validates A through its admin API.
    const res = await fetch(`${pair!.b.url}/rps-remote-system/rs/validate`, { method: 'POST' });
    const fromB = (await res.json()) as { ok: boolean; checks: unknown[] };
    assert.equal(res.status, 200);
    assert.equal(fromB.ok, true, JSON.stringify(fromB.checks));

    const again = page!.waitForResponse((r) => r.url().endsWith('/rps-remote-system/rs/validate') && r.request().method() === 'POST');
    await button.click();
    assert.equal((await again).status(), 200);
    await results.locator(`.rps-state-active:has(> span:text-is("${STRINGS.validate.passed}"))`).waitFor();
    const second = await checkList(form);
    for (const name of ['url', 'connection', 'token', 'auth', 'protocol', 'events', 'clock', 'activation', 'inbound']) {
      assert.equal(second.get(check(name)), true, `${name} is green: ${JSON.stringify([...second])}`);
    }
    assert.deepEqual(
      [...second].filter(([, ok]) => !ok),
      [],
      'every check passed',
    );
    await stateValue(form, 'outbound', 'active').waitFor();
    await stateValue(form, 'inbound', 'active').waitFor();
  });

  it('never sends a secret to the browser: GET /flows and the credentials carry has_<name> only', async () => {
    const form = await openRemoteSystem();
    // A saved secret shows as a placeholder in its field.
    assert.equal(await form.locator('#node-config-input-clientSecret').inputValue(), '__PWRD__');
    assert.equal(await form.locator('#node-config-input-inboundPassword').inputValue(), '__PWRD__');
    await Promise.all(pending);

    const flows = responses.filter((r) => r.method === 'GET' && new URL(r.url).pathname === '/flows');
    const creds = responses.filter((r) => r.method === 'GET' && new URL(r.url).pathname === '/credentials/rps-remote-system/rs');
    assert.ok(flows.length >= 1, 'the editor loaded the flows');
    assert.ok(creds.length >= 1, 'the editor read the credentials of the remote system');
    for (const r of flows) {
      assert.equal(r.status, 200);
      assert.ok(r.body.includes('"rps-remote-system"'), 'the flows hold the remote system');
    }
    for (const r of creds) {
      assert.equal(r.status, 200);
      const credentials = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(credentials.has_clientSecret, true);
      assert.equal(credentials.has_inboundPassword, true);
      assert.equal(credentials.has_password, true, 'the (unused) basic password is set too');
      assert.equal(credentials.inboundUser, B_TO_A.user, 'a text credential is shown');
      for (const name of ['clientSecret', 'inboundPassword', 'password', 'token', 'refreshToken']) {
        assert.ok(!(name in credentials), `no ${name} in the credentials answer`);
      }
    }

    // A's client secret (also its basic password) and the password B must present.
    const secrets = [A_TO_B.password, B_TO_A.password];
    for (const r of responses) {
      for (const secret of secrets) {
        assert.ok(!r.body.includes(secret), `${r.method} ${r.url} carries a secret`);
      }
    }
    assert.ok(frames.length > 0, "the editor's websocket messages were watched");
    for (const frame of frames) {
      for (const secret of secrets) assert.ok(!frame.includes(secret), `a websocket message carries a secret: ${frame.slice(0, 200)}`);
    }
  });

  it('a paused remote system: the State line says so next to the states (the state answer carries paused)', async () => {
    // The pause comes from the monitor's admin API (not served here): the real state answer is taken and marked paused.
    if (!page) await loadEditor();
    await page!.route('**/rps-remote-system/rs/state*', async (route) => {
      const answer = await route.fetch();
      await route.fulfill({ response: answer, json: { ...((await answer.json()) as object), paused: true } });
    });
    try {
      const form = await openRemoteSystem();
      await form.locator(`.rps-remote-system-state .rps-state-value.rps-state-paused:text-is("${STRINGS.state.paused}")`).waitFor();
      await form.locator(`.rps-remote-system-state .rps-state-paused-detail:text-is("${STRINGS.state['paused-detail']}")`).waitFor();
      await stateValue(form, 'outbound', 'active').waitFor();
    } finally {
      await page!.unroute('**/rps-remote-system/rs/state*');
    }
  });
});
