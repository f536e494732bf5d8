/**
 * A Node-RED locked down the way operators do it (issue 10): B, the receiver, is
 * restarted with one hardened settings.js after the other (httpNodeAuth,
 * httpNodeMiddleware with httpNodeCors, httpNodeRoot `/api` with httpAdminRoot
 * `/admin`, httpAdminRoot false, adminAuth with a read-only and a full user,
 * httpNodeRoot false), and in each case changes must sync both ways between real
 * Node-RED processes: A → B through B's /rps/v1 routes, B → A from B's own `http in`
 * route (`POST /change`), which must still get B's httpNodeAuth and middleware.
 *
 * One A and one B for the whole file, their flows deployed once: a settings change
 * needs a restart of B, nothing more. Every case sends records of its own and
 * checks all that was sent so far: each change applied once, in order.
 */
import assert from 'node:assert/strict';
import { A_TO_B, B_TO_A, duplexFlow, type SideOptions } from '../../tools/flows';
import { type FlowNode, NodeRedInstance } from '../../tools/nodered';
import { nodeStatus } from '../harness/status';
import { assertExactlyOnceInOrder, type ChangeRoute, plan, type PlannedChange, postChange, stream } from '../harness/pair';
import { RecordsServer } from '../harness/records';

/** B's httpNodeAuth user (bcrypt of "node-op-pass", cost 8). */
const NODE_USER = { user: 'operator', password: 'node-op-pass', hash: '$2b$08$33x0aUdinqhPjqkB.RMjbuk42iQjvpcuH0Jg4mzrCHNnqPdAx.fjS' };
/** B's adminAuth users: one with permission `read`, one with `*`. */
const READER = { username: 'reader', password: 'reader-pass', hash: '$2b$08$t8i4FQbaBtqwzdeAqiKBsumtxujCPcUG7mt2fVJAH0/RbpayjMNLi', scope: 'read' };
const ADMIN = { username: 'admin', password: 'admin-pass', hash: '$2b$08$jdH6I83oslP4wJ5PCGk1d.sLaFVpcKuBOwCz1WQNqn550MUkg9M9y', scope: '*' };

/**
 * B's httpNodeMiddleware: refuses every request without `X-Gate: open`, and reads each
 * body not read yet itself (as a body-logging or signature-checking middleware does),
 * leaving the parsed body for the http in node. Marks every answer it saw with
 * `X-Gate: seen`. (With the admin API at the same root, its parsers read JSON and form
 * bodies before any middleware of the HTTP nodes.)
 */
const GATE_MIDDLEWARE = `{
  httpNodeMiddleware: function (req, res, next) {
    res.setHeader('X-Gate', 'seen');
    if (req.headers['x-gate'] !== 'open') { res.statusCode = 403; res.setHeader('Content-Type', 'text/plain'); res.end('gate closed'); return; }
    if (req._body || req.readableEnded) return next();
    var chunks = [];
    req.on('data', function (c) { chunks.push(c); });
    req.on('end', function () {
      var text = Buffer.concat(chunks).toString('utf8');
      try { req.body = text ? JSON.parse(text) : {}; } catch (e) { req.body = text; }
      req._body = true;
      next();
    });
  }
}`;

const CORS_ORIGIN = 'https://app.example';

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** What A presents to B (B's inbound API user for A). */
const AS_A = { Authorization: basic(A_TO_B.user, A_TO_B.password) };

/** B's own HTTP routes: `GET /private`, answered "private". */
function userRoutes(): FlowNode[] {
  const z = 'tab-user';
  return [
    { id: z, type: 'tab', label: 'User routes' },
    { id: 'priv-in', type: 'http in', z, url: '/private', method: 'get', x: 100, y: 100, wires: [['priv-set']] },
    { id: 'priv-set', type: 'change', z, rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'private', tot: 'str' }], x: 250, y: 100, wires: [['priv-out']] },
    { id: 'priv-out', type: 'http response', z, statusCode: '200', x: 400, y: 100, wires: [] },
  ];
}

