/**
 * The "Two help desks" demo (what `npm start` runs), driven through its REST APIs:
 * records created on one desk appear on the other with mapped fields; updates and
 * deletes follow to the same twin; both directions.
 */
import assert from 'node:assert/strict';
import { startDemo, type Desk } from '../../scripts/demo-setup';
import { freePort } from '../../tools/nodered';
import { call, list, parallel, type Row } from '../harness/desks';
import { queueCounts } from '../harness/pair';

/** How many inbound messages the desk has finished processing (read from its store). */
function processed(desk: Desk): number {
  return queueCounts(desk.instance, 'rps_inbound', "kind = 'change'").processed ?? 0;
}

/**
 * Waits until the desk has processed `count` inbound messages in all, then returns its
 * rows. Checking the store is cheap, so the check does not slow the instance it watches.
 */
async function processedAll(desk: Desk, count: number, timeoutMs: number): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  while (processed(desk) < count) {
    if (Date.now() > deadline) throw new Error(`timed out: ${processed(desk)} of ${count} messages processed on ${desk.spec.title}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return list(desk);
}

const URGENCY: Record<number, string> = { 1: 'critical', 2: 'high', 3: 'moderate', 4: 'low' };
const STATUS: Record<string, string> = { new: 'open', in_progress: 'working', resolved: 'solved', closed: 'closed' };

describe('two help desks demo (real Node-RED processes)', function () {
  this.timeout(300_000);
  let a: Desk;
  let b: Desk;

  before(async () => {
    ({ a, b } = await startDemo({ portA: await freePort(), portB: await freePort() }));
  });
  after(async () => {
    await Promise.all([a?.instance.kill(), b?.instance.kill()]);
  });

  it('1,000 incidents created on A appear on B as cases; updates and deletes follow to the same twin', async () => {
    const count = 1000;
    const incidents = Array.from({ length: count }, (_, i) => ({
      short_description: `incident ${i}`,
      description: `details of ${i}`,
      priority: (i % 4) + 1,
      state: 'new',
    }));
    const started = Date.now();
    await parallel(incidents, 16, (body) => call(a, 'POST', '/incidents', body));
    const posted = (Date.now() - started) / 1000;
    const cases = await processedAll(b, count, 120_000);
    assert.equal(cases.length, count);
    const seconds = (Date.now() - started) / 1000;
    const byTitle = new Map(cases.map((c) => [c.title as string, c]));
    for (let i = 0; i < count; i++) {
      const c = byTitle.get(`incident ${i}`);
      assert.ok(c, `case for incident ${i}`);
      assert.equal(c.details, `details of ${i}`);
      assert.equal(c.urgency, URGENCY[(i % 4) + 1]);
      assert.equal(c.status, 'open');
    }
    console.log(`      ${count} records A → B in ${seconds.toFixed(1)} s: ${(count / seconds).toFixed(0)} records/s end to end (the 1,000 POSTs to A took ${posted.toFixed(1)} s)`);

    // Updates go to the twin: B still has one case per incident, now changed.
    const onA = await list(a);
    const updated = onA.filter((_, i) => i % 2 === 0);
    await parallel(updated, 16, (inc) => call(a, 'PUT', `/incidents/${inc.id}`, { state: 'in_progress', description: `${inc.description as string} (updated)` }));
    const wanted = new Set(updated.map((inc) => inc.short_description as string));
    const afterUpdate = await processedAll(b, count + updated.length, 120_000);
    assert.equal(afterUpdate.length, count, 'no second twin was created');
    assert.equal(afterUpdate.filter((r) => wanted.has(r.title as string) && r.status === STATUS.in_progress).length, updated.length);
    for (const c of afterUpdate) {
      if (!wanted.has(c.title as string)) continue;
      assert.equal(byTitle.get(c.title as string)?.id, c.id, 'the update reached the same case');
      assert.match(c.details as string, /\(updated\)$/);
    }

    // Deletes follow too.
    const deleted = onA.slice(0, 100);
    await parallel(deleted, 16, (inc) => call(a, 'DELETE', `/incidents/${inc.id}`));
    const gone = new Set(deleted.map((inc) => inc.short_description as string));
    const afterDelete = await processedAll(b, count + updated.length + deleted.length, 120_000);
    assert.equal(afterDelete.length, count - deleted.length);
    assert.ok(afterDelete.every((c) => !gone.has(c.title as string)), 'the deleted incidents are gone from B');
  });

  it('the same works from B to A, with values mapped back', async () => {
    const before = (await list(a)).length;
    const cases = Array.from({ length: 200 }, (_, i) => ({ title: `case ${i}`, details: `from B ${i}`, urgency: 'high', status: 'working' }));
    await parallel(cases, 16, (body) => call(b, 'POST', '/cases', body));
    const incidents = await processedAll(a, 200, 60_000);
    assert.equal(incidents.length, before + cases.length);
    const fromB = incidents.filter((r) => (r.short_description as string).startsWith('case '));
    assert.equal(fromB.length, 200);
    for (const inc of fromB) {
      assert.equal(inc.priority, 2);
      assert.equal(inc.state, 'in_progress');
    }
    // Update and delete on B reach the same incidents on A.
    const onB = (await list(b)).filter((c) => (c.title as string).startsWith('case '));
    await parallel(onB.slice(0, 50), 16, (c) => call(b, 'PUT', `/cases/${c.id}`, { status: 'solved' }));
    await parallel(onB.slice(50, 70), 16, (c) => call(b, 'DELETE', `/cases/${c.id}`));
    const solved = new Set(onB.slice(0, 50).map((c) => c.title as string));
    const removed = new Set(onB.slice(50, 70).map((c) => c.title as string));
    const finalA = await processedAll(a, 270, 60_000);
    assert.equal(finalA.filter((r) => solved.has(r.short_description as string) && r.state === 'resolved').length, 50);
    assert.ok(finalA.every((r) => !removed.has(r.short_description as string)), 'the deleted cases are gone from A');
    assert.equal(finalA.length, before + 200 - 20);
  });

  it('changes applied by sync are not echoed back: each desk sent only its own changes', () => {
    const total = (c: Record<string, number>): number => Object.values(c).reduce((x, y) => x + y, 0);
    // A's own changes: 1,000 inserts, 500 updates, 100 deletes. The 270 changes B's
    // messages made on A were captured too, but not sent back.
    assert.equal(total(queueCounts(a.instance, 'rps_outbound', "kind = 'change'")), 1600);
    assert.equal(total(queueCounts(b.instance, 'rps_outbound', "kind = 'change'")), 270);
    // Each twin created by sync was linked back to its origin once.
    assert.equal(total(queueCounts(b.instance, 'rps_outbound', "kind = 'correlation'")), 1000);
    assert.equal(total(queueCounts(a.instance, 'rps_outbound', "kind = 'correlation'")), 200);
  });
});
