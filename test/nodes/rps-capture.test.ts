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
});