/** Logs in to an admin API with adminAuth (the editor's password grant); resolves with the access token. */
async function login(instance: NodeRedInstance, user: { username: string; password: string; scope: string }): Promise<string> {
  const res = await fetch(`${instance.adminUrl}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: user.scope, username: user.username, password: user.password }).toString(),
  });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.access_token, 'an access token');
  return body.access_token;
}

interface States {
  outbound: string;
  inbound: string;
  outboundError?: string;
}

/** A remote-system admin route (state or validate) of `instance`, as the user of `token` (none: anonymous). */
async function adminCall(instance: NodeRedInstance, route: 'state' | 'validate', token?: string): Promise<{ status: number; body: unknown }> {
  // The state waits until it is read from the store (right after a deploy it is `loading`).
  const query = route === 'state' ? '?wait=10000' : '';
  const res = await fetch(`${instance.adminUrl}/rps-remote-system/rs/${route}${query}`, {
    method: route === 'state' ? 'GET' : 'POST',
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const text = await res.text();
  return { status: res.status, body: text && res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as unknown) : text };
}

/** Polls `instance`'s remote-system state until `accept` takes it. */
async function untilState(instance: NodeRedInstance, accept: (s: States) => boolean, what: string, timeoutMs = 30_000): Promise<States> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await adminCall(instance, 'state');
    assert.equal(status, 200, JSON.stringify(body));
    if (accept(body as States)) return body as States;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('hardened Node-RED settings on the receiver (real Node-RED processes)', function () {
  this.timeout(180_000);
  let a: NodeRedInstance;
  let b: NodeRedInstance;
  /** What B's inbound flow writes (A's changes), and what A's inbound flow writes (B's changes). */
  const onB = new RecordsServer();
  const onA = new RecordsServer();
  /** Every change sent so far each way, for the exactly-once-in-order checks. */
  const toB: PlannedChange[][] = [];
  const toA: PlannedChange[][] = [];

  const flowsOfB = (remote?: SideOptions['remote']): FlowNode[] => [
    ...duplexFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: onB.url, remote }),
    ...userRoutes(),
  ];
  const flowsOfA = (bUrl: string, remote?: SideOptions['remote']): FlowNode[] =>
    duplexFlow({ remoteUrl: bUrl, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, recordsUrl: onA.url, remote });

  /** B with a new settings.js: its flows, store and port stay. */
  async function restartB(settings: Record<string, unknown>, settingsCode?: string): Promise<void> {
    await b.stop();
    b.configure({ settings, settingsCode });
    b.adminToken = undefined;
    await b.launch();
  }

  /** Sends `rounds` from A to B; resolves once each change is durably queued on A. */
  function sendToB(rounds: PlannedChange[][]): Promise<number> {
    toB.push(...rounds);
    return stream({ change: (op, record) => postChange(a, op, record) }, rounds, 4);
  }

  /** Everything sent to B so far has arrived there, once each and in order. */
  async function arrivedOnB(): Promise<void> {
    const expected = toB.flat().length;
    await onB.waitFor(() => onB.applies.length >= expected, 60_000, `${expected} changes applied on B`);
    assertExactlyOnceInOrder(onB, toB);
  }

  /**
   * Records of their own both ways: A → B through B's /rps/v1 routes, B → A from B's own
   * http in route, reached the way B's settings demand (`route`). All arrive, once, in order.
   */
  async function syncsBothWays(tag: string, route: ChangeRoute): Promise<void> {
    const ab = plan(4, 2, `${tag}-ab-`);
    const ba = plan(4, 2, `${tag}-ba-`);
    toA.push(...ba);
    await Promise.all([sendToB(ab), stream({ change: (op, record) => postChange(b, op, record, route) }, ba, 4)]);
    const expectedOnA = toA.flat().length;
    await Promise.all([arrivedOnB(), onA.waitFor(() => onA.applies.length >= expectedOnA, 60_000, `${expectedOnA} changes applied on A`)]);
    assertExactlyOnceInOrder(onA, toA);
  }

  before(async () => {
    await Promise.all([onA.start(), onB.start()]);
    [a, b] = await Promise.all([NodeRedInstance.start({ name: 'A' }), NodeRedInstance.start({ name: 'B' })]);
    await b.deploy(flowsOfB());
    await a.deploy(flowsOfA(b.url));
  });

  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await Promise.all([onA.stop(), onB.stop()]);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log('--- A log ---\n' + a?.log.slice(-40).join('\n'));
      console.log('--- B log ---\n' + b?.log.slice(-40).join('\n'));
    }
  });

  it("httpNodeAuth: A's messages reach B, whose /rps/v1 routes authenticate A themselves; B's own http in routes still ask for the operator's password", async () => {
    await restartB({ httpNodeAuth: { user: NODE_USER.user, pass: NODE_USER.hash } });
    const operator = { Authorization: basic(NODE_USER.user, NODE_USER.password) };

    const anonymous = await fetch(`${b.url}/private`);
    assert.equal(anonymous.status, 401, "B's own route without the operator's password");
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /Authorization Required/);
    const asOperator = await fetch(`${b.url}/private`, { headers: operator });
    assert.equal(asOperator.status, 200);
    assert.equal(await asOperator.text(), 'private');
    assert.equal(await postChange(b, 'insert', { id: 'refused', name: 'refused', n: 0 }), 401, "B's /change without the operator's password");

    // The operator's password opens B's own routes, not ours: they want a remote system's API user.
    const operatorAtOurs = await fetch(`${b.url}/rps/v1/handshake`, { headers: operator });
    assert.equal(operatorAtOurs.status, 401);
    assert.match(operatorAtOurs.headers.get('www-authenticate') ?? '', /realm="rps"/);
    assert.equal(((await operatorAtOurs.json()) as { code?: string }).code, 'unauthorized');
    const handshake = await fetch(`${b.url}/rps/v1/handshake`, { headers: AS_A });
    assert.equal(handshake.status, 200);
    assert.equal(((await handshake.json()) as { protocol?: string }).protocol, 'rps/1');

    await syncsBothWays('auth', { headers: operator });
  });

  it("httpNodeMiddleware (a gate that reads bodies) and httpNodeCors: B's own routes get both, /rps/v1 neither; records sync", async () => {
    await restartB({ httpNodeCors: { origin: CORS_ORIGIN } }, GATE_MIDDLEWARE);

    const closed = await fetch(`${b.url}/private`);
    assert.equal(closed.status, 403, "B's own route without the gate header");
    assert.equal(closed.headers.get('x-gate'), 'seen');
    assert.equal(await closed.text(), 'gate closed');
    const open = await fetch(`${b.url}/private`, { headers: { 'X-Gate': 'open' } });
    assert.equal(open.status, 200);
    assert.equal(await open.text(), 'private');

    const handshake = await fetch(`${b.url}/rps/v1/handshake`, { headers: AS_A });
    assert.equal(handshake.status, 200, 'ours answer without the gate header');
    assert.equal(handshake.headers.get('x-gate'), null, 'the middleware did not see our request');

    // A browser may read B's own route from the allowed origin, and none of ours, from any origin.
    const fromBrowser = await fetch(`${b.url}/private`, { headers: { 'X-Gate': 'open', Origin: CORS_ORIGIN } });
    assert.equal(fromBrowser.headers.get('access-control-allow-origin'), CORS_ORIGIN, 'httpNodeCors on B\'s own route');
    const oursFromBrowser = await fetch(`${b.url}/rps/v1/handshake`, { headers: { ...AS_A, Origin: CORS_ORIGIN } });
    assert.equal(oursFromBrowser.status, 200);
    assert.equal(oursFromBrowser.headers.get('access-control-allow-origin'), null, 'no CORS on server-to-server routes');
    const preflight = await fetch(`${b.url}/rps/v1/messages`, { method: 'OPTIONS', headers: { Origin: CORS_ORIGIN, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('allow'), 'POST');
    assert.equal(preflight.headers.get('access-control-allow-origin'), null, 'a preflight to ours is not granted');

    await syncsBothWays('gate', { headers: { 'X-Gate': 'open' } });
  });

  it('httpNodeRoot /api and httpAdminRoot /admin: A sends to http://…/api (OAuth2 token from /api/rps/v1/token); routes match as Express matches them', async () => {
    await restartB({ httpNodeRoot: '/api', httpAdminRoot: '/admin' });
    await a.deploy(
      flowsOfA(`${b.url}/api`, { authType: 'oauth2-client', tokenUrl: '', clientId: A_TO_B.user, credentials: { clientSecret: A_TO_B.password } }),
    );
    const validation = await adminCall(a, 'validate');
    assert.equal(validation.status, 200, JSON.stringify(validation.body));
    const checks = (validation.body as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }).checks;
    for (const name of ['url', 'connection', 'token', 'auth', 'protocol', 'events']) {
      assert.equal(checks.find((c) => c.name === name)?.ok, true, `${name}: ${JSON.stringify(checks)}`);
    }

    // Case-insensitive, a trailing slash ignored, HEAD answered like GET, as Express routes do.
    const loose = await fetch(`${b.url}/API/RPS/V1/Handshake/`, { headers: AS_A });
    assert.equal(loose.status, 200);
    const head = await fetch(`${b.url}/api/rps/v1/handshake`, { method: 'HEAD', headers: AS_A });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const put = await fetch(`${b.url}/api/rps/v1/messages`, { method: 'PUT', headers: AS_A });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'POST');
    assert.equal(((await put.json()) as { code?: string }).code, 'method-not-allowed');
    assert.equal((await fetch(`${b.url}/rps/v1/handshake`, { headers: AS_A })).status, 404, 'nothing at the root any more');
    assert.equal((await fetch(`${b.url}/admin/rps-remote-system/rs/state`)).status, 200, "B's admin routes under /admin");

    await syncsBothWays('api', { root: '/api' });
    await a.deploy(flowsOfA(b.url));
  });

  it('httpAdminRoot false (no editor, no admin API): sync runs both ways', async () => {
    const from = b.log.length;
    await restartB({ httpAdminRoot: false });
    assert.ok(b.log.slice(from).some((l) => l.includes('Admin UI disabled')), 'B runs without the admin UI');
    assert.equal((await fetch(`${b.url}/flows`)).status, 404, 'no admin API');
    await syncsBothWays('noadmin', {});
  });

  it('adminAuth: state for a read-only and a full user, Validate and activate for the full user only, none without a token; then records sync', async () => {
    await restartB({
      adminAuth: {
        type: 'credentials',
        users: [READER, ADMIN].map((u) => ({ username: u.username, password: u.hash, permissions: u.scope })),
      },
    });
    const [reader, admin] = [await login(b, READER), await login(b, ADMIN)];
    assert.equal((await adminCall(b, 'state')).status, 401, 'state without a token');
    assert.equal((await adminCall(b, 'validate')).status, 401, 'validate without a token');

    // Deployed by the full user: B's remote system for A waits for Validate and activate.
    b.adminToken = admin;
    await b.deploy(flowsOfB({ activation: 'validate' }));
    const disabled = { outbound: 'disabled', inbound: 'disabled', paused: false };
    assert.deepEqual(await adminCall(b, 'state', reader), { status: 200, body: disabled });
    assert.deepEqual(await adminCall(b, 'state', admin), { status: 200, body: disabled });

    // A's changes are refused by B until it activates A: they wait in A's queue.
    const waiting = plan(3, 1, 'adminauth-waiting-');
    await sendToB(waiting);
    await untilState(a, (s) => s.outbound === 'error' && /disabled/.test(s.outboundError ?? ''), "A's remote state error: B has not activated A");

    const refused = await adminCall(b, 'validate', reader);
    assert.ok(refused.status === 401 || refused.status === 403, `validate as the read-only user: ${refused.status}`);
    assert.deepEqual(await adminCall(b, 'state', reader), { status: 200, body: disabled }, 'still disabled');

    const validated = await adminCall(b, 'validate', admin);
    assert.equal(validated.status, 200, JSON.stringify(validated.body));
    const answer = validated.body as { ok: boolean; checks: unknown[]; states: States };
    assert.equal(answer.ok, true, JSON.stringify(answer.checks));
    assert.deepEqual(answer.states, { outbound: 'active', inbound: 'active', paused: false });
    await arrivedOnB();
    await syncsBothWays('adminauth', {});
  });

  it('httpNodeRoot false: B says it cannot receive (log and inbound node status); A keeps the changes and delivers them once B serves HTTP nodes again', async () => {
    const from = b.log.length;
    await restartB({ httpNodeRoot: false });
    assert.ok(
      b.log.slice(from).some((l) => /httpNodeRoot/.test(l) && /\[warn\]/.test(l)),
      `B warns in its log:\n${b.log.slice(from).join('\n')}`,
    );
    const status = await nodeStatus(b, 'inb', (s) => s.fill === 'red' && /httpNodeRoot/.test(s.text ?? ''), 30_000);
    assert.equal(status.shape, 'ring');

    const applied = onB.applies.length;
    await sendToB(plan(3, 1, 'nonode-'));
    await untilState(a, (s) => s.outbound === 'error', "A's remote state error: B does not answer /rps/v1");
    assert.equal(onB.applies.length, applied, 'nothing reached B');

    await restartB({});
    await arrivedOnB();
  });
});
