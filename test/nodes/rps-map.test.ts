/**
 * rps-map: builds the target record from msg.payload with the configured mappings
 * (field, fixed value, value map) and renames msg.rps.changedFields to match.
 */
import assert from 'node:assert/strict';
import { callsOf, caughtError, caughtFrom, type FlowNode, isStatus, type Msg, outboundRps, rpsOf, setup, textOf, useNodeRed, waitForCall } from './helper';

const MAPPINGS = [
  { target: 'short_description', type: 'field', value: 'title' },
  { target: 'source', type: 'fixed', value: 'desk-a', valueType: 'str' },
  { target: 'impact', type: 'fixed', value: '2', valueType: 'num' },
  { target: 'active', type: 'fixed', value: 'true', valueType: 'bool' },
  { target: 'tags', type: 'fixed', value: '["a",{"b":1}]', valueType: 'json' },
  { target: 'priority', type: 'value', value: 'prio', map: '{"1":"high","2":"medium"}' },
];

function mapNode(extra: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'map', type: 'rps-map', mappings: MAPPINGS, keepUnmapped: false, wires: [['out']], ...extra },
    { id: 'out', type: 'helper' },
  ];
}

function captured(payload: Record<string, unknown>, operation: string, changedFields: string[]): Msg {
  return { payload, rps: outboundRps('incident', 'INC1', { operation, changedFields }) };
}

describe('rps-map node', function () {
  useNodeRed();

  it('maps field to field, fixed values (str, num, bool, json) and value maps; drops unmapped fields', async () => {
    const rps = await setup(mapNode());
    const out = rps.collect('out');
    rps.node('map').receive(captured({ id: 'INC1', title: 'Printer', prio: 1, extra: 'x' }, 'insert', ['id', 'title', 'prio', 'extra']));
    const [msg] = await out.wait(1);
    assert.deepEqual(msg.payload, {
      short_description: 'Printer',
      source: 'desk-a',
      impact: 2,
      active: true,
      tags: ['a', { b: 1 }],
      priority: 'high',
    });
    // A new record: every mapped field counts as changed, fixed values included.
    assert.deepEqual(
      [...(rpsOf(msg).changedFields as string[])].sort(),
      ['active', 'impact', 'priority', 'short_description', 'source', 'tags'],
    );
  });

  it('keeps unmapped fields when asked, but not the source fields a mapping consumed', async () => {
    const rps = await setup(mapNode({ keepUnmapped: true }));
    const out = rps.collect('out');
    rps.node('map').receive(captured({ id: 'INC1', title: 'Printer', prio: 2, extra: 'x' }, 'insert', ['id', 'title', 'prio', 'extra']));
    const [msg] = await out.wait(1);
    const payload = msg.payload as Record<string, unknown>;
    assert.equal(payload.id, 'INC1');
    assert.equal(payload.extra, 'x');
    assert.equal(payload.priority, 'medium');
    assert.equal(payload.short_description, 'Printer');
    assert.equal('title' in payload, false, 'a mapped source field is not kept under its old name');
    assert.equal('prio' in payload, false);
    assert.ok((rpsOf(msg).changedFields as string[]).includes('extra'), 'a kept field that changed stays in changedFields');
  });

  it('renames changedFields on an update: only targets whose source changed, fixed values never', async () => {
    const rps = await setup(mapNode({ keepUnmapped: true }));
    const out = rps.collect('out');
    rps.node('map').receive(captured({ id: 'INC1', title: 'Printer', prio: 3, extra: 'x' }, 'update', ['prio']));
    const [msg] = await out.wait(1);
    assert.deepEqual(rpsOf(msg).changedFields, ['priority']);
    const payload = msg.payload as Record<string, unknown>;
    assert.equal(payload.priority, 3, 'a value the map does not list passes through unchanged');
    assert.equal(payload.source, 'desk-a', 'fixed values are still in the record');
  });

  it('leaves a target out when its source field is absent, rather than blanking it', async () => {
    const rps = await setup(mapNode());
    const out = rps.collect('out');
    rps.node('map').receive(captured({ id: 'INC1', prio: 1 }, 'update', ['prio']));
    const [msg] = await out.wait(1);
    const payload = msg.payload as Record<string, unknown>;
    assert.equal('short_description' in payload, false);
    assert.equal(payload.priority, 'high');
  });

  it('refuses a payload that is not a record: error to Catch, red status', async () => {
    const rps = await setup(mapNode());
    const out = rps.collect('out');
    const map = rps.node('map');
    map.receive({ payload: 'just text', rps: outboundRps('incident', 'INC1') });
    map.receive({ payload: [1, 2], rps: outboundRps('incident', 'INC1') });
    const caught = await rps.caught.wait(2);
    for (const c of caught) {
      assert.match(caughtError(c), /^rps-map\.errors\.bad-payload/);
      assert.equal(caughtFrom(c), 'map');
    }
    await waitForCall(map, 'status', (args) => isStatus(args, 'red', 'rps-map.status.bad-payload'));
    assert.equal(out.msgs.length, 0);
  });

  for (const [what, row] of [
    ['a number that is not one', { target: 'impact', type: 'fixed', value: 'two', valueType: 'num' }],
    ['a boolean that is not one', { target: 'active', type: 'fixed', value: 'yes', valueType: 'bool' }],
    ['invalid JSON', { target: 'tags', type: 'fixed', value: '[1,', valueType: 'json' }],
    ['a value map that is not JSON', { target: 'priority', type: 'value', value: 'prio', map: '{1:high}' }],
    ['an empty target', { target: ' ', type: 'field', value: 'title' }],
    ['an empty source field', { target: 'x', type: 'field', value: '' }],
    ['an unknown mapping type', { target: 'x', type: 'jsonata', value: 'title' }],
  ] as const) {
    it(`with an invalid mapping (${what}): red status, error logged, every message errors`, async () => {
      const rps = await setup(mapNode({ mappings: [MAPPINGS[0], row] }));
      const out = rps.collect('out');
      const map = rps.node('map');
      assert.ok(
        callsOf(map, 'status').some((args) => isStatus(args, 'red', 'rps-map.status.bad-mapping')),
        'red status when deployed',
      );
      assert.ok(
        callsOf(map, 'error').some((args) => textOf(args[0]).startsWith('rps-map.errors.bad-mapping')),
        'the bad mapping is logged when deployed',
      );
      map.receive(captured({ title: 'a' }, 'insert', ['title']));
      map.receive(captured({ title: 'b' }, 'insert', ['title']));
      const caught = await rps.caught.wait(2);
      for (const c of caught) assert.equal(caughtError(c), 'rps-map.errors.bad-mapping');
      assert.equal(out.msgs.length, 0);
    });
  }

  it('maps a message without msg.rps as a new record', async () => {
    const rps = await setup(mapNode());
    const out = rps.collect('out');
    rps.node('map').receive({ payload: { title: 'Printer', prio: 2 } });
    const [msg] = await out.wait(1);
    assert.equal((msg.payload as Record<string, unknown>).source, 'desk-a');
    assert.equal(msg.rps, undefined, 'no msg.rps is invented');
  });
});
