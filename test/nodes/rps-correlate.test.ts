/**
 * rps-correlate: finds the twin of a record. Outbound: the remote record linked with
 * our record on the configured remote system. Inbound: our record linked with the
 * sender's. Output 1: correlated; output 2: not correlated (yet); output 3 (nodes with the
 * setting, new ones): the link is inactive. msg.rps.reactivate / deactivate set the state.
 */
import assert from 'node:assert/strict';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  caughtError,
  caughtFrom,
  change,
  type Collector,
  correlationMessage,
  type CorrelationRecord,
  type FlowNode,
  type InboundRecord,
  type Msg,
  type OutboundRecord,
  outboundRps,
  type Rps,
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

function captured(table: string, id: string, extra: Record<string, unknown> = {}): Msg {
  return { payload: { number: id }, rps: outboundRps(table, id, extra) };
}

/** A correlate made by today's form: the inactive output ticked, three ports. */
function outboundFlow3(): FlowNode[] {
  return [
    { id: 'cor', type: 'rps-correlate', remoteSystem: 'rs', inactiveOutput: true, wires: [['yes'], ['no'], ['off']] },
    { id: 'yes', type: 'helper' },
    { id: 'no', type: 'helper' },
    { id: 'off', type: 'helper' },
  ];
}

/** inbound → correlate (three outputs) → helpers; the test sends messages on to complete 'cp' (→ 'done') or back into correlate. */
function inboundFlow3(correlate: Record<string, unknown> = { inactiveOutput: true }): FlowNode[] {
  return [
    { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', timeout: '60', gapWait: '30', wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', ...correlate, wires: [['yes'], ['no'], ['off']] },
    { id: 'yes', type: 'helper' },
    { id: 'no', type: 'helper' },
    { id: 'off', type: 'helper' },
    { id: 'cp', type: 'rps-complete', localTable: 'incident', wires: [['done']] },
    { id: 'done', type: 'helper' },
  ];
}

/** Sends `msg` into node `id` and waits for the next message `out` collects. */
async function through(rps: Rps, id: string, out: Collector, msg: Msg): Promise<Msg> {
  const before = out.msgs.length;
  rps.node(id).receive(msg);
  return (await out.wait(before + 1))[before];
}

function linkOf(rps: Rps, remoteId: string): Pick<CorrelationRecord, 'local_id' | 'state'> | undefined {
  return rps.query<CorrelationRecord>('SELECT * FROM rps_correlation WHERE remote_id = ?', remoteId)[0];
}

