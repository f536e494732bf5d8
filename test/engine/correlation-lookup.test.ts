/**
 * CorrelationLookup: lookups and state changes of many messages in few store calls, each
 * answered as if made one by one in the order asked (a real SQLite store).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorrelationLookup } from '../../src/engine/correlation-lookup';
import type { Correlations } from '../../src/store/store';
import { SqliteStore } from '../../src/store/sqlite';
import { received } from '../store/contract/support';

describe('engine/correlation-lookup', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rps-correlation-lookup-'));
    store = new SqliteStore(join(dir, 'store.sqlite'));
    // Remote B tells us its case L1 is the twin of our inc m1, and L2 of m2.
    const link = (remote: string, local: string) => received('case', remote, 1, { kind: 'correlation', target: { table: 'inc', id: local } });
    assert.deepEqual(await store.inbound.accept('B', [link('L1', 'm1'), link('L2', 'm2')], 1000), ['accepted', 'accepted']);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Counts the store calls, to see that they are batched. */
  function counting(c: Correlations): { correlations: Correlations; calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      correlations: {
        byLocal: (keys) => (calls.push(`byLocal ${keys.length}`), c.byLocal(keys)),
        byRemote: (keys) => (calls.push(`byRemote ${keys.length}`), c.byRemote(keys)),
        setState: (side, changes, now) => (calls.push(`setState ${side} ${changes.length}`), c.setState(side, changes, now)),
      },
    };
  }

  const m = (id: string) => ({ table: 'inc', id });

  it('answers lookups and state changes of one tick in order, as one by one, in two store calls', async () => {
    const { correlations, calls } = counting(store.correlations);
    const lookup = new CorrelationLookup(correlations, 500, undefined, () => 5000);
    const answers = await Promise.all([
      lookup.byLocal('B', m('m1')),
      lookup.byLocal('B', m('m1'), 'inactive'),
      lookup.byLocal('B', m('m1')),
      lookup.byLocal('B', m('m2')),
      lookup.byLocal('B', m('m1'), 'active'),
      lookup.byLocal('B', m('m1')),
      lookup.byLocal('B', m('none'), 'active'),
    ]);
    assert.deepEqual(
      answers.map((c) => c && [c.localId, c.state]),
      [['m1', 'active'], ['m1', 'inactive'], ['m1', 'inactive'], ['m2', 'active'], ['m1', 'active'], ['m1', 'active'], undefined],
    );
    assert.deepEqual(calls, ['byLocal 7', 'setState local 3']);
    const stored = await store.correlations.byLocal([{ remoteSystem: 'B', table: 'inc', id: 'm1' }]);
    assert.equal(stored[0]?.state, 'active', 'the last state asked for is stored');
  });

  it('a batch without state changes is one lookup; a state change by the remote record is stored and seen by the next lookup', async () => {
    const { correlations, calls } = counting(store.correlations);
    const lookup = new CorrelationLookup(correlations);
    assert.equal((await lookup.byRemote('B', { table: 'case', id: 'L2' }))?.localId, 'm2');
    assert.deepEqual(calls, ['byRemote 1']);
    assert.equal((await lookup.byRemote('B', { table: 'case', id: 'L2' }, 'inactive'))?.state, 'inactive');
    assert.equal((await lookup.byLocal('B', m('m2')))?.state, 'inactive');
  });
});
