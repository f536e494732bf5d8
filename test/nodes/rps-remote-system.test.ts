/**
 * rps-remote-system (config): URL checks, the inbound API user, and credentials that
 * never show in status texts, errors, warnings or logs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  basic,
  callsOf,
  caughtError,
  FakeRemote,
  type FlowNode,
  helper,
  INBOUND_PASSWORD,
  INBOUND_USER,
  isStatus,
  type OutboundRecord,
  outboundRps,
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
    const peer = rps.rt.receiver.authenticate(basic(INBOUND_USER, INBOUND_PASSWORD));
    assert.equal(peer?.id, 'rs');
    assert.equal(rps.rt.receiver.authenticate(basic(INBOUND_USER, 'wrong')), undefined);
    assert.equal(rps.rt.receiver.authenticate(basic('u', 'p')), undefined, 'the outbound user is not an inbound user');
    assert.equal(rps.rt.receiver.authenticate(undefined), undefined);
  });

  it('an inbound API user without a password does not let a caller in with an empty password', async () => {
    const rps = await setup([], { credentials: { user: 'u', password: 'p', inboundUser: INBOUND_USER } });
    const peer = rps.rt.receiver.authenticate(basic(INBOUND_USER, ''));
    assert.equal(peer?.id, undefined, 'anyone who knows the user name gets in as this remote system');
  });

  it('without an inbound API user, nobody can call us as this remote system', async () => {
    const rps = await setup([], { credentials: { user: 'u', password: 'p' } });
    assert.equal(rps.rt.receiver.size, 0);
    assert.equal(rps.rt.receiver.authenticate(basic('', '')), undefined);
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
      assert.ok(['ready', 'processing'].includes(row.status), 'bad credentials do not fail the message itself');

      const shown = [...everythingShown(), rs.remote.lastError, row.last_error, row.payload];
      const encoded = Buffer.from(`u:${SECRET}`).toString('base64');
      for (const text of shown) {
        assert.ok(!text.includes(SECRET), `secret shown in: ${text}`);
        assert.ok(!text.includes(encoded), `encoded secret shown in: ${text}`);
      }
    });
  });
});
