import assert from 'node:assert/strict';
import { type CaptureDefinition, captureChange, type CaptureResult } from '../../src/core/capture';
import type { ConditionGroup } from '../../src/core/condition';

const def: CaptureDefinition = { table: 'incident', idField: 'id', operations: ['insert', 'update', 'delete'], fields: ['title', 'state'], condition: [], captureNonInteractive: true };
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
      journal: [],
      journalOnly: false,
    });
  });

  it('sends journal fields as entries, not as fields; an update with only entries is journal-only', () => {
    const journaled: CaptureDefinition = { ...def, journalFields: ['comments', 'work_notes'] };
    const record = {
      id: 1,
      title: 't',
      state: 'new',
      comments: [{ id: 'c1', value: 'Printer on fire', author: 'ada', createdAt: new Date('2026-12-07T10:00:00Z') }, 'Still burning'],
      work_notes: { text: 'Called facilities', created_by: 'bob', created_on: '2026-12-07T11:00:00Z' },
    };
    const r = captureChange(journaled, { record, previous: { ...record, comments: [] } }, now);
    assert.ok(r.kind === 'captured');
    assert.deepEqual(r.capture.fields, { title: 't', state: 'new' });
    assert.deepEqual(r.capture.changedFields, []);
    assert.equal(r.capture.journalOnly, true);
    assert.deepEqual(
      r.capture.journal.map((e) => [e.field, e.value, e.author, e.createdAt]),
      [
        ['comments', 'Printer on fire', 'ada', '2026-12-07T10:00:00.000Z'],
        ['comments', 'Still burning', '', now.toISOString()],
        ['work_notes', 'Called facilities', 'bob', '2026-12-07T11:00:00Z'],
      ],
    );
    assert.equal(r.capture.journal[0].id, 'c1');
    const again = captureChange(journaled, { record, previous: record }, now);
    assert.ok(again.kind === 'captured');
    assert.deepEqual(again.capture.journal.map((e) => e.id), r.capture.journal.map((e) => e.id), 'the same entries read again have the same ids');
    assert.deepEqual(captureChange(journaled, { record: { ...record, comments: [{ author: 'x' }] } }, now).kind, 'invalid');
    assert.equal(captureChange({ ...def, journalFields: ['comments'] }, { record: { id: 1, title: 't', state: 'new' }, previous: { id: 1, title: 't', state: 'new' } }, now).kind, 'ignored', 'no entries and no field changed: unchanged');
  });

  it('infers update from a previous record and lists only what changed', () => {
    const r = captureChange(def, { record: { id: 'x', title: 'a', state: 'done' }, previous: { id: 'x', title: 'a', state: 'new' } }, now);
    assert.ok(r.kind === 'captured');
    assert.equal(r.capture.operation, 'update');
    assert.deepEqual(r.capture.changedFields, ['state']);
  });

  it('ignores an update where no included field changed', () => {
    const r = captureChange(def, { record: { id: 'x', title: 'a', state: 'n', other: 2 }, previous: { id: 'x', title: 'a', state: 'n', other: 1 } }, now);
    assert.deepEqual(r, { kind: 'ignored', reason: 'unchanged', id: 'x' });
  });

  it('ignores operations not selected', () => {
    const r = captureChange({ ...def, operations: ['insert'] }, { record: { id: 'x' }, operation: 'delete' }, now);
    assert.deepEqual(r, { kind: 'ignored', reason: 'operation', id: 'x' });
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

  it('ignores a non-interactive change when told to, and only then', () => {
    const r = captureChange({ ...def, captureNonInteractive: false }, { record: { id: 1, title: 't' }, interactive: false }, now);
    assert.deepEqual(r, { kind: 'ignored', reason: 'non-interactive', id: '1' });
    assert.equal(captureChange({ ...def, captureNonInteractive: false }, { record: { id: 1, title: 't' } }, now).kind, 'captured');
  });

  it('carries the display values of the included fields, as texts', () => {
    const r = captureChange(def, { record: { id: 1, title: 't', state: 2 }, displayValues: { state: 'In progress', title: 7, secret: 'x', gone: null } }, now);
    assert.ok(r.kind === 'captured');
    assert.deepEqual(r.capture.displayValues, { state: 'In progress', title: '7' });
    const bad = captureChange(def, { record: { id: 1 }, displayValues: 'In progress' }, now);
    assert.ok(bad.kind === 'invalid' && bad.code === 'display-values');
  });

  describe('with a condition', () => {
    // priority <= 2, or state changes to resolved (the example of the issue).
    const condition: ConditionGroup[] = [{ rules: [{ field: 'priority', op: 'lte', value: '2' }] }, { rules: [{ field: 'state', op: 'changesTo', value: 'resolved' }] }];
    const withCondition: CaptureDefinition = { ...def, fields: ['title'], condition };
    const kind = (r: CaptureResult): string => (r.kind === 'ignored' ? `ignored:${r.reason}` : r.kind);

    it('sends a change only when a group holds, reading fields that are not sent', () => {
      assert.equal(kind(captureChange(withCondition, { record: { id: 1, title: 't', priority: 1 } }, now)), 'captured');
      assert.equal(kind(captureChange(withCondition, { record: { id: 1, title: 't', priority: '4' } }, now)), 'ignored:condition');
      const sent = captureChange(withCondition, { record: { id: 1, title: 't', priority: 1, state: 'new' } }, now);
      assert.ok(sent.kind === 'captured');
      assert.deepEqual(sent.capture.fields, { title: 't' }, 'condition fields read, not sent');
    });

    it('compares with msg.previous when given, else with the state it kept, and keeps the fields its "changes" rules read', () => {
      const resolved = { id: 1, title: 't', priority: 4, state: 'resolved' };
      // msg.previous says it was resolved already: no change to resolved.
      assert.equal(kind(captureChange(withCondition, { record: resolved, previous: { ...resolved, title: 'old' }, lastSeen: { state: 'new' } }, now)), 'ignored:condition');
      // No msg.previous: the kept state says it was new.
      const r = captureChange(withCondition, { record: resolved, operation: 'update', lastSeen: { state: 'new' } }, now);
      assert.equal(kind(r), 'captured');
      assert.deepEqual(r.kind === 'captured' && r.seen, { state: 'resolved' });
      // Kept state says resolved: no change; and what is kept is kept even when ignored.
      const again = captureChange(withCondition, { record: { ...resolved, title: 'x' }, operation: 'update', lastSeen: { state: 'resolved' } }, now);
      assert.deepEqual(again, { kind: 'ignored', reason: 'condition', id: '1', seen: { state: 'resolved' } });
      // Nothing known before: every field was without a value, so it changes to resolved.
      assert.equal(kind(captureChange(withCondition, { record: resolved, operation: 'update' }, now)), 'captured');
    });

    it('forgets a deleted record, and a delete changes no field', () => {
      const r = captureChange(withCondition, { record: { id: 1, state: 'resolved', priority: 4 }, operation: 'delete', lastSeen: { state: 'new' } }, now);
      assert.deepEqual(r, { kind: 'ignored', reason: 'condition', id: '1', seen: null });
    });

    it('keeps nothing when no rule compares with the past', () => {
      const r = captureChange({ ...def, condition: [{ rules: [{ field: 'state', op: 'is', value: 'new' }] }] }, { record: { id: 1, state: 'new' } }, now);
      assert.ok(r.kind === 'captured' && !('seen' in r));
    });

    it('checks the operation before the condition, and the kept state is still written', () => {
      const r = captureChange({ ...withCondition, operations: ['update'] }, { record: { id: 1, state: 'resolved' }, operation: 'insert' }, now);
      assert.deepEqual(r, { kind: 'ignored', reason: 'operation', id: '1', seen: { state: 'resolved' } });
    });
  });
});
