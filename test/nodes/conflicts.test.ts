/**
 * Conflicts of two-way sync, within one Node-RED: rps-capture stamps the fields of local
 * changes (field times), rps-map decides an inbound update of a correlated record against
 * them. The remote is played by the receiver's own entry point (Rps.receive).
 */
import assert from 'node:assert/strict';
import { change, correlationMessage, type FlowNode, type Msg, REMOTE_INSTANCE, rpsOf, setup, useNodeRed } from './helper';

const T = Date.now();
const iso = (at: number): string => new Date(at).toISOString();

function flow(map: Record<string, unknown> = {}, capture: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', wires: [['map'], ['map']] },
    {
      id: 'map',
      type: 'rps-map',
      mappings: [
        { target: 'state', type: 'field', value: 'status' },
        { target: 'note', type: 'field', value: 'text' },
      ],
      ...map,
      wires: [['applied', 'cp']],
    },
    { id: 'applied', type: 'helper' },
    // The inbound flow's write is played by nothing: each message is completed as written.
    { id: 'cp', type: 'rps-complete', localTable: 'incident' },
    { id: 'cap', type: 'rps-capture', table: 'incident', idField: 'id', store: 'st', fieldTimes: true, ...capture, wires: [['sent']] },
    { id: 'sent', type: 'helper' },
  ];
}

/** B's update of its case C1 (our incident INC1), captured at `at`. */
function update(sequence: number, at: number, fields: Record<string, string>, changed = Object.keys(fields)) {
  const m = change({ recordId: 'C1', sequence, operation: 'update', fields, changedFields: changed });
  m.capturedAt = iso(at);
  return m;
}

function localChange(fields: Record<string, string>, previous: Record<string, string>, origin?: string): Msg {
  return { payload: { id: 'INC1', ...fields }, previous: { id: 'INC1', ...previous }, operation: 'update', ...(origin ? { rps: { origin } } : {}) };
}

const ourInstance = (rps: { query<R>(sql: string): R[] }): string =>
  rps.query<{ value: string }>("SELECT value FROM rps_meta WHERE key = 'instance_id'")[0].value;

describe('conflicts of two-way sync (rps-capture field times, rps-map policy)', function () {
  useNodeRed();

  async function linked(map?: Record<string, unknown>, capture?: Record<string, unknown>) {
    const rps = await setup(flow(map, capture));
    // B created case C1 as the twin of our INC1.
    await rps.receive(correlationMessage({ table: 'case', id: 'C1' }, { table: 'incident', id: 'INC1' }));
    return rps;
  }

  it('last writer wins: a remote value older than a local change is left out, listed in msg.rps.conflicts and on the inbound row; a newer one is written', async () => {
    const rps = await linked();
    const sent = rps.collect('sent');
    const applied = rps.collect('applied');
    rps.node('cap').receive(localChange({ state: 'mine', note: 'same' }, { state: 'old', note: 'same' }));
    const [local] = await sent.wait(1);
    const localAt = Date.parse(rpsOf(local).capturedAt as string);

    await rps.receive(update(2, localAt - 60_000, { status: 'theirs', text: 'their note' }));
    const [first] = await applied.wait(1);
    assert.deepEqual(first.payload, { note: 'their note' }, 'the older state is left out, the note (never changed here) is written');
    assert.deepEqual(rpsOf(first).changedFields, ['note']);
    assert.deepEqual(rpsOf(first).conflicts, [
      { field: 'state', reason: 'local-newer', local: { at: iso(localAt), instance: ourInstance(rps) }, remote: { at: iso(localAt - 60_000), instance: REMOTE_INSTANCE } },
    ]);
    const [row] = rps.query<{ conflicts: string }>("SELECT conflicts FROM rps_inbound WHERE kind = 'change'");
    assert.deepEqual(JSON.parse(row.conflicts), rpsOf(first).conflicts);

    await rps.receive(update(3, localAt + 1_000, { status: 'theirs later', text: 'their note' }, ['status']));
    const [, second] = await applied.wait(2);
    assert.deepEqual(second.payload, { state: 'theirs later' }, 'only what the remote changed: the note it did not change is left out');
    assert.deepEqual(rpsOf(second).conflicts, []);
  });

  it('remote wins: every change is written, and every mapped field', async () => {
    const rps = await linked({ conflicts: 'remote' });
    const sent = rps.collect('sent');
    const applied = rps.collect('applied');
    rps.node('cap').receive(localChange({ state: 'mine' }, { state: 'old' }));
    const [local] = await sent.wait(1);
    await rps.receive(update(2, Date.parse(rpsOf(local).capturedAt as string) - 60_000, { status: 'theirs', text: 'same' }, ['status']));
    const [msg] = await applied.wait(1);
    assert.deepEqual(msg.payload, { state: 'theirs', note: 'same' });
    assert.deepEqual(rpsOf(msg).conflicts, []);
  });

  it('local wins: a remote change made within the window after a local one loses', async () => {
    const rps = await linked({ conflicts: 'local', conflictWindow: '600' });
    const sent = rps.collect('sent');
    const applied = rps.collect('applied');
    rps.node('cap').receive(localChange({ state: 'mine' }, { state: 'old' }));
    const [local] = await sent.wait(1);
    await rps.receive(update(2, Date.parse(rpsOf(local).capturedAt as string) + 60_000, { status: 'theirs' }));
    const [msg] = await applied.wait(1);
    assert.deepEqual(msg.payload, {});
    assert.equal((rpsOf(msg).conflicts as { reason: string }[])[0].reason, 'local-wins');
  });

  it("capture: a change an inbound flow made is not sent back, unless it wrote over a local change captured after the inbound decision", async () => {
    const rps = await linked();
    const sent = rps.collect('sent');
    const applied = rps.collect('applied');
    await rps.receive(update(2, T, { status: 'theirs' }));
    await applied.wait(1);
    // The inbound flow wrote it; the local system reports that change, from 'rs'.
    rps.node('cap').receive(localChange({ state: 'theirs' }, { state: 'old' }, 'rs'));
    const [echo] = await sent.wait(1);
    assert.equal(rpsOf(echo).origin, 'rs', 'marked as from rs: rps-send does not send it back');

    // A person changed the state here after the decision, and then the inbound write landed over it.
    rps.node('cap').receive(localChange({ state: 'mine' }, { state: 'theirs' }));
    await sent.wait(2);
    rps.node('cap').receive(localChange({ state: 'theirs' }, { state: 'mine' }, 'rs'));
    const [, , overwrote] = await sent.wait(3);
    assert.equal(rpsOf(overwrote).origin, undefined, 'the record as it now is goes to every remote, rs included');
    const stamps = rps.query<{ field: string; instance: string; at: number }>("SELECT field, instance, at FROM rps_field_stamp WHERE record_table = 'incident' AND record_id = 'INC1'");
    assert.equal(stamps.length, 1);
    assert.equal(stamps[0].instance, ourInstance(rps), 'the state is stamped as ours again');
    assert.equal(stamps[0].at, Date.parse(rpsOf(overwrote).capturedAt as string));
  });

  it('capture without field times (nodes made before the option) stamps nothing', async () => {
    const rps = await linked({}, { fieldTimes: undefined });
    const sent = rps.collect('sent');
    rps.node('cap').receive(localChange({ state: 'mine' }, { state: 'old' }));
    await sent.wait(1);
    assert.deepEqual(rps.query('SELECT * FROM rps_field_stamp'), []);
  });
});
