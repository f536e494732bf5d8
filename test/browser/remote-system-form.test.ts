/**
 * The rps-remote-system editor form in headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium): two real Node-RED instances A and B that call each other with
 * OAuth2 tokens from each other's /rps/v1/token, both set to activate only after
 * "Validate and activate". The form is opened the way a user does it: double-click
 * the send node on A's workspace, then the edit button of its remote system.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page, type Response } from 'playwright-core';
import { A_TO_B, B_TO_A } from '../harness/flows';
import { PROJECT_ROOT } from '../harness/nodered';
import { Pair } from '../harness/pair';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** The form's strings, as the editor shows them. */
const STRINGS = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-remote-system.json'), 'utf8')) as Record<string, Record<string, Record<string, string>>>)['rps-remote-system'];

/** Each side's client id and secret are the API user the other side expects of it (as in test/e2e/oauth.test.ts). */
const remote = (creds: typeof A_TO_B) => ({
  authType: 'oauth2-client',
  tokenUrl: '',
  clientId: creds.user,
  activation: 'validate',
  tokenLifetime: '10',
  credentials: { clientSecret: creds.password },
});

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

/** Asserts every element matched by `locator` is shown (or every one hidden); there must be at least one. */
async function expectAll(locator: Locator, shown: boolean, what: string): Promise<void> {
  const all = await locator.all();
  assert.ok(all.length > 0, `${what}: no element found`);
  for (const element of all) {
    // waitFor only returns in the wanted state; the form toggles rows synchronously on change.
    await element.waitFor({ state: shown ? 'visible' : 'hidden', timeout: 2_000 }).catch(() => {
      throw new Error(`${what} should be ${shown ? 'shown' : 'hidden'}`);
    });
  }
}

