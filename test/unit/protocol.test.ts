import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, setOwn, validateEnvelope, validateMessage } from '../../src/core/protocol';

function message(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'm1',
    kind: 'change',
    processEvent: 'Incident exchange',
    source: { instanceId: 'i1', table: 'incident', id: 'INC1' },
    sequence: 1,
    operation: 'insert',
    capturedAt: '2026-01-01T00:00:00.000Z',
    interactive: true,
    fields: { a: 1, b: 'x', c: null, d: [1, { e: true }] },
    changedFields: ['a'],
    journal: [],
    attachments: [],
    ...overrides,
  };
}

const envelope = (messages: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  protocol: 'rps/1',
  sender: { instanceId: 'i1', name: 'A' },
  messages,
  ...extra,
});

describe('core/protocol validation', () => {
  it('accepts a well-formed envelope and returns a clean copy', () => {
    const r = validateEnvelope(envelope([{ ...message(), unknownProperty: 'dropped' }]));
    assert.ok(r.ok);
    assert.equal(r.value.messages.length, 1);
    assert.equal((r.value.messages[0] as unknown as Record<string, unknown>).unknownProperty, undefined);
    assert.deepEqual(r.value.messages[0].fields, { a: 1, b: 'x', c: null, d: [1, { e: true }] });
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /body: must be a JSON object/],
    ['wrong protocol', envelope([message()], { protocol: 'rps/2' }), /protocol: must be "rps\/1"/],
    ['no sender', envelope([message()], { sender: null }), /sender: must be an object/],
    ['empty batch', envelope([]), /messages: must not be empty/],
    ['messages not an array', envelope([], { messages: {} }), /messages: must be an array/],
    ['bad kind', envelope([message({ kind: 'other' })]), /messages\[0\]\.kind/],
    ['bad operation', envelope([message({ operation: 'upsert' })]), /messages\[0\]\.operation/],
    ['sequence zero', envelope([message({ sequence: 0 })]), /messages\[0\]\.sequence/],
    ['sequence fraction', envelope([message({ sequence: 1.5 })]), /messages\[0\]\.sequence/],
    ['missing source id', envelope([message({ source: { instanceId: 'i', table: 't' } })]), /messages\[0\]\.source\.id/],
    ['bad date', envelope([message({ capturedAt: 'yesterday' })]), /capturedAt/],
    ['interactive not boolean', envelope([message({ interactive: 'yes' })]), /interactive/],
    ['fields not object', envelope([message({ fields: 'x' })]), /fields: must be an object/],
    ['non-finite number', envelope([message({ fields: { x: Number.NaN } })]), /must be a finite number/],
    ['duplicate id in batch', envelope([message(), message()]), /messages\[1\]\.id: appears twice/],
    ['correlation without target', envelope([message({ kind: 'correlation' })]), /target: is required/],
    ['journal entry without value', envelope([message({ journal: [{ field: 'c', id: 'j', author: 'x', createdAt: 'now' }] })]), /journal\[0\]\.value/],
    ['attachment with negative size', envelope([message({ attachments: [{ key: 'k', hash: 'h', fileName: 'f', contentType: 't', size: -1 }] })]), /size/],
  ];
  for (const [name, body, reason] of bad) {
    it(`refuses ${name} with a reason naming the place`, () => {
      const r = validateEnvelope(body);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, reason);
    });
  }

  it('applies the limits: batch length, string length, key count, depth', () => {
    const limits = { ...DEFAULT_LIMITS, maxMessages: 2, maxStringLength: 10, maxFields: 3, maxDepth: 3 };
    const cases: [unknown, RegExp][] = [
      [envelope([message({ id: 'a' }), message({ id: 'b' }), message({ id: 'c' })]), /more than 2 messages/],
      [envelope([message({ fields: { s: 'x'.repeat(11) } })]), /longer than 10/],
      [envelope([message({ fields: { a: 1, b: 2, c: 3, d: 4 } })]), /more than 3 keys/],
      [envelope([message({ fields: { a: { b: { c: { d: 1 } } } } })]), /nested deeper/],
    ];
    for (const [body, reason] of cases) {
      const r = validateEnvelope(body, limits);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, reason);
    }
  });

  it('survives hostile nesting without a stack overflow', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { x: deep };
    const r = validateMessage(message({ fields: { deep } }));
    assert.equal(r.ok, false);
  });
});

describe('setOwn', () => {
  it('sets fields named like Object.prototype\'s properties as own fields, on a frozen prototype too, and leaves the prototype alone', () => {
    const obj: Record<string, unknown> = {};
    for (const key of ['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'plain']) setOwn(obj, key, `v-${key}`);
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.deepEqual(Object.keys(obj), ['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'plain']);
    assert.equal(Object.getOwnPropertyDescriptor(obj, '__proto__')?.value, 'v-__proto__');
    const child: Record<string, unknown> = Object.create(Object.freeze(Object.create(null, { toString: { value: 1, writable: false } })) as object);
    setOwn(child, 'toString', 2);
    assert.equal(Object.getOwnPropertyDescriptor(child, 'toString')?.value, 2);
  });
});
