/**
 * The identity of a remote follows the remote instance, not the remote-system node that
 * names it (real Node-RED processes, the "Two help desks" flows: each desk's inbound flow
 * writes its records, and its capture sends every change, so an echo would show).
 *
 * 1. A's remote-system node for B deleted and added again (same URL, a new node id):
 *    100 updates on A afterwards all go to B's existing twins, B creates no new record,
 *    and nothing comes back; B's updates reach A's existing records through the new node.
 * 2. Two remote-system nodes on A for B, one that B calls and one that A sends with:
 *    a change B makes reaches A through the first and is not echoed back by the second.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DESK_A, DESK_B, desk, type DeskSpec } from '../../scripts/examples';
import type { FlowNode, NodeRedInstance } from '../../tools/nodered';
import { deskCall as call, parallel, type Row } from '../harness/desks';
import { queueCounts, untilStores } from '../harness/pair';
import { Processes } from '../harness/processes';

type Creds = { user: string; password: string };

const RECORDS = 20;
const UPDATES_PER_RECORD = 5;

/** A desk's flows with the other desk's URL and this run's credentials. */
function deskFlows(spec: DeskSpec, otherUrl: string, outbound: Creds, inbound: Creds): FlowNode[] {
  return desk(spec).map((n) =>
    n.type === 'rps-remote-system'
      ? { ...n, url: otherUrl, credentials: { user: outbound.user, password: outbound.password, inboundUser: inbound.user, inboundPassword: inbound.password } }
      : n,
  );
}

/** Every reference to node `from` (ids and properties that name it) changed to `to`: the node deleted and made again. */
function renamed(flows: FlowNode[], from: string, to: string): FlowNode[] {
  return flows.map((n) => Object.fromEntries(Object.entries(n).map(([k, v]) => [k, v === from ? to : v])) as FlowNode);
}

