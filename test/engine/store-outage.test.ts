/**
 * The engine while its store cannot be reached (a PostgreSQL server restarting): every
 * store call fails with StoreUnavailableError for a while, then works again. The sender
 * and the dispatcher must go on by themselves once it is back, without a new message to
 * wake them, and a message the flow finished meanwhile must be recorded, not timed out
 * and emitted again. The store here is SQLite behind a switch; the PostgreSQL server's
 * own restarts are tested in test/store/postgres-restart.test.ts and test/e2e/pg-restart.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../src/core/protocol';
import type { InboundDelivery, Inbox, InboxOptions } from '../../src/engine/inbox';
import type { DeliveryClient, Outbox } from '../../src/engine/outbox';
import { StoreUnavailableError } from '../../src/store/opening';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { draft } from '../store/contract';
import { testInbox, testOutbox, untilOutbox } from './support';

/** A store whose every call fails as "unreachable" while `down` is set, and counts those calls. */
function switchable(store: Store): { store: Store; down: boolean; failedCalls: number } {
  const state = { store, down: false, failedCalls: 0 };
  const failing = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, name, receiver) {
        const value = Reflect.get(t, name, receiver) as unknown;
        // A concern (store.outbound, store.inbound, ...): its operations fail too.
        if (typeof value === 'object' && value !== null && t === store) return failing(value);
        if (typeof value !== 'function' || name === 'close') return value;
        return (...args: unknown[]) => {
          if (state.down) {
            state.failedCalls += 1;
            return Promise.reject(new StoreUnavailableError('the PostgreSQL server cannot be reached: connect ECONNREFUSED'));
          }
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  state.store = failing(store);
  return state;
}

/** Resolves once `n` more store calls have failed: the engine has tried while the store was away. */
async function failedCallsReach(s: { failedCalls: number }, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (s.failedCalls < n) {
    assert.ok(Date.now() < deadline, `only ${s.failedCalls} store calls were tried while it was away`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const accepting: DeliveryClient = {
  async postMessages(_body, ids) {
    return { kind: 'delivered', results: ids.map((id) => ({ id, status: 'accepted' as const })) };
  },
  async probe() {
    return { ok: true };
  },
};

describe('engine while the store cannot be reached', function () {
  this.timeout(30_000);
  let sqlite: SqliteStore;
  let inbox: Inbox | undefined;
  let outbox: Outbox | undefined;
  beforeEach(() => {
    sqlite = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-outage-')), 'store.sqlite'));
  });
  afterEach(async () => {
    await inbox?.stop();
    await outbox?.stop();
    inbox = outbox = undefined;
    await sqlite.close();
  });

  const message = (id: string, sequence: number): Message => ({ ...draft('t', id), sequence });
  /** No gap wait: every record here starts at sequence 1. */
  const inboxFor = (store: Store, options: Partial<InboxOptions>): Inbox => testInbox(store, { gapWaitMs: 0, timeoutError: 'processing timeout', ...options });

  it('a sender started while the store is away sends, once it is back, what waited in the queue', async () => {
    await sqlite.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', 'x') }], Date.now());
    const s = switchable(sqlite);
    s.down = true;
    outbox = testOutbox(s.store, accepting);
    const faults: Error[] = [];
    outbox.on('fault', (err) => faults.push(err));
    await outbox.start();
    await failedCallsReach(s, 2);
    s.down = false;
    // Nothing new is queued: the sender's own timer must find the row.
    const counts = await untilOutbox(sqlite, outbox, (c) => c.processed === 1);
    assert.equal(counts.ready, 0);
    assert.ok(faults.every((f) => f instanceof StoreUnavailableError));
  });

  it('a dispatcher started while the store is away emits, once it is back, and still times out a flow that never finishes', async () => {
    await sqlite.inbound.accept('A', [message('x', 1), message('y', 1)], Date.now());
    const s = switchable(sqlite);
    s.down = true;
    const emitted: InboundDelivery[] = [];
    let both = (): void => undefined;
    const bothEmitted = new Promise<void>((resolve) => (both = resolve));
    inbox = inboxFor(s.store, {
      processingTimeoutMs: 400,
      emit: (d) => {
        if (emitted.push(d) === 2) both();
      },
    });
    await inbox.start();
    await failedCallsReach(s, 2);
    assert.equal(emitted.length, 0);
    s.down = false;
    const timedOut = once(inbox, 'timeout');
    // Nothing new arrives: the dispatcher's own timer must claim them. x is finished by its flow; y never is.
    await bothEmitted;
    const x = emitted.find((d) => d.message.source.id === 'x');
    assert.ok(x);
    assert.equal(await inbox.finish({ id: x.row.id, attempt: x.attempt, status: 'processed' }), 'finished');
    const [rows] = (await timedOut) as [{ id: number }[]];
    assert.deepEqual(
      rows.map((r) => r.id),
      [emitted.find((d) => d.message.source.id === 'y')?.row.id],
      'the processing timeout is enforced',
    );
    assert.equal((await sqlite.inbound.get(x.row.id))?.status, 'processed');
  });

  it('a message finished while the store is away is recorded once it is back: not timed out, not emitted again', async () => {
    await sqlite.inbound.accept('A', [message('x', 1), message('x', 2)], Date.now());
    const s = switchable(sqlite);
    const emitted: InboundDelivery[] = [];
    let wake = (): void => undefined;
    inbox = inboxFor(s.store, {
      processingTimeoutMs: 2000,
      emit: (d) => {
        emitted.push(d);
        wake();
      },
    });
    const first = new Promise<void>((resolve) => (wake = resolve));
    await inbox.start();
    await first;
    const [d1] = emitted;
    s.down = true;
    const finished = inbox.finish({ id: d1.row.id, attempt: d1.attempt, status: 'processed' });
    await failedCallsReach(s, 3);
    assert.equal(emitted.length, 1, 'x#2 waits behind x#1');
    const second = new Promise<void>((resolve) => (wake = resolve));
    s.down = false;
    assert.equal(await finished, 'finished', 'the outcome is recorded once the store is back');
    await second;
    assert.deepEqual(
      emitted.map((d) => [d.message.sequence, d.attempt]),
      [
        [1, 1],
        [2, 1],
      ],
      'x#1 is not emitted again; x#2 follows',
    );
    const row = await sqlite.inbound.get(d1.row.id);
    assert.equal(row?.status, 'processed');
    assert.equal(row?.attempts, 1);
  });
});
