/**
 * rps-inbound and rps-complete: messages the remote delivered (injected through the
 * runtime's receiver, as the HTTP route does) are emitted into the inbound flow in
 * sequence order, one at a time per record; rps-complete records how each ended,
 * links the records and queues the correlation reply.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from '../../src/core/protocol';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  callsOf,
  caughtError,
  caughtFrom,
  change,
  type Collector,
  correlationMessage,
  type CorrelationRecord,
  EVENT,
  type FlowNode,
  helper,
  type InboundRecord,
  isStatus,
  type Msg,
  type OutboundRecord,
  PROJECT_ROOT,
  type Rps,
  REMOTE_INSTANCE,
  renderParams,
  rpsOf,
  setup,
  textOf,
  useNodeRed,
  waitForCall,
} from './helper';

/** in → out;  cp (complete) → done */
function inboundFlow(inbound: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', timeout: '60', gapWait: '30', wires: [['out']], ...inbound },
    { id: 'out', type: 'helper' },
    { id: 'cp', type: 'rps-complete', localTable: 'incident', wires: [['done']] },
    { id: 'done', type: 'helper' },
  ];
}

/** Changes only rps-inbound 'in' and deploys "modified nodes": the rest of the flow keeps running. */
async function redeployInbound(rps: Rps): Promise<void> {
  await rps.redeploy((flow) => {
    const inbound = flow.find((n) => n.id === 'in');
    assert.ok(inbound);
    inbound.name = 'renamed';
  });
}

