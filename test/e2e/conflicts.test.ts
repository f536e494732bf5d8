/**
 * Two-way edits that converge (real Node-RED processes): 200 records, both sides edit the
 * same fields of the same records at once for 60 s, each side killed once with SIGKILL.
 * Each side's system of record is a RecordsServer whose change feed (ChangeFeed) reports
 * every write, the inbound flow's included, to that side's capture, in order, as a
 * database trigger would. Both sides use the default conflict policy (last writer wins).
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { FieldConflict } from '../../src/core/conflict';
import { A_TO_B, B_TO_A, duplexFlow } from '../../tools/flows';
import type { FlowNode, NodeRedInstance } from '../../tools/nodered';
import { ChangeFeed } from '../harness/change-feed';
import { queueCounts, untilStores } from '../harness/pair';
import { Processes } from '../harness/processes';
import type { RecordsServer } from '../harness/records';

const RECORDS = 200;
const EDIT_MS = 60_000;
const EDITS_PER_SIDE = 2_500;
/** The fields both sides edit, and their names on the wire (the flows' maps). */
const FIELDS = ['name', 'n'] as const;
const WIRE: Record<string, string> = { title: 'name', n: 'n' };

/**
 * A side's duplex flow, as a two-way integration wires it: the change feed's
 * `{operation, record, previous, origin}` into a capture that keeps field times (table
 * `record`, the table its inbound flow links records in), the inbound flow's writes
 * marked with the remote system they came from, and the feed answered once the send node
 * is done with the change (queued, or not sent back to where it came from).
 */
function twoWayFlow(flow: FlowNode[]): FlowNode[] {
  const unpack = 'const b = msg.payload; msg.operation = b.operation; msg.previous = b.previous; if (b.origin) msg.rps = { origin: b.origin }; msg.payload = b.record; return msg;';
  return [
    ...flow.map((node) => {
      if (node.id === 'out-unpack') return { id: node.id, type: 'function', z: node.z, func: unpack, outputs: 1, x: node.x, y: node.y, wires: node.wires };
      if (node.id === 'out-cap') return { ...node, table: 'record', idField: 'id', fieldTimes: true };
      if (node.id === 'out-snd') return { ...node, wires: [[]] };
      if (node.id === 'api') return { ...node, func: String(node.func).replace('capturedAt: r.capturedAt };', 'capturedAt: r.capturedAt, origin: r.remoteSystem };') };
      return node;
    }),
    { id: 'out-sent', type: 'complete', z: 'out-tab-sender', scope: ['out-snd'], x: 850, y: 160, wires: [['out-answer']] },
    { id: 'out-answer', type: 'function', z: 'out-tab-sender', func: 'msg.payload = { queued: Boolean(msg.rps && msg.rps.queued) }; return msg;', outputs: 1, x: 950, y: 160, wires: [['out-ok']] },
  ];
}

interface SideFigures {
  changeMessages: number;
  replies: number;
  conflicts: number;
  rows: { messageId: string; changedFields: string[]; conflicts: FieldConflict[] }[];
}

