/**
 * The behaviour every Store implementation must have (DESIGN.md §6). Each
 * implementation's test file calls `storeContract` with a factory.
 */
import assert from 'node:assert/strict';
import type { Message, MessageDraft } from '../../src/core/protocol';
import type { Store } from '../../src/store/store';

export interface StoreFactory {
  /** A new, empty store. */
  create(): Promise<Store>;
  /** The same store opened again, as after a restart (the old handle is closed first). */
  reopen(store: Store): Promise<Store>;
}

let counter = 0;
export function draft(table: string, id: string, overrides: Partial<MessageDraft> = {}): MessageDraft {
  counter += 1;
  return {
    id: `msg-${counter}-${Math.random().toString(36).slice(2)}`,
    kind: 'change',
    processEvent: 'PE',
    source: { instanceId: 'here', table, id },
    operation: 'update',
    capturedAt: new Date(0).toISOString(),
    interactive: true,
    fields: { v: counter },
    changedFields: ['v'],
    journal: [],
    attachments: [],
    ...overrides,
  };
}

export function received(table: string, id: string, sequence: number, overrides: Partial<Message> = {}): Message {
  return { ...draft(table, id), instanceId: undefined, sequence, ...overrides } as unknown as Message;
}

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`${name} store contract`, () => {
    let store: Store;
    const T0 = 1_000_000;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('outbound queue', () => {
      it('gives each record its own sequence per remote system, starting at 1', async () => {
        const q = await store.outbound.enqueue(
          [
            { remoteSystem: 'B', message: draft('t', '1') },
            { remoteSystem: 'B', message: draft('t', '1') },
            { remoteSystem: 'B', message: draft('t', '2') },
            { remoteSystem: 'C', message: draft('t', '1') },
          ],
          T0,
        );
        assert.deepEqual(
          q.map((e) => e.sequence),
          [1, 2, 1, 1],
        );
        const row = await store.outbound.get(q[1].id);
        assert.equal(row?.status, 'ready');
        assert.equal((JSON.parse(row?.payload ?? '{}') as Message).sequence, 2, 'the stored payload carries its sequence');
      });

      it('claims oldest first and never two generations of a record out of order', async () => {
        const q = await store.outbound.enqueue(
          ['a', 'a', 'b', 'a', 'c'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
          T0,
        );
        const first = await store.outbound.claim('B', 2, T0, 'w1', 1000);
        assert.deepEqual(
          first.map((r) => r.id),
          [q[0].id, q[1].id],
        );
        // a's third row waits for its first two; b and c go.
        const second = await store.outbound.claim('B', 10, T0, 'w1', 1000);
        assert.deepEqual(
          second.map((r) => r.recordId),
          ['b', 'c'],
        );
        await store.outbound.markProcessed([q[0].id, q[1].id], T0);
        const third = await store.outbound.claim('B', 10, T0, 'w1', 1000);
        assert.deepEqual(
          third.map((r) => r.id),
          [q[3].id],
        );
        assert.equal(third[0].attempts, 1);
      });

      it('a retry waits for its time and holds back later rows of its record only', async () => {
        const q = await store.outbound.enqueue(
          ['a', 'a', 'b'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
          T0,
        );
        const [a1] = await store.outbound.claim('B', 1, T0, 'w1', 60_000);
        await store.outbound.retry([{ id: a1.id, error: 'ECONNREFUSED', nextAttemptAt: T0 + 5000, countTry: true }], T0);
        const now = await store.outbound.claim('B', 10, T0 + 1, 'w1', 60_000);
        assert.deepEqual(
          now.map((r) => r.recordId),
          ['b'],
        );
        assert.equal(await store.outbound.nextAttempt('B', T0 + 1), T0 + 5000);
        assert.equal(await store.outbound.nextAttempt('B', T0 + 5000), T0 + 1 + 60_000, 'then the end of the lease of the row in flight');
        const later = await store.outbound.claim('B', 10, T0 + 5000, 'w1', 60_000);
        assert.deepEqual(
          later.map((r) => r.id),
          [q[0].id, q[1].id],
        );
        assert.equal(later[0].attempts, 2);
        assert.equal(later[0].lastError, 'ECONNREFUSED');
      });

      it('a lease that ends exactly when the sender wakes for it is taken over then (bug: a sender woken at the end of a lease found nothing and never woke again)', async () => {
        await store.outbound.enqueue(
          ['a', 'a'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
          T0,
        );
        const [held] = await store.outbound.claim('B', 1, T0, 'dead worker', 1000);
        assert.deepEqual(await store.outbound.claim('B', 10, T0 + 999, 'w2', 1000), [], 'the lease is live until its end, and holds back the record');
        assert.equal(await store.outbound.nextAttempt('B', T0 + 999), T0 + 1000, 'the sender wakes at the end of the lease');
        const taken = await store.outbound.claim('B', 10, T0 + 1000, 'w2', 1000);
        assert.deepEqual(
          taken.map((r) => [r.id, r.attempts]),
          [
            [held.id, 2],
            [held.id + 1, 1],
          ],
          'at its end the row is taken over, and the next one of its record goes with it',
        );
      });

      it('an error row holds back its record until it is dealt with', async () => {
        await store.outbound.enqueue(
          ['a', 'a'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
          T0,
        );
        const [a1] = await store.outbound.claim('B', 1, T0, 'w1', 1000);
        await store.outbound.fail([{ id: a1.id, error: 'HTTP 400: bad', kind: 'refused' }], T0);
        assert.deepEqual(await store.outbound.claim('B', 10, T0, 'w1', 1000), []);
        const row = await store.outbound.get(a1.id);
        assert.equal(row?.status, 'error');
        assert.equal(row?.lastError, 'HTTP 400: bad');
        assert.deepEqual(await store.outbound.count('B'), { ready: 1, processing: 0, processed: 0, error: 1, skipped: 0 });
      });

      it('releases the rows an owner left in flight', async () => {
        await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'a') }], T0);
        const [row] = await store.outbound.claim('B', 1, T0, 'w1', 1000);
        assert.equal(await store.outbound.release('B', 'someone-else', T0), 0);
        assert.equal(await store.outbound.release('B', 'w1', T0), 1);
        const again = await store.outbound.claim('B', 1, T0, 'w2', 1000);
        assert.equal(again[0].id, row.id);
      });

      it('a restart takes back what a dead process left in flight', async () => {
        await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'a') }], T0);
        await store.outbound.claim('B', 1, T0, 'w1', 1000);
        const id = store.instanceId;
        store = await factory.reopen(store);
        assert.equal(store.instanceId, id, 'the instance id survives a restart');
        assert.equal((await store.outbound.claim('B', 1, Date.now(), 'w2', 1000)).length, 1);
      });
    });

    describe('retry, skip and retention', () => {
      const failAll = async (remote: string, n: number, kind: 'connection' | 'refused'): Promise<number[]> => {
        const q = await store.outbound.enqueue(
          Array.from({ length: n }, (_, i) => ({ remoteSystem: remote, message: draft('t', `r${i}`) })),
          T0,
        );
        const rows = await store.outbound.claim(remote, n, T0, 'w', 60_000);
        await store.outbound.fail(rows.map((r) => ({ id: r.id, error: 'x', kind })), T0);
        return q.map((e) => e.id);
      };

      it('re-queues error rows by kind and counts retries only when asked', async () => {
        const conn = await failAll('B', 2, 'connection');
        const refused = await failAll('C', 1, 'refused');
        assert.deepEqual(await store.outbound.requeue({ kinds: ['connection'] }, false, T0), conn);
        const row = await store.outbound.get(conn[0]);
        assert.deepEqual([row?.status, row?.tries, row?.retries, row?.errorKind], ['ready', 0, 0, null]);
        assert.deepEqual(await store.outbound.requeue({ remoteSystem: 'C', maxRetries: 1 }, true, T0), refused);
        assert.equal((await store.outbound.get(refused[0]))?.retries, 1);
        const [again] = await store.outbound.claim('C', 1, T0, 'w', 60_000);
        await store.outbound.fail([{ id: again.id, error: 'x', kind: 'refused' }], T0);
        assert.deepEqual(await store.outbound.requeue({ remoteSystem: 'C', maxRetries: 1 }, true, T0), [], 'no retries left');
      });

      it('skips named rows (error or ready), or every error row of a selection', async () => {
        const [e1] = await failAll('B', 1, 'refused');
        const [r1] = (await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'other') }], T0)).map((q) => q.id);
        assert.deepEqual(await store.outbound.skip({ remoteSystem: 'B' }, T0), [e1], 'without ids only error rows');
        assert.deepEqual(await store.outbound.skip({ ids: [r1] }, T0), [r1]);
        assert.equal((await store.outbound.get(r1))?.status, 'skipped');
      });

      it('a skipped inbound message lets the next one of its record go at once', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'x', 2)], T0);
        const [x1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
        await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'error', error: 'boom' }], T0);
        assert.equal((await store.inbound.get(x1.id))?.errorKind, 'flow');
        assert.deepEqual(await store.inbound.skip({ remoteSystem: 'A' }, T0), [x1.id]);
        const next = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
        assert.deepEqual(
          next.rows.map((r) => r.sequence),
          [2],
        );
      });

      it('holds messages for a retry node: take, fail again, give up after the retries, settle', async () => {
        const [a, b] = await store.errorQueue.add(
          [
            { owner: 'n1', message: '{"payload":1}', error: 'e1' },
            { owner: 'n1', message: '{"payload":2}', error: 'e2' },
          ],
          T0,
        );
        await store.errorQueue.add([{ owner: 'n2', message: '{}', error: 'other node' }], T0);
        const taken = await store.errorQueue.take('n1', 2, 10, T0);
        assert.deepEqual(
          taken.map((i) => [i.id, i.status, i.retries]),
          [
            [a, 'retrying', 1],
            [b, 'retrying', 1],
          ],
        );
        assert.equal(await store.errorQueue.fail('n1', a, 'again', 2, T0), 'error');
        assert.equal(await store.errorQueue.settle('n1', T0 + 1, T0 + 1), 1, 'b did not come back: done');
        await store.errorQueue.take('n1', 2, 10, T0 + 2);
        assert.equal(await store.errorQueue.fail('n1', a, 'still', 2, T0 + 3), 'failed');
        assert.deepEqual(await store.errorQueue.count('n1'), { error: 0, retrying: 0, processed: 1, failed: 1 });
        assert.equal(await store.errorQueue.fail('n2', a, 'not mine', 2, T0), undefined, 'another node cannot touch it');
      });

      it('after a restart, held messages that were out are held again', async () => {
        await store.errorQueue.add([{ owner: 'n1', message: '{}', error: 'e' }], T0);
        await store.errorQueue.take('n1', 5, 10, T0);
        assert.equal(await store.errorQueue.reset('n1', T0), 1);
        assert.equal((await store.errorQueue.take('n1', 5, 10, T0)).length, 1);
      });

      it('purges by status and age in bounded batches, never what is in flight, and keeps for ever on 0', async () => {
        const DAY = 86_400_000;
        const old = T0;
        const q = await store.outbound.enqueue(
          Array.from({ length: 5 }, (_, i) => ({ remoteSystem: 'B', message: draft('t', `p${i}`) })),
          old,
        );
        const rows = await store.outbound.claim('B', 3, old, 'w', 60_000);
        await store.outbound.markProcessed(rows.slice(0, 2).map((r) => r.id), old);
        // Now: 2 processed, 1 processing, 2 ready; all old.
        const policy = { processedMs: DAY, skippedMs: DAY, errorMs: DAY, readyMs: 0 };
        const first = await store.retention.purge(policy, old + 2 * DAY, 1);
        assert.deepEqual([first.outbound, first.more], [1, true]);
        const second = await store.retention.purge(policy, old + 2 * DAY, 1);
        assert.equal(second.outbound, 1);
        assert.deepEqual(await store.outbound.count('B'), { ready: 2, processing: 1, processed: 0, error: 0, skipped: 0 });
        const withReady = await store.retention.purge({ ...policy, readyMs: DAY }, old + 2 * DAY, 100);
        assert.equal(withReady.outbound, 2, 'ready rows too once the policy says so');
        assert.equal((await store.outbound.count('B')).processing, 1, 'never a row in flight');
        assert.ok(q.length === 5);
      });
    });

    describe('inbound queue', () => {
      it('accepts a message once per remote system: a repeat is a duplicate', async () => {
        const m = received('t', 'x', 1);
        assert.deepEqual(await store.inbound.accept('A', [m], T0), ['accepted']);
        assert.deepEqual(await store.inbound.accept('A', [m, received('t', 'y', 1)], T0), ['duplicate', 'accepted']);
        assert.deepEqual(await store.inbound.accept('C', [m], T0), ['accepted'], 'another remote is another queue');
        assert.deepEqual(await store.inbound.count('A'), { ready: 2, processing: 0, processed: 0, error: 0, skipped: 0 });
      });

      it('emits one message per record at a time, in sequence order', async () => {
        await store.inbound.accept('A', [received('t', 'x', 2), received('t', 'x', 1), received('t', 'y', 1)], T0);
        const c1 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 30_000 });
        assert.deepEqual(
          c1.rows.map((r) => [r.sourceId, r.sequence]),
          [
            ['x', 1],
            ['y', 1],
          ],
        );
        const c2 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 30_000 });
        assert.deepEqual(c2.rows, [], 'x#2 waits for x#1');
        const x1 = c1.rows[0];
        assert.deepEqual(await store.inbound.finish([{ id: x1.id, attempt: x1.attempts, status: 'processed' }], T0), ['finished']);
        const c3 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 30_000 });
        assert.deepEqual(
          c3.rows.map((r) => [r.sourceId, r.sequence]),
          [['x', 2]],
        );
      });

      it('waits for a missing sequence, then goes ahead after the gap wait', async () => {
        await store.inbound.accept('A', [received('t', 'x', 2)], T0);
        const early = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0 + 1000, owner: 'o', gapWaitMs: 5000 });
        assert.deepEqual(early.rows, []);
        assert.equal(early.waitingUntil, T0 + 5000);
        const late = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0 + 5000, owner: 'o', gapWaitMs: 5000 });
        assert.equal(late.rows.length, 1);
      });

      it('a record waiting for a missing sequence does not hold back other records', async () => {
        await store.inbound.accept('A', [received('t', 'x', 2), received('t', 'z', 3), received('t', 'y', 1)], T0);
        const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 5000 });
        assert.deepEqual(
          c.rows.map((r) => r.sourceId),
          ['y'],
        );
        const next = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 5000 });
        assert.deepEqual(next.rows, []);
        assert.equal(next.waitingUntil, T0 + 5000);
      });

      it('skips a message at or below the last applied sequence as stale', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1)], T0);
        const [x1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
        await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'processed' }], T0);
        await store.inbound.accept('A', [received('t', 'x', 1)], T0);
        const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
        assert.deepEqual(c.rows, []);
        assert.equal(c.stale.length, 1);
        assert.equal((await store.inbound.get(c.stale[0].id))?.status, 'skipped');
      });

      it('an error holds back later messages of the record, not of others', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'x', 2), received('t', 'y', 1)], T0);
        const c1 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
        const x1 = c1.rows.find((r) => r.sourceId === 'x');
        assert.ok(x1);
        await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'error', error: 'write failed' }], T0);
        const c2 = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
        assert.deepEqual(c2.rows, []);
        const row = await store.inbound.get(x1.id);
        assert.equal(row?.status, 'error');
        assert.equal(row?.lastError, 'write failed');
      });

      it('only the attempt that is out can finish a message', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1)], T0);
        const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
        assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts + 1, status: 'processed' }], T0), ['stale']);
        assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0), ['finished']);
        assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0), ['stale'], 'not twice');
      });

      it('a late completion still finishes a message that timed out', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1)], T0);
        const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
        const expired = await store.inbound.expire('A', 'PE', T0 + 1, 'timeout', T0 + 1);
        assert.deepEqual(
          expired.map((r) => r.id),
          [row.id],
        );
        assert.equal((await store.inbound.get(row.id))?.lastError, 'timeout');
        assert.deepEqual(await store.inbound.finish([{ id: row.id, attempt: row.attempts, status: 'processed' }], T0 + 2), ['finished']);
      });

      it('processing creates the correlation and queues one reply; a delete deactivates it', async () => {
        await store.inbound.accept('A', [received('inc', 'r1', 1), received('inc', 'r1', 2)], T0);
        const reply = draft('case', 'L1', { kind: 'correlation', operation: 'insert', target: { table: 'inc', id: 'r1' } });
        const [m1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
        await store.inbound.finish([{ id: m1.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply }], T0);
        const link = await store.correlations.byRemote('A', 'inc', 'r1');
        assert.equal(link?.localId, 'L1');
        assert.equal((await store.correlations.byLocal('A', 'case', 'L1'))?.remoteId, 'r1');
        const [m2] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
        const reply2 = { ...reply, id: 'another-reply' };
        await store.inbound.finish([{ id: m2.id, attempt: 1, status: 'processed', local: { table: 'case', id: 'L1' }, reply: reply2, deactivate: true }], T0);
        assert.equal((await store.correlations.byRemote('A', 'inc', 'r1'))?.state, 'inactive');
        const out = await store.outbound.claim('A', 10, T0, 'w', 1000);
        assert.deepEqual(
          out.map((r) => r.messageId),
          [reply.id],
          'one reply for the new link only',
        );
      });

      it('a correlation message links the records on arrival', async () => {
        const m = received('case', 'L9', 1, { kind: 'correlation', target: { table: 'inc', id: 'mine-1' } });
        assert.deepEqual(await store.inbound.accept('B', [m], T0), ['accepted']);
        const link = await store.correlations.byLocal('B', 'inc', 'mine-1');
        assert.deepEqual([link?.remoteTable, link?.remoteId, link?.state], ['case', 'L9', 'active']);
        const claim = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 0 });
        assert.deepEqual(claim.rows, [], 'nothing for the flow to do');
        // The reply used sequence 1 of that record: its next change (2) is not a gap.
        await store.inbound.accept('B', [received('case', 'L9', 2)], T0);
        const next = await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 10, now: T0, owner: 'o', gapWaitMs: 60_000 });
        assert.equal(next.rows.length, 1);
      });

      it('a new sender stream starts at 1 again without its messages taken for old ones', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1, { stream: 'old' }), received('t', 'x', 2, { stream: 'old' })], T0);
        for (let i = 0; i < 2; i++) {
          const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
          await store.inbound.finish([{ id: row.id, attempt: 1, status: 'processed' }], T0);
        }
        await store.inbound.accept('A', [received('t', 'x', 1, { stream: 'new' })], T0);
        const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
        assert.deepEqual(c.stale, []);
        assert.deepEqual(
          c.rows.map((r) => [r.stream, r.sequence]),
          [['new', 1]],
        );
      });

      it('a correlation message that overtakes a change of its record does not make that change stale', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1)], T0);
        await store.inbound.accept('A', [received('t', 'x', 2, { kind: 'correlation', target: { table: 'mine', id: 'm1' } })], T0);
        const [change1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
        assert.equal(change1?.sequence, 1, 'the change is still emitted');
        await store.inbound.finish([{ id: change1.id, attempt: 1, status: 'processed' }], T0);
        // The cursor moved over the correlation message: sequence 3 is next, not a gap.
        await store.inbound.accept('A', [received('t', 'x', 3)], T0);
        const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
        assert.deepEqual(
          c.rows.map((r) => r.sequence),
          [3],
        );
      });

      it('skipping a waiting message out of turn does not drop the earlier one when it is reprocessed', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1), received('t', 'x', 2), received('t', 'x', 3)], T0);
        const [x1] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 })).rows;
        await store.inbound.finish([{ id: x1.id, attempt: 1, status: 'error', error: 'boom' }], T0);
        const all = await store.inbound.list({ remoteSystem: 'A', limit: 10 });
        const x2 = all.find((r) => r.sequence === 2);
        assert.ok(x2);
        assert.deepEqual(await store.inbound.skip({ ids: [x2.id] }, T0), [x2.id]);
        await store.inbound.requeue({ ids: [x1.id] }, true, T0);
        const again = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
        assert.deepEqual(again.stale, [], 'sequence 1 is not stale');
        assert.deepEqual(
          again.rows.map((r) => r.sequence),
          [1],
        );
        await store.inbound.finish([{ id: again.rows[0].id, attempt: 2, status: 'processed' }], T0);
        const last = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'o', gapWaitMs: 60_000 });
        assert.deepEqual(
          last.rows.map((r) => r.sequence),
          [3],
          'then 3, over the skipped 2, without a gap wait',
        );
      });

      it('a restart emits again what was in the flow when the process died', async () => {
        await store.inbound.accept('A', [received('t', 'x', 1)], T0);
        const [row] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o', gapWaitMs: 0 })).rows;
        store = await factory.reopen(store);
        const [again] = (await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'o2', gapWaitMs: 0 })).rows;
        assert.equal(again.id, row.id);
        assert.equal(again.attempts, 2, 'the second emission is counted, so the flow can tell');
      });
    });

    describe('values and issued refresh tokens', () => {
      it('keeps values across a restart, and the first initValue wins', async () => {
        assert.equal(await store.values.read('k'), undefined);
        await store.values.write('k', 'v1', T0);
        await store.values.write('k', 'v2', T0);
        assert.equal(await store.values.init('key', 'first', T0), 'first');
        assert.equal(await store.values.init('key', 'second', T0), 'first');
        store = await factory.reopen(store);
        assert.equal(await store.values.read('k'), 'v2');
        assert.equal(await store.values.read('key'), 'first');
        await store.values.write('k', undefined, T0);
        assert.equal(await store.values.read('k'), undefined);
      });

      it('lists values by key prefix, in key order, taking the prefix literally', async () => {
        for (const key of ['oauth-token:b', 'oauth-token:a', 'oauth-tokenX', 'other', 'a_b', 'axb', '100%', '1000']) await store.values.write(key, `v ${key}`, T0);
        assert.deepEqual(await store.values.list('oauth-token:'), [
          { key: 'oauth-token:a', value: 'v oauth-token:a' },
          { key: 'oauth-token:b', value: 'v oauth-token:b' },
        ]);
        assert.deepEqual((await store.values.list('a_')).map((v) => v.key), ['a_b'], '_ is no wildcard');
        assert.deepEqual((await store.values.list('100%')).map((v) => v.key), ['100%'], '% is no wildcard');
        assert.deepEqual((await store.values.list('other')).map((v) => v.key), ['other'], 'a whole key is its own prefix');
        assert.deepEqual(await store.values.list('none:'), []);
      });

      it('replaces values that still hold what was read, in one call, and nothing else (compare-and-set)', async () => {
        await store.values.write('s1', 'plain 1', T0);
        await store.values.write('s2', 'plain 2', T0);
        await store.values.write('s3', 'plain 3', T0);
        // s2 changed since it was read (a rotated token): it stays; a missing key is not created.
        await store.values.write('s2', 'rotated 2', T0);
        const replaced = await store.values.replace(
          [
            { key: 's1', expected: 'plain 1', value: 'sealed 1' },
            { key: 's2', expected: 'plain 2', value: 'sealed 2' },
            { key: 's3', expected: 'plain 3', value: 'sealed 3' },
            { key: 'gone', expected: 'x', value: 'y' },
          ],
          T0,
        );
        assert.deepEqual([...replaced].sort(), ['s1', 's3']);
        assert.deepEqual(await store.values.replace([], T0), []);
        store = await factory.reopen(store);
        assert.deepEqual(await store.values.list('s'), [
          { key: 's1', value: 'sealed 1' },
          { key: 's2', value: 'rotated 2' },
          { key: 's3', value: 'sealed 3' },
        ]);
        assert.equal(await store.values.read('gone'), undefined);
        // Two callers that read the same value: the first one's replacement wins, the second finds it changed.
        const [first, second] = await Promise.all([
          store.values.replace([{ key: 's1', expected: 'sealed 1', value: 'mine' }], T0),
          store.values.replace([{ key: 's1', expected: 'sealed 1', value: 'theirs' }], T0),
        ]);
        assert.deepEqual([first.length + second.length, await store.values.read('s1')], [1, first.length === 1 ? 'mine' : 'theirs']);
      });

      const presented = (hash: string) => ({ hash, remoteSystem: 'A', credential: 'c1' });

      it('rotates a refresh token once; presenting it again revokes the whole family', async () => {
        await store.refreshTokens.add({ hash: 'h1', remoteSystem: 'A', family: 'f', credential: 'c1', expiresAt: T0 + 1000 }, T0, 10);
        const first = await store.refreshTokens.rotate(presented('h1'), { hash: 'h2', expiresAt: T0 + 2000 }, T0, 100);
        assert.equal(first.status, 'rotated');
        // Within the grace time it is a retry (a lost answer): it gets a successor too.
        assert.equal((await store.refreshTokens.rotate(presented('h1'), { hash: 'h1b', expiresAt: T0 + 2000 }, T0 + 50, 100)).status, 'rotated');
        assert.deepEqual(await store.refreshTokens.rotate(presented('h1'), { hash: 'h3', expiresAt: T0 + 2000 }, T0 + 101, 100), { status: 'reused' });
        // The replay took the successor with it: whoever holds h2 must get a new grant.
        assert.deepEqual(await store.refreshTokens.rotate(presented('h2'), { hash: 'h4', expiresAt: T0 + 2000 }, T0 + 101, 100), { status: 'unknown' });
      });

      it('keeps the newest grants of a remote system only', async () => {
        for (let i = 0; i < 5; i++) {
          await store.refreshTokens.add({ hash: `g${i}`, remoteSystem: 'A', family: `f${i}`, credential: 'c1', expiresAt: T0 + 1000 + i }, T0, 3);
        }
        await store.refreshTokens.add({ hash: 'other', remoteSystem: 'B', family: 'fb', credential: 'c1', expiresAt: T0 + 1 }, T0, 3);
        const status = async (hash: string, remoteSystem = 'A') =>
          (await store.refreshTokens.rotate({ hash, remoteSystem, credential: 'c1' }, { hash: `${hash}-next`, expiresAt: T0 + 2000 }, T0, 0)).status;
        assert.deepEqual([await status('g0'), await status('g1'), await status('g4')], ['unknown', 'unknown', 'rotated']);
        assert.equal(await status('other', 'B'), 'rotated', 'other remote systems keep theirs');
      });

      it('refuses an expired token, one of another remote system, and one issued for an old credential', async () => {
        await store.refreshTokens.add({ hash: 'old', remoteSystem: 'A', family: 'f1', credential: 'c1', expiresAt: T0 + 10 }, T0, 10);
        assert.deepEqual(await store.refreshTokens.rotate(presented('old'), { hash: 'n1', expiresAt: T0 + 100 }, T0 + 10, 0), { status: 'expired' });
        await store.refreshTokens.add({ hash: 'a', remoteSystem: 'A', family: 'f2', credential: 'c1', expiresAt: T0 + 1000 }, T0, 10);
        assert.deepEqual(
          await store.refreshTokens.rotate({ hash: 'a', remoteSystem: 'B', credential: 'c1' }, { hash: 'n2', expiresAt: T0 + 100 }, T0, 0),
          { status: 'revoked' },
        );
        await store.refreshTokens.add({ hash: 'b', remoteSystem: 'A', family: 'f3', credential: 'c1', expiresAt: T0 + 1000 }, T0, 10);
        assert.deepEqual(
          await store.refreshTokens.rotate({ hash: 'b', remoteSystem: 'A', credential: 'c2' }, { hash: 'n3', expiresAt: T0 + 100 }, T0, 0),
          { status: 'revoked' },
        );
        assert.deepEqual(await store.refreshTokens.rotate(presented('b'), { hash: 'n4', expiresAt: T0 + 100 }, T0, 0), { status: 'unknown' }, 'revoked for good');
      });
    });
  });
}
