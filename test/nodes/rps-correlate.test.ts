/**
 * rps-correlate: finds the twin of a record. Outbound: the remote record linked with
 * our record on the configured remote system. Inbound: our record linked with the
 * sender's. Output 1: correlated; output 2: not correlated (yet).
 */
import assert from 'node:assert/strict';
import {
  caughtError,
  caughtFrom,
  change,
  correlationMessage,
  type FlowNode,
  type Msg,
  outboundRps,
  rpsOf,
  setup,
  useNodeRed,
} from './helper';

function outboundFlow(): FlowNode[] {
  return [
    { id: 'cor', type: 'rps-correlate', remoteSystem: 'rs', wires: [['yes'], ['no']] },
    { id: 'yes', type: 'helper' },
    { id: 'no', type: 'helper' },
  ];
}

function inboundFlow(): FlowNode[] {
  return [
    { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', wires: [['yes'], ['no']] },
    { id: 'yes', type: 'helper' },
    { id: 'no', type: 'helper' },
  ];
}

function captured(table: string, id: string): Msg {
  return { payload: { number: id }, rps: outboundRps(table, id) };
}

describe('rps-correlate node', function () {
  useNodeRed();

  describe('outbound (after rps-capture)', () => {
    it('sends a record without a twin to output 2, with msg.rps.correlation null', async () => {
      const rps = await setup(outboundFlow());
      const yes = rps.collect('yes');
      const no = rps.collect('no');
      rps.node('cor').receive(captured('incident', 'INC1'));
      const [msg] = await no.wait(1);
      assert.equal(rpsOf(msg).correlation, null);
      assert.equal(yes.msgs.length, 0);
    });

    it('sends a record to output 1 with its twin once the remote has told us the correlation', async () => {
      const rps = await setup(outboundFlow());
      const yes = rps.collect('yes');
      const no = rps.collect('no');
      // Desk B created case C-9 for our INC1 and tells us so (kind "correlation").
      await rps.receive(correlationMessage({ table: 'case', id: 'C-9' }, { table: 'incident', id: 'INC1' }));
      const cor = rps.node('cor');
      cor.receive(captured('incident', 'INC1'));
      cor.receive(captured('incident', 'INC2'));
      const [linked] = await yes.wait(1);
      assert.deepEqual(rpsOf(linked).correlation, { remoteSystem: 'rs', remoteTable: 'case', remoteId: 'C-9', state: 'active' });
      const [unlinked] = await no.wait(1);
      assert.equal(rpsOf(unlinked).id, 'INC2', 'another record of the same table is not correlated');
      assert.equal(yes.msgs.length, 1);
    });

    it('without msg.rps: error to Catch, no output', async () => {
      const rps = await setup(outboundFlow());
      const yes = rps.collect('yes');
      const no = rps.collect('no');
      rps.node('cor').receive({ payload: { number: 'INC1' } });
      const [caught] = await rps.caught.wait(1);
      assert.match(caughtError(caught), /rps-common\.errors\.no-context$/);
      assert.equal(caughtFrom(caught), 'cor');
      assert.equal(yes.msgs.length + no.msgs.length, 0);
    });

    it('without a remote system: error to Catch', async () => {
      const rps = await setup([
        { id: 'cor', type: 'rps-correlate', remoteSystem: '', wires: [['yes'], ['no']] },
        { id: 'yes', type: 'helper' },
        { id: 'no', type: 'helper' },
      ]);
      rps.node('cor').receive(captured('incident', 'INC1'));
      const [caught] = await rps.caught.wait(1);
      assert.match(caughtError(caught), /rps-common\.errors\.no-remote-system$/);
    });
  });

  describe('inbound (after rps-inbound)', () => {
    it('sends a record we have no twin of to output 2', async () => {
      const rps = await setup(inboundFlow());
      const yes = rps.collect('yes');
      const no = rps.collect('no');
      await rps.receive(change({ recordId: 'C-1', sequence: 1 }));
      const [msg] = await no.wait(1);
      const r = rpsOf(msg);
      assert.equal(r.direction, 'inbound');
      assert.equal(r.correlation, null);
      assert.equal(r.localId, undefined);
      assert.equal(yes.msgs.length, 0);
    });

    it('trusts message.target when we have no link: output 1 with the local id', async () => {
      const rps = await setup(inboundFlow());
      const yes = rps.collect('yes');
      await rps.receive(change({ recordId: 'C-2', sequence: 1, operation: 'update', target: { table: 'incident', id: 'INC7' } }));
      const [msg] = await yes.wait(1);
      const r = rpsOf(msg);
      assert.deepEqual(r.correlation, { localTable: 'incident', localId: 'INC7', state: 'active' });
      assert.equal(r.localId, 'INC7');
      assert.equal(r.localTable, 'incident');
    });

    it('finds the link made by an earlier correlation: output 1', async () => {
      const rps = await setup(inboundFlow());
      const yes = rps.collect('yes');
      const no = rps.collect('no');
      await rps.receive(correlationMessage({ table: 'case', id: 'C-3' }, { table: 'incident', id: 'INC3' }));
      // The correlation made C-3's sequence 1 applied; its next change is sequence 2.
      await rps.receive(change({ recordId: 'C-3', sequence: 2 }));
      const [msg] = await yes.wait(1);
      assert.deepEqual(rpsOf(msg).correlation, { localTable: 'incident', localId: 'INC3', state: 'active' });
      assert.equal(rpsOf(msg).localId, 'INC3');
      assert.equal(no.msgs.length, 0);
    });
  });
});
