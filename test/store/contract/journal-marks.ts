/** The journal contract: each entry goes to each remote once, and is taken in once. */
import assert from 'node:assert/strict';
import type { JournalEntry } from '../../../src/core/protocol';
import type { Store } from '../../../src/store/store';
import { draft, eachStore, received, type StoreFactory, T0 } from './support';

const entry = (id: string, value = `note ${id}`): JournalEntry => ({ field: 'comments', id, value, author: 'ada', createdAt: '2026-12-07T10:00:00.000Z' });

export function journalMarksContract(factory: StoreFactory): void {
  describe('journal marks', () => {
    let store: Store;
    eachStore(factory, (s) => (store = s), () => store);

    /** The journal entry ids of queued row `id`, as sent. */
    async function sentEntries(id: number): Promise<string[]> {
      const row = await store.outbound.get(id);
      assert.ok(row, `row ${id} queued`);
      return (JSON.parse(row.payload) as { journal: JournalEntry[] }).journal.map((e) => e.id);
    }

    it('sends each entry to each remote once, marked in the enqueue, across batches and a restart', async () => {
      const [first, second] = await store.outbound.enqueue(
        [
          { remoteSystem: 'R', message: draft('t', '1', { journal: [entry('e1'), entry('e2')] }) },
          // The same record again in the batch, with the entries so far and a new one: only the new one goes.
          { remoteSystem: 'R', message: draft('t', '1', { journal: [entry('e1'), entry('e2'), entry('e3')] }) },
        ],
        T0,
      );
      assert.deepEqual(await sentEntries(first.id), ['e1', 'e2']);
      assert.deepEqual(await sentEntries(second.id), ['e3']);
      store = await factory.reopen(store);
      const [again, elsewhere, withFields] = await store.outbound.enqueue(
        [
          // Only entries, all sent already: nothing is queued.
          { remoteSystem: 'R', message: draft('t', '1', { journal: [entry('e1'), entry('e3')], changedFields: [] }), journalOnly: true },
          // Another remote has none of them.
          { remoteSystem: 'S', message: draft('t', '1', { journal: [entry('e1')] }) },
          // A change of fields goes with no entries left.
          { remoteSystem: 'R', message: draft('t', '1', { journal: [entry('e2')] }) },
        ],
        T0,
      );
      assert.deepEqual([again.id, again.skipped], [0, true]);
      assert.deepEqual(await sentEntries(elsewhere.id), ['e1']);
      assert.deepEqual(await sentEntries(withFields.id), []);
      assert.deepEqual([...(await store.journalMarks.known('R', ['e1', 'e2', 'e3', 'e4']))].sort(), ['e1', 'e2', 'e3']);
    });

    it('takes a received entry in once: not one it sent (an echo), nor one that came before from another remote', async () => {
      await store.outbound.enqueue([{ remoteSystem: 'X', message: draft('t', '1', { journal: [entry('mine')] }) }], T0);
      await store.inbound.accept('X', [received('u', '7', 1, { journal: [entry('mine'), entry('theirs'), entry('theirs')] })], T0);
      await store.inbound.accept('Y', [received('v', '8', 1, { journal: [entry('theirs'), entry('new at Y')] })], T0);
      const rows = await store.inbound.list({ limit: 10 });
      const journals = rows.sort((a, b) => a.id - b.id).map((r) => (JSON.parse(r.payload) as { journal: JournalEntry[] }).journal.map((e) => e.id));
      assert.deepEqual(journals, [['theirs'], ['new at Y']]);
      // What came from X is not sent back to X, but is sent on to Z.
      assert.deepEqual([...(await store.journalMarks.known('X', ['mine', 'theirs']))].sort(), ['mine', 'theirs']);
      const [back, on] = await store.outbound.enqueue(
        [
          { remoteSystem: 'X', message: draft('t', '2', { journal: [entry('theirs')], changedFields: [] }), journalOnly: true },
          { remoteSystem: 'Z', message: draft('t', '2', { journal: [entry('theirs')], changedFields: [] }), journalOnly: true },
        ],
        T0,
      );
      assert.equal(back.skipped, true);
      assert.deepEqual(await sentEntries(on.id), ['theirs']);
    });
  });
}
