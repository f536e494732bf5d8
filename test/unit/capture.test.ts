import assert from 'node:assert/strict';
import { type CaptureDefinition, captureChange, parseFieldList } from '../../src/core/capture';

const def: CaptureDefinition = { table: 'incident', idField: 'id', operations: ['insert', 'update', 'delete'], fields: ['title', 'state'] };
const now = new Date('2026-01-02T03:04:05.000Z');

describe('core/capture', () => {
  it('captures an insert with the included fields only', () => {
    const r = captureChange(def, { record: { id: 7, title: 'a', state: 'new', secret: 'x' } }, now);
    assert.equal(r.kind, 'captured');
    if (r.kind !== 'captured') return;
    assert.deepEqual(r.capture, {
      table: 'incident',
      id: '7',
      operation: 'insert',
      fields: { title: 'a', state: 'new' },
      changedFields: ['title', 'state'],
      capturedAt: now.toISOString(),
      interactive: true,
    });
  });

  it('infers update from a previous record and lists only what changed', () => {
    const r = captureChange(def, { record: { id: 'x', title: 'a', state: 'done' }, previous: { id: 'x', title: 'a', state: 'new' } }, now);
    assert.ok(r.kind === 'captured');
    assert.equal(r.capture.operation, 'update');
    assert.deepEqual(r.capture.changedFields, ['state']);
  });

  it('ignores an update where no included field changed', () => {
    const r = captureChange(def, { record: { id: 'x', title: 'a', state: 'n', other: 2 }, previous: { id: 'x', title: 'a', state: 'n', other: 1 } }, now);
    assert.deepEqual(r, { kind: 'ignored', reason: 'unchanged' });
  });

  it('ignores operations not selected', () => {
    const r = captureChange({ ...def, operations: ['insert'] }, { record: { id: 'x' }, operation: 'delete' }, now);
    assert.deepEqual(r, { kind: 'ignored', reason: 'operation' });
  });

  it('includes every field when no fields are listed, and converts dates', () => {
    const r = captureChange({ ...def, fields: [] }, { record: { id: 'x', when: new Date(0), gone: undefined } }, now);
    assert.ok(r.kind === 'captured');
    assert.deepEqual(r.capture.fields, { id: 'x', when: '1970-01-01T00:00:00.000Z' });
  });

  it('refuses a record without id, an unknown operation, and values that are not data', () => {
    assert.equal(captureChange(def, { record: { title: 'x' } }, now).kind, 'invalid');
    assert.equal(captureChange(def, { record: { id: 1 }, operation: 'merge' }, now).kind, 'invalid');
    assert.equal(captureChange(def, { record: 'text' }, now).kind, 'invalid');
    const cyclic: Record<string, unknown> = { id: 1 };
    cyclic.self = cyclic;
    assert.equal(captureChange({ ...def, fields: [] }, { record: cyclic }, now).kind, 'invalid');
    assert.equal(captureChange({ ...def, fields: [] }, { record: { id: 1, f: () => 1 } }, now).kind, 'invalid');
    assert.equal(captureChange(def, { record: { id: 1, title: { f: () => 1 } } }, now).kind, 'invalid');
  });

  it('looks only at included fields: what is not sent cannot get a record refused', () => {
    const r = captureChange(def, { record: { id: 1, title: 't', photo: Buffer.from('x'), f: () => 1 } }, now);
    assert.equal(r.kind, 'captured');
  });

  it('passes changedBy and interactive on', () => {
    const r = captureChange(def, { record: { id: 1, title: 't' }, changedBy: 'alice', interactive: false }, now);
    assert.ok(r.kind === 'captured');
    assert.equal(r.capture.changedBy, 'alice');
    assert.equal(r.capture.interactive, false);
  });

  it('parses a field list', () => {
    assert.deepEqual(parseFieldList(' a, b ,,c '), ['a', 'b', 'c']);
    assert.deepEqual(parseFieldList(''), []);
  });
});
