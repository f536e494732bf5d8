/**
 * rps-capture: a local record change in, a capture message out (msg.payload = the
 * included fields, msg.rps = what changed), or nothing when the change must not be sent.
 */
import assert from 'node:assert/strict';
import { callsOf, caughtError, type FlowNode, isStatus, rpsOf, setup, useNodeRed, waitForCall } from './helper';

function captureNode(extra: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'cap', type: 'rps-capture', table: 'incident', idField: 'number', fields: 'number, short_description, state', wires: [['out']], ...extra },
    { id: 'out', type: 'helper' },
  ];
}

describe('rps-capture node', function () {
  useNodeRed();

  it('captures an insert: operation inferred, only the included fields, every included field changed', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    rps.node('cap').receive({
      payload: { number: 'INC1', short_description: 'Printer on fire', state: 1, internal_note: 'not for them' },
      changedBy: 'alice',
      interactive: false,
    });
    const [msg] = await out.wait(1);
    assert.deepEqual(msg.payload, { number: 'INC1', short_description: 'Printer on fire', state: 1 });
    const r = rpsOf(msg);
    assert.equal(r.direction, 'outbound');
    assert.equal(r.table, 'incident');
    assert.equal(r.id, 'INC1');
    assert.equal(r.operation, 'insert');
    assert.deepEqual(r.changedFields, ['number', 'short_description', 'state']);
    assert.equal(r.changedBy, 'alice');
    assert.equal(r.interactive, false);
    assert.ok(typeof r.capturedAt === 'string' && !Number.isNaN(Date.parse(r.capturedAt)), 'capturedAt is an ISO date');
    assert.equal(r.origin, undefined, 'a local change has no origin');
  });

  it('captures an update when msg.previous is given: changedFields lists only the included fields that changed', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    rps.node('cap').receive({
      payload: { number: 'INC1', short_description: 'Printer on fire', state: 2, internal_note: 'b' },
      previous: { number: 'INC1', short_description: 'Printer on fire', state: 1, internal_note: 'a' },
    });
    const [msg] = await out.wait(1);
    const r = rpsOf(msg);
    assert.equal(r.operation, 'update');
    assert.deepEqual(r.changedFields, ['state']);
    assert.equal(r.interactive, true, 'interactive by default');
    assert.deepEqual(msg.payload, { number: 'INC1', short_description: 'Printer on fire', state: 2 });
  });

  it('does not send an update in which no included field changed', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    const cap = rps.node('cap');
    // Only a field that is not included changed: nothing to send.
    cap.receive({
      payload: { number: 'INC1', short_description: 'same', state: 1, internal_note: 'new' },
      previous: { number: 'INC1', short_description: 'same', state: 1, internal_note: 'old' },
    });
    // A later change that is sent: if the first had been sent, it would have arrived before this one.
    cap.receive({ payload: { number: 'INC2', short_description: 'sentinel', state: 1 } });
    const msgs = await out.wait(1);
    assert.equal(msgs.length, 1);
    assert.equal(rpsOf(msgs[0]).id, 'INC2');
    assert.equal(rps.caught.msgs.length, 0, 'an unchanged record is no error');
  });

  it('captures a delete given by msg.operation, with no changed fields', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    rps.node('cap').receive({ payload: { number: 'INC1' }, operation: 'delete' });
    const [msg] = await out.wait(1);
    const r = rpsOf(msg);
    assert.equal(r.operation, 'delete');
    assert.equal(r.id, 'INC1');
    assert.deepEqual(r.changedFields, []);
  });

  it('ignores an operation that is not selected', async () => {
    const rps = await setup(captureNode({ delete: false }));
    const out = rps.collect('out');
    const cap = rps.node('cap');
    cap.receive({ payload: { number: 'INC1' }, operation: 'delete' });
    cap.receive({ payload: { number: 'INC2', short_description: 'sentinel' }, operation: 'update' });
    const msgs = await out.wait(1);
    assert.equal(msgs.length, 1);
    assert.equal(rpsOf(msgs[0]).id, 'INC2');
    assert.equal(rpsOf(msgs[0]).operation, 'update');
    assert.equal(rps.caught.msgs.length, 0, 'an ignored operation is no error');
  });

  it('ignores fields that are not included, whatever they hold (a binary column, a function)', async () => {
    // A database row often carries columns the capture does not include, e.g. a BLOB read as a Buffer.
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    rps.node('cap').receive({
      payload: { number: 'INC1', short_description: 'Printer', state: 2, photo: Buffer.from('jpeg bytes'), format: () => 'x' },
      previous: { number: 'INC1', short_description: 'Printer', state: 1, photo: Buffer.from('jpeg bytes') },
    });
    const [msg] = await Promise.race([
      out.wait(1),
      rps.caught.wait(1).then((c) => assert.fail(`capture refused the record: ${caughtError(c[0])}`)),
    ]);
    assert.deepEqual(msg.payload, { number: 'INC1', short_description: 'Printer', state: 2 });
    assert.deepEqual(rpsOf(msg).changedFields, ['state']);
  });

  it('takes a numeric id as text', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    rps.node('cap').receive({ payload: { number: 42, state: 1 } });
    const [msg] = await out.wait(1);
    assert.equal(rpsOf(msg).id, '42');
  });

  it('refuses a record without an id: error to Catch, red status, nothing sent', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    const cap = rps.node('cap');
    cap.receive({ payload: { short_description: 'no number' } });
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /^rps-capture\.errors\.id/);
    assert.match(caughtError(caught), /"number"/, 'the error names the id field');
    await waitForCall(cap, 'status', (args) => isStatus(args, 'red', 'rps-capture.errors.id'));
    assert.equal(out.msgs.length, 0);
  });

  it('refuses an unknown msg.operation and a payload that is not a record', async () => {
    const rps = await setup(captureNode());
    const cap = rps.node('cap');
    cap.receive({ payload: { number: 'INC1' }, operation: 'upsert' });
    cap.receive({ payload: 'INC1' });
    const caught = await rps.caught.wait(2);
    assert.match(caughtError(caught[0]), /^rps-capture\.errors\.operation/);
    assert.match(caughtError(caught[1]), /^rps-capture\.errors\.record/);
  });

  it('without a source table: red status at deploy, and every message errors', async () => {
    const rps = await setup(captureNode({ table: '' }));
    const cap = rps.node('cap');
    assert.ok(
      callsOf(cap, 'status').some((args) => isStatus(args, 'red', 'rps-capture.status.no-table')),
      'red status when deployed',
    );
    cap.receive({ payload: { number: 'INC1' } });
    const [caught] = await rps.caught.wait(1);
    assert.equal(caughtError(caught), 'rps-capture.errors.no-table');
  });

  it('marks a change made by an inbound flow with its origin, so rps-send does not echo it', async () => {
    const rps = await setup(captureNode());
    const out = rps.collect('out');
    // As rps-inbound emits it (the flow wrote the record and fed the result back to capture).
    rps.node('cap').receive({
      payload: { number: 'INC1', short_description: 'from desk B', state: 1 },
      rps: { direction: 'inbound', inboundNode: 'in', queueId: 7, remoteSystem: 'rs', source: { instanceId: 'x', table: 'case', id: 'C1' } },
    });
    // A change that already carries an origin keeps it.
    rps.node('cap').receive({
      payload: { number: 'INC2', short_description: 'from desk C', state: 1 },
      rps: { direction: 'outbound', origin: 'rs-c', table: 'incident', id: 'INC2', operation: 'insert' },
    });
    const [fromInbound, withOrigin] = await out.wait(2);
    assert.equal(rpsOf(fromInbound).direction, 'outbound');
    assert.equal(rpsOf(fromInbound).origin, 'rs');
    assert.equal(rpsOf(withOrigin).origin, 'rs-c');
  });

  describe('conditions, display values, non-interactive changes', () => {
    // priority <= 2, or state changes to resolved.
    const conditions = [{ rules: [{ field: 'priority', op: 'lte', value: '2' }] }, { rules: [{ field: 'state', op: 'changesTo', value: 'resolved' }] }];

    it('sends only the changes the condition lets through, and counts the others by reason in the status', async () => {
      const rps = await setup(captureNode({ conditions, store: 'st', captureNonInteractive: false }), { renderParams: true });
      const out = rps.collect('out');
      const cap = rps.node('cap');
      cap.receive({ payload: { number: 'INC1', state: 'new', priority: 1 } }); // priority 1: sent
      cap.receive({ payload: { number: 'INC2', state: 'new', priority: 4 } }); // neither: ignored
      cap.receive({ payload: { number: 'INC2', state: 'resolved', priority: 4 }, operation: 'update' }); // changes to resolved: sent
      cap.receive({ payload: { number: 'INC2', state: 'resolved', priority: 4, short_description: 'x' }, operation: 'update' }); // resolved already: ignored
      cap.receive({ payload: { number: 'INC3', state: 'new', priority: 1 }, interactive: false }); // a system's change: ignored
      cap.receive({ payload: { number: 'INC4', state: 'new', priority: 1 }, operation: 'delete' }); // a delete of a priority 1: sent
      const msgs = await out.wait(3);
      assert.deepEqual(msgs.map((m) => [rpsOf(m).id, rpsOf(m).operation]), [['INC1', 'insert'], ['INC2', 'update'], ['INC4', 'delete']]);
      assert.deepEqual(msgs[1].payload, { number: 'INC2', state: 'resolved' }, 'the condition reads priority, which is not sent');
      await waitForCall(cap, 'status', (args) => isStatus(args, 'green', 'rps-capture.status.captured {"count":3}; rps-capture.status.ignored {"reasons":"rps-capture.status.ignored-condition {\\"count\\":2}, rps-capture.status.ignored-non-interactive {\\"count\\":1}"}'));
    });

    it('"changes to" compares with what the capture kept in the store when msg.previous is absent, across a redeploy', async () => {
      const rps = await setup(captureNode({ conditions, store: 'st' }));
      const before = rps.collect('out');
      rps.node('cap').receive({ payload: { number: 'INC9', state: 'new', priority: 4 } });
      rps.node('cap').receive({ payload: { number: 'INC9', state: 'resolved', priority: 4 }, operation: 'update' });
      const [resolved] = await before.wait(1);
      assert.deepEqual(resolved.payload, { number: 'INC9', state: 'resolved' });
      // A full redeploy closes the node, which writes what it kept, and makes a new one
      // that has nothing in memory: only the store knows INC9 is resolved.
      await rps.redeploy(() => undefined, 'full');
      const after = rps.collect('out');
      const cap = rps.node('cap');
      cap.receive({ payload: { number: 'INC9', state: 'resolved', priority: 3, short_description: 'edited' }, operation: 'update' }); // resolved already
      cap.receive({ payload: { number: 'INC9', state: 'closed', priority: 3 }, operation: 'update' });
      cap.receive({ payload: { number: 'INC9', state: 'resolved', priority: 3 }, operation: 'update' }); // resolved again: sent
      cap.receive({ payload: { number: 'INC10', state: 'resolved', priority: 4 }, operation: 'update' }); // never seen: it had no state, sent
      const msgs = await after.wait(2);
      assert.deepEqual(msgs.map((m) => m.payload), [{ number: 'INC9', state: 'resolved' }, { number: 'INC10', state: 'resolved' }]);
      await rps.redeploy(() => undefined, 'full');
      const kept = rps.query<{ record_id: string; state: string }>('SELECT record_id, state FROM rps_capture_state WHERE capture = ? ORDER BY record_id', 'cap');
      assert.deepEqual(kept.map((k) => [k.record_id, JSON.parse(k.state)]), [['INC10', { state: 'resolved' }], ['INC9', { state: 'resolved' }]], 'only the field a "changes" rule reads is kept');
    });

    it('msg.previous, when given, is what "changes" compares with', async () => {
      const rps = await setup(captureNode({ conditions, store: 'st' }));
      const out = rps.collect('out');
      const record = { number: 'INC5', state: 'resolved', priority: 4, short_description: 'b' };
      rps.node('cap').receive({ payload: record, previous: { ...record, short_description: 'a' } });
      rps.node('cap').receive({ payload: { ...record, short_description: 'c' }, previous: { ...record, state: 'new' } });
      const [sent] = await out.wait(1);
      assert.equal(sent.payload && (sent.payload as { short_description?: string }).short_description, 'c');
    });

    it('passes msg.displayValues of the included fields on as msg.rps.displayValues', async () => {
      const rps = await setup(captureNode());
      const out = rps.collect('out');
      rps.node('cap').receive({ payload: { number: 'INC1', state: 2 }, displayValues: { state: 'In progress', internal: 'no' } });
      const [msg] = await out.wait(1);
      assert.deepEqual(rpsOf(msg).displayValues, { state: 'In progress' });
      rps.node('cap').receive({ payload: { number: 'INC1', state: 2 }, displayValues: ['In progress'] });
      const [caught] = await rps.caught.wait(1);
      assert.match(caughtError(caught), /rps-capture.errors.display-values/);
    });

    it('an invalid condition: red status and an error at deploy, and every message errors', async () => {
      const rps = await setup(captureNode({ conditions: [{ rules: [{ field: 'priority', op: 'lt', value: 'high' }] }] }));
      const cap = rps.node('cap');
      assert.ok(callsOf(cap, 'status').some((args) => isStatus(args, 'red', 'rps-capture.status.bad-config')));
      cap.receive({ payload: { number: 'INC1' } });
      const [caught] = await rps.caught.wait(1);
      assert.match(caughtError(caught), /rps-capture.errors.bad-condition/);
    });

    it('an old node with included fields as a comma-separated text behaves as before', async () => {
      const rps = await setup(captureNode({ fields: 'number, state' }));
      const out = rps.collect('out');
      rps.node('cap').receive({ payload: { number: 'INC1', state: 1, other: 2 } });
      const [msg] = await out.wait(1);
      assert.deepEqual(msg.payload, { number: 'INC1', state: 1 });
      assert.deepEqual(rpsOf(msg).changedFields, ['number', 'state']);
    });
  });
});
