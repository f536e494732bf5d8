import assert from 'node:assert/strict';
import { compareStamps, type ConflictInput, decideConflicts, overwroteLocalChange, type Stamp } from '../../src/core/conflict';

const T = Date.UTC(2026, 11, 7, 10, 0, 0);
const stamps = (o: Record<string, Stamp>): Map<string, Stamp> => new Map(Object.entries(o));
const input = (o: Partial<ConflictInput>): ConflictInput => ({
  policy: 'last-writer',
  self: 'A',
  remote: { at: T, instance: 'B' },
  fields: ['f'],
  changedFields: ['f'],
  stamps: new Map(),
  ...o,
});

describe('conflicts (core/conflict)', () => {
  it('orders stamps by time, then by instance id', () => {
    assert.equal(compareStamps({ at: 1, instance: 'Z' }, { at: 2, instance: 'A' }), -1);
    assert.equal(compareStamps({ at: 2, instance: 'A' }, { at: 2, instance: 'B' }), -1);
    assert.equal(compareStamps({ at: 2, instance: 'B' }, { at: 2, instance: 'A' }), 1);
    assert.equal(compareStamps({ at: 2, instance: 'B' }, { at: 2, instance: 'B' }), 0);
  });

  describe('last writer wins (the default)', () => {
    it('writes a field never stamped, and one whose local value is older; stamps what it writes', () => {
      assert.deepEqual(decideConflicts(input({})), { drop: [], conflicts: [], stamp: ['f'] });
      assert.deepEqual(decideConflicts(input({ stamps: stamps({ f: { at: T - 1, instance: 'A' } }) })), { drop: [], conflicts: [], stamp: ['f'] });
    });

    it('leaves out a field whose local value was captured later, saying why', () => {
      const d = decideConflicts(input({ stamps: stamps({ f: { at: T + 1, instance: 'A' } }) }));
      assert.deepEqual(d.drop, ['f']);
      assert.deepEqual(d.stamp, []);
      assert.deepEqual(d.conflicts, [
        { field: 'f', reason: 'local-newer', local: { at: new Date(T + 1).toISOString(), instance: 'A' }, remote: { at: new Date(T).toISOString(), instance: 'B' } },
      ]);
    });

    it('decides a tie by instance id, the same way on both sides', () => {
      // A edited f at T, B edited f at T: on A the remote is B, on B the remote is A.
      const onA = decideConflicts(input({ self: 'A', remote: { at: T, instance: 'B' }, stamps: stamps({ f: { at: T, instance: 'A' } }) }));
      const onB = decideConflicts(input({ self: 'B', remote: { at: T, instance: 'A' }, stamps: stamps({ f: { at: T, instance: 'B' } }) }));
      assert.deepEqual(onA.stamp, ['f'], "A takes B's value");
      assert.deepEqual(onB.drop, ['f'], 'B keeps its own');
    });

    it('always replaces a value that came from the same instance (its changes arrive in order, whatever its clock)', () => {
      const d = decideConflicts(input({ remote: { at: T - 60_000, instance: 'B' }, stamps: stamps({ f: { at: T, instance: 'B' } }) }));
      assert.deepEqual(d.stamp, ['f']);
    });

    it('writes only the fields the remote changed: an unchanged one could undo a local change not stamped yet', () => {
      const d = decideConflicts(input({
        fields: ['f', 'mine', 'theirs', 'never'],
        changedFields: ['f'],
        stamps: stamps({ mine: { at: T - 5, instance: 'A' }, theirs: { at: T - 5, instance: 'B' } }),
      }));
      assert.deepEqual(d, { drop: ['mine', 'theirs', 'never'], conflicts: [], stamp: ['f'] });
    });
  });

  describe('remote wins', () => {
    it('writes every change, and every field, however new the local value', () => {
      const d = decideConflicts(input({ policy: 'remote', fields: ['f', 'g'], changedFields: ['f'], stamps: stamps({ f: { at: T + 99, instance: 'A' }, g: { at: T + 99, instance: 'A' } }) }));
      assert.deepEqual(d, { drop: [], conflicts: [], stamp: ['f'] });
    });
  });

  describe('local wins', () => {
    it('keeps a local change made after the remote one, or less than the window before it', () => {
      const before = decideConflicts(input({ policy: 'local', windowMs: 60_000, stamps: stamps({ f: { at: T - 59_000, instance: 'A' } }) }));
      assert.deepEqual(before.drop, ['f']);
      assert.equal(before.conflicts[0].reason, 'local-wins');
      const after = decideConflicts(input({ policy: 'local', windowMs: 60_000, stamps: stamps({ f: { at: T + 1, instance: 'A' } }) }));
      assert.equal(after.conflicts[0].reason, 'local-wins');
    });

    it('outside the window, the later change wins', () => {
      const d = decideConflicts(input({ policy: 'local', windowMs: 60_000, stamps: stamps({ f: { at: T - 61_000, instance: 'A' } }) }));
      assert.deepEqual(d.stamp, ['f']);
    });

    it('a value from a third instance is decided as the last writer', () => {
      assert.deepEqual(decideConflicts(input({ policy: 'local', stamps: stamps({ f: { at: T - 1, instance: 'C' } }) })).stamp, ['f']);
      assert.equal(decideConflicts(input({ policy: 'local', stamps: stamps({ f: { at: T + 1, instance: 'C' } }) })).conflicts[0].reason, 'local-newer');
    });
  });

  it('a change an inbound flow made overwrote a local one when one of its fields is stamped by this side', () => {
    assert.equal(overwroteLocalChange(['f', 'g'], stamps({ f: { at: T, instance: 'B' }, g: { at: T, instance: 'A' } }), 'A'), true);
    assert.equal(overwroteLocalChange(['f'], stamps({ f: { at: T, instance: 'B' }, g: { at: T, instance: 'A' } }), 'A'), false);
    assert.equal(overwroteLocalChange([], stamps({ g: { at: T, instance: 'A' } }), 'A'), false);
  });
});
