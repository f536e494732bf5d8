/**
 * A capture with the condition "state changes to resolved", between two real Node-RED
 * processes: exactly the changes to resolved reach B, also after A restarts, when only
 * A's store knows what each record's state was (the source sends no msg.previous).
 */
import assert from 'node:assert/strict';
import { Pair, queueCounts, untilStores } from '../harness/pair';

describe('capture condition "state changes to resolved" (real Node-RED processes)', function () {
  this.timeout(120_000);
  let pair: Pair;

  afterEach(async function () {
    await pair?.stopAfter(this.currentTest);
  });

  it('sends exactly the records that changed to resolved, comparing with the state kept across a restart of the sender', async () => {
    pair = await Pair.start();
    // A's sender flow, its capture with the condition; every change is answered as soon as
    // it is in the flow (an ignored change has no message left to answer with).
    const flow = await pair.a.flows();
    for (const node of flow) {
      if (node.id === 'cap') node.conditions = [{ rules: [{ field: 'state', op: 'changesTo', value: 'resolved' }] }];
      if (node.id === 'in') node.wires = [['unpack', 'ack']];
      if (node.id === 'snd') node.wires = [[]];
    }
    flow.push({ id: 'ack', type: 'http response', z: 'tab-sender', statusCode: '200', x: 400, y: 40, wires: [] });
    await pair.a.deploy(flow);
    const change = async (operation: string, id: string, state: string, note = ''): Promise<void> => {
      assert.equal(await pair.change(operation, { id, name: `${id} ${state}${note}`, n: 0, state }), 200);
    };
    /** A record that changes to resolved as it is inserted is sent last: once it is on B, so is everything A sent before it. */
    const settle = async (marker: string): Promise<void> => {
      await change('insert', marker, 'resolved');
      await pair.records.waitFor(() => pair.records.applies.some((a) => a.source === `item/${marker}`), 60_000, `marker ${marker} on B`);
      await untilStores('A and B to finish every queued row', () => {
        const [out, inb] = [queueCounts(pair.a, 'rps_outbound'), queueCounts(pair.b, 'rps_inbound')];
        return !out.ready && !out.processing && !inb.ready && !inb.processing;
      }, 30_000);
    };
    const applied = (): string[] => pair.records.applies.map((a) => a.source.replace('item/', '')).filter((id) => !id.startsWith('marker'));

    for (const id of ['r0', 'r1', 'r2', 'r3', 'r4']) await change('insert', id, 'new');
    await change('update', 'r0', 'resolved');
    await change('update', 'r1', 'resolved');
    await change('update', 'r0', 'resolved', ' (edited)'); // resolved already
    await change('update', 'r2', 'in progress');
    await settle('marker1');
    assert.deepEqual(applied().sort(), ['r0', 'r1']);

    // Restarted, A has nothing in memory: what each record's state was comes from its store.
    await pair.a.restart();
    await change('update', 'r0', 'resolved', ' (edited again)'); // resolved already
    await change('update', 'r1', 'closed');
    await change('update', 'r1', 'resolved'); // resolved again
    await change('update', 'r2', 'resolved'); // from in progress
    await change('update', 'r3', 'new', ' (edited)');
    await change('delete', 'r4', 'new');
    await settle('marker2');
    assert.deepEqual(applied().sort(), ['r0', 'r1', 'r1', 'r2']);
    const name = (id: string): unknown => pair.records.records.get(pair.records.bySource.get(`item/${id}`) ?? '')?.fields.name;
    assert.equal(name('r1'), 'r1 resolved');
    assert.equal(name('r2'), 'r2 resolved');
  });
});
