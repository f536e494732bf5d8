/**
 * CaptureMemory: a capture's decisions in the order the changes came, each seeing what
 * the one before it kept, with the store read and written in batches (a real SQLite store).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fields } from '../../src/core/protocol';
import { CaptureMemory } from '../../src/engine/capture-memory';
import type { CaptureStates } from '../../src/store/store';
import { SqliteStore } from '../../src/store/sqlite';

describe('engine/capture-memory', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rps-capture-memory-'));
    store = new SqliteStore(join(dir, 'store.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Counts the store calls, to see that they are batched. */
  function counting(states: CaptureStates): { states: CaptureStates; gets: number[]; puts: number[] } {
    const seen = { gets: [] as number[], puts: [] as number[] };
    return {
      ...seen,
      states: {
        get: (c, t, ids) => (seen.gets.push(ids.length), states.get(c, t, ids)),
        put: (c, t, writes, now) => (seen.puts.push(writes.length), states.put(c, t, writes, now)),
        prune: (c, keep) => states.prune(c, keep),
        clear: (c) => states.clear(c),
      },
    };
  }

  it('decides in the order asked, each decision seeing what the one before kept, in few store calls', async () => {
    await store.captureStates.put('cap', 't', [{ id: 'r1', fields: { v: 0 } }], 1);
    const c = counting(store.captureStates);
    const memory = new CaptureMemory(c.states, 'cap', 't', { onError: (err) => assert.fail(String(err)) });
    const order: string[] = [];
    // Ten changes of r1 and r2, asked at once: each sees the previous value of its record.
    const decisions = Array.from({ length: 10 }, (_, i) => {
      const id = i % 2 === 0 ? 'r1' : 'r2';
      return memory.inTurn(id, (last: Fields | undefined) => {
        order.push(`${id}:${JSON.stringify(last ?? null)}`);
        return { result: i, seen: { v: i + 1 } };
      });
    });
    assert.deepEqual(await Promise.all(decisions), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(order, [
      'r1:{"v":0}', 'r2:null', 'r1:{"v":1}', 'r2:{"v":2}', 'r1:{"v":3}', 'r2:{"v":4}', 'r1:{"v":5}', 'r2:{"v":6}', 'r1:{"v":7}', 'r2:{"v":8}',
    ]);
    await memory.flush();
    assert.deepEqual(c.gets, [2], 'one read for both records');
    assert.ok(c.puts.length <= 2, `writes batched: ${JSON.stringify(c.puts)}`);
    assert.deepEqual([...(await store.captureStates.get('cap', 't', ['r1', 'r2'])).entries()], [['r1', { v: 9 }], ['r2', { v: 10 }]]);
  });

  it('a record forgotten (deleted) starts with nothing known; a failed read fails that decision only', async () => {
    const memory = new CaptureMemory(store.captureStates, 'cap', 't', { onError: (err) => assert.fail(String(err)) });
    await memory.inTurn('r', () => ({ result: 1, seen: { v: 1 } }));
    await memory.inTurn('r', () => ({ result: 2, seen: null }));
    assert.equal(await memory.inTurn('r', (last) => ({ result: last })), undefined);
    await memory.flush();
    assert.equal((await store.captureStates.get('cap', 't', ['r'])).size, 0);

    const failing = new CaptureMemory({ ...store.captureStates, get: () => Promise.reject(new Error('store down')), put: (c, t, w, n) => store.captureStates.put(c, t, w, n), prune: (c, k) => store.captureStates.prune(c, k), clear: (c) => store.captureStates.clear(c) }, 'cap2', 't', { onError: () => undefined });
    await assert.rejects(failing.inTurn('x', () => ({ result: 1 })), /store down/);
    assert.equal(await failing.inTurn(undefined, () => ({ result: 'goes on' })), 'goes on');
  });

  it('a store that cannot be written: the decisions go on, and a failed batch is reported once', async () => {
    const errors: unknown[] = [];
    const down: CaptureStates = {
      get: async () => new Map(),
      put: () => Promise.reject(new Error('store down')),
      prune: async () => 0,
      clear: async () => undefined,
    };
    const memory = new CaptureMemory(down, 'cap', 't', { onError: (err) => errors.push(err) });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => memory.inTurn(`r${i % 3}`, (last) => ({ result: last, seen: { i } }))));
    assert.deepEqual(results.slice(0, 4), [undefined, undefined, undefined, { i: 0 }], 'in memory, the last state still counts');
    await memory.flush();
    assert.equal(errors.length, 1, 'one report for the failed batch');
  });

  it('shared by two processes (one store, the same capture): each decision sees the other process\'s last write', async () => {
    const [p1, p2] = [0, 0].map(() => new CaptureMemory(store.captureStates, 'cap', 't', { shared: true, onError: (err) => assert.fail(String(err)) }));
    const seenBy = async (m: CaptureMemory, state: string): Promise<unknown> => {
      const last = await m.inTurn('x', (l) => ({ result: l, seen: { state } }));
      await m.flush();
      return last;
    };
    assert.equal(await seenBy(p1, 'resolved'), undefined);
    assert.deepEqual(await seenBy(p2, 'new'), { state: 'resolved' });
    assert.deepEqual(await seenBy(p1, 'resolved'), { state: 'new' }, 'not its own memory of resolved');
    // Its own decisions still follow one another before their writes are committed.
    const both = await Promise.all([p1.inTurn('y', () => ({ result: 1, seen: { v: 1 } })), p1.inTurn('y', (l) => ({ result: l }))]);
    assert.deepEqual(both, [1, { v: 1 }]);
  });

  it('keeps at most its bound of records in the store, the most recently changed', async () => {
    let now = 0;
    const timed = new CaptureMemory(store.captureStates, 'cap', 't', { maxKept: 10, now: () => ++now, onError: (err) => assert.fail(String(err)) });
    for (let i = 0; i < 1_005; i++) await timed.inTurn(`r${i}`, () => ({ result: i, seen: { i } }));
    await timed.flush();
    const kept = await store.captureStates.get('cap', 't', Array.from({ length: 1_005 }, (_, i) => `r${i}`));
    assert.ok(kept.size <= 15, `pruned to about 10 (then 5 more written): ${kept.size}`);
    assert.ok(kept.has('r1004'), 'the latest is kept');
  });
});
