/**
 * rps-remote-system (config): URL checks, the inbound API user, credentials that
 * never show in status texts, errors, warnings or logs, and delivery while the remote
 * is away (rows in error, the probe that takes them back, rate limits).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  basic,
  callsOf,
  caughtError,
  envelopeIds,
  type FakeAnswer,
  FakeRemote,
  type FlowNode,
  guard,
  helper,
  INBOUND_PASSWORD,
  INBOUND_USER,
  isStatus,
  nextCall,
  type OutboundRecord,
  outboundRps,
  PROJECT_ROOT,
  type RemoteRequest,
  renderParams,
  type Rps,
  setup,
  textOf,
  useNodeRed,
  waitForCall,
} from './helper';

const SECRET = 'SuperSecret123';

function sendFlow(): FlowNode[] {
  return [
    { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
}

/** Every text our nodes and the runtime log showed: status, error, warn, log of every node, and RED.log. */
function everythingShown(): string[] {
  const texts: string[] = [];
  // The spies sit on Node.prototype: any node's spy holds the calls of every node.
  const spies = helper.getNode('rs') as Record<'status' | 'error' | 'warn' | 'log' | 'debug' | 'trace', { getCalls(): { args: unknown[] }[] }>;
  for (const method of ['status', 'error', 'warn', 'log', 'debug', 'trace'] as const) {
    for (const call of spies[method].getCalls()) texts.push(...call.args.map(textOf));
  }
  for (const call of helper.log().getCalls()) texts.push(...call.args.map(textOf));
  return texts;
}