/** What a side's store says it sent and decided. */
function figures(instance: NodeRedInstance): SideFigures {
  const db = new Database(join(instance.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    const rows = (db.prepare("SELECT message_id, payload, conflicts FROM rps_inbound WHERE kind = 'change' AND operation = 'update'").all() as { message_id: string; payload: string; conflicts: string | null }[]).map((r) => ({
      messageId: r.message_id,
      changedFields: (JSON.parse(r.payload) as { changedFields: string[] }).changedFields,
      conflicts: r.conflicts ? (JSON.parse(r.conflicts) as FieldConflict[]) : [],
    }));
    return {
      changeMessages: count("SELECT count(*) AS n FROM rps_outbound WHERE kind = 'change'"),
      replies: count("SELECT count(*) AS n FROM rps_outbound WHERE kind = 'correlation'"),
      conflicts: rows.reduce((n, r) => n + r.conflicts.length, 0),
      rows,
    };
  } finally {
    db.close();
  }
}

/** A small, seeded random source: the same run every time. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('two-way edits that converge (real Node-RED processes)', function () {
  this.timeout(420_000);
  const processes = new Processes();

  afterEach(async function () {
    await processes.stopAfter(this.currentTest);
  });

  it('200 records edited on both sides at once for 60 s, each side killed once: every field ends the same on both, no ping-pong, every dropped value explained', async () => {
    const [onA, onB] = await processes.records(2);
    const [a, b] = await processes.nodeRed('A', 'B');
    await a.deploy(twoWayFlow(duplexFlow({ remoteUrl: b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, recordsUrl: onA.url })));
    await b.deploy(twoWayFlow(duplexFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: onB.url })));
    const feeds = { a: new ChangeFeed(onA, a), b: new ChangeFeed(onB, b) };
    const quiet = (i: NodeRedInstance): boolean => ['rps_outbound', 'rps_inbound'].every((t) => { const c = queueCounts(i, t as 'rps_outbound'); return !c.ready && !c.processing && !c.error; });
    /** Both feeds delivered everything and both queues are empty, at the same moment. */
    const settled = async (what: string): Promise<void> => {
      for (;;) {
        await Promise.all([feeds.a.idle(), feeds.b.idle()]);
        await untilStores(what, () => (quiet(a) && quiet(b)) || feeds.a.pending + feeds.b.pending > 0, 120_000);
        if (feeds.a.pending + feeds.b.pending === 0 && quiet(a) && quiet(b)) return;
      }
    };

    // A's records, created by people on A; the sync creates their twins on B.
    const ids = Array.from({ length: RECORDS }, (_, i) => `r${i}`);
    for (const id of ids) onA.create(id, { name: id, n: 0 });
    await onB.waitFor(() => onB.live().length >= RECORDS, 120_000, 'the twins on B');
    await settled('the records and their links');
    const twin = new Map(ids.map((id) => [id, onB.bySource.get(`record/${id}`) as string]));
    assert.equal(new Set(twin.values()).size, RECORDS, 'each record has its own twin on B');

    // Both sides edit the same fields of the same records at once, each killed once.
    const edits = { a: 0, b: 0 };
    const started = Date.now();
    const editing = (side: 'a' | 'b', seed: number) => (async () => {
      const next = random(seed);
      const server: RecordsServer = side === 'a' ? onA : onB;
      for (let k = 1; k <= EDITS_PER_SIDE; k++) {
        const id = ids[Math.floor(next() * RECORDS)];
        const which = next();
        const fields = which < 0.4 ? { name: `${side}${k}` } : which < 0.8 ? { n: k * (side === 'a' ? 1 : -1) } : { name: `${side}${k}`, n: k * (side === 'a' ? 1 : -1) };
        server.edit(side === 'a' ? id : (twin.get(id) as string), fields);
        edits[side] += 1;
        // People at work, not a benchmark: spread the edits over the minute.
        const due = started + (k * EDIT_MS) / EDITS_PER_SIDE;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      }
    })();
    const killing = (async () => {
      for (const [side, instance, at] of [['a', a, EDIT_MS / 3], ['b', b, (2 * EDIT_MS) / 3]] as const) {
        await new Promise((resolve) => setTimeout(resolve, started + at - Date.now()));
        feeds[side].pause();
        await instance.kill();
        await instance.launch();
        feeds[side].resume();
      }
    })();
    await Promise.all([editing('a', 7), editing('b', 11), killing]);
    const editsEnded = Date.now();
    await settled('the last edits');
    const convergedMs = Date.now() - editsEnded;

    // Every field ends the same on both sides.
    const differing = ids.filter((id) => {
      const mine = onA.records.get(id)?.fields ?? {};
      const theirs = onB.records.get(twin.get(id) as string)?.fields ?? {};
      return FIELDS.some((f) => JSON.stringify(mine[f]) !== JSON.stringify(theirs[f]));
    });
    assert.deepEqual(differing.map((id) => ({ id, a: onA.records.get(id)?.fields, b: onB.records.get(twin.get(id) as string)?.fields })).slice(0, 5), [], 'every record has the same value for every field on both sides');

    // No ping-pong: one message per change made (edits, the creations, feed posts made
    // again after a kill), plus the changes an inbound flow made that went back because they
    // wrote over a newer local edit, each such a write. How many those are depends on how far
    // the captures run behind the edits (an edit is stamped when it is captured): a dozen on
    // a machine running this test alone, thousands with three such tests on two cores; so it
    // is reported, not bounded.
    const fa = figures(a);
    const fb = figures(b);
    const sentBack = feeds.a.sentBack + feeds.b.sentBack;
    const made = edits.a + edits.b + RECORDS + feeds.a.again + feeds.b.again;
    const sent = fa.changeMessages + fb.changeMessages;
    assert.ok(sent <= made + sentBack, `messages sent (${sent}) ≤ changes made (${made}) + inbound writes sent back (${sentBack})`);
    assert.ok(feeds.a.sentBack <= onA.overwritesOfLocal && feeds.b.sentBack <= onB.overwritesOfLocal, 'a change an inbound flow made goes back only when it wrote a field a person had edited on that side');

    // Every value the remote changed was either written by the inbound flow or is a recorded conflict.
    for (const [side, f, server] of [['A', fa, onA], ['B', fb, onB]] as const) {
      const written = new Map<string, Set<string>>();
      for (const w of server.written) {
        const fields = written.get(w.messageId) ?? new Set<string>();
        for (const name of Object.keys(w.fields)) fields.add(name);
        written.set(w.messageId, fields);
      }
      for (const row of f.rows) {
        const conflicted = new Set(row.conflicts.map((c) => c.field));
        const unexplained = row.changedFields.map((w) => WIRE[w]).filter((name) => name && !written.get(row.messageId)?.has(name) && !conflicted.has(name));
        assert.deepEqual(unexplained, [], `${side}: every changed value of message ${row.messageId} was written or is a recorded conflict`);
        for (const c of row.conflicts) {
          assert.equal(c.reason, 'local-newer');
          assert.ok(c.local.at > c.remote.at || (c.local.at === c.remote.at && c.local.instance > c.remote.instance), `${side}: a conflict drops only an older value: ${JSON.stringify(c)}`);
        }
      }
    }

    console.log(
      `      edits ${edits.a + edits.b} (A ${edits.a}, B ${edits.b}); change messages ${sent} (A ${fa.changeMessages}, B ${fb.changeMessages}), ` +
        `correlation replies ${fa.replies + fb.replies}; conflicts recorded ${fa.conflicts + fb.conflicts} (on A ${fa.conflicts}, on B ${fb.conflicts}); ` +
        `inbound writes sent back (over a newer edit) ${sentBack}; feed posts again after kills ${feeds.a.again + feeds.b.again}; ` +
        `converged ${(convergedMs / 1000).toFixed(1)} s after the last edit`,
    );
  });
});
