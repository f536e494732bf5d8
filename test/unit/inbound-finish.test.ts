import assert from 'node:assert/strict';
import { type CorrelationChanges, type CorrelationWrite, type InboundOutcome, netCorrelationChanges, planCorrelations, planFinish, staleReason } from '../../src/core/inbound-finish';
import type { MessageDraft } from '../../src/core/protocol';

const reply = { id: 'r' } as MessageDraft;
type Row = { remoteSystem: string; local: string; remote: string; state: 'active' | 'inactive' };

/** The links as a store holds them after writes one by one (the meaning of each write). */
function oneByOne(table: readonly Row[], writes: readonly CorrelationWrite[]): Row[] {
  let rows = table.map((r) => ({ ...r }));
  for (const w of writes) {
    if (w.kind === 'deactivate') {
      for (const r of rows) if (r.remoteSystem === w.remoteSystem && r.remote === w.source.id) r.state = 'inactive';
      continue;
    }
    rows = rows.filter((r) => r.remoteSystem !== w.remoteSystem || (r.local !== w.local.id && r.remote !== w.source.id));
    rows.push({ remoteSystem: w.remoteSystem, local: w.local.id, remote: w.source.id, state: 'active' });
  }
  return rows;
}

/** The links after the net changes applied in their three steps. */
function netOf(table: readonly Row[], c: CorrelationChanges): Row[] {
  let rows = table.map((r) => ({ ...r }));
  for (const d of c.deactivations) for (const r of rows) if (r.remoteSystem === d.remoteSystem && r.remote === d.source.id) r.state = 'inactive';
  rows = rows.filter((r) => !c.cleared.some((p) => p.remoteSystem === r.remoteSystem && (p.local.id === r.local || p.source.id === r.remote)));
  return [...rows, ...c.links.map((l) => ({ remoteSystem: l.remoteSystem, local: l.local.id, remote: l.source.id, state: l.state }))];
}

const sorted = (rows: Row[]): Row[] => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

const processed = (id: number, local?: { table: string; id: string }, extra: Partial<InboundOutcome> = {}): InboundOutcome => ({ id, attempt: 1, status: 'processed', local, ...extra });

describe('inbound finish rules', () => {
  it('only the attempt that is out finishes a row; a later outcome of a batch sees the earlier one', () => {
    const rows = new Map([
      [1, { id: 1, attempts: 1, status: 'processing' }],
      [2, { id: 2, attempts: 2, status: 'processing' }],
      [3, { id: 3, attempts: 1, status: 'error' }],
    ]);
    const plan = planFinish(
      [
        { id: 1, attempt: 1, status: 'error', error: 'e' },
        { id: 1, attempt: 1, status: 'processed' },
        { id: 1, attempt: 1, status: 'processed' },
        { id: 2, attempt: 1, status: 'processed' },
        { id: 3, attempt: 1, status: 'error' },
        { id: 4, attempt: 1, status: 'processed' },
      ],
      rows,
    );
    assert.deepEqual(plan.results, ['finished', 'finished', 'stale', 'stale', 'finished', 'stale']);
    assert.deepEqual(plan.errors, [{ id: 3, error: 'error', kind: 'flow' }]);
    assert.deepEqual(plan.processed.map((p) => p.row.id), [1]);
  });

  it('links and replies only when the link changes, each outcome seeing the links of the ones before', () => {
    const source = (id: string) => ({ table: 'rt', id });
    const plan = planCorrelations([
      // Linked already to l1: nothing to write.
      { outcome: processed(1, { table: 'lt', id: 'l1' }, { reply }), remoteSystem: 'A', source: source('s1'), current: { localTable: 'lt', localId: 'l1', state: 'active' } },
      // s2 takes l1: s1's link is gone.
      { outcome: processed(2, { table: 'lt', id: 'l1' }, { reply }), remoteSystem: 'A', source: source('s2'), current: undefined },
      // So s1 applied to l1 again is a change.
      { outcome: processed(3, { table: 'lt', id: 'l1' }), remoteSystem: 'A', source: source('s1'), current: { localTable: 'lt', localId: 'l1', state: 'active' } },
      // A delete deactivates; the next change of the record links it again.
      { outcome: processed(4, { table: 'lt', id: 'l1' }, { deactivate: true }), remoteSystem: 'A', source: source('s1'), current: undefined },
      { outcome: processed(5, { table: 'lt', id: 'l1' }), remoteSystem: 'A', source: source('s1'), current: undefined },
    ]);
    assert.deepEqual(plan.writes, [
      { kind: 'link', remoteSystem: 'A', local: { table: 'lt', id: 'l1' }, source: source('s2') },
      { kind: 'link', remoteSystem: 'A', local: { table: 'lt', id: 'l1' }, source: source('s1') },
      { kind: 'deactivate', remoteSystem: 'A', source: source('s1') },
      { kind: 'link', remoteSystem: 'A', local: { table: 'lt', id: 'l1' }, source: source('s1') },
    ]);
    assert.deepEqual(
      plan.replies.map((r) => [r.remoteSystem, r.message, r.outcome.id]),
      [['A', reply, 2]],
    );
  });

  it('the net changes of a batch of writes leave the links that writing them one by one leaves (random batches over a few records)', () => {
    // A fixed pseudo-random sequence (xorshift), so a failure can be replayed.
    let seed = 7;
    const next = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)];
    const systems = ['A', 'B'];
    const records = ['1', '2', '3', '4'];
    for (let round = 0; round < 2000; round++) {
      // A stored table that keeps the two rules: one link per local record and one per remote record, per system.
      const table: Row[] = [];
      for (const remoteSystem of systems) {
        for (const remote of records) {
          const local = pick(records);
          if (next(3) === 0 || table.some((r) => r.remoteSystem === remoteSystem && r.local === local)) continue;
          table.push({ remoteSystem, local, remote, state: next(4) === 0 ? 'inactive' : 'active' });
        }
      }
      const writes: CorrelationWrite[] = Array.from({ length: next(8) }, (): CorrelationWrite => {
        const remoteSystem = pick(systems);
        const source = { table: 'rt', id: pick(records) };
        return next(3) === 0 ? { kind: 'deactivate', remoteSystem, source } : { kind: 'link', remoteSystem, local: { table: 'lt', id: pick(records) }, source };
      });
      assert.deepEqual(sorted(netOf(table, netCorrelationChanges(writes))), sorted(oneByOne(table, writes)), JSON.stringify({ table, writes }));
    }
  });

  it('says why a stale message was skipped', () => {
    assert.equal(staleReason(3, 5), 'stale: sequence 3 is at or below 5, already applied');
  });
});
