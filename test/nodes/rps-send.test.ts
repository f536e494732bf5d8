/**
 * rps-send: writes the captured (and mapped) message into the outbound queue of its
 * remote system (durable from then on, msg.rps.queued says where), and the remote
 * system delivers it.
 */
import assert from 'node:assert/strict';
import type { Message } from '../../src/core/protocol';
import { BINARY } from '../../src/core/values';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  basic,
  callsOf,
  caughtError,
  caughtFrom,
  change,
  correlationMessage,
  EVENT,
  FakeRemote,
  type FlowNode,
  guard,
  helper,
  isStatus,
  type Msg,
  type OutboundRecord,
  outboundRps,
  REMOTE_INSTANCE,
  type Rps,
  rpsOf,
  setup,
  textOf,
  UNREACHABLE_URL,
  useNodeRed,
  waitForCall,
} from './helper';

/** capture → send → out */
function sendFlow(): FlowNode[] {
  return [
    { id: 'cap', type: 'rps-capture', table: 'incident', idField: 'number', fields: '', wires: [['snd']] },
    { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
}

function rows(rps: Rps): OutboundRecord[] {
  return rps.query<OutboundRecord>('SELECT * FROM rps_outbound ORDER BY id');
}

interface Queued {
  remoteSystem: string;
  queueId: number;
  messageId: string;
  sequence: number;
}

function queuedOf(msg: Msg): Queued {
  const q = rpsOf(msg).queued as Queued | undefined;
  assert.ok(q, 'msg.rps.queued is set');
  return q;
}

describe('rps-send node', function () {
  useNodeRed();

  it('sends each journal entry once: a change with entries the remote has already queues only the new ones, or nothing', async () => {
    const rps = await setup([{ ...sendFlow()[0], journalFields: ['comments'] }, ...sendFlow().slice(1)]);
    const out = rps.collect('out');
    const record = { number: 'INC1', priority: 1, comments: [{ id: 'c1', value: 'Printer on fire', author: 'ada', createdAt: '2026-12-07T10:00:00Z' }] };
    rps.node('cap').receive({ payload: record });
    // The same entry again, with no field changed: nothing to send.
    rps.node('cap').receive({ payload: record, previous: record });
    // A new entry: only it goes.
    const more = { ...record, comments: [...record.comments, { id: 'c2', value: 'Still burning', author: 'bob', createdAt: '2026-12-07T10:05:00Z' }] };
    rps.node('cap').receive({ payload: more, previous: record });
    const msgs = await out.wait(3);
    assert.deepEqual(msgs.map((m) => rpsOf(m).queued !== undefined), [true, false, true], 'the second was passed on, not queued');
    const journals = rows(rps).map((r) => (JSON.parse(r.payload) as Message).journal.map((e) => [e.id, e.value, e.author]));
    assert.deepEqual(journals, [[['c1', 'Printer on fire', 'ada']], [['c2', 'Still burning', 'bob']]]);
    assert.deepEqual((JSON.parse(rows(rps)[0].payload) as Message).fields, { number: 'INC1', priority: 1 }, 'the journal field is not a field');
  });

  it('writes a captured change into the outbound queue before passing it on with msg.rps.queued', async () => {
    const rps = await setup(sendFlow());
    const out = rps.collect('out');
    rps.node('cap').receive({ payload: { number: 'INC1', short_description: 'Printer on fire', priority: 1 } });
    const [msg] = await out.wait(1);
    const q = queuedOf(msg);
    assert.equal(q.remoteSystem, 'rs');
    assert.equal(q.sequence, 1);

    // Read back from the file through another connection: it is committed.
    const stored = rows(rps);
    assert.equal(stored.length, 1);
    const row = stored[0];
    assert.equal(row.id, q.queueId);
    assert.equal(row.message_id, q.messageId);
    assert.equal(row.remote_system, 'rs');
    assert.equal(row.process_event, EVENT);
    assert.equal(row.kind, 'change');
    assert.equal(row.operation, 'insert');
    assert.equal(row.record_table, 'incident');
    assert.equal(row.record_id, 'INC1');
    assert.ok(['ready', 'processing'].includes(row.status), `not delivered (remote unreachable): ${row.status}`);
    const message = JSON.parse(row.payload) as Message;
    assert.equal(message.id, q.messageId);
    assert.equal(message.processEvent, EVENT);
    assert.equal(message.sequence, 1);
    assert.deepEqual(message.fields, { number: 'INC1', short_description: 'Printer on fire', priority: 1 });
    assert.deepEqual(message.changedFields, ['number', 'short_description', 'priority']);
    assert.equal(message.source.table, 'incident');
    assert.equal(message.source.id, 'INC1');
    assert.equal(message.target, undefined, 'not correlated: no target');
  });

  it('numbers the changes of each record 1, 2, 3 in the order they were captured', async () => {
    const rps = await setup(sendFlow());
    const out = rps.collect('out');
    const cap = rps.node('cap');
    cap.receive({ payload: { number: 'INC1', state: 1 } });
    cap.receive({ payload: { number: 'INC2', state: 1 } });
    cap.receive({ payload: { number: 'INC1', state: 2 }, previous: { number: 'INC1', state: 1 } });
    cap.receive({ payload: { number: 'INC1', state: 3 }, previous: { number: 'INC1', state: 2 } });
    const msgs = await out.wait(4);
    const seq = (id: string): number[] => msgs.filter((m) => rpsOf(m).id === id).map((m) => queuedOf(m).sequence);
    assert.deepEqual(seq('INC1'), [1, 2, 3]);
    assert.deepEqual(seq('INC2'), [1]);

    const inc1 = rows(rps).filter((r) => r.record_id === 'INC1');
    assert.deepEqual(
      inc1.map((r) => [r.sequence, r.operation, (JSON.parse(r.payload) as Message).fields.state]),
      [
        [1, 'insert', 1],
        [2, 'update', 2],
        [3, 'update', 3],
      ],
    );
  });

  it('does not queue a change whose origin is this remote system (no echo), but does for another origin', async () => {
    const rps = await setup([
      { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const out = rps.collect('out');
    const snd = rps.node('snd');
    snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1', { origin: 'rs' }) });
    snd.receive({ payload: { number: 'INC2' }, rps: outboundRps('incident', 'INC2', { origin: 'rs-other' }) });
    const msgs = await out.wait(1);
    assert.equal(msgs.length, 1);
    assert.equal(rpsOf(msgs[0]).id, 'INC2');
    assert.deepEqual(
      rows(rps).map((r) => r.record_id),
      ['INC2'],
    );
    assert.equal(rps.caught.msgs.length, 0, 'an echo is dropped quietly, not an error');
  });

  it('two remote systems for the same remote: a change that came through one is not sent back through the other, once either learned the remote', async () => {
    // 'rs2' reaches the same URL as 'rs' and cannot be reached (so learns nothing itself); B calls us as 'rs'.
    const rps = await setup([
      { id: 'rs2', type: 'rps-remote-system', name: 'desk B again', url: UNREACHABLE_URL, store: 'st' },
      { id: 'snd', type: 'rps-send', remoteSystem: 'rs2', processEvent: 'pe', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const out = rps.collect('out');
    const snd = rps.node('snd');
    // B's batch tells 'rs' which instance B is; 'rs2', for the same URL, follows.
    await rps.receive(change({ recordId: 'C1', sequence: 1 }));
    snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1', { origin: 'rs' }) });
    snd.receive({ payload: { number: 'INC2' }, rps: outboundRps('incident', 'INC2', { origin: 'rs-other' }) });
    const msgs = await out.wait(1);
    assert.deepEqual(msgs.map((m) => rpsOf(m).id), ['INC2']);
    assert.deepEqual(rows(rps).map((r) => [r.record_id, r.remote_system]), [['INC2', REMOTE_INSTANCE]]);
    assert.equal(rps.rt.keyOf('rs2'), REMOTE_INSTANCE);
  });

  it('does not send a change made by an inbound flow back to the remote it came from (inbound → capture → send)', async () => {
    const rps = await setup([
      { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', wires: [['cap']] },
      { id: 'cap', type: 'rps-capture', table: 'incident', idField: 'number', wires: [['snd']] },
      { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const out = rps.collect('out');
    // See when the inbound message has passed capture, without sleeping: spy on capture's output.
    const cap = rps.node('cap');
    const captured = waitForCall(cap, 'send', () => true);
    await rps.receive(change({ recordId: 'INC1', sequence: 1, fields: { number: 'INC1', short_description: 'from desk B' } }));
    await captured;
    // A local change afterwards is sent: it arrives, the echo before it did not.
    cap.receive({ payload: { number: 'INC2', short_description: 'local' } });
    const msgs = await out.wait(1);
    assert.deepEqual(msgs.map((m) => rpsOf(m).id), ['INC2']);
    assert.deepEqual(
      rows(rps).map((r) => r.record_id),
      ['INC2'],
    );
  });

  it('refuses a message without msg.rps: error to Catch, nothing queued', async () => {
    const rps = await setup(sendFlow());
    const out = rps.collect('out');
    rps.node('snd').receive({ payload: { number: 'INC1' } });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /rps-common\.errors\.no-context$/);
    assert.equal(caughtFrom(caught), 'snd');
    assert.equal(out.msgs.length, 0);
    assert.equal(rows(rps).length, 0);
  });

  it('refuses a payload that cannot be serialised (a function, a cycle): error to Catch, red status, nothing queued', async () => {
    const rps = await setup(sendFlow());
    const out = rps.collect('out');
    const snd = rps.node('snd');
    const cyclic: Record<string, unknown> = { number: 'INC2' };
    cyclic.self = cyclic;
    snd.receive({ payload: { number: 'INC1', compute: () => 1 }, rps: outboundRps('incident', 'INC1') });
    snd.receive({ payload: cyclic, rps: outboundRps('incident', 'INC2') });
    snd.receive({ payload: 'text', rps: outboundRps('incident', 'INC3') });
    const caught = await rps.caught.wait(3);
    for (const c of caught) {
      assert.match(caughtError(c), /^rps-send\.errors\.bad-payload/);
      assert.equal(caughtFrom(c), 'snd');
    }
    assert.ok(callsOf(snd, 'status').some((args) => isStatus(args, 'red', 'rps-send.status.bad-payload')));
    assert.equal(out.msgs.length, 0);
    assert.equal(rows(rps).length, 0);
  });

  it('refuses binary data (a Buffer) with the reason a person can act on: the field, and to send it as text', async () => {
    const rps = await setup(sendFlow(), { renderParams: true });
    rps.node('snd').receive({ payload: { number: 'INC1', photo: Buffer.from('x') }, rps: outboundRps('incident', 'INC1') });
    const [caught] = await rps.caught.wait(1);
    assert.equal(caughtError(caught), `rps-send.errors.bad-payload ${JSON.stringify({ error: `payload.photo: ${BINARY}` })}`);
    assert.equal(rows(rps).length, 0);
  });

  it('refuses what the remote would refuse (a string over the size limit, a display value that is not text): nothing undeliverable is queued', async () => {
    const rps = await setup(sendFlow());
    const snd = rps.node('snd');
    snd.receive({ payload: { number: 'INC1', huge: 'x'.repeat(1_000_001) }, rps: outboundRps('incident', 'INC1') });
    snd.receive({ payload: { number: 'INC2' }, rps: { ...outboundRps('incident', 'INC2'), displayValues: { state: 7 } } });
    const caught = await rps.caught.wait(2);
    for (const c of caught) assert.match(caughtError(c), /^rps-send\.errors\.bad-payload/);
    assert.equal(rows(rps).length, 0);
    // An empty display value is a value, and goes.
    snd.receive({ payload: { number: 'INC3' }, rps: { ...outboundRps('incident', 'INC3'), displayValues: { state: '' } } });
    await rps.collect('out').wait(1);
    assert.equal(rows(rps).length, 1);
  });

  it("refuses a record whose link is inactive (correlate's third output wired to send): error to Catch, nothing queued", async () => {
    const rps = await setup(sendFlow());
    const inactive = { remoteSystem: 'rs', remoteTable: 'case', remoteId: 'C-9', state: 'inactive' };
    rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1', { correlation: inactive }) });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /^rps-send\.errors\.inactive/);
    assert.ok(callsOf(rps.node('snd'), 'status').some((args) => isStatus(args, 'red', 'rps-send.status.inactive')));
    assert.equal(rows(rps).length, 0);
  });

  it('addresses a correlated change to the twin (message.target)', async () => {
    const rps = await setup([
      { id: 'cap', type: 'rps-capture', table: 'incident', idField: 'number', wires: [['cor']] },
      { id: 'cor', type: 'rps-correlate', remoteSystem: 'rs', wires: [['snd'], ['snd']] },
      { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const out = rps.collect('out');
    await rps.receive(correlationMessage({ table: 'case', id: 'C-9' }, { table: 'incident', id: 'INC1' }));
    rps.node('cap').receive({ payload: { number: 'INC1', state: 2 }, previous: { number: 'INC1', state: 1 } });
    const [msg] = await out.wait(1);
    const row = rows(rps).find((r) => r.id === queuedOf(msg).queueId);
    assert.ok(row);
    assert.deepEqual((JSON.parse(row.payload) as Message).target, { table: 'case', id: 'C-9' });
  });

  it('with a remote system that has no URL: red status, every message errors, nothing queued', async () => {
    const rps = await setup(sendFlow(), { url: '' });
    const snd = rps.node('snd');
    assert.ok(
      callsOf(snd, 'status').some((args) => isStatus(args, 'red', 'rps-remote-system.errors.no-url')),
      'red status naming why when deployed',
    );
    rps.node('cap').receive({ payload: { number: 'INC1' } });
    const [caught] = await rps.caught.wait(1);
    assert.equal(caughtError(caught), 'rps-remote-system.errors.no-url');
    assert.equal(rows(rps).length, 0);
  });

  it('without a process event: red status, every message errors', async () => {
    const rps = await setup([
      { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: '', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const snd = rps.node('snd');
    assert.ok(callsOf(snd, 'status').some((args) => isStatus(args, 'red', 'rps-common.errors.no-process-event')));
    snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /rps-common\.errors\.no-process-event$/);
  });

  describe('delivery', () => {
    let remote: FakeRemote;
    beforeEach(async () => {
      remote = new FakeRemote();
      await remote.listen();
    });
    afterEach(() => remote.close());

    it('delivers the queued message to the remote with its credentials; the row becomes processed', async () => {
      const rps = await setup(sendFlow(), { url: remote.url, remote: { authType: 'basic' } });
      const rs = helper.getNode('rs') as RemoteSystemNode;
      assert.ok(rs.remote, 'the remote system has a sender');
      const delivered = new Promise<void>((resolve) => rs.remote?.outbox.once('delivered', () => resolve()));
      const out = rps.collect('out');
      rps.node('cap').receive({ payload: { number: 'INC1', short_description: 'Printer on fire' } });
      const [msg] = await out.wait(1);
      await guard(delivered, 'the outbox reports the delivery');

      // The remote system also asks for the handshake when it starts; the messages are posted.
      const request = await remote.waitFor((r) => r.method === 'POST', 'posting the messages');
      assert.equal(request.url, '/rps/v1/messages');
      assert.equal(request.authorization, basic('u', 'p'));
      const envelope = JSON.parse(request.body) as { protocol: string; sender: { name: string }; messages: Message[] };
      assert.equal(envelope.protocol, 'rps/1');
      assert.equal(envelope.sender.name, 'test-instance');
      assert.equal(envelope.messages.length, 1);
      assert.equal(envelope.messages[0].id, queuedOf(msg).messageId);
      assert.deepEqual(envelope.messages[0].fields, { number: 'INC1', short_description: 'Printer on fire' });

      const [row] = rows(rps);
      assert.equal(row.status, 'processed');
      assert.equal(row.last_error, null);
      assert.equal(
        callsOf(rps.node('snd'), 'error').map((a) => textOf(a[0])).length,
        0,
        'no error on a good delivery',
      );
    });
  });
});
