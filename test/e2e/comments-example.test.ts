/**
 * The "Two-way sync with comments" example on two real Node-RED processes, driven
 * through the desks' REST APIs as people would use them: both desks edit the same
 * field of the same records at once and add comments and work notes; in the end both
 * desks hold the same value and every entry once, on both, with its author.
 */
import assert from 'node:assert/strict';
import { type Desk, startDemo } from '../../scripts/demo-setup';
import { freePort } from '../../tools/nodered';
import { call, type Row as DeskRow, list as listOf } from '../harness/desks';
import { queueCounts } from '../harness/pair';

type Entry = { id: string; value: string; author: string; createdAt: string };
type Row = DeskRow & { comments?: Entry[]; work_notes?: Entry[] };
const list = async (desk: Desk): Promise<Row[]> => (await listOf(desk)) as Row[];

const idle = (desk: Desk): boolean =>
  (['rps_outbound', 'rps_inbound'] as const).every((t) => {
    const c = queueCounts(desk.instance, t);
    return !c.ready && !c.processing && !c.error;
  });

/** Polls the desks (their REST APIs and stores) until `done` holds. */
async function until(what: string, done: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const texts = (entries: Entry[] | undefined): string[] => (entries ?? []).map((e) => `${e.author}: ${e.value}`);

describe('"Two-way sync with comments" example (real Node-RED processes)', function () {
  this.timeout(300_000);
  let a: Desk;
  let b: Desk;

  before(async () => {
    ({ a, b } = await startDemo({ portA: await freePort(), portB: await freePort(), journal: true }));
  });
  after(async () => {
    await Promise.all([a?.instance.kill(), b?.instance.kill()]);
  });

  it('both desks edit the same field at once and add comments and work notes: both end with the same value and every entry once', async () => {
    const count = 20;
    const incidents = (await Promise.all(
      Array.from({ length: count }, (_, i) => call(a, 'POST', '/incidents', { short_description: `incident ${i}`, description: 'printer', priority: 3, state: 'new' })),
    )) as Row[];
    await until('the cases on B', async () => (await list(b)).length === count);
    const byTitle = new Map((await list(b)).map((c) => [c.title, c.id]));
    const twin = new Map(incidents.map((r) => [r.id, byTitle.get(r.short_description) as string]));
    await until('the links', async () => idle(a) && idle(b));

    // Alice comments and Bob adds a work note, and each edits the summary, at the same time.
    await Promise.all(
      incidents.flatMap((r, i) => {
        const c = twin.get(r.id) as string;
        return [
          call(a, 'POST', `/incidents/${r.id}/comments`, { field: 'comments', value: `seen ${i}`, author: 'alice' }),
          call(b, 'POST', `/cases/${c}/comments`, { field: 'work_notes', value: `working ${i}`, author: 'bob' }),
          call(a, 'PUT', `/incidents/${r.id}`, { short_description: `A's summary ${i}` }),
          call(b, 'PUT', `/cases/${c}`, { title: `B's summary ${i}` }),
        ];
      }),
    );
    await until('both desks to settle', async () => idle(a) && idle(b) && (await list(a)).every((r) => (r.work_notes ?? []).length > 0) && (await list(b)).every((c) => (c.comments ?? []).length > 0));

    const onA = new Map((await list(a)).map((r) => [r.id, r]));
    const onB = new Map((await list(b)).map((c) => [c.id, c]));
    for (const [i, r] of incidents.entries()) {
      const incident = onA.get(r.id) as Row;
      const kase = onB.get(twin.get(r.id) as string) as Row;
      assert.equal(incident.short_description, kase.title, `incident ${i}: both desks hold the same summary`);
      assert.ok([`A's summary ${i}`, `B's summary ${i}`].includes(String(kase.title)), 'one of the two edits won');
      assert.deepEqual(texts(incident.comments), [`alice: seen ${i}`]);
      assert.deepEqual(texts(kase.comments), [`alice: seen ${i}`], "B has Alice's comment once");
      assert.deepEqual(texts(kase.work_notes), [`bob: working ${i}`]);
      assert.deepEqual(texts(incident.work_notes), [`bob: working ${i}`], "A has Bob's work note once");
    }
  });
});
