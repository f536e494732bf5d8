/**
 * rps-map: builds the target record from msg.payload with the configured mappings
 * (field, display value, fixed value, value map, JSONata expression; each optionally
 * only for a new record) and renames msg.rps.changedFields to match.
 */
import assert from 'node:assert/strict';
import { callsOf, caughtError, caughtFrom, type Collector, type FlowNode, isStatus, type Msg, outboundRps, type Rps, rpsOf, setup, type TestNode, textOf, useNodeRed, waitForCall } from './helper';

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

  /** A deployed map node with `mappings`, the collector after it, and the node. */
  async function mapWith(mappings: Record<string, unknown>[], renderParams = false): Promise<{ rps: Rps; out: Collector; map: TestNode }> {
    const rps = await setup(mapNode({ mappings }), { renderParams });
    return { rps, out: rps.collect('out'), map: rps.node('map') };
  }

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
    ['an unknown mapping type', { target: 'x', type: 'script', value: 'title' }],
    ['an empty expression', { target: 'x', type: 'jsonata', value: ' ' }],
    ['a default that does not match its type', { target: 'priority', type: 'value', value: 'prio', map: '{}', default: 'high', defaultType: 'num' }],
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

  it('display value: the target gets the display text of a field from msg.rps.displayValues (outbound and inbound)', async () => {
    const { out, map } = await mapWith([
      { target: 'assignee', type: 'display', value: 'assigned_to' },
      { target: 'assignee_id', type: 'field', value: 'assigned_to' },
      { target: 'state_label', type: 'display', value: 'state' },
    ]);
    map.receive(captured({ assigned_to: 'u1', state: 2 }, 'update', ['assigned_to']));
    map.receive({
      payload: { assigned_to: 'u1', state: 2 },
      rps: outboundRps('incident', 'INC1', { operation: 'update', changedFields: ['assigned_to'], displayValues: { assigned_to: 'Ada Lovelace', state: 'In progress' } }),
    });
    map.receive({
      payload: { assigned_to: 'u2', state: 3 },
      rps: { direction: 'inbound', operation: 'update', changedFields: ['state'], displayValues: { assigned_to: 'Grace Hopper', state: 'Resolved' } },
    });
    const [none, outbound, inbound] = await out.wait(3);
    assert.deepEqual(none.payload, { assignee_id: 'u1' }, 'no display values: the targets are left out');
    assert.deepEqual(outbound.payload, { assignee: 'Ada Lovelace', assignee_id: 'u1', state_label: 'In progress' });
    assert.deepEqual(rpsOf(outbound).changedFields, ['assignee', 'assignee_id'], 'a display value counts as changed when its field changed');
    assert.deepEqual(inbound.payload, { assignee: 'Grace Hopper', assignee_id: 'u2', state_label: 'Resolved' });
    assert.deepEqual(rpsOf(inbound).changedFields, ['state_label']);
  });

  it('value map with a default: a value the map does not list becomes the default', async () => {
    const { out, map } = await mapWith([{ target: 'priority', type: 'value', value: 'prio', map: '{"1":"high"}', default: 'low', defaultType: 'str' }]);
    for (const prio of [1, 7, null]) map.receive(captured({ prio }, 'update', ['prio']));
    map.receive(captured({ other: 1 }, 'update', ['other']));
    const msgs = await out.wait(4);
    assert.deepEqual(
      msgs.map((m) => m.payload),
      [{ priority: 'high' }, { priority: 'low' }, { priority: 'low' }, {}],
    );
  });

  it('only when creating the record: a fixed assignment group is set on an insert, not on an update', async () => {
    const { out, map } = await mapWith([
      { target: 'short_description', type: 'field', value: 'title' },
      { target: 'assignment_group', type: 'fixed', value: 'Service Desk', valueType: 'str', onInsert: true },
    ]);
    map.receive(captured({ title: 'Printer' }, 'insert', ['title']));
    map.receive(captured({ title: 'Printer on fire' }, 'update', ['title']));
    map.receive({ payload: { title: 'No context' } });
    const [inserted, updated, bare] = await out.wait(3);
    assert.deepEqual(inserted.payload, { short_description: 'Printer', assignment_group: 'Service Desk' });
    assert.deepEqual(rpsOf(inserted).changedFields, ['short_description', 'assignment_group']);
    assert.deepEqual(updated.payload, { short_description: 'Printer on fire' });
    assert.deepEqual(rpsOf(updated).changedFields, ['short_description']);
    assert.deepEqual(bare.payload, { short_description: 'No context', assignment_group: 'Service Desk' }, 'without msg.rps the record counts as new');
  });

  it('JSONata: $ is the record, $previous is msg.previous, $rps is msg.rps; Node-RED functions work; the target counts as changed', async () => {
    const { out, map } = await mapWith([
      { target: 'full_name', type: 'jsonata', value: 'first & " " & $uppercase(last)' },
      { target: 'was', type: 'jsonata', value: '$previous.state' },
      { target: 'table', type: 'jsonata', value: '$rps.table' },
      { target: 'changes', type: 'jsonata', value: '$count($rps.changedFields)' },
      { target: 'note', type: 'jsonata', value: 'msg' },
      { target: 'missing', type: 'jsonata', value: 'no_such_field' },
      { target: 'tags', type: 'jsonata', value: '$append(tags, "synced")' },
      { target: 'state', type: 'field', value: 'state' },
    ]);
    const record = { first: 'Ada', last: 'Lovelace', state: 2, msg: 'a field named msg', tags: ['a'] };
    map.receive({ ...captured(record, 'update', ['last']), previous: { state: 1 } });
    map.receive({ ...captured(record, 'update', ['last']), previous: 'not a record' });
    const [withPrevious, without] = await out.wait(2);
    assert.deepEqual(withPrevious.payload, {
      full_name: 'Ada LOVELACE',
      was: 1,
      table: 'incident',
      changes: 1,
      note: 'a field named msg',
      tags: ['a', 'synced'],
      state: 2,
    });
    assert.deepEqual(
      rpsOf(withPrevious).changedFields,
      ['full_name', 'was', 'table', 'changes', 'note', 'tags'],
      'every expression that gave a value counts as changed; the unchanged field does not',
    );
    assert.equal('was' in (without.payload as Record<string, unknown>), false, 'msg.previous that is not a record: $previous is undefined');
  });

  it('JSONata: maps messages one at a time, in order, each with its own $previous and $rps', async () => {
    const { out, map } = await mapWith([{ target: 'pair', type: 'jsonata', value: '$string($previous.n) & ":" & $string(n) & ":" & $rps.id' }]);
    const count = 40;
    for (let n = 0; n < count; n++) {
      map.receive({ payload: { n }, previous: { n }, rps: outboundRps('incident', `INC${n}`, { operation: 'update', changedFields: ['n'] }) });
    }
    const msgs = await out.wait(count);
    assert.deepEqual(
      msgs.map((m) => (m.payload as { pair: string }).pair),
      Array.from({ length: count }, (_, n) => `${n}:${n}:INC${n}`),
    );
  });

  /** A map node with a field row and, as row 2, an expression row; RED._ renders its parameters. */
  async function withExpression(target: string, expression: string): Promise<{ rps: Rps; out: Collector; map: TestNode }> {
    return mapWith(
      [
        { target: 'title', type: 'field', value: 'title' },
        { target, type: 'jsonata', value: expression },
      ],
      true,
    );
  }

  /** The parameters of a text `key {json}`, as RED._ renders them in these tests. */
  function paramsOf(text: string, key: string): unknown {
    assert.ok(text.startsWith(`${key} `), text);
    return JSON.parse(text.slice(key.length + 1));
  }

  it('JSONata: a syntax error is found at deploy: red status and an error naming the row; every message errors', async () => {
    const { rps, out, map } = await withExpression('full_name', 'first & ');
    assert.ok(
      callsOf(map, 'status').some((args) => isStatus(args, 'red', 'rps-map.status.bad-mapping')),
      'red status when deployed',
    );
    const logged = callsOf(map, 'error').map((args) => textOf(args[0]));
    assert.equal(logged.length, 1, logged.join(' | '));
    assert.match((paramsOf(logged[0], 'rps-map.errors.bad-mapping') as { error: string }).error, /^"full_name": JSONata expression is invalid: /);
    map.receive(captured({ title: 'a', first: 'Ada' }, 'insert', ['title']));
    const [caught] = await rps.caught.wait(1);
    assert.match(caughtError(caught), /^rps-map\.errors\.bad-mapping .*full_name/);
    assert.equal(out.msgs.length, 0);
  });

  it('JSONata: an evaluation error reaches a Catch node naming the row; the message is not sent on; the next one is mapped', async () => {
    const { rps, out, map } = await withExpression('impact', '$number(code)');
    map.receive(captured({ title: 'a', code: 'high' }, 'insert', ['title']));
    map.receive(captured({ title: 'b', code: '3' }, 'insert', ['title']));
    const [caught] = await rps.caught.wait(1);
    assert.deepEqual(paramsOf(caughtError(caught), 'rps-map.errors.expression'), {
      row: 2,
      target: 'impact',
      error: 'Unable to cast value to a number: "high"',
    });
    assert.equal(caughtFrom(caught), 'map');
    assert.equal((caught.payload as Record<string, unknown>).code, 'high', 'the Catch node gets the message as it came');
    await waitForCall(map, 'status', (args) => isStatus(args, 'red', 'rps-map.status.expression-failed'));
    const [mapped] = await out.wait(1);
    assert.deepEqual(mapped.payload, { title: 'b', impact: 3 });
    assert.equal(out.msgs.length, 1, 'the failed message was not sent on');
  });

  for (const [what, expression, detail] of [
    ['a function', 'function($x) { $x }', 'result: is a function'],
    ['a number that is not finite', '1/0', 'result: is not a finite number'],
  ] as const) {
    it(`JSONata: a result that is not a field value (${what}) reaches a Catch node naming the row`, async () => {
      const { rps, out, map } = await withExpression('x', expression);
      map.receive(captured({ title: 'a' }, 'insert', ['title']));
      const [caught] = await rps.caught.wait(1);
      assert.deepEqual(paramsOf(caughtError(caught), 'rps-map.errors.result'), { row: 2, target: 'x', error: detail });
      assert.equal(out.msgs.length, 0);
    });
  }

  it('JSONata: a msg.previous that cannot be read as a record is an error', async () => {
    const { rps, map } = await mapWith([{ target: 'x', type: 'jsonata', value: '$previous.a' }]);
    map.receive({ ...captured({ a: 1 }, 'update', ['a']), previous: { a: 1n } });
    const [caught] = await rps.caught.wait(1);
    assert.equal(caughtError(caught), 'rps-map.errors.bad-previous');
  });
});
