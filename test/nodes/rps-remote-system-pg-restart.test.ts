/**
 * rps-remote-system on a PostgreSQL store whose server restarts while the node starts
 * (a private server, see test/harness/pg-server.ts): the store has opened, and the
 * node's start-up steps (the token signing key, then starting the sender) meet a server
 * that has gone away. They must run again once it is back: the inbound side must not be
 * left `disabled` for good, nor the sender unstarted.
 */
import assert from 'node:assert/strict';
import { Client } from 'pg';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import { PostgresStore } from '../../src/store/postgres';
import { PgServer, until } from '../harness/pg-server';
import { envelopeIds, FakeRemote, type FlowNode, helper, outboundRps, setup, useNodeRed } from './helper';

const SCHEMA = 'rps_startup';


describe('rps-remote-system while its PostgreSQL server restarts at start-up (a private server)', function () {
  this.timeout(60_000);
  useNodeRed();
  let server: PgServer;
  let remote: FakeRemote;
  let blocker: Client | undefined;

  before(async () => {
    server = await PgServer.create();
    // The schema exists already, as after an earlier run.
    await (await PostgresStore.open({ connectionString: server.url, password: server.password, schema: SCHEMA })).close();
  });
  after(async () => {
    await server?.destroy();
  });
  beforeEach(async () => {
    remote = new FakeRemote();
    await remote.listen();
  });
  afterEach(async () => {
    await blocker?.end().catch(() => undefined);
    await remote.close();
  });

  it('the server goes away between the opening and the start-up steps: they run again once it is back', async () => {
    // Holds back the node's first start-up step: creating the token signing key waits for
    // this uncommitted insert of the same key (which dies with the server).
    blocker = new Client({ connectionString: server.urlWithPassword });
    blocker.on('error', () => undefined);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`INSERT INTO ${SCHEMA}.rps_value (key, value, updated_at) VALUES ('token-signing-key', 'x', 0)`);

    const flow: FlowNode[] = [
      { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['queued']] },
      { id: 'queued', type: 'helper' },
    ];
    const rps = await setup(flow, {
      url: remote.url,
      remote: { linger: '0' },
      store: { storeType: 'postgres', pgUrl: server.url, pgSchema: SCHEMA },
      storeCredentials: { pgPassword: server.password },
    });
    const rs = helper.getNode('rs') as RemoteSystemNode;
    // (Asked on a connection of its own: one in a transaction sees pg_stat_activity as it was when it first looked.)
    await until('the start-up to wait for the key', async () => (await server.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).length > 0);
    assert.equal(rs.inboundState(), 'loading', 'inbound calls are answered "starting, try again"');

    // The waiting step fails for want of the server; given up, the inbound side would stay
    // `disabled` (403 to the remote) and the sender unstarted until the next deploy.
    await server.stopImmediate();
    await server.start();

    await until('the inbound side to be active', () => rs.inboundState() === 'active');
    // And the sender runs: a message is queued and delivered.
    const queued = rps.collect('queued');
    rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
    await queued.wait(1);
    const post = await remote.waitFor((r) => envelopeIds(r).length > 0, 'a post of messages');
    assert.equal(envelopeIds(post).length, 1);
  });
});