/** in → cor → yes / no;  cp (complete) → done */
function correlatedFlow(): FlowNode[] {
  return [
    { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', wires: [['yes'], ['no']] },
    { id: 'yes', type: 'helper' },
    { id: 'no', type: 'helper' },
    { id: 'cp', type: 'rps-complete', localTable: 'incident', wires: [['done']] },
    { id: 'done', type: 'helper' },
  ];
}

/**
 * A later sequence of a record is also held while the earlier one has not arrived
 * (the gap wait). Without gap wait, only the per-record rule holds it: an earlier
 * message of the record that is processing or in error.
 */
const NO_GAP_WAIT = { gapWait: '0' };

/** "record#sequence" of an emitted message. */
function key(msg: Msg): string {
  const r = rpsOf(msg);
  return `${(r.source as { id: string }).id}#${String(r.sequence)}`;
}

function inboundRow(rps: Rps, messageId: string): InboundRecord {
  const [row] = rps.query<InboundRecord>('SELECT * FROM rps_inbound WHERE message_id = ?', messageId);
  assert.ok(row, `inbound row of ${messageId}`);
  return row;
}

/** Completes `msg` through rps-complete and waits until it has passed it on. */
async function complete(rps: Rps, done: Collector, msg: Msg): Promise<Msg> {
  const before = done.msgs.length;
  rps.node('cp').receive(msg);
  const all = await done.wait(before + 1);
  return all[before];
}

describe('rps-inbound and rps-complete nodes', function () {
  useNodeRed();

  it('emits a received message: msg.payload = its fields, msg.rps = where it came from', async () => {
    const rps = await setup(inboundFlow());
    const out = rps.collect('out');
    const m = change({ recordId: 'C-1', sequence: 1, fields: { number: 'C-1', short_description: 'Printer' }, changedFields: ['short_description'] });
    await rps.receive(m);
    const [msg] = await out.wait(1);
    assert.deepEqual(msg.payload, { number: 'C-1', short_description: 'Printer' });
    assert.equal(msg.topic, EVENT);
    const r = rpsOf(msg);
    assert.equal(r.direction, 'inbound');
    assert.equal(r.inboundNode, 'in');
    assert.equal(r.remoteSystem, 'rs');
    assert.equal(r.processEvent, EVENT);
    assert.equal(r.messageId, m.id);
    assert.equal(r.sequence, 1);
    assert.equal(r.operation, 'insert');
    assert.equal(r.attempt, 1);
    assert.equal(r.redelivered, false);
    assert.deepEqual(r.source, m.source);
    assert.deepEqual(r.changedFields, ['short_description']);
    assert.equal(typeof r.queueId, 'number');
    assert.equal(inboundRow(rps, m.id).status, 'processing');
  });

  it('emits the changes of one record in sequence order, even when they arrive out of order', async () => {
    const rps = await setup(inboundFlow());
    const out = rps.collect('out');
    const done = rps.collect('done');
    // Sequence 2 arrives first: it waits for 1 (gap wait 30 s).
    await rps.receive(change({ recordId: 'C-1', sequence: 2 }));
    await rps.receive(change({ recordId: 'C-1', sequence: 1 }));
    const [first] = await out.wait(1);
    assert.equal(key(first), 'C-1#1');
    (first.payload as Record<string, unknown>).id = 'INC1';
    await complete(rps, done, first);
    const [, second] = await out.wait(2);
    assert.equal(key(second), 'C-1#2');
  });

  it('a later change whose earlier one never arrives goes ahead after the gap wait, with a warning naming the gap', async () => {
    const rps = await setup(inboundFlow({ gapWait: '0.2' }));
    renderParams(rps.red);
    const out = rps.collect('out');
    const a2 = change({ recordId: 'A', sequence: 2 });
    await rps.receive(a2);
    const [msg] = await out.wait(1);
    assert.equal(key(msg), 'A#2');
    const warning = await waitForCall(rps.node('in'), 'warn', (args) => textOf(args[0]).startsWith('rps-inbound.warnings.gap '));
    const params = JSON.parse(textOf(warning[0]).slice('rps-inbound.warnings.gap '.length)) as Record<string, unknown>;
    assert.deepEqual(params, { id: inboundRow(rps, a2.id).id, sequence: 2, applied: 0, source: 'case/A' });
    assert.equal(inboundRow(rps, a2.id).status, 'processing');
  });

  it('a change that follows the last applied one goes at once, without a gap warning', async () => {
    const rps = await setup(inboundFlow({ gapWait: '0.2' }));
    const out = rps.collect('out');
    const done = rps.collect('done');
    await rps.receive(change({ recordId: 'A', sequence: 1 }));
    const [first] = await out.wait(1);
    (first.payload as Record<string, unknown>).id = 'INC-A';
    await complete(rps, done, first);
    await rps.receive(change({ recordId: 'A', sequence: 2 }));
    await out.wait(2);
    assert.equal(
      callsOf(rps.node('in'), 'warn').filter((args) => textOf(args[0]).startsWith('rps-inbound.warnings.gap')).length,
      0,
    );
  });

  it('emits one change per record at a time: the next waits until rps-complete has finished the previous', async () => {
    const rps = await setup(inboundFlow(NO_GAP_WAIT));
    const out = rps.collect('out');
    const done = rps.collect('done');
    const a2 = change({ recordId: 'A', sequence: 2 });
    await rps.receive(change({ recordId: 'A', sequence: 1 }), a2, change({ recordId: 'B', sequence: 1 }));
    const firstTwo = await out.wait(2);
    assert.deepEqual(firstTwo.map(key).sort(), ['A#1', 'B#1'], 'other records are not held back');
    // A row is marked processing when it is taken, before it is emitted.
    assert.equal(inboundRow(rps, a2.id).status, 'ready');
    // A later arrival makes the dispatcher look again: A#2 must still wait for A#1.
    await rps.receive(change({ recordId: 'C', sequence: 1 }));
    await out.wait(3);
    assert.deepEqual(out.msgs.map(key).slice(2), ['C#1']);

    const a1 = out.msgs.find((m) => key(m) === 'A#1');
    assert.ok(a1);
    (a1.payload as Record<string, unknown>).id = 'INC-A';
    await complete(rps, done, a1);
    const all = await out.wait(4);
    assert.equal(key(all[3]), 'A#2');
    assert.equal(all.length, 4);
  });

  it('emits at most "records in parallel" records at once', async () => {
    const rps = await setup(inboundFlow({ ...NO_GAP_WAIT, maxParallel: '1' }));
    const out = rps.collect('out');
    const done = rps.collect('done');
    const b1 = change({ recordId: 'B', sequence: 1 });
    const c1 = change({ recordId: 'C', sequence: 1 });
    await rps.receive(change({ recordId: 'A', sequence: 1 }), b1);
    const [a1] = await out.wait(1);
    assert.equal(key(a1), 'A#1');
    // A row is marked processing when it is taken, before it is emitted.
    assert.equal(inboundRow(rps, b1.id).status, 'ready', 'B#1 waits for A#1');
    // Another arrival makes the dispatcher look again: still one record in the flow.
    await rps.receive(c1);
    (a1.payload as Record<string, unknown>).id = 'INC-A';
    await complete(rps, done, a1);
    const [, second] = await out.wait(2);
    assert.equal(key(second), 'B#1');
    assert.equal(inboundRow(rps, b1.id).status, 'processing');
    assert.equal(inboundRow(rps, c1.id).status, 'ready', 'C#1 waits for B#1');
  });

  it('ignores a message it already has (the sender may send twice)', async () => {
    const rps = await setup(inboundFlow());
    const out = rps.collect('out');
    const m = change({ recordId: 'A', sequence: 1 });
    const first = await rps.receive(m);
    const again = await rps.receive(m, change({ recordId: 'B', sequence: 1 }));
    assert.deepEqual(first.status === 200 && first.results.map((r) => r.status), ['accepted']);
    assert.deepEqual(again.status === 200 && again.results.map((r) => r.status), ['duplicate', 'accepted']);
    await out.wait(2);
    assert.deepEqual(out.msgs.map(key).sort(), ['A#1', 'B#1']);
    assert.equal(rps.query<{ n: number }>('SELECT count(*) AS n FROM rps_inbound')[0].n, 2);
  });

  it('rps-complete with the local id: row processed, correlation created, correlation reply queued; rps-correlate then finds it', async () => {
    const rps = await setup(correlatedFlow());
    const no = rps.collect('no');
    const yes = rps.collect('yes');
    const done = rps.collect('done');
    const m1 = change({ recordId: 'C-1', sequence: 1 });
    await rps.receive(m1);
    const [msg] = await no.wait(1);
    // The user's nodes created the local record and put its id in msg.payload.id.
    (msg.payload as Record<string, unknown>).id = 'INC1';
    const passed = await complete(rps, done, msg);
    assert.equal(rpsOf(passed).localId, 'INC1');
    assert.equal(rps.caught.msgs.length, 0);

    assert.equal(inboundRow(rps, m1.id).status, 'processed');
    const links = rps.query<CorrelationRecord>(
      'SELECT remote_system, local_table, local_id, remote_table, remote_id, state FROM rps_correlation',
    );
    // Under the link key: the remote instance's id, which its envelope told.
    assert.deepEqual(links, [
      { remote_system: 'instance-of-desk-b', local_table: 'incident', local_id: 'INC1', remote_table: 'case', remote_id: 'C-1', state: 'active' },
    ]);
    const replies = rps.query<OutboundRecord>("SELECT * FROM rps_outbound WHERE kind = 'correlation'");
    assert.equal(replies.length, 1, 'one correlation reply queued for the remote');
    const reply = JSON.parse(replies[0].payload) as Message;
    assert.equal(reply.kind, 'correlation');
    assert.equal(reply.processEvent, EVENT);
    assert.deepEqual({ table: reply.source.table, id: reply.source.id }, { table: 'incident', id: 'INC1' });
    assert.deepEqual(reply.target, { table: 'case', id: 'C-1' });

    // The next change of C-1 is correlated to INC1.
    await rps.receive(change({ recordId: 'C-1', sequence: 2 }));
    const [next] = await yes.wait(1);
    assert.equal(rpsOf(next).localId, 'INC1');
    assert.deepEqual(rpsOf(next).correlation, { localTable: 'incident', localId: 'INC1', state: 'active' });
    // Completing it again does not queue a second reply: the link did not change.
    await complete(rps, done, next);
    assert.equal(rps.query<OutboundRecord>("SELECT * FROM rps_outbound WHERE kind = 'correlation'").length, 1);
  });

  it('rps-complete with msg.error: row error with the reason, later changes of that record held back, others not', async () => {
    const rps = await setup(inboundFlow(NO_GAP_WAIT));
    const out = rps.collect('out');
    const done = rps.collect('done');
    const a1 = change({ recordId: 'A', sequence: 1 });
    const a2 = change({ recordId: 'A', sequence: 2 });
    await rps.receive(a1, a2);
    const [first] = await out.wait(1);
    assert.equal(key(first), 'A#1');
    // As a Catch node hands it over.
    first.error = { message: 'local API said no', source: { id: 'write', type: 'http request' } };
    await complete(rps, done, first);
    await waitForCall(rps.node('cp'), 'status', (args) => isStatus(args, 'red', 'rps-complete.status.counts'));
    const row = inboundRow(rps, a1.id);
    assert.equal(row.status, 'error');
    assert.equal(row.last_error, 'local API said no');
    assert.equal(rps.caught.msgs.length, 0, 'a flow error already went to Catch once; it is not raised again');

    // Another record goes through; A#2 stays behind the error.
    await rps.receive(change({ recordId: 'B', sequence: 1 }));
    await out.wait(2);
    assert.deepEqual(out.msgs.map(key), ['A#1', 'B#1']);
    assert.equal(inboundRow(rps, a2.id).status, 'ready');
    assert.equal(rps.query<CorrelationRecord>('SELECT * FROM rps_correlation').length, 0, 'no link for a failed message');
  });

  it('rps-complete without a local id on an insert: row error, error to Catch, red status', async () => {
    const rps = await setup(inboundFlow());
    const out = rps.collect('out');
    const m = change({ recordId: 'A', sequence: 1, fields: { number: 'A' } });
    await rps.receive(m);
    const [msg] = await out.wait(1);
    rps.node('cp').receive(msg);
    const [caught] = await rps.caught.wait(1);
    assert.equal(caughtError(caught), 'rps-complete.errors.no-local-id');
    assert.equal(caughtFrom(caught), 'cp');
    await waitForCall(rps.node('cp'), 'status', (args) => isStatus(args, 'red', 'rps-complete.status.counts'));
    const row = inboundRow(rps, m.id);
    assert.equal(row.status, 'error');
    assert.equal(row.last_error, 'rps-complete.errors.no-local-id');
    assert.equal(rps.query<OutboundRecord>('SELECT * FROM rps_outbound').length, 0, 'no correlation reply');
  });

  it('rps-complete of a delete: processed without a new id, the correlation becomes inactive, no reply', async () => {
    const rps = await setup(correlatedFlow());
    const yes = rps.collect('yes');
    const done = rps.collect('done');
    await rps.receive(correlationMessage({ table: 'case', id: 'C-5' }, { table: 'incident', id: 'INC5' }));
    const del = change({ recordId: 'C-5', sequence: 2, operation: 'delete', fields: { number: 'C-5' } });
    await rps.receive(del);
    const [msg] = await yes.wait(1);
    await complete(rps, done, msg);
    assert.equal(inboundRow(rps, del.id).status, 'processed');
    const [link] = rps.query<CorrelationRecord>('SELECT * FROM rps_correlation');
    assert.equal(link.state, 'inactive');
    assert.equal(rps.query<OutboundRecord>('SELECT * FROM rps_outbound').length, 0);
  });

  it('rps-complete refuses a message that did not come from rps-inbound', async () => {
    const rps = await setup(inboundFlow());
    rps.node('cp').receive({ payload: { id: 'INC1' } });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /rps-common\.errors\.no-context$/);
    assert.equal(caughtFrom(caught), 'cp');
  });

  it('a flow that does not reach rps-complete in time: row error with the timeout reason, a warning, record held', async () => {
    const rps = await setup(inboundFlow({ ...NO_GAP_WAIT, timeout: '0.2' }));
    const out = rps.collect('out');
    const inbound = rps.node('in');
    const a1 = change({ recordId: 'A', sequence: 1 });
    const a2 = change({ recordId: 'A', sequence: 2 });
    await rps.receive(a1, a2);
    const [msg] = await out.wait(1);
    const warning = await waitForCall(inbound, 'warn', (args) => textOf(args[0]) === 'rps-inbound.errors.timeout-row');
    assert.ok(warning);
    const row = inboundRow(rps, a1.id);
    assert.equal(row.status, 'error');
    assert.equal(row.last_error, 'rps-inbound.errors.timeout');
    assert.ok(callsOf(inbound, 'status').some((args) => isStatus(args, 'yellow', 'rps-inbound.status.timeout')));
    assert.equal(rpsOf(msg).sequence, 1);

    // The timed-out row holds back A#2; another record still goes through.
    await rps.receive(change({ recordId: 'B', sequence: 1 }));
    await out.wait(2);
    assert.deepEqual(out.msgs.map(key), ['A#1', 'B#1']);
    assert.equal(inboundRow(rps, a2.id).status, 'ready');
  });

  it('the next change of a record waiting in another process event goes as soon as the first is complete', async () => {
    const rps = await setup([
      { id: 'pe2', type: 'rps-process-event', name: 'Other event' },
      { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', gapWait: '30', wires: [['out']] },
      { id: 'in2', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe2', gapWait: '30', wires: [['out2']] },
      { id: 'out', type: 'helper' },
      { id: 'out2', type: 'helper' },
      { id: 'cp', type: 'rps-complete', localTable: 'incident', wires: [['done']] },
      { id: 'done', type: 'helper' },
    ]);
    const out = rps.collect('out');
    const out2 = rps.collect('out2');
    const done = rps.collect('done');
    await rps.receive(change({ recordId: 'X', sequence: 1 }), { ...change({ recordId: 'X', sequence: 2 }), processEvent: 'Other event' });
    const [first] = await out.wait(1);
    (first.payload as Record<string, unknown>).id = 'INC-X';
    await complete(rps, done, first);
    // Nothing else arrives: finishing sequence 1 alone must wake the other event's inbound.
    const [second] = await out2.wait(1);
    assert.equal(rpsOf(second).sequence, 2);
  });

  it('a redeploy of rps-inbound does not emit a message twice while its flow may still be running: the old emission can still complete it', async () => {
    const rps = await setup(inboundFlow());
    const out = rps.collect('out');
    const done = rps.collect('done');
    const m = change({ recordId: 'A', sequence: 1 });
    const next = change({ recordId: 'A', sequence: 2 });
    await rps.receive(m);
    const [old] = await out.wait(1);
    await redeployInbound(rps);
    await rps.receive(next);
    // The old emission's flow (in the part of the flow that was not redeployed) finishes: it counts.
    (old.payload as Record<string, unknown>).id = 'INC-OLD';
    await complete(rps, done, old);
    assert.equal(inboundRow(rps, m.id).status, 'processed');
    const [link] = rps.query<CorrelationRecord>('SELECT * FROM rps_correlation');
    assert.equal(link.local_id, 'INC-OLD');
    // Only then the record's next change goes, as attempt 1: nothing ran twice.
    const [, second] = await out.wait(2);
    assert.deepEqual([rpsOf(second).messageId, rpsOf(second).attempt], [next.id, 1]);
  });

  it('after a redeploy, a message whose flow was cut short is emitted again (redelivered) once the processing timeout has passed', async () => {
    const rps = await setup(inboundFlow({ timeout: '0.3' }));
    const out = rps.collect('out');
    const done = rps.collect('done');
    const m = change({ recordId: 'A', sequence: 1 });
    await rps.receive(m);
    const [old] = await out.wait(1);
    await redeployInbound(rps);
    const [, again] = await out.wait(2);
    assert.deepEqual([rpsOf(again).messageId, rpsOf(again).attempt, rpsOf(again).redelivered], [m.id, 2, true]);

    // A late completion of the old emission is ignored with a warning; the new one counts.
    (old.payload as Record<string, unknown>).id = 'INC-OLD';
    await complete(rps, done, old);
    await waitForCall(rps.node('cp'), 'warn', (args) => textOf(args[0]) === 'rps-complete.warnings.stale');
    assert.equal(inboundRow(rps, m.id).status, 'processing');
    (again.payload as Record<string, unknown>).id = 'INC-NEW';
    await complete(rps, done, again);
    assert.equal(inboundRow(rps, m.id).status, 'processed');
    const [link] = rps.query<CorrelationRecord>('SELECT * FROM rps_correlation');
    assert.equal(link.local_id, 'INC-NEW');
  });

  it('rps-complete reads the local id from the configured property; a numeric id is taken as text', async () => {
    const rps = await setup([
      { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'cp', type: 'rps-complete', localTable: '', localId: 'result.sys_id', localIdType: 'msg', wires: [['done']] },
      { id: 'done', type: 'helper' },
    ]);
    const out = rps.collect('out');
    const done = rps.collect('done');
    const m = change({ recordId: 'C-8', sequence: 1 });
    await rps.receive(m);
    const [msg] = await out.wait(1);
    msg.result = { sys_id: 4711 };
    await complete(rps, done, msg);
    assert.equal(inboundRow(rps, m.id).status, 'processed');
    const [link] = rps.query<CorrelationRecord>('SELECT * FROM rps_correlation');
    assert.equal(link.local_id, '4711');
    assert.equal(link.local_table, 'case', 'without a local table: the sender\'s table name');
  });

  it('refuses a message of a process event not defined here: 404, nothing stored', async () => {
    const rps = await setup(inboundFlow());
    const m = { ...change({ recordId: 'A', sequence: 1 }), processEvent: 'Some other event' };
    const outcome = await rps.rt.receiver.receive(rps.peer(), {
      protocol: 'rps/1',
      sender: { instanceId: REMOTE_INSTANCE, name: 'desk B' },
      messages: [m],
    });
    assert.equal(outcome.status, 404);
    assert.equal(rps.query<{ n: number }>('SELECT count(*) AS n FROM rps_inbound')[0].n, 0);
  });

  it('without a process event: red status and an error when deployed', async () => {
    const rps = await setup([
      { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: '', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const inbound = rps.node('in');
    assert.ok(callsOf(inbound, 'status').some((args) => isStatus(args, 'red', 'rps-common.errors.no-process-event')));
    assert.ok(callsOf(inbound, 'error').some((args) => textOf(args[0]).endsWith('rps-common.errors.no-process-event')));
  });

  it('without an rps-inbound deployed, a message of a known process event is accepted and waits in the inbound queue', async () => {
    const rps = await setup([{ id: 'out', type: 'helper' }]);
    const outcome = await rps.receive(change({ recordId: 'A', sequence: 1 }));
    assert.deepEqual(outcome.status === 200 && outcome.results.map((r) => r.status), ['accepted']);
    const [row] = rps.query<InboundRecord>('SELECT * FROM rps_inbound');
    assert.equal(row.status, 'ready', 'kept in the inbound queue until an inbound flow is deployed');
  });

  describe('a remote system the remote cannot call', () => {
    /** What the en-US catalog says for `key` of rps-remote-system (the test helper's RED._ gives keys). */
    const catalog = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'nodes', 'locales', 'en-US', 'rps-remote-system.json'), 'utf8')) as {
      'rps-remote-system': { label: Record<string, string>; errors: Record<string, string> };
    })['rps-remote-system'];

    it('without an API user and password: the inbound status names the settings and the remote system, its log says it once', async () => {
      const rps = await setup(inboundFlow(), { credentials: { user: 'u', password: 'p' }, renderParams: true });
      const expected = 'rps-remote-system.errors.no-inbound-user {"remote":"desk B"}';
      await waitForCall(rps.node('in'), 'status', (args) => isStatus(args, 'red', expected));
      assert.ok(!callsOf(rps.node('in'), 'status').some((args) => isStatus(args, 'grey', 'rps-inbound.status.disabled')), 'not "validate and activate"');
      const warned = (): unknown[][] => callsOf(rps.node('rs'), 'warn').filter((args) => textOf(args[0]) === expected);
      assert.equal(warned().length, 1, 'the remote system logs which settings to set');
      const rs = helper.getNode('rs') as RemoteSystemNode;
      assert.equal(rs.states().inboundError, expected, "the form's state line says it too");
      // The inbound node redeployed alone: its status says it again, the log not.
      await redeployInbound(rps);
      await waitForCall(rps.node('in'), 'status', (args) => isStatus(args, 'red', expected));
      assert.equal(warned().length, 1, 'said once per deploy of the remote system');
    });

    it('with an API password but no API user: refused at deploy, and the inbound status names the missing API user', async () => {
      const rps = await setup(inboundFlow(), { credentials: { user: 'u', password: 'p', inboundPassword: 'ip' }, renderParams: true });
      const expected = 'rps-remote-system.errors.no-inbound-user-name {"remote":"desk B"}';
      assert.ok(callsOf(rps.node('rs'), 'error').some((args) => textOf(args[0]) === expected), 'logged at deploy');
      await waitForCall(rps.node('in'), 'status', (args) => isStatus(args, 'red', expected));
      assert.equal(rps.rt.receiver.size, 0, 'nobody may call us as this remote system');
    });

    it('a remote system we only send to (no API user, no inbound node) logs nothing about it', async () => {
      const rps = await setup([], { credentials: { user: 'u', password: 'p' }, renderParams: true });
      assert.deepEqual(callsOf(rps.node('rs'), 'warn'), []);
      assert.deepEqual(callsOf(rps.node('rs'), 'error'), []);
    });

    it("the texts name the form's fields (the labels the user sees) and the remote system", () => {
      const { label, errors } = catalog;
      for (const [code, fields] of [
        ['no-inbound-user', ['inboundUser', 'inboundPassword']],
        ['no-inbound-user-name', ['inboundUser']],
        ['no-inbound-password', ['inboundPassword']],
      ] as const) {
        for (const field of fields) assert.ok(errors[code].includes(label[field]), `errors.${code} names "${label[field]}": ${errors[code]}`);
        assert.ok(errors[code].includes('__remote__'), `errors.${code} names the remote system`);
      }
    });
  });
});
