import assert from 'node:assert/strict';
import { type InboundOutcome, planCorrelations, planFinish, staleReason } from '../../src/core/inbound-finish';
import type { MessageDraft } from '../../src/core/protocol';

const reply = { id: 'r' } as MessageDraft;
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
    assert.deepEqual(plan.replies, [{ remoteSystem: 'A', message: reply }]);
  });

  it('says why a stale message was skipped', () => {
    assert.equal(staleReason(3, 5), 'stale: sequence 3 is at or below 5, already applied');
  });
});
