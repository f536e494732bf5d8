/**
 * Comments and work notes added on both sides of 20 records, interleaved, 2,000 entries
 * in all, with A killed (SIGKILL) once: each entry appears once on the other side, with
 * its author and time, and none comes back to where it started. Real Node-RED processes;
 * each side's system of record is a RecordsServer, and the test plays the source that
 * emits a record change (with all its entries) whenever the record changes.
 */
import assert from 'node:assert/strict';
import type { JournalEntry } from '../../src/core/protocol';
import { A_TO_B, B_TO_A, duplexFlow } from '../../tools/flows';
import type { FlowNode } from '../../tools/nodered';
import { type ChangeTarget, postChange, queueCounts, stream, untilStores, type PlannedChange } from '../harness/pair';
import { Processes } from '../harness/processes';

const RECORDS = 20;
const ROUNDS = 50;

/** A's or B's duplex flow with journal fields on its capture and the entries written by its inbound flow. */
function journalFlow(flow: FlowNode[], table: string): FlowNode[] {
  return flow.map((node) => {
    if (node.id === 'out-cap') return { ...node, table, idField: 'id', journalFields: ['comments', 'work_notes'] };
    if (node.id === 'api') return { ...node, func: String(node.func).replace('capturedAt: r.capturedAt };', 'capturedAt: r.capturedAt, journal: r.journal };') };
    return node;
  });
}

describe('comments and work notes both ways (real Node-RED processes)', function () {
  this.timeout(300_000);
  const processes = new Processes();

  afterEach(async function () {
    await processes.stopAfter(this.currentTest);
  });

  it('2,000 entries added on both sides, A killed once: each arrives once with author and time, none comes back', async () => {
    const [onA, onB] = await processes.records(2);
    const [a, b] = await processes.nodeRed('A', 'B');
    await a.deploy(journalFlow(duplexFlow({ remoteUrl: b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, recordsUrl: onA.url }), 'item'));
    await b.deploy(journalFlow(duplexFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: onB.url }), 'record'));
    const settled = (what: string): Promise<void> =>
      untilStores(what, () => [a, b].every((i) => ['rps_outbound', 'rps_inbound'].every((t) => { const c = queueCounts(i, t as 'rps_outbound'); return !c.ready && !c.processing; })), 60_000);

    // A's records, in its own system of record; created on B by the sync.
    const ids = Array.from({ length: RECORDS }, (_, i) => `r${i}`);
    for (const id of ids) onA.seed(id);
    const toA: ChangeTarget = { change: (operation, record) => postChange(a, operation, record) };
    const toB: ChangeTarget = { change: (operation, record) => postChange(b, operation, record) };
    await stream(toA, [ids.map((id): PlannedChange => ({ operation: 'insert', record: { id, name: id, n: 0 } }))], 4);
    await onB.waitFor(() => onB.live().length >= RECORDS, 60_000, 'the records on B');
    await settled('the records and their links');
    const twinOnB = new Map(ids.map((id) => [id, onB.bySource.get(`item/${id}`) as string]));

    // Each side's own entries, and a record change as its source emits it: every entry the record holds.
    const own = { a: new Map<string, JournalEntry[]>(), b: new Map<string, JournalEntry[]>() };
    const change = (side: 'a' | 'b', id: string, k: number): PlannedChange => {
      const server = side === 'a' ? onA : onB;
      const entry: JournalEntry = { field: side === 'a' ? 'comments' : 'work_notes', id: `${side}-${id}-${k}`, value: `${side} says ${k}`, author: side === 'a' ? 'alice' : 'bob', createdAt: new Date(Date.UTC(2026, 11, 7, 10, 0, k)).toISOString() };
      const mine = [...(own[side].get(id) ?? []), entry];
      own[side].set(id, mine);
      const all = [...mine, ...(server.records.get(id)?.journal ?? [])];
      return { operation: 'update', record: { id, name: `${id} ${side} ${k}`, n: k, comments: all.filter((e) => e.field === 'comments'), work_notes: all.filter((e) => e.field === 'work_notes') } as never };
    };
    let killed = false;
    const sideA = (async () => {
      for (let k = 1; k <= ROUNDS; k++) {
        await stream(toA, [ids.map((id) => change('a', id, k))], 4, async () => {
          if (!killed && k === ROUNDS / 2) {
            killed = true;
            await a.kill();
            await a.launch();
          }
        });
      }
    })();
    const sideB = (async () => {
      for (let k = 1; k <= ROUNDS; k++) await stream(toB, [ids.map((id) => change('b', twinOnB.get(id) as string, k))], 4);
    })();
    await Promise.all([sideA, sideB]);
    assert.ok(killed, 'A was killed during the run');
    // The last state of every record, entries included, emitted once more on each side: an echo would show now.
    await settled('the entries');
    await Promise.all([
      stream(toA, [ids.map((id) => ({ operation: 'update', record: { id, name: 'final', n: -1, comments: [...(own.a.get(id) ?? []), ...(onA.records.get(id)?.journal ?? [])].filter((e) => e.field === 'comments'), work_notes: (onA.records.get(id)?.journal ?? []).filter((e) => e.field === 'work_notes') } as never }))], 4),
      stream(toB, [ids.map((id) => { const t = twinOnB.get(id) as string; return { operation: 'update' as const, record: { id: t, name: 'final', n: -1, comments: (onB.records.get(t)?.journal ?? []).filter((e) => e.field === 'comments'), work_notes: [...(own.b.get(t) ?? []), ...(onB.records.get(t)?.journal ?? [])].filter((e) => e.field === 'work_notes') } as never }; })], 4),
    ]);
    await settled('the last changes');

    let entries = 0;
    for (const id of ids) {
      const t = twinOnB.get(id) as string;
      const receivedOnB = onB.records.get(t)?.journal ?? [];
      const receivedOnA = onA.records.get(id)?.journal ?? [];
      assert.deepEqual(receivedOnB, own.a.get(id), `B has each of A's entries of ${id} once, with author and time, and none of its own`);
      assert.deepEqual(receivedOnA, own.b.get(t), `A has each of B's entries of ${id} once, and none of its own`);
      entries += receivedOnA.length + receivedOnB.length;
    }
    assert.equal(entries, RECORDS * ROUNDS * 2);
  });
});