/** Reads an instance's store (read-only; the instance may be running). */
function storeQuery<T>(instance: NodeRedInstance, text: string): T[] {
  const db = new Database(join(instance.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(text).all() as T[];
  } finally {
    db.close();
  }
}

const total = (c: Record<string, number>): number => Object.values(c).reduce((x, y) => x + y, 0);
const changes = (instance: NodeRedInstance, table: 'rps_outbound' | 'rps_inbound'): number => total(queueCounts(instance, table, "kind = 'change'"));
const processedChanges = (instance: NodeRedInstance): number => queueCounts(instance, 'rps_inbound', "kind = 'change'").processed ?? 0;

/**
 * Until `receiver` has processed `count` change messages in all (so every one was queued
 * and applied), and then every queue of both desks is empty of work.
 */
async function settled(what: string, receiver: NodeRedInstance, count: number, ...instances: NodeRedInstance[]): Promise<void> {
  await untilStores(`${what} (${count} applied)`, () => processedChanges(receiver) >= count, 60_000);
  await untilStores(
    what,
    () =>
      instances.every((i) =>
        (['rps_outbound', 'rps_inbound'] as const).every((t) => {
          const c = queueCounts(i, t);
          return !c.ready && !c.processing && !c.error;
        }),
      ),
    60_000,
  );
}

describe('the identity of a remote follows its instance (real Node-RED processes)', function () {
  this.timeout(300_000);
  const processes = new Processes();
  const aCallsB = { user: 'desk-a', password: randomBytes(18).toString('base64url') };
  const bCallsA = { user: 'desk-b', password: randomBytes(18).toString('base64url') };
  const RS_A = 'desk-a-rs';

  afterEach(async function () {
    await processes.stopAfter(this.currentTest);
  });

  /** Both desks deployed, RECORDS incidents made on A and linked with their cases on B. */
  async function linkedDesks(): Promise<{ a: NodeRedInstance; b: NodeRedInstance; incidents: Row[]; flowsA: FlowNode[] }> {
    const [a, b] = await processes.nodeRed('desk-a', 'desk-b');
    const flowsA = deskFlows(DESK_A, b.url, aCallsB, bCallsA);
    assert.ok(flowsA.some((n) => n.id === RS_A), 'desk A names its remote system for B as the test expects');
    await a.deploy(flowsA);
    await b.deploy(deskFlows(DESK_B, a.url, bCallsA, aCallsB));
    const incidents: Row[] = [];
    await parallel(Array.from({ length: RECORDS }, (_, i) => i), 8, async (i) => {
      incidents.push((await call(a, 'POST', '/incidents', { short_description: `incident ${i}`, description: 'new', priority: 3, state: 'new' })) as Row);
    });
    await settled('the incidents on B', b, RECORDS, a, b);
    // B's correlation replies, which tell A the twins.
    await untilStores('the links on A', () => storeQuery<{ n: number }>(a, 'SELECT count(*) AS n FROM rps_correlation')[0].n >= RECORDS, 60_000);
    assert.equal(processedChanges(b), RECORDS);
    assert.equal(storeQuery<{ n: number }>(a, 'SELECT count(*) AS n FROM rps_correlation')[0].n, RECORDS, 'A knows every twin');
    return { a, b, incidents, flowsA };
  }

  /** B's cases, by the incident they were made from (its summary is the incident's short description). */
  async function casesOf(b: NodeRedInstance): Promise<Map<string, Row>> {
    const cases = (await call(b, 'GET', DESK_B.path)) as Row[];
    return new Map(cases.map((c) => [String(c.title), c]));
  }

  it('the remote-system node deleted and added again (same URL, new id): 100 updates go to the existing twins, none is a new record, no echo', async () => {
    const { a, b, incidents, flowsA } = await linkedDesks();
    const casesBefore = await casesOf(b);
    assert.equal(casesBefore.size, RECORDS);
    const repliesOnB = total(queueCounts(b, 'rps_outbound', "kind = 'correlation'"));

    // The node is deleted and made again: a new id, the same URL and credentials.
    const RS_AGAIN = 'desk-a-rs-made-again';
    await a.deploy(renamed(flowsA, RS_A, RS_AGAIN));
    await a.remoteSystemLoaded(RS_AGAIN);

    const updates = incidents.flatMap((inc) => Array.from({ length: UPDATES_PER_RECORD }, (_, k) => ({ id: inc.id, k })));
    assert.equal(updates.length, 100);
    // Each record's updates in order, records side by side.
    await parallel(incidents, 8, async (inc) => {
      for (let k = 1; k <= UPDATES_PER_RECORD; k++) await call(a, 'PUT', `${DESK_A.path}/${inc.id}`, { description: `update ${k}` });
    });
    await settled('the updates on B', b, RECORDS + updates.length, a, b);

    // What A sent: each update addressed to the twin A knew before, in the record's one stream, sequences following on.
    type Sent = { source: { id: string }; target?: { id: string }; stream: string; sequence: number };
    const sent = storeQuery<{ payload: string }>(a, "SELECT payload FROM rps_outbound WHERE kind = 'change' ORDER BY id").map((r) => JSON.parse(r.payload) as Sent);
    for (const inc of incidents) {
      const mine = sent.filter((m) => m.source.id === inc.id);
      const twin = casesBefore.get(String(inc.short_description))?.id;
      assert.deepEqual(mine.map((m) => m.sequence), Array.from({ length: UPDATES_PER_RECORD + 1 }, (_, k) => k + 1), `${inc.id}: sequences follow on`);
      assert.equal(new Set(mine.map((m) => m.stream)).size, 1, `${inc.id}: one stream`);
      assert.ok(mine.slice(1).every((m) => m.target?.id === twin), `${inc.id}: every update addressed to its twin ${twin}`);
    }
    const casesAfter = await casesOf(b);
    assert.equal(casesAfter.size, RECORDS, 'no new record on B');
    for (const inc of incidents) {
      const twin = casesAfter.get(String(inc.short_description));
      assert.equal(twin?.id, casesBefore.get(String(inc.short_description))?.id, `${inc.id}: the same twin`);
      assert.equal(twin?.details, `update ${UPDATES_PER_RECORD}`, `${inc.id}: every update reached its twin`);
    }
    assert.equal(processedChanges(b), RECORDS + updates.length, 'B applied each update once');
    assert.equal(total(queueCounts(b, 'rps_outbound', "kind = 'correlation'")), repliesOnB, 'B linked no new record');
    // No echo: B captured the changes A's messages made, and sent none of them back.
    assert.equal(changes(b, 'rps_outbound'), 0, 'B sent nothing back');
    assert.equal(changes(a, 'rps_inbound'), 0, 'nothing came back to A');

    // The other way, through the node made again: B's updates reach A's existing records, and are not echoed.
    await parallel([...casesAfter.values()], 8, (c) => call(b, 'PUT', `${DESK_B.path}/${c.id}`, { details: `from B ${c.id}` }));
    await settled("B's updates on A", a, RECORDS, a, b);
    const incidentsAfter = (await call(a, 'GET', DESK_A.path)) as Row[];
    assert.equal(incidentsAfter.length, RECORDS, 'no new record on A');
    assert.ok(incidentsAfter.every((inc) => String(inc.description).startsWith('from B ')), "every incident has B's update");
    assert.equal(changes(a, 'rps_outbound'), RECORDS + updates.length, 'A sent nothing back');
    assert.equal(processedChanges(a), RECORDS);
    assert.equal(changes(b, 'rps_outbound'), RECORDS, "B's own updates only");
    // A's links and queue rows are under B's instance id, not under either node id.
    const keys = storeQuery<{ k: string }>(a, 'SELECT DISTINCT remote_system AS k FROM rps_correlation UNION SELECT DISTINCT remote_system FROM rps_outbound');
    assert.equal(keys.length, 1);
    assert.ok(![RS_A, RS_AGAIN].includes(keys[0].k), `keyed by the remote instance, not a node id (${keys[0].k})`);
  });

  it('two remote-system nodes for the same remote: a change that came through one is not echoed back through the other', async () => {
    const { a, b, incidents, flowsA } = await linkedDesks();
    // A second remote-system node for B, which A now sends with; B still calls A as the first.
    const RS_SEND = 'desk-a-rs-for-sending';
    const first = flowsA.find((n) => n.id === RS_A) as FlowNode & { credentials: Record<string, string> };
    const second: FlowNode = { ...first, id: RS_SEND, name: 'Help desk B (sending)', credentials: { user: aCallsB.user, password: aCallsB.password } };
    const flows = flowsA.map((n) => (n.type === 'rps-send' || (n.type === 'rps-correlate' && n.remoteSystem === RS_A) ? { ...n, remoteSystem: RS_SEND } : n));
    await a.deploy([...flows, second]);
    await a.remoteSystemLoaded(RS_SEND);
    await a.remoteSystemLoaded(RS_A);

    // B changes every case: A applies each through the first node, and the second sends none back.
    const cases = await casesOf(b);
    await parallel([...cases.values()], 8, (c) => call(b, 'PUT', `${DESK_B.path}/${c.id}`, { details: `from B ${c.id}` }));
    await settled("B's updates on A", a, RECORDS, a, b);
    assert.equal(processedChanges(a), RECORDS);
    assert.equal(changes(a, 'rps_outbound'), RECORDS, 'A sent back none of the changes B made');
    assert.equal(changes(b, 'rps_inbound'), RECORDS, 'B got nothing back');

    // A's own updates through the second node go to the existing twins.
    await parallel(incidents, 8, (inc) => call(a, 'PUT', `${DESK_A.path}/${inc.id}`, { description: 'from A again' }));
    await settled("A's updates on B", b, RECORDS * 2, a, b);
    const after = await casesOf(b);
    assert.equal(after.size, RECORDS, 'no new record on B');
    assert.ok([...after.values()].every((c) => c.details === 'from A again'));
    assert.equal(changes(b, 'rps_outbound'), RECORDS, 'B sent back none of them');
    assert.equal(changes(a, 'rps_outbound'), RECORDS * 2, 'and A still none of the changes B made');
  });
});