describe('rps-remote-system node', function () {
  useNodeRed();

  for (const url of ['ftp://x', 'not a url', 'http://u:p@desk-b.example.com']) {
    it(`refuses the URL ${JSON.stringify(url)}: error logged, the send node shows why and refuses messages`, async () => {
      const rps = await setup(sendFlow(), { url });
      const rs = helper.getNode('rs') as RemoteSystemNode;
      assert.ok(
        callsOf(rps.node('rs'), 'error').some((args) => textOf(args[0]) === 'rps-remote-system.errors.bad-url'),
        'the bad URL is logged',
      );
      assert.equal(rs.remote, undefined, 'nothing is sent anywhere');
      const snd = rps.node('snd');
      assert.ok(callsOf(snd, 'status').some((args) => isStatus(args, 'red', 'rps-remote-system.errors.bad-url')));
      snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      const [caught] = await rps.caught.wait(1);
      assert.equal(caughtError(caught), 'rps-remote-system.errors.bad-url');
      assert.equal(rps.query<OutboundRecord>('SELECT * FROM rps_outbound').length, 0);
    });
  }

  it('accepts http and https URLs', async () => {
    const rps = await setup(sendFlow(), { url: 'https://desk-b.example.com/api' });
    const rs = helper.getNode('rs') as RemoteSystemNode;
    assert.ok(rs.remote);
    assert.equal(rs.outboundError, undefined);
    assert.equal(callsOf(rps.node('rs'), 'error').length, 0);
  });

  it('lets the remote call us only with its inbound API user and password', async () => {
    const rps = await setup([]);
    const peerOf = async (authorization: string | undefined) => {
      const outcome = await rps.rt.receiver.authenticate(authorization);
      return outcome.ok ? outcome.peer.id : undefined;
    };
    assert.equal(await peerOf(basic(INBOUND_USER, INBOUND_PASSWORD)), 'rs');
    assert.equal(await peerOf(basic(INBOUND_USER, 'wrong')), undefined);
    assert.equal(await peerOf(basic('u', 'p')), undefined, 'the outbound user is not an inbound user');
    assert.equal(await peerOf(undefined), undefined);
  });

  it('an inbound API user without a password does not let a caller in with an empty password', async () => {
    const rps = await setup([], { credentials: { user: 'u', password: 'p', inboundUser: INBOUND_USER } });
    const outcome = await rps.rt.receiver.authenticate(basic(INBOUND_USER, ''));
    assert.equal(outcome.ok, false, 'anyone who knows the user name gets in as this remote system');
  });

  it('without an inbound API user, nobody can call us as this remote system', async () => {
    const rps = await setup([], { credentials: { user: 'u', password: 'p' } });
    assert.equal(rps.rt.receiver.size, 0);
    assert.equal((await rps.rt.receiver.authenticate(basic('', ''))).ok, false);
  });

  it('a store that cannot be opened: error logged, nodes that use the remote system show it and refuse messages', async () => {
    const rps = await setup(sendFlow(), {
      storePath: (dir) => {
        const file = join(dir, 'a-file');
        writeFileSync(file, 'not a directory');
        return join(file, 'store.sqlite');
      },
    });
    assert.ok(
      callsOf(rps.node('rs'), 'error').some((args) => textOf(args[0]).endsWith('rps-common.errors.store-open')),
      'the store error is logged',
    );
    const snd = rps.node('snd');
    assert.ok(callsOf(snd, 'status').some((args) => isStatus(args, 'red', 'rps-common.errors.store-unavailable')));
    snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /rps-common\.errors\.store-unavailable$/);
  });

  describe('credentials', () => {
    let remote: FakeRemote;
    beforeEach(async () => {
      remote = new FakeRemote({ status: 401, body: { error: 'invalid user or password' } });
      await remote.listen();
    });
    afterEach(() => remote.close());

    it('never appear in status texts, errors, warnings, logs or queue rows while the remote answers 401', async () => {
      const rps = await setup(sendFlow(), {
        url: remote.url,
        remote: { authType: 'basic', retryDelay: '0.01', retryMaxDelay: '0.05' },
        credentials: { user: 'u', password: SECRET, inboundUser: INBOUND_USER, inboundPassword: `in-${SECRET}` },
      });
      // The test helper's RED._ drops parameters; render them, as the real one does, so that
      // texts built from errors are checked in full.
      rps.red._ = (key: string, params?: Record<string, unknown>) => (params ? `${key} ${JSON.stringify(params)}` : key);
      const snd = rps.node('snd');
      snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      // The remote refuses our credentials: the send node turns red.
      const [status] = await waitForCall(snd, 'status', (args) => isStatus(args, 'red', 'rps-send.status.remote-error'));
      assert.match(textOf(status), /HTTP 401/, 'the status says why');
      // It was our secret the remote refused.
      const [request] = await remote.wait(1);
      assert.equal(request.authorization, basic('u', SECRET));

      const rs = helper.getNode('rs') as RemoteSystemNode;
      assert.ok(rs.remote?.lastError, 'the remote system knows why');
      assert.match(rs.remote.lastError, /401/);
      const [row] = rps.query<OutboundRecord>('SELECT * FROM rps_outbound');
      assert.ok(row.last_error && /401/.test(row.last_error), `the queue row says why: ${String(row.last_error)}`);
      // In error as a credentials problem: it comes back by itself once the remote lets us in (see below).
      assert.equal(row.status, 'error');
      assert.equal(row.error_kind, 'auth');

      const shown = [...everythingShown(), rs.remote.lastError, row.last_error, row.payload];
      const encoded = Buffer.from(`u:${SECRET}`).toString('base64');
      for (const text of shown) {
        assert.ok(!text.includes(SECRET), `secret shown in: ${text}`);
        assert.ok(!text.includes(encoded), `encoded secret shown in: ${text}`);
      }
    });
  });

  describe("the sender's own reasons for a row", () => {
    let remote: FakeRemote;
    afterEach(() => remote.close());

    it('are stored as codes and worded where shown: a message rejected without a reason, and an old row in English', async () => {
      // The remote rejects every message and says nothing of why.
      remote = new FakeRemote((request) => {
        if (request.method !== 'POST') return { status: 200 };
        const envelope = JSON.parse(request.body) as { messages: { id: string }[] };
        return { status: 200, body: { results: envelope.messages.map((m) => ({ id: m.id, status: 'rejected' })) } };
      });
      await remote.listen();
      const rps = await setup(sendFlow(), { url: remote.url, remote: { linger: '0' } });
      renderParams(rps.red);
      const rs = helper.getNode('rs') as RemoteSystemNode;
      assert.ok(rs.remote);
      rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      const [warning] = await waitForCall(rps.node('rs'), 'warn', (args) => textOf(args[0]).startsWith('rps-remote-system.warnings.failed'));
      const [row] = rps.query<OutboundRecord>('SELECT * FROM rps_outbound');
      assert.deepEqual([row.status, row.last_error], ['error', 'rejected'], 'the row holds the code');
      assert.match(textOf(warning), /"error":"rps-remote-system\.reasons\.rejected"/, 'the log words it');
      // Rows written by an earlier version hold English texts: still worded; a remote's own text is kept as it is.
      assert.equal(rs.remote.describe('held behind an earlier message of the record'), 'rps-remote-system.reasons.held');
      assert.equal(rs.remote.describe('resent'), 'rps-remote-system.reasons.resent');
      assert.equal(rs.remote.describe('HTTP 400: no such category'), 'HTTP 400: no such category');
    });
  });

  it('a remote that serves no rps/1 routes (404 without a code): the send node, the log and Validate say so, not just "HTTP 404"', async () => {
    const remote = new FakeRemote({ status: 404 });
    await remote.listen();
    try {
      const rps = await setup(sendFlow(), {
        url: remote.url,
        remote: { retryDelay: '0.01', retryMaxDelay: '0.05', maxTries: '1', linger: '0' },
        renderParams: true,
      });
      const snd = rps.node('snd');
      snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      // The sender stores a reason code; every place that shows it words it (rps-remote-system.reasons.no-endpoint).
      const worded = '"error":"rps-remote-system.reasons.no-endpoint"';
      await waitForCall(snd, 'status', (args) => isStatus(args, 'red', 'rps-send.status.remote-error') && isStatus(args, 'red', worded));
      await waitForCall(rps.node('rs'), 'warn', (args) => textOf(args[0]).startsWith('rps-remote-system.warnings.failed') && textOf(args[0]).includes(worded));
      const [row] = rps.query<OutboundRecord>('SELECT * FROM rps_outbound');
      assert.deepEqual([row.status, row.error_kind, row.last_error], ['error', 'connection', 'no-endpoint'], 'kept, and taken back once the remote serves rps/1');
      const answer = await helper.request().post('/rps-remote-system/rs/validate');
      const checks = (answer.body as { checks: { name: string; ok: boolean; detail: string }[] }).checks;
      assert.deepEqual(checks.find((c) => c.name === 'connection'), { name: 'connection', ok: false, detail: 'rps-remote-system.reasons.no-endpoint' });
    } finally {
      await remote.close();
    }
  });

  describe('when the remote is away', () => {
    let remote: FakeRemote;
    /** How the remote answers while it is away; once `up`, the handshake and every message are taken. */
    let away: FakeAnswer;
    let up: boolean;
    beforeEach(async () => {
      up = false;
      away = { status: 503, body: { error: 'down for maintenance' } };
      remote = new FakeRemote(() => (up ? { status: 200 } : away));
      await remote.listen();
    });
    afterEach(() => remote.close());

    /** Quick retries and a quick probe: the remote system reaches `error` in a few ms, and notices at once when the remote is back. */
    const QUICK = { retryDelay: '0.01', retryMaxDelay: '0.05', maxTries: '2', probeInterval: '0.05', linger: '0' };

    function outboundRow(rps: Rps): OutboundRecord {
      const [row] = rps.query<OutboundRecord>('SELECT * FROM rps_outbound');
      assert.ok(row, 'one outbound row');
      return row;
    }

    const isHandshake = (r: RemoteRequest): boolean => r.method === 'GET' && r.url === '/rps/v1/handshake';

    for (const [why, answer, kind] of [
      ['answers 503', { status: 503, body: { error: 'down for maintenance' } }, 'connection'],
      ['refuses our credentials (401)', { status: 401, body: { error: 'invalid user or password' } }, 'auth'],
    ] as const) {
      it(`while it ${why}: messages go to error (${kind}), the send node shows it; the probe finds it back, they are delivered by themselves and the status recovers`, async () => {
        away = answer;
        const rps = await setup(sendFlow(), { url: remote.url, remote: { ...QUICK, authType: 'basic' } });
        const rs = helper.getNode('rs') as RemoteSystemNode;
        assert.ok(rs.remote);
        const snd = rps.node('snd');
        snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
        await waitForCall(snd, 'status', (args) => isStatus(args, 'red', 'rps-send.status.remote-error'));
        await waitForCall(rps.node('rs'), 'warn', (args) => textOf(args[0]).startsWith('rps-remote-system.warnings.failed'));
        // The log says that sending stopped (and why: the reason is a parameter of the text).
        await waitForCall(rps.node('rs'), 'warn', (args) => textOf(args[0]) === 'rps-remote-system.warnings.unreachable');
        const failed = outboundRow(rps);
        assert.equal(failed.status, 'error');
        assert.equal(failed.error_kind, kind);
        assert.equal(rs.remote.state, 'error');

        // While it is away the remote system only asks for the handshake, and gets no answer it can use.
        const posts = remote.requests.filter((r) => r.method === 'POST').length;
        const before = new Set(remote.requests);
        await remote.waitFor((r) => isHandshake(r) && !before.has(r), 'for the handshake (the probe) after the failure');
        assert.equal(outboundRow(rps).status, 'error', 'a refused probe takes nothing back');
        assert.equal(remote.requests.filter((r) => r.method === 'POST').length, posts, 'nothing is posted while the remote system is in error');

        // The remote is back: the next probe gets its handshake; the row goes back to ready and is delivered.
        const green = nextCall(snd, 'status', (args) => isStatus(args, 'green', 'rps-send.status.queued'));
        const taken = waitForCall(rps.node('rs'), 'log', (args) => textOf(args[0]) === 'rps-remote-system.warnings.requeued');
        const back = waitForCall(rps.node('rs'), 'log', (args) => textOf(args[0]) === 'rps-remote-system.warnings.reachable');
        const delivered = new Promise<void>((resolve) => rs.remote?.outbox.once('delivered', () => resolve()));
        up = true;
        await guard(delivered, 'delivery once the remote is back');
        await taken;
        await back;
        await green;
        const row = outboundRow(rps);
        assert.equal(row.status, 'processed');
        assert.equal(row.retries, 0, 'taken back by the probe, not counted as a retry');
        assert.equal(rs.remote.state, 'active');
        const sent = remote.requests.filter((r) => r.method === 'POST');
        assert.ok(sent.length > posts, 'sent again after the remote came back');
        assert.deepEqual(envelopeIds(sent[sent.length - 1]), [row.message_id]);
      });
    }

    it('429 with Retry-After: waits as asked and costs the message no attempt; it is delivered after', async () => {
      // One attempt before error: a 429 that cost an attempt would put the row in error.
      const rps = await setup(sendFlow(), { url: remote.url, remote: { ...QUICK, maxTries: '1' } });
      up = true;
      let limited = false;
      remote.answerWith((request) => {
        if (request.method === 'POST' && !limited) {
          limited = true;
          return { status: 429, body: { error: 'slow down' }, headers: { 'Retry-After': '1' } };
        }
        return { status: 200 };
      });
      const rs = helper.getNode('rs') as RemoteSystemNode;
      const delivered = new Promise<void>((resolve) => rs.remote?.outbox.once('delivered', () => resolve()));
      const snd = rps.node('snd');
      snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      await guard(delivered, 'delivery after the Retry-After wait');
      const row = outboundRow(rps);
      assert.equal(row.status, 'processed');
      assert.equal(row.attempts, 2, 'the rate-limited request and the one that went through');
      assert.equal(row.tries, 0, 'the 429 did not count as a failed attempt');
      assert.equal(remote.requests.filter((r) => r.method === 'POST').length, 2);
      assert.ok(!callsOf(snd, 'status').some((args) => isStatus(args, 'red', 'rps-send.status.remote-error')), 'a rate limit is not a remote error');
      assert.equal(callsOf(rps.node('rs'), 'warn').length, 0);
    });
  });

  describe('outbound and inbound authentication settings', () => {
    const bad: [string, Record<string, unknown>, Record<string, string>, string][] = [
      ['bearer without a token', { authType: 'bearer' }, {}, 'rps-remote-system.errors.no-bearer-token'],
      ['OAuth2 without a client id', { authType: 'oauth2-client' }, { clientSecret: SECRET }, 'rps-remote-system.errors.no-client-id'],
      ['OAuth2 without a client secret', { authType: 'oauth2-client', clientId: 'desk-a' }, {}, 'rps-remote-system.errors.no-client-secret'],
      ['OAuth2 with a bad token URL', { authType: 'oauth2-client', clientId: 'a', tokenUrl: 'ftp://x' }, { clientSecret: SECRET }, 'rps-remote-system.errors.bad-token-url'],
      ['a refresh-token grant without a refresh token', { authType: 'oauth2-refresh', clientId: 'a' }, { clientSecret: SECRET }, 'rps-remote-system.errors.no-refresh-token'],
    ];
    for (const [what, remote, credentials, key] of bad) {
      it(`${what}: error logged, nothing is sent, the send node shows why`, async () => {
        const rps = await setup(sendFlow(), { remote, credentials });
        const rs = helper.getNode('rs') as RemoteSystemNode;
        assert.equal(rs.remote, undefined);
        assert.ok(callsOf(rps.node('rs'), 'error').some((args) => textOf(args[0]) === key), `${key} logged`);
        assert.ok(callsOf(rps.node('snd'), 'status').some((args) => isStatus(args, 'red', key)));
      });
    }

    for (const [what, remote] of [
      ['no issuer', { jwtAudience: 'aud', jwksUrl: 'https://idp.example.com/jwks', jwtSubject: 'desk-a' }],
      ['an HMAC algorithm', { jwtIssuer: 'https://idp', jwtAudience: 'aud', jwksUrl: 'https://idp.example.com/jwks', jwtSubject: 'desk-a', jwtAlgorithms: 'HS256' }],
      ['alg none', { jwtIssuer: 'https://idp', jwtAudience: 'aud', jwksUrl: 'https://idp.example.com/jwks', jwtSubject: 'desk-a', jwtAlgorithms: 'none' }],
    ] as const) {
      it(`identity provider tokens with ${what}: refused at start, nobody may call us as this remote system`, async () => {
        const rps = await setup([], { remote: { inboundAuth: 'jwt', ...remote } });
        assert.ok(callsOf(rps.node('rs'), 'error').some((args) => textOf(args[0]) === 'rps-remote-system.errors.bad-jwt-config'));
        assert.equal(rps.rt.receiver.size, 0);
      });
    }
  });

  it('identity provider tokens without a setting they need: the error names the setting in the user\'s language', async () => {
    const complete = { jwtIssuer: 'https://idp', jwtAudience: 'aud', jwksUrl: 'https://idp.example.com/jwks', jwtSubject: 'desk-a' };
    const catalog = JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-remote-system.json'), 'utf8')) as {
      'rps-remote-system': { setting: Record<string, unknown> };
    };
    for (const setting of ['jwtIssuer', 'jwtAudience', 'jwtSubject', 'jwksUrl'] as const) {
      assert.equal(typeof catalog['rps-remote-system'].setting[setting], 'string', `setting.${setting} is in the catalog`);
      const rps = await setup([], { remote: { inboundAuth: 'jwt', ...complete, [setting]: '' }, renderParams: true });
      const expected = `rps-remote-system.errors.bad-jwt-config ${JSON.stringify({ error: `rps-remote-system.setting.${setting}` })}`;
      assert.ok(callsOf(rps.node('rs'), 'error').some((args) => textOf(args[0]) === expected), `${setting}: ${expected}`);
      assert.equal(rps.rt.receiver.size, 0);
      await helper.unload();
    }
  });

  describe('a node saved by an older version (config migrations)', () => {
    it('without the settings added since: activates at deploy, and an empty algorithm list means the default list', async () => {
      const jwt = { inboundAuth: 'jwt', jwtIssuer: 'https://idp', jwtAudience: 'aud', jwksUrl: 'https://idp.example.com/jwks', jwtSubject: 'desk-a', jwtAlgorithms: '' };
      const rps = await setup(sendFlow(), { remote: jwt });
      assert.deepEqual(callsOf(rps.node('rs'), 'error').map((args) => textOf(args[0])), []);
      assert.equal(rps.rt.receiver.size, 1, 'callers with the provider\'s tokens are let in');
      const state = await helper.request().get('/rps-remote-system/rs/state');
      assert.notEqual((state.body as { outbound: string }).outbound, 'disabled', 'active at deploy, as before the activation setting');
    });
  });

  describe('states and the admin routes of the form', () => {
    it('after "Validate and activate" only: starts disabled; messages wait in the queue, nothing is sent', async () => {
      const remote = new FakeRemote({ status: 200 });
      await remote.listen();
      try {
        const rps = await setup(sendFlow(), { url: remote.url, remote: { activation: 'validate' } });
        await waitForCall(rps.node('snd'), 'status', (args) => isStatus(args, 'grey', 'rps-send.status.disabled'));
        const state = await helper.request().get('/rps-remote-system/rs/state');
        assert.equal(state.status, 200);
        assert.deepEqual(state.body, { outbound: 'disabled', inbound: 'disabled', paused: false });
        rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
        await rps.collect('out').wait(1);
        assert.equal(rps.query<OutboundRecord>("SELECT * FROM rps_outbound WHERE status = 'ready'").length, 1);
        assert.deepEqual(remote.requests, [], 'not even a probe while disabled');
      } finally {
        await remote.close();
      }
    });

    it('Validate and activate: a remote that answers the handshake activates both directions, remembered in the store', async () => {
      const remote = new FakeRemote({ status: 200 });
      await remote.listen();
      try {
        const rps = await setup(sendFlow(), { url: remote.url, remote: { activation: 'validate' } });
        const answer = await helper.request().post('/rps-remote-system/rs/validate');
        assert.equal(answer.status, 200);
        const body = answer.body as { ok: boolean; checks: { name: string; ok: boolean }[]; states: Record<string, string> };
        assert.deepEqual(body.checks.filter((c) => !c.ok), []);
        assert.equal(body.ok, true);
        assert.deepEqual(
          body.checks.map((c) => c.name),
          ['url', 'connection', 'auth', 'protocol', 'events', 'clock', 'activation', 'inbound'],
        );
        assert.deepEqual(body.states, { outbound: 'active', inbound: 'active', paused: false });
        const [saved] = rps.query<{ value: string }>("SELECT value FROM rps_value WHERE key = 'activation:rs'").map((r) => JSON.parse(r.value) as Record<string, unknown>);
        assert.deepEqual([saved.outbound, saved.inbound, typeof saved.settings], [true, true, 'string'], 'remembered, with the settings it holds for');
        assert.ok(remote.requests.some((r) => r.method === 'GET' && r.url === '/rps/v1/handshake'));
      } finally {
        await remote.close();
      }
    });

    it('Validate against a remote that is not there: the connection check fails, the states stay disabled', async () => {
      await setup(sendFlow(), { remote: { activation: 'validate' }, credentials: { user: 'u', password: SECRET } });
      const answer = await helper.request().post('/rps-remote-system/rs/validate');
      const body = answer.body as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[]; states: Record<string, string> };
      assert.equal(body.ok, false);
      assert.equal(body.checks.find((c) => c.name === 'connection')?.ok, false);
      assert.equal(body.states.outbound, 'disabled');
      assert.ok(!JSON.stringify(body).includes(SECRET));
    });

    it('answers 404 for a remote system that is not deployed, and the routes go with the last remote system', async () => {
      await setup(sendFlow());
      assert.equal((await helper.request().get('/rps-remote-system/nope/state')).status, 404);
      assert.equal((await helper.request().get('/rps-remote-system/rs/state')).status, 200);
      await helper.unload();
      assert.equal((await helper.request().get('/rps-remote-system/rs/state')).status, 404);
    });
  });
});