describe('rps-remote-system editor form (headless Chromium)', function () {
  this.timeout(60_000);
  let pair: Pair | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  /** Every answer the editor got, with its body (text), in order. */
  let responses: { url: string; method: string; status: number; body: string }[] = [];
  let pending: Promise<void>[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} not found: these browser tests need Debian's Chromium. Install it with ` +
          '`sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium` (.ci/run does this on CI).',
      );
    }
    [pair, browser] = await Promise.all([
      Pair.start({ remoteA: remote(A_TO_B), remoteB: remote(B_TO_A) }),
      chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 30_000 }),
    ]);
  });

  after(async function () {
    await browser?.close();
    await pair?.stop();
    browser = pair = undefined;
  });

  beforeEach(async function () {
    responses = [];
    pending = [];
    page = await browser!.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(15_000);
    page.on('response', (res: Response) => {
      pending.push(
        res.text().then(
          (body) => void responses.push({ url: res.url(), method: res.request().method(), status: res.status(), body }),
          () => void responses.push({ url: res.url(), method: res.request().method(), status: res.status(), body: '' }),
        ),
      );
    });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) {
        const file = `/tmp/rps-remote-system-form-${(this.currentTest.title.match(/\w+/g) ?? ['test']).join('-').slice(0, 60)}.png`;
        await page.screenshot({ path: file, fullPage: true }).then(
          () => console.log(`      screenshot: ${file}`),
          (err: unknown) => console.log(`      no screenshot: ${String(err)}`),
        );
      }
      if (pair) {
        console.log('--- A log ---\n' + pair.a.log.slice(-30).join('\n'));
        console.log('--- B log ---\n' + pair.b.log.slice(-30).join('\n'));
      }
    }
    await page?.close();
    page = undefined;
  });

  /** Opens A's editor and the remote system's form from the send node; resolves with the form. */
  async function openRemoteSystem(p: Page): Promise<Locator> {
    const credentials = p.waitForResponse((r) => /\/credentials\/rps-remote-system\/rs$/.test(r.url()));
    await p.goto(`${pair!.a.url}/`);
    const sendNode = p.locator('#red-ui-workspace g.red-ui-flow-node-group#snd');
    await sendNode.waitFor({ state: 'visible' });
    await sendNode.locator('rect.red-ui-flow-node').dblclick();
    const select = p.locator('select#node-input-remoteSystem');
    await select.waitFor({ state: 'visible' });
    assert.equal(await select.inputValue(), 'rs', 'the send node uses the deployed remote system');
    await p.locator('#node-input-btn-remoteSystem-edit').click();
    const form = p.locator('form:has(#node-config-input-authType)');
    await form.locator('#node-config-input-authType').waitFor({ state: 'visible' });
    await credentials;
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
    const form = await openRemoteSystem(page!);
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

    const authType = form.locator('#node-config-input-authType');
    assert.equal(await authType.inputValue(), 'oauth2-client');
    for (const type of ['none', 'basic', 'bearer', 'oauth2-client', 'oauth2-refresh']) {
      await authType.selectOption(type);
      for (const row of OUTBOUND_ROWS) {
        const shown = OUTBOUND_VISIBLE[type].includes(row);
        await expectAll(form.locator(`.rps-remote-system-${row}-row`), shown, `authType ${type}: .rps-remote-system-${row}-row`);
        for (const field of OUTBOUND_INPUTS[row]) {
          await expectAll(form.locator(`#node-config-input-${field}`), shown, `authType ${type}: ${field}`);
        }
      }
      // Fields of the form that are always there.
      await expectAll(form.locator('#node-config-input-url'), true, `authType ${type}: url`);
      await expectAll(form.locator('#node-config-input-inboundAuth'), true, `authType ${type}: inboundAuth`);
    }
    // A changed form is not what "Validate and activate" checks: the hint says so.
    await form.locator('.rps-remote-system-deploy-first').waitFor({ state: 'visible' });

    const inboundAuth = form.locator('#node-config-input-inboundAuth');
    assert.equal(await inboundAuth.inputValue(), 'basic');
    for (const type of ['jwt', 'basic'] as const) {
      await inboundAuth.selectOption(type);
      for (const row of ['basic', 'jwt'] as const) {
        const shown = row === type;
        await expectAll(form.locator(`.rps-remote-system-inbound-${row}-row`), shown, `inboundAuth ${type}: .rps-remote-system-inbound-${row}-row`);
        for (const field of INBOUND_INPUTS[row]) {
          await expectAll(form.locator(`#node-config-input-${field}`), shown, `inboundAuth ${type}: ${field}`);
        }
      }
    }
    // The URL is http://: no TLS row.
    await expectAll(form.locator('.rps-remote-system-tls-row'), false, 'http URL: TLS row');
  });

  it('Validate and activate lists every check, activates A, and passes all checks once B has validated too', async () => {
    const form = await openRemoteSystem(page!);
    await stateValue(form, 'outbound', 'disabled').waitFor();
    const button = form.locator('button.rps-remote-system-validate');
    const results = form.locator('.rps-remote-system-results');

    const validated = page!.waitForResponse((r) => r.url().endsWith('/rps-remote-system/rs/validate') && r.request().method() === 'POST');
    await button.click();
    assert.equal((await validated).status(), 200);
    await results.locator(`.rps-state-error:text-is("${STRINGS.validate['not-passed']}")`).waitFor();
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
    await results.locator(`.rps-state-active:text-is("${STRINGS.validate.passed}")`).waitFor();
    const second = await checkList(form);
    for (const name of ['url', 'connection', 'token', 'auth', 'protocol', 'events', 'clock', 'activation']) {
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
    const form = await openRemoteSystem(page!);
    // A saved secret shows as a placeholder in its field.
    assert.equal(await form.locator('#node-config-input-clientSecret').inputValue(), '__PWRD__');
    assert.equal(await form.locator('#node-config-input-inboundPassword').inputValue(), '__PWRD__');
    await Promise.all(pending);

    const flows = responses.filter((r) => r.method === 'GET' && new URL(r.url).pathname === '/flows');
    const creds = responses.filter((r) => r.method === 'GET' && new URL(r.url).pathname === '/credentials/rps-remote-system/rs');
    assert.equal(flows.length, 1, 'the editor loaded the flows once');
    assert.equal(creds.length, 1, 'the editor read the credentials of the remote system once');
    assert.equal(flows[0].status, 200);
    assert.equal(creds[0].status, 200);
    assert.ok(flows[0].body.includes('"rps-remote-system"'), 'the flows hold the remote system');

    const credentials = JSON.parse(creds[0].body) as Record<string, unknown>;
    assert.equal(credentials.has_clientSecret, true);
    assert.equal(credentials.has_inboundPassword, true);
    assert.equal(credentials.inboundUser, B_TO_A.user, 'a text credential is shown');
    for (const name of ['clientSecret', 'inboundPassword', 'password', 'token', 'refreshToken']) {
      assert.ok(!(name in credentials), `no ${name} in the credentials answer`);
    }

    // A's client secret (also its basic password) and the password B must present.
    const secrets = [A_TO_B.password, B_TO_A.password];
    for (const r of responses) {
      for (const secret of secrets) {
        assert.ok(!r.body.includes(secret), `${r.method} ${r.url} carries a secret`);
      }
    }
  });
});
