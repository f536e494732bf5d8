import assert from 'node:assert/strict';
import {
  applyMappings,
  compileMappings,
  type ExpressionCompiler,
  type ExpressionScope,
  type Mapping,
  type MappingInput,
  MappingError,
  MappingRunError,
  type MappingRow,
} from '../../src/core/mapping';
import type { Fields } from '../../src/core/protocol';

/** An input as rps-map makes it: an update of the listed fields unless `isNew`. */
function input(fields: Fields, changedFields: string[] = Object.keys(fields), more: Partial<MappingInput> = {}): MappingInput {
  return { fields, changedFields, isNew: false, ...more };
}

/**
 * A stand-in for JSONata: each expression text names a function of the scope. Records
 * every scope it was called with.
 */
function fakeEngine(table: Record<string, (scope: ExpressionScope) => unknown>): { compile: ExpressionCompiler; scopes: ExpressionScope[] } {
  const scopes: ExpressionScope[] = [];
  const compile: ExpressionCompiler = (expression) => {
    const f = table[expression];
    if (!f) throw new Error(`syntax error in ${expression}`);
    return async (scope) => {
      scopes.push(scope);
      return f(scope);
    };
  };
  return { compile, scopes };
}

describe('core/mapping', () => {
  describe('rows saved before display values, expressions, defaults and onInsert', () => {
    // A row set of every old kind, and what the mapping made of it before this version
    // (recorded from that implementation): field, value map, fixed values of each type
    // and without a type, the same target twice, an empty value map.
    const OLD_ROWS: MappingRow[] = [
      { target: 'title', type: 'field', value: ' short_description ' },
      { target: 'urgency', type: 'value', value: 'priority', map: '{"1":"critical","2":"high","null":"none","[1,2]":"pair"}' },
      { target: 'source', type: 'fixed', value: 'desk A', valueType: 'str' },
      { target: 'legacy', type: 'fixed', value: 'no valueType' },
      { target: 'weight', type: 'fixed', value: '2.5', valueType: 'num' },
      { target: 'flag', type: 'fixed', value: 'false', valueType: 'bool' },
      { target: 'tags', type: 'fixed', value: '["a",{"b":null}]', valueType: 'json' },
      { target: 'title', type: 'field', value: 'name' },
      { target: 'state', type: 'value', value: 'state', map: '{}' },
    ];
    const FIXED = { source: 'desk A', legacy: 'no valueType', weight: 2.5, flag: false, tags: ['a', { b: null }] };
    const CASES: { fields: Fields; changed: string[]; keep: boolean; isNew: boolean; out: Fields; outChanged: string[] }[] = [
      {
        fields: { short_description: 'Printer', priority: 1, state: 3, other: 'x' },
        changed: ['short_description', 'priority', 'state', 'other'],
        keep: false,
        isNew: true,
        out: { title: 'Printer', urgency: 'critical', ...FIXED, state: 3 },
        outChanged: ['title', 'urgency', 'source', 'legacy', 'weight', 'flag', 'tags', 'state'],
      },
      {
        fields: { short_description: 'Printer', priority: 2, name: 'N', other: 'x' },
        changed: ['priority', 'other'],
        keep: true,
        isNew: false,
        out: { other: 'x', title: 'N', urgency: 'high', ...FIXED },
        outChanged: ['other', 'urgency'],
      },
      { fields: { priority: null, other: [1] }, changed: ['priority'], keep: true, isNew: false, out: { other: [1], urgency: 'none', ...FIXED }, outChanged: ['urgency'] },
      { fields: { priority: [1, 2] }, changed: [], keep: false, isNew: false, out: { urgency: 'pair', ...FIXED }, outChanged: [] },
      {
        fields: { priority: 9, state: { a: 1 } },
        changed: ['priority', 'state'],
        keep: true,
        isNew: true,
        out: { urgency: 9, ...FIXED, state: { a: 1 } },
        outChanged: ['urgency', 'source', 'legacy', 'weight', 'flag', 'tags', 'state'],
      },
    ];

    it('map every record as before', async () => {
      const mappings = compileMappings(structuredClone(OLD_ROWS));
      for (const c of CASES) {
        const r = await applyMappings(mappings, input(c.fields, c.changed, { isNew: c.isNew }), c.keep);
        assert.deepEqual(r.fields, c.out, JSON.stringify(c.fields));
        assert.deepEqual(r.changedFields, c.outChanged, JSON.stringify(c.fields));
      }
    });

    it('compile to mappings that apply on every message (no onInsert) and pass unlisted values through (no default)', () => {
      for (const m of compileMappings(structuredClone(OLD_ROWS))) {
        assert.equal(m.onInsert, false, m.target);
        if (m.type === 'value') assert.equal('default' in m, false, `${m.target} has no default`);
      }
    });
  });

  it('field: copies the source field (trimmed name); absent leaves the target absent; listed when the source changed', async () => {
    const mappings = compileMappings([{ target: 'title', type: 'field', value: ' short_description ' }]);
    assert.deepEqual(await applyMappings(mappings, input({ short_description: 'P' }), false), { fields: { title: 'P' }, changedFields: ['title'] });
    assert.deepEqual(await applyMappings(mappings, input({ short_description: 'P' }, []), false), { fields: { title: 'P' }, changedFields: [] });
    assert.deepEqual(await applyMappings(mappings, input({ other: 1 }), false), { fields: {}, changedFields: [] });
  });

  it('field: reads own fields only (a source named like an Object method is just absent)', async () => {
    const mappings = compileMappings([{ target: 't', type: 'field', value: 'toString' }]);
    assert.deepEqual((await applyMappings(mappings, input({ a: 1 }), false)).fields, {});
  });

  it('display: copies the display value of the source field; listed when that field changed; absent or not text leaves the target absent', async () => {
    const mappings = compileMappings([
      { target: 'assignee', type: 'display', value: 'assigned_to' },
      { target: 'assignee_id', type: 'field', value: 'assigned_to' },
    ]);
    const displayValues = { assigned_to: 'Ada Lovelace', state: 'New' };
    const changed = await applyMappings(mappings, input({ assigned_to: 'u1' }, ['assigned_to'], { displayValues }), false);
    assert.deepEqual(changed, { fields: { assignee: 'Ada Lovelace', assignee_id: 'u1' }, changedFields: ['assignee', 'assignee_id'], displayValues: { assignee_id: 'Ada Lovelace' } });
    const unchanged = await applyMappings(mappings, input({ assigned_to: 'u1' }, ['state'], { displayValues }), false);
    assert.deepEqual(unchanged.changedFields, []);
    assert.deepEqual((await applyMappings(mappings, input({ assigned_to: 'u1' }), false)).fields, { assignee_id: 'u1' }, 'no display values');
    assert.deepEqual((await applyMappings(mappings, input({ assigned_to: 'u1' }, [], { displayValues: { assigned_to: 7 } }), false)).fields, { assignee_id: 'u1' });
  });

  it('display: does not take the field away from "keep unmapped fields"', async () => {
    const mappings = compileMappings([{ target: 'state_label', type: 'display', value: 'state' }]);
    const r = await applyMappings(mappings, input({ state: 2 }, ['state'], { displayValues: { state: 'In progress' } }), true);
    assert.deepEqual(r, { fields: { state: 2, state_label: 'In progress' }, changedFields: ['state', 'state_label'], displayValues: { state: 'In progress' } });
  });

  it('display values follow their fields: renamed with a field row, kept with an unmapped field, dropped with a new value', async () => {
    const mappings = compileMappings([
      { target: 'status', type: 'field', value: 'state' },
      { target: 'prio', type: 'value', value: 'priority', map: '{"1":"high"}' },
      { target: 'who', type: 'field', value: 'assigned_to' },
      { target: 'who', type: 'fixed', value: 'nobody' },
    ]);
    const displayValues = { state: 'In progress', priority: '1 - Critical', assigned_to: 'Ada', other: 'kept?' };
    const r = await applyMappings(mappings, input({ state: 2, priority: 1, assigned_to: 'u1', other: 'x' }, [], { displayValues }), true);
    assert.deepEqual(r.fields, { other: 'x', status: 2, prio: 'high', who: 'nobody' });
    assert.deepEqual(r.displayValues, { other: 'kept?', status: 'In progress' });
    const none = await applyMappings(mappings, input({ priority: 1 }, [], { displayValues }), false);
    assert.equal(none.displayValues, undefined, 'none left: absent');
  });

  it('fixed: str, num, bool, json; listed only for a new record', async () => {
    const mappings = compileMappings([
      { target: 's', type: 'fixed', value: 'desk A', valueType: 'str' },
      { target: 'n', type: 'fixed', value: ' 2.5 ', valueType: 'num' },
      { target: 'b', type: 'fixed', value: 'true', valueType: 'bool' },
      { target: 'j', type: 'fixed', value: '{"a":[1,null]}', valueType: 'json' },
    ]);
    const created = await applyMappings(mappings, input({}, [], { isNew: true }), false);
    assert.deepEqual(created, { fields: { s: 'desk A', n: 2.5, b: true, j: { a: [1, null] } }, changedFields: ['s', 'n', 'b', 'j'] });
    assert.deepEqual((await applyMappings(mappings, input({ x: 1 }), false)).changedFields, []);
  });

  it('value map: translates listed values (looked up as text); an unlisted value passes through without a default', async () => {
    const mappings = compileMappings([{ target: 'urgency', type: 'value', value: 'priority', map: '{"1":"critical","true":"yes","null":"none"}' }]);
    const out = async (v: Fields[string]): Promise<unknown> => (await applyMappings(mappings, input({ priority: v }), false)).fields.urgency;
    assert.equal(await out(1), 'critical');
    assert.equal(await out('1'), 'critical');
    assert.equal(await out(true), 'yes');
    assert.equal(await out(null), 'none');
    assert.equal(await out(5), 5);
    assert.equal(await out('toString'), 'toString', 'a key of Object.prototype is not in the map');
  });

  for (const [type, text, expected] of [
    ['str', 'other', 'other'],
    ['str', '', ''],
    ['num', '3', 3],
    ['bool', 'false', false],
    ['json', 'null', null],
    ['json', '{"code":0}', { code: 0 }],
  ] as const) {
    it(`value map: an unlisted value becomes the default (${type} ${JSON.stringify(text)}); an absent source stays absent`, async () => {
      const mappings = compileMappings([{ target: 'urgency', type: 'value', value: 'priority', map: '{"1":"critical"}', default: text, defaultType: type }]);
      assert.deepEqual((await applyMappings(mappings, input({ priority: 7 }), false)).fields, { urgency: expected });
      assert.deepEqual((await applyMappings(mappings, input({ priority: null }), false)).fields, { urgency: expected });
      assert.deepEqual((await applyMappings(mappings, input({ priority: 1 }), false)).fields, { urgency: 'critical' });
      assert.deepEqual((await applyMappings(mappings, input({}), false)).fields, {});
    });
  }

  it('jsonata: evaluates with the record as $, $previous and $rps; listed as changed whenever it gives a value', async () => {
    const engine = fakeEngine({
      'first & " " & last': (s) => `${String(s.record.first)} ${String(s.record.last)}`,
      '$previous.state': (s) => s.previous?.state,
      '$rps.table': (s) => (s.rps as { table: string }).table,
      nothing: () => undefined,
    });
    const mappings = compileMappings(
      [
        { target: 'name', type: 'jsonata', value: 'first & " " & last' },
        { target: 'was', type: 'jsonata', value: '$previous.state' },
        { target: 'table', type: 'jsonata', value: '$rps.table' },
        { target: 'none', type: 'jsonata', value: 'nothing' },
      ],
      engine.compile,
    );
    const rps = { table: 'incident', changedFields: ['state'] };
    const r = await applyMappings(mappings, input({ first: 'Ada', last: 'L', state: 2 }, ['state'], { previous: { state: 1 }, rps }), false);
    assert.deepEqual(r, { fields: { name: 'Ada L', was: 1, table: 'incident' }, changedFields: ['name', 'was', 'table'] });
    assert.equal(engine.scopes[0].rps, rps, '$rps is msg.rps itself');
    assert.deepEqual(engine.scopes[0].record, { first: 'Ada', last: 'L', state: 2 });
  });

  it('jsonata: a result that is (part of) the record is copied, and dates become text', async () => {
    const tags = ['a'];
    const when = new Date('2024-05-01T10:00:00Z');
    const engine = fakeEngine({ tags: (s) => s.record.tags, when: () => when });
    const mappings = compileMappings(
      [
        { target: 't', type: 'jsonata', value: 'tags' },
        { target: 'w', type: 'jsonata', value: 'when' },
      ],
      engine.compile,
    );
    const r = await applyMappings(mappings, input({ tags }), false);
    assert.deepEqual(r.fields, { t: ['a'], w: '2024-05-01T10:00:00.000Z' });
    assert.notEqual(r.fields.t, tags);
  });

  it('jsonata: a failing expression rejects with a MappingRunError naming the row and target', async () => {
    const engine = fakeEngine({ ok: () => 1, boom: () => Promise.reject(new Error('boom')) });
    const mappings = compileMappings(
      [
        { target: 'a', type: 'jsonata', value: 'ok' },
        { target: 'b', type: 'jsonata', value: 'boom' },
      ],
      engine.compile,
    );
    const err = await applyMappings(mappings, input({}), false).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MappingRunError);
    assert.deepEqual([err.row, err.target, err.reason, err.detail], [2, 'b', 'evaluation', 'boom']);
    assert.match(err.message, /row 2 \("b"\)/);
  });

  it('jsonata: what JSONata throws at run time (an object with a message, not an Error) gives its message', async () => {
    const [m] = compileMappings([{ target: 'n', type: 'jsonata', value: 'cast' }], fakeEngine({ cast: () => Promise.reject({ code: 'D3030', message: 'Unable to cast value to a number' }) }).compile);
    await assert.rejects(applyMappings([m], input({}), false), (e: unknown) => e instanceof MappingRunError && e.detail === 'Unable to cast value to a number');
  });

  for (const [what, result, detail] of [
    ['a JSONata lambda', { _jsonata_lambda: true, body: {} }, /is a function/],
    ['a JSONata built-in function', { _jsonata_function: true, implementation: () => 1 }, /is a function/],
    ['a JavaScript function', () => 1, /unsupported type function/],
    ['an infinite number', Infinity, /not a finite number/],
    ['a nested function', { a: [() => 1] }, /result\.a\[0\]/],
  ] as const) {
    it(`jsonata: a result that is not a field value (${what}) rejects naming the row`, async () => {
      const mappings = compileMappings([{ target: 'x', type: 'jsonata', value: 'e' }], fakeEngine({ e: () => result }).compile);
      await assert.rejects(applyMappings(mappings, input({}), false), (e: unknown) => e instanceof MappingRunError && e.reason === 'result' && e.target === 'x' && detail.test(e.detail));
    });
  }

  it('jsonata: a syntax error is refused when compiling, naming the target', () => {
    assert.throws(
      () => compileMappings([{ target: 'x', type: 'jsonata', value: 'a +' }], fakeEngine({}).compile),
      (e: unknown) => e instanceof MappingError && /"x": JSONata expression is invalid: syntax error in a \+/.test(e.message),
    );
    assert.throws(() => compileMappings([{ target: 'x', type: 'jsonata', value: ' ' }], fakeEngine({}).compile), /"x": JSONata expression is empty/);
  });

  it('onInsert: the row applies only to a new record, and is listed as changed then', async () => {
    const engine = fakeEngine({ '"new"': () => 'new' });
    const rows: MappingRow[] = [
      { target: 'assignment_group', type: 'fixed', value: 'Service Desk', valueType: 'str', onInsert: true },
      { target: 'opened_title', type: 'field', value: 'title', onInsert: true },
      { target: 'opened_state', type: 'jsonata', value: '"new"', onInsert: true },
      { target: 'title', type: 'field', value: 'title' },
    ];
    const mappings = compileMappings(rows, engine.compile);
    const created = await applyMappings(mappings, input({ title: 'P' }, [], { isNew: true }), false);
    assert.deepEqual(created, {
      fields: { assignment_group: 'Service Desk', opened_title: 'P', opened_state: 'new', title: 'P' },
      changedFields: ['assignment_group', 'opened_title', 'opened_state'],
    });
    const updated = await applyMappings(mappings, input({ title: 'Q' }), false);
    assert.deepEqual(updated, { fields: { title: 'Q' }, changedFields: ['title'] });
    assert.equal(engine.scopes.length, 1, 'the expression of an onInsert row is not evaluated on an update');
  });

  it('onInsert: a field row still takes its source away from "keep unmapped fields" on an update', async () => {
    const mappings = compileMappings([{ target: 'opened_title', type: 'field', value: 'title', onInsert: true }]);
    assert.deepEqual((await applyMappings(mappings, input({ title: 'Q', x: 1 }), true)).fields, { x: 1 });
  });

  it('keeps unmapped fields on request, except those a field or value-map row reads', async () => {
    const mappings: Mapping[] = compileMappings([
      { target: 'title', type: 'field', value: 'short_description' },
      { target: 'urgency', type: 'value', value: 'priority', map: '{}' },
    ]);
    const r = await applyMappings(mappings, input({ short_description: 'P', priority: 1, other: 1 }, ['other']), true);
    assert.deepEqual(r.fields, { other: 1, title: 'P', urgency: 1 });
    assert.deepEqual(r.changedFields, ['other']);
  });

  it('refuses bad rows with a message naming the field', () => {
    assert.throws(() => compileMappings([{ target: '', type: 'field', value: 'x' }]), /row 1: target field is empty/);
    assert.throws(() => compileMappings([{ target: 't', type: 'field', value: ' ' }]), /"t": source field is empty/);
    assert.throws(() => compileMappings([{ target: 't', type: 'display', value: '' }]), /"t": source field is empty/);
    assert.throws(() => compileMappings([{ target: 'n', type: 'fixed', value: 'abc', valueType: 'num' }]), MappingError);
    assert.throws(() => compileMappings([{ target: 'b', type: 'fixed', value: 'yes', valueType: 'bool' }]), /not true or false/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '{bad' }]), /not valid JSON/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '[1]' }]), /must be a JSON object/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '{}', default: 'x', defaultType: 'num' }]), /"v": default "x" is not a number/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '{}', default: '{', defaultType: 'json' }]), /"v": default is not valid JSON/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '{}', default: '1', defaultType: 'date' }]), /unknown default value type "date"/);
    assert.throws(() => compileMappings([{ target: 'x', type: 'script' as MappingRow['type'], value: 'x' }]), /unknown mapping type "script"/);
  });

  it('without an expression compiler (the editor), a JSONata row is checked for being there only', async () => {
    const [m] = compileMappings([{ target: 'x', type: 'jsonata', value: 'anything (' }]);
    assert.equal(m.type, 'jsonata');
    await assert.rejects(applyMappings([m], input({}), false), MappingRunError);
  });
});