function inboundStatus(rps: Rps, sequence: number): string | undefined {
  return rps.query<InboundRecord>("SELECT * FROM rps_inbound WHERE source_id = 'C-3' AND sequence = ?", sequence)[0]?.status;
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

  describe('inactive links, outbound', () => {
    it('deactivate: output 3 with the inactive link, stored; later changes stay on output 3 until a reactivate sends one to output 1', async () => {
      const rps = await setup(outboundFlow3());
      const [yes, no, off] = ['yes', 'no', 'off'].map((id) => rps.collect(id));
      await rps.receive(correlationMessage({ table: 'case', id: 'C-9' }, { table: 'incident', id: 'INC1' }));
      const stopped = await through(rps, 'cor', off, captured('incident', 'INC1', { deactivate: true }));
      assert.deepEqual(rpsOf(stopped).correlation, { remoteSystem: 'rs', remoteTable: 'case', remoteId: 'C-9', state: 'inactive' });
      assert.equal('deactivate' in rpsOf(stopped), false, 'the request is removed once acted on');
      assert.equal(linkOf(rps, 'C-9')?.state, 'inactive');
      const later = await through(rps, 'cor', off, captured('incident', 'INC1'));
      assert.equal((rpsOf(later).correlation as { state: string }).state, 'inactive', 'not synced: not on output 1 or 2');
      const back = await through(rps, 'cor', yes, captured('incident', 'INC1', { reactivate: true }));
      assert.deepEqual(rpsOf(back).correlation, { remoteSystem: 'rs', remoteTable: 'case', remoteId: 'C-9', state: 'active' });
      assert.equal('reactivate' in rpsOf(back), false);
      assert.equal(linkOf(rps, 'C-9')?.state, 'active');
      await through(rps, 'cor', yes, captured('incident', 'INC1'));
      assert.deepEqual([yes.msgs.length, no.msgs.length, off.msgs.length], [2, 0, 2]);
    });

    it('messages of one record keep their order around a state change', async () => {
      const rps = await setup(outboundFlow3());
      const [yes, off] = ['yes', 'off'].map((id) => rps.collect(id));
      await rps.receive(correlationMessage({ table: 'case', id: 'C-9' }, { table: 'incident', id: 'INC1' }));
      const cor = rps.node('cor');
      // One tick: the lookups and state changes go to the store together.
      cor.receive(captured('incident', 'INC1', { changedBy: 'first' }));
      cor.receive(captured('incident', 'INC1', { changedBy: 'second', deactivate: true }));
      cor.receive(captured('incident', 'INC1', { changedBy: 'third' }));
      cor.receive(captured('incident', 'INC1', { changedBy: 'fourth', reactivate: true }));
      cor.receive(captured('incident', 'INC1', { changedBy: 'fifth' }));
      await yes.wait(3);
      await off.wait(2);
      assert.deepEqual(yes.msgs.map((m) => rpsOf(m).changedBy), ['first', 'fourth', 'fifth']);
      assert.deepEqual(off.msgs.map((m) => rpsOf(m).changedBy), ['second', 'third']);
      assert.equal(linkOf(rps, 'C-9')?.state, 'active');
    });

    it('reactivate or deactivate of a record without a link: output 2, or an error', async () => {
      const rps = await setup(outboundFlow3());
      const [yes, no, off] = ['yes', 'no', 'off'].map((id) => rps.collect(id));
      const [msg] = await Promise.all([no.wait(1), rps.node('cor').receive(captured('incident', 'INC5', { reactivate: true }))]);
      assert.equal(rpsOf(msg[0]).correlation, null);
      rps.node('cor').receive(captured('incident', 'INC5', { deactivate: true }));
      const [caught] = await rps.caught.wait(1);
      assert.match(caughtError(caught), /rps-correlate\.errors\.no-link$/);
      rps.node('cor').receive(captured('incident', 'INC5', { deactivate: true, reactivate: true }));
      const [, both] = await rps.caught.wait(2);
      assert.match(caughtError(both), /rps-correlate\.errors\.both$/);
      assert.deepEqual([yes.msgs.length, no.msgs.length, off.msgs.length], [0, 1, 0]);
      assert.equal(rps.query('SELECT * FROM rps_correlation').length, 0, 'no link is made');
    });

    it('a node saved before the setting keeps two outputs: an inactive link is not correlated, reactivate works, deactivate is an error', async () => {
      const rps = await setup(outboundFlow());
      const [yes, no] = ['yes', 'no'].map((id) => rps.collect(id));
      await rps.receive(correlationMessage({ table: 'case', id: 'C-9' }, { table: 'incident', id: 'INC1' }));
      rps.node('cor').receive(captured('incident', 'INC1', { deactivate: true }));
      const [caught] = await rps.caught.wait(1);
      assert.match(caughtError(caught), /rps-correlate\.errors\.deactivate-without-output$/);
      assert.equal(linkOf(rps, 'C-9')?.state, 'active', 'nothing changed');
      const store = (rps.node('rs') as unknown as RemoteSystemNode).store;
      assert.ok(store);
      // As a delete from the remote, completed, leaves it.
      await store.correlations.setState('remote', [{ remoteSystem: await rps.rt.keyFor('rs'), table: 'case', id: 'C-9', state: 'inactive' }], Date.now());
      const old = await through(rps, 'cor', no, captured('incident', 'INC1'));
      assert.equal(rpsOf(old).correlation, null, 'as before the setting');
      const back = await through(rps, 'cor', yes, captured('incident', 'INC1', { reactivate: true }));
      assert.equal((rpsOf(back).correlation as { state: string }).state, 'active');
    });
  });

  describe('inactive links, inbound', () => {
    /** C-3 linked with INC3, then deleted by the remote: the delete, completed, leaves the link inactive. */
    async function deleted(rps: Rps, yes: Collector): Promise<void> {
      await rps.receive(correlationMessage({ table: 'case', id: 'C-3' }, { table: 'incident', id: 'INC3' }));
      await rps.receive(change({ recordId: 'C-3', sequence: 2, operation: 'delete' }));
      const [del] = await yes.wait(1);
      await through(rps, 'cp', rps.collect('done'), del);
      assert.deepEqual(linkOf(rps, 'C-3'), { ...linkOf(rps, 'C-3'), local_id: 'INC3', state: 'inactive' });
    }

    it('output 3 after a completed delete; complete records it processed and leaves the link inactive, with no reply', async () => {
      const rps = await setup(inboundFlow3());
      const [yes, no, off, done] = ['yes', 'no', 'off', 'done'].map((id) => rps.collect(id));
      await deleted(rps, yes);
      await rps.receive(change({ recordId: 'C-3', sequence: 3, fields: { id: 'C-3', number: 'C-3' } }));
      const [msg] = await off.wait(1);
      const r = rpsOf(msg);
      assert.deepEqual(r.correlation, { localTable: 'incident', localId: 'INC3', state: 'inactive' });
      assert.equal(r.localId, undefined, 'no local record to apply it to');
      // Even with an id in the payload (complete reads msg.payload.id), no link is made.
      await through(rps, 'cp', done, msg);
      assert.equal(inboundStatus(rps, 3), 'processed');
      assert.deepEqual(linkOf(rps, 'C-3'), { ...linkOf(rps, 'C-3'), local_id: 'INC3', state: 'inactive' });
      assert.equal(rps.query<OutboundRecord>('SELECT * FROM rps_outbound').length, 0, 'no correlation reply');
      assert.deepEqual([yes.msgs.length, no.msgs.length], [1, 0]);
    });

    it('reactivate: the message of output 3 sent back with msg.rps.reactivate leaves by output 1 with the local id; complete keeps the link', async () => {
      const rps = await setup(inboundFlow3());
      const [yes, off, done] = ['yes', 'off', 'done'].map((id) => rps.collect(id));
      await deleted(rps, yes);
      await rps.receive(change({ recordId: 'C-3', sequence: 3 }));
      const [msg] = await off.wait(1);
      (msg.rps as Record<string, unknown>).reactivate = true;
      const back = await through(rps, 'cor', yes, msg);
      assert.deepEqual(rpsOf(back).correlation, { localTable: 'incident', localId: 'INC3', state: 'active' });
      assert.equal(rpsOf(back).localId, 'INC3');
      assert.equal(linkOf(rps, 'C-3')?.state, 'active');
      await through(rps, 'cp', done, back);
      assert.equal(inboundStatus(rps, 3), 'processed');
      assert.deepEqual(linkOf(rps, 'C-3'), { ...linkOf(rps, 'C-3'), local_id: 'INC3', state: 'active' });
      await rps.receive(change({ recordId: 'C-3', sequence: 4 }));
      assert.equal(rpsOf((await yes.wait(3))[2]).localId, 'INC3', 'the next change is synced');
    });

    it('deactivate by message: output 3 and the link inactive, the twin kept', async () => {
      const rps = await setup(inboundFlow3());
      const [off, done] = ['off', 'done'].map((id) => rps.collect(id));
      await rps.receive(correlationMessage({ table: 'case', id: 'C-3' }, { table: 'incident', id: 'INC3' }));
      await rps.receive(change({ recordId: 'C-3', sequence: 2 }));
      const [msg] = await rps.collect('yes').wait(1);
      (msg.rps as Record<string, unknown>).deactivate = true;
      const stopped = await through(rps, 'cor', off, msg);
      assert.deepEqual(rpsOf(stopped).correlation, { localTable: 'incident', localId: 'INC3', state: 'inactive' });
      await through(rps, 'cp', done, stopped);
      assert.equal(inboundStatus(rps, 2), 'processed');
      assert.deepEqual(linkOf(rps, 'C-3'), { ...linkOf(rps, 'C-3'), local_id: 'INC3', state: 'inactive' });
    });

    it('a node saved before the setting sends a record whose link is inactive to output 2, as before', async () => {
      const rps = await setup(inboundFlow3({}));
      const [yes, no, off] = ['yes', 'no', 'off'].map((id) => rps.collect(id));
      await deleted(rps, yes);
      await rps.receive(change({ recordId: 'C-3', sequence: 3 }));
      const [msg] = await no.wait(1);
      assert.equal(rpsOf(msg).correlation, null);
      assert.equal(off.msgs.length, 0);
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
