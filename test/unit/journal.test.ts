import assert from 'node:assert/strict';
import { journalEntryId, journalOf, journalsReceived, journalsToSend, markKey } from '../../src/core/journal';
import type { JournalEntry, MessageDraft } from '../../src/core/protocol';

const e = (id: string): JournalEntry => ({ field: 'comments', id, value: id, author: 'a', createdAt: 't' });
const message = (journal: JournalEntry[]): MessageDraft =>
  ({ id: 'm', kind: 'change', processEvent: 'P', source: { instanceId: 'i', table: 't', id: '1' }, operation: 'update', capturedAt: 't', interactive: true, fields: {}, changedFields: [], journal, attachments: [] }) as MessageDraft;

describe('core/journal', () => {
  it('reads a list, one entry or texts; ids from the source, else made from the entry', () => {
    const entries = journalOf({ c: ['one', { sys_id: 'x9', value: 'two' }], n: { text: 'three', author: 'bob' }, none: null }, ['c', 'n', 'none', 'missing']);
    assert.deepEqual(entries.map((x) => [x.field, x.value, x.author]), [['c', 'one', ''], ['c', 'two', ''], ['n', 'three', 'bob']]);
    assert.equal(entries[1].id, 'x9');
    assert.equal(entries[0].id, journalEntryId('c', 'one', '', ''));
    assert.notEqual(journalEntryId('c', 'one', '', ''), journalEntryId('n', 'one', '', ''), 'the field is part of it');
    assert.throws(() => journalOf({ c: [{ author: 'x' }] }, ['c']), /without a value/);
  });

  it('sends each entry by the first message of a batch whose mark for its remote was new; a journal-only change with none left is not sent', () => {
    const items = [
      { remoteSystem: 'R', message: message([e('1'), e('2')]) },
      { remoteSystem: 'R', message: message([e('1'), e('2'), e('3')]), journalOnly: true },
      { remoteSystem: 'R', message: message([e('1')]), journalOnly: true },
      { remoteSystem: 'S', message: message([e('1')]) },
    ];
    const fresh = new Set([markKey('R', '1'), markKey('R', '2'), markKey('R', '3'), markKey('S', '1')]);
    const out = journalsToSend(items, fresh);
    assert.deepEqual(out.map((m) => m?.journal.map((x) => x.id)), [['1', '2'], ['3'], undefined, ['1']]);
    assert.deepEqual(journalsToSend(items.slice(0, 1), new Set()).map((m) => m?.journal), [[]], 'a change of fields goes without its entries');
  });

  it('takes a received entry once: not one seen before, nor twice in a batch', () => {
    const got = journalsReceived([{ journal: [e('seen'), e('new'), e('new')] }, { journal: [e('new'), e('other')] }], new Set(['seen']));
    assert.deepEqual(got.map((m) => m.journal.map((x) => x.id)), [['new'], ['other']]);
  });
});
