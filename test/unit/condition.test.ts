import assert from 'node:assert/strict';
import { compileCondition, ConditionError, type ConditionInput, conditionHolds, type ConditionRule, CONDITION_OPERATORS, needsPrevious, ruleHolds } from '../../src/core/condition';
import type { Fields } from '../../src/core/protocol';

const on = (record: Fields, previous?: Fields, isDelete = false): ConditionInput => ({ record, previous, isDelete });
const holds = (rule: Omit<ConditionRule, 'field'>, value: Fields[string] | undefined, previous?: Fields[string]): boolean =>
  ruleHolds({ field: 'f', ...rule }, on(value === undefined ? {} : { f: value }, previous === undefined ? undefined : { f: previous }));

describe('core/condition', () => {
  it('is / is not: text exactly, numbers as numbers, no value equal to nothing', () => {
    assert.equal(holds({ op: 'is', value: 'new' }, 'new'), true);
    assert.equal(holds({ op: 'is', value: 'New' }, 'new'), false, 'case-sensitive');
    assert.equal(holds({ op: 'is', value: '2' }, 2), true);
    assert.equal(holds({ op: 'is', value: '2.0' }, 2), true, 'a number field compares as a number');
    assert.equal(holds({ op: 'is', value: '2' }, '2.0'), true, 'both read as numbers');
    assert.equal(holds({ op: 'is', value: 'abc' }, 2), false);
    assert.equal(holds({ op: 'is', value: 'true' }, true), true);
    assert.equal(holds({ op: 'is', value: '{"a":1}' }, { a: 1 }), true, 'objects as JSON');
    for (const none of [undefined, null, '']) {
      assert.equal(holds({ op: 'is', value: '' }, none), false, `${String(none)} is equal to nothing`);
      assert.equal(holds({ op: 'isNot', value: 'x' }, none), true);
    }
    assert.equal(holds({ op: 'isNot', value: 'new' }, 'new'), false);
    assert.equal(holds({ op: 'isNot', value: 'new' }, 'open'), true);
  });

  it('is empty / is not empty: missing, null and "" have no value; 0, false and " " have one', () => {
    for (const none of [undefined, null, '']) {
      assert.equal(holds({ op: 'isEmpty' }, none), true);
      assert.equal(holds({ op: 'isNotEmpty' }, none), false);
    }
    for (const some of [0, false, ' ', [], {}]) {
      assert.equal(holds({ op: 'isEmpty' }, some), false, JSON.stringify(some));
      assert.equal(holds({ op: 'isNotEmpty' }, some), true);
    }
  });

  it('contains, does not contain, starts with, ends with: on the text, not case-sensitive', () => {
    assert.equal(holds({ op: 'contains', value: 'DISK' }, 'Disk full on srv1'), true);
    assert.equal(holds({ op: 'contains', value: '23' }, 1234), true, 'a number as text');
    assert.equal(holds({ op: 'contains', value: 'x' }, undefined), false);
    assert.equal(holds({ op: 'notContains', value: 'x' }, undefined), true, 'no value contains nothing');
    assert.equal(holds({ op: 'notContains', value: 'disk' }, 'Disk full'), false);
    assert.equal(holds({ op: 'startsWith', value: 'inc' }, 'INC0001'), true);
    assert.equal(holds({ op: 'startsWith', value: '001' }, 'INC0001'), false);
    assert.equal(holds({ op: 'endsWith', value: '001' }, 'INC0001'), true);
    assert.equal(holds({ op: 'endsWith', value: 'x' }, null), false);
  });

  it('is one of: any value of the list, with the rules of "is"', () => {
    assert.equal(holds({ op: 'in', values: ['1', '2'] }, 2), true);
    assert.equal(holds({ op: 'in', values: ['new', 'open'] }, 'open'), true);
    assert.equal(holds({ op: 'in', values: ['new', 'open'] }, 'closed'), false);
    assert.equal(holds({ op: 'in', values: [''] }, ''), false, 'no value is in no list');
  });

  it('< <= > >= between: as numbers, else as ISO dates, else never; both ends of between included', () => {
    assert.equal(holds({ op: 'lt', value: '3' }, 2), true);
    assert.equal(holds({ op: 'lt', value: '3' }, '10'), false, 'numeric strings compare as numbers, not as text');
    assert.equal(holds({ op: 'lte', value: '2' }, 2), true);
    assert.equal(holds({ op: 'gt', value: '2' }, 2), false);
    assert.equal(holds({ op: 'gte', value: '2' }, '2'), true);
    assert.equal(holds({ op: 'gt', value: '2' }, 'high'), false, 'a text compares with no number');
    assert.equal(holds({ op: 'lt', value: '3' }, null), false, 'no value never compares');
    assert.equal(holds({ op: 'lt', value: '0' }, ''), false);
    assert.equal(holds({ op: 'gt', value: '2026-12-01' }, '2026-12-07T10:00:00Z'), true, 'dates as instants');
    assert.equal(holds({ op: 'lt', value: '2026-12-07T11:00:00+02:00' }, '2026-12-07T10:00:00Z'), false, 'time zones count');
    assert.equal(holds({ op: 'lt', value: '2026-12-07T10:00:01' }, '2026-12-07T10:00:00Z'), true, 'no zone: UTC');
    assert.equal(holds({ op: 'gt', value: '2026-12-01' }, 5), false, 'a number and a date do not compare');
    assert.equal(holds({ op: 'between', value: '1', value2: '3' }, 1), true);
    assert.equal(holds({ op: 'between', value: '1', value2: '3' }, 3), true);
    assert.equal(holds({ op: 'between', value: '1', value2: '3' }, 3.5), false);
    assert.equal(holds({ op: 'between', value: '2026-01-01', value2: '2026-12-31' }, '2026-06-30'), true);
  });

  it('changes, changes to, changes from: against the record before; missing and null are the same', () => {
    assert.equal(holds({ op: 'changes' }, 'resolved', 'new'), true);
    assert.equal(holds({ op: 'changes' }, 'new', 'new'), false);
    assert.equal(holds({ op: 'changes' }, null, undefined), false, 'null and missing are both no value');
    assert.equal(holds({ op: 'changes' }, { a: [1, 2] }, { a: [1, 2] }), false, 'structural equality');
    assert.equal(holds({ op: 'changes' }, 'new'), true, 'nothing known before: it had no value');
    assert.equal(holds({ op: 'changesTo', value: 'resolved' }, 'resolved', 'new'), true);
    assert.equal(holds({ op: 'changesTo', value: 'resolved' }, 'resolved', 'resolved'), false);
    assert.equal(holds({ op: 'changesTo', value: 'resolved' }, 'closed', 'new'), false);
    assert.equal(holds({ op: 'changesTo', value: '2' }, 2, '1'), true, 'with the rules of "is"');
    assert.equal(holds({ op: 'changesFrom', value: 'new' }, 'resolved', 'new'), true);
    assert.equal(holds({ op: 'changesFrom', value: 'new' }, 'resolved', 'open'), false);
    assert.equal(holds({ op: 'changesFrom', value: 'new' }, 'resolved'), false, 'nothing known before: it was not "new"');
    assert.equal(ruleHolds({ field: 'f', op: 'changes' }, on({ f: 'a' }, { f: 'b' }, true)), false, 'a delete changes nothing');
  });

  it('holds when any group holds, a group when all its rules hold, and always without groups', () => {
    const cond = compileCondition([
      { rules: [{ field: 'priority', op: 'lte', value: '2' }, { field: 'state', op: 'isNot', value: 'closed' }] },
      { rules: [{ field: 'state', op: 'changesTo', value: 'resolved' }] },
    ]);
    assert.equal(conditionHolds(cond, on({ priority: 1, state: 'new' })), true);
    assert.equal(conditionHolds(cond, on({ priority: 1, state: 'closed' })), false);
    assert.equal(conditionHolds(cond, on({ priority: 4, state: 'resolved' }, { state: 'new' })), true);
    assert.equal(conditionHolds(cond, on({ priority: 4, state: 'resolved' }, { state: 'resolved' })), false);
    assert.equal(conditionHolds([], on({})), true);
    assert.equal(needsPrevious(cond), true);
    assert.equal(needsPrevious(compileCondition([{ rules: [{ field: 'a', op: 'is', value: 'x' }] }])), false);
  });

  it('compiles what the editor saved, naming a bad row, and drops empty groups', () => {
    assert.deepEqual(compileCondition(undefined), []);
    assert.deepEqual(compileCondition([{ rules: [] }]), []);
    assert.deepEqual(compileCondition([{ rules: [{ field: ' state ', op: 'isEmpty', value: 'ignored' }] }]), [{ rules: [{ field: 'state', op: 'isEmpty' }] }]);
    assert.deepEqual(compileCondition([{ rules: [{ field: 'p', op: 'in', values: ['1', 2] }] }]), [{ rules: [{ field: 'p', op: 'in', values: ['1', '2'] }] }]);
    const refused = (raw: unknown, message: RegExp): void => assert.throws(() => compileCondition(raw), (e: unknown) => e instanceof ConditionError && message.test(e.message));
    refused({}, /list of groups/);
    refused([{ rules: [{ field: '', op: 'is' }] }], /group 1, row 1: no field/);
    refused([{ rules: [{ field: 'a', op: 'is' }] }, { rules: [{ field: 'a', op: 'like', value: 'x' }] }], /group 2, row 1: unknown operator "like"/);
    refused([{ rules: [{ field: 'a', op: 'lt', value: 'high' }] }], /neither a number nor an ISO date/);
    refused([{ rules: [{ field: 'a', op: 'between', value: '1' }] }], /between needs two/);
    refused([{ rules: [{ field: 'a', op: 'in', values: [] }] }], /at least one value/);
  });

  it('knows every operator it offers', () => {
    for (const op of CONDITION_OPERATORS) assert.doesNotThrow(() => ruleHolds({ field: 'f', op, value: '1', value2: '2', values: ['1'] }, on({ f: 1 })));
  });
});
