/**
 * rps-store set to PostgreSQL (a real server, see tools/pg.ts): the remote
 * system's queues live there, the password is a credential and never part of the URL,
 * and a server that cannot be reached at start is reported, not fatal. The remote is a
 * stand-in HTTP server (FakeRemote); the end-to-end tests use real Node-REDs.
 */
import assert from 'node:assert/strict';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import { assertPgReachable, pgQuery, TEST_PG_URL, TestSchemas } from '../../tools/pg';
import { callsOf, caughtError, change, envelopeIds, FakeRemote, type FlowNode, guard, helper, isStatus, outboundRps, setup, textOf, useNodeRed } from './helper';

const schemas = new TestSchemas();

const flow = (): FlowNode[] => [
  { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['queued']] },
  { id: 'queued', type: 'helper' },
];

describe('rps-store node on PostgreSQL', function () {
  this.timeout(20_000);
  useNodeRed();
  before(assertPgReachable);

  let remote: FakeRemote;
  beforeEach(async () => {
    remote = new FakeRemote();
    await remote.listen();
  });
  afterEach(async () => {
    await remote.close();
    await schemas.drop();
  });

  it('queues and delivers through the PostgreSQL store, and names this instance by the id kept there', async () => {
    const schema = schemas.next();
    const rps = await setup(flow(), { url: remote.url, remote: { linger: '0' }, store: { storeType: 'postgres', pgUrl: TEST_PG_URL, pgSchema: schema } });
    const queued = rps.collect('queued');
    for (const id of ['INC1', 'INC2', 'INC1']) rps.node('snd').receive({ payload: { number: id }, rps: outboundRps('incident', id) });
    await queued.wait(3);
    const post = await remote.waitFor((r) => envelopeIds(r).length > 0, 'a post of messages');
    const ids = new Set(envelopeIds(post));
    const rows = await pgQuery<{ message_id: string; record_id: string; sequence: number }>(
      `SELECT message_id, record_id, sequence::int AS sequence FROM ${schema}.rps_outbound ORDER BY id`,
    );
    assert.deepEqual(
      rows.map((r) => [r.record_id, r.sequence]),
      [
        ['INC1', 1],
        ['INC2', 1],
        ['INC1', 2],
      ],
      'the rows are in the schema chosen on the store, with their per-record sequences',
    );
    const [meta] = await pgQuery<{ value: string }>(`SELECT value FROM ${schema}.rps_meta WHERE key = 'instance_id'`);
    const first = JSON.parse(post.body) as { sender: { instanceId: string }; messages: { source: { instanceId: string } }[] };
    assert.equal(first.sender.instanceId, meta.value);
    assert.equal(first.messages[0].source.instanceId, meta.value);
    assert.ok(rows.some((r) => ids.has(r.message_id)));

    // Inbound writes go to the same store.
    const outcome = await rps.receive(change({ recordId: 'CS7', sequence: 1 }));
    assert.equal(outcome.status, 200);
    const [{ n }] = await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.rps_inbound`);
    assert.equal(n, 1);
  });

  it('refuses a connection URL that holds a password, without repeating it anywhere, and send reports it to Catch nodes', async () => {
    const secret = 'hunter2-in-the-url';
    const withPassword = new URL(TEST_PG_URL);
    withPassword.username ||= 'postgres';
    withPassword.password = secret;
    const url = withPassword.toString();
    const rps = await setup(flow(), { url: remote.url, store: { storeType: 'postgres', pgUrl: url } });
    const stored = helper.getNode('st') as unknown as { storeError?: string };
    // (The test helper's RED._ gives the key without its arguments: the reason is password-in-url.)
    assert.match(stored.storeError ?? '', /errors\.store-open/);
    rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /errors\.store-unavailable/);
    const rs = helper.getNode('rs') as RemoteSystemNode;
    assert.equal(rs.store, undefined, 'no store was opened');
    // pg also takes the password from the query: refused there too.
    const inQuery = new URL(TEST_PG_URL);
    inQuery.searchParams.set('password', secret);
    await rps.redeploy((f) => {
      const st = f.find((n) => n.id === 'st');
      if (st) st.pgUrl = inQuery.toString();
    }, 'full');
    assert.match((helper.getNode('st') as unknown as { storeError?: string }).storeError ?? '', /errors\.store-open/);
    assert.equal((helper.getNode('rs') as RemoteSystemNode).store, undefined, 'no store was opened with a password in the query either');
    for (const n of ['st', 'rs', 'snd']) {
      for (const method of ['error', 'warn', 'log', 'status'] as const) {
        for (const args of callsOf(rps.node(n), method)) assert.ok(!JSON.stringify(args).includes(secret), `${n}.${method} does not repeat the password`);
      }
    }
    assert.ok(!textOf(caught).includes(secret));
  });

  it('a server that cannot be reached at start: send reports each message to Catch, inbound calls get 503, and nothing is lost from the flow', async () => {
    // Port 1 on loopback: connection refused at once.
    const rps = await setup(flow(), { url: remote.url, store: { storeType: 'postgres', pgUrl: 'postgres://postgres@127.0.0.1:1/test' } });
    rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /rps-common\.errors\.store/);
    assert.equal(rps.collect('queued').msgs.length, 0, 'nothing is passed on as queued');
    const outcome = await guard(rps.rt.receiver.receive(rps.peer(), {
      protocol: 'rps/1',
      sender: { instanceId: 'x', name: 'x' },
      messages: [change({ recordId: 'CS1', sequence: 1 })],
    }), 'the receiver answers');
    assert.equal(outcome.status, 503, 'the remote is told to send again later');
    assert.equal(remote.requests.length, 0);
  });

  it('while the store is not open, the states read "loading" (never a state that was not read), and send says it is starting', async () => {
    const rps = await setup(flow(), { url: remote.url, remote: { activation: 'validate' }, store: { storeType: 'postgres', pgUrl: 'postgres://postgres@127.0.0.1:1/test' } });
    assert.ok(callsOf(rps.node('snd'), 'status').some((args) => isStatus(args, 'grey', 'rps-send.status.loading')), 'send shows that it is starting');
    const now = await helper.request().get('/rps-remote-system/rs/state');
    assert.deepEqual(now.body, { outbound: 'loading', inbound: 'loading', paused: false });
    // Asked to wait, it waits for the states to be read; the store stays unreachable, so they are still loading.
    const waited = await helper.request().get('/rps-remote-system/rs/state?wait=300');
    assert.deepEqual(waited.body, { outbound: 'loading', inbound: 'loading', paused: false });
  });
  it('rps-correlate on PostgreSQL lets messages out in the order they came, a record\'s changes above all (lookups go in batches, answered in order)', async () => {
    const schema = schemas.next();
    const correlate: FlowNode[] = [
      { id: 'cor', type: 'rps-correlate', remoteSystem: 'rs', wires: [['yes'], ['no']] },
      { id: 'yes', type: 'helper' },
      { id: 'no', type: 'helper' },
    ];
    const rps = await setup(correlate, { url: remote.url, store: { storeType: 'postgres', pgUrl: TEST_PG_URL, pgSchema: schema, pgPool: '8' } });
    const no = rps.collect('no');
    // One record changed many times, among a few others, all sent in one go.
    const sent = Array.from({ length: 300 }, (_, n) => ({ n, id: n % 2 === 0 ? 'INC1' : `INC${n % 7}` }));
    for (const { n, id } of sent) rps.node('cor').receive({ payload: { number: id, n }, rps: outboundRps('incident', id) });
    const out = await no.wait(sent.length);
    assert.deepEqual(
      out.map((m) => (m.payload as { n: number }).n),
      sent.map((x) => x.n),
    );
  });
});
