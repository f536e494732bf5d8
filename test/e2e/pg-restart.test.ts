/**
 * A PostgreSQL restart must never take Node-RED down (issue 10). Two real Node-RED
 * processes, A sending to B, each with its queues in a schema of its own on one
 * PostgreSQL server that this test starts itself (test/harness/pg-server.ts, never the
 * machine's shared server). During a stream of changes the server is stopped with
 * `pg_ctl stop -m immediate` and started again, and later its postmaster is killed with
 * SIGKILL and it is started again. Neither Node-RED may exit; every change must reach B
 * once and in order per record, and every queue row end processed, without a person or
 * a retry node stepping in.
 */
import assert from 'node:assert/strict';
import { A_TO_B, B_TO_A, receiverFlow, senderFlow } from '../../tools/flows';
import { type FlowNode, freePort, NodeRedInstance } from '../../tools/nodered';
import { assertExactlyOnceInOrder, type ChangeTarget, plan, stream, untilStores } from '../harness/pair';
import { PgServer } from '../harness/pg-server';
import { RecordsServer } from '../harness/records';

const RECORDS = 100;
const PER_RECORD = 6;
const TOTAL = RECORDS * PER_RECORD;

/** What each rps-store logs once when its server goes away, and once when it is back (see the runtime). */
const UNREACHABLE = /rps-store .*cannot be reached/;
const REACHABLE_AGAIN = /rps-store .*can be reached again/;

describe('PostgreSQL server restarts under two Node-REDs (real processes, a private server)', function () {
  this.timeout(300_000);
  let server: PgServer | undefined;
  let instances: NodeRedInstance[] = [];
  let records: RecordsServer | undefined;

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const i of instances) console.log(`--- ${i.name} log ---\n${i.log.slice(-60).join('\n')}`);
      console.log(`--- PostgreSQL log ---\n${server?.serverLog() ?? ''}`);
    }
    await Promise.all(instances.map((i) => i.kill()));
    instances = [];
    await records?.stop();
    await server?.destroy();
  });

  it('stopped immediately, then killed, during a stream: no process exits, every change is applied once and in order, every row is processed', async () => {
    server = await PgServer.create();
    const pg = server;
    records = new RecordsServer();
    await records.start();
    const applied = records;
    const [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'A', port: await freePort() }),
      NodeRedInstance.start({ name: 'B', port: await freePort() }),
    ]);
    instances = [a, b];
    const pids = { A: a.pid, B: b.pid };
    /** The rps-store node of each side: its own schema, the password as a credential only. */
    const store = (schema: string): FlowNode => ({
      id: 'st',
      type: 'rps-store',
      storeType: 'postgres',
      pgUrl: pg.url,
      pgSchema: schema,
      pgPool: '4',
      credentials: { pgPassword: pg.password },
    });
    // A short request timeout gives a short lease (2 × timeout + 10 s): rows in flight
    // when the server went away are sent again sooner.
    const remote = { store: 'st', timeout: '2' };
    await a.deploy([...senderFlow({ remoteUrl: b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, remote }), store('rps_restart_a')]);
    await b.deploy([
      // As the examples do, an rps-queue-retry takes back what failed in the inbound flow: a
      // message whose rps-correlate lookup failed because the server was away (it times out).
      ...receiverFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: applied.url, remote, timeout: 10, retryInterval: 1 }),
      store('rps_restart_b'),
    ]);

    // A Node-RED that exits fails the test at once, with its last words: the stream and
    // the waits below would otherwise wait for it until they time out.
    const exited = new Promise<never>((_resolve, reject) => {
      for (const i of [a, b]) {
        void i.whenExited().then(() => reject(new Error(`Node-RED ${i.name} exited:\n${i.log.slice(-12).join('\n')}`)));
      }
    });
    exited.catch(() => undefined);
    const unlessExited = <T>(work: Promise<T>): Promise<T> => Promise.race([work, exited]);

    // A answers 500 with the store's error when it cannot queue a change (rps-correlate's
    // lookup or rps-send's write failed: the store is away): the client sends it again, as
    // it does on a 503. Any other answer fails the stream.
    let refused = 0;
    const sender: ChangeTarget = {
      async change(operation, record) {
        // A is gone: no status the stream sends again on, so that it ends (the test fails on the exit).
        if (!a.running) return -1;
        const res = await fetch(`${a.url}/change`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ operation, record }),
        });
        const body = (await res.json().catch(() => ({}))) as { error?: string };
        if (res.status !== 500 || !/store error/.test(body.error ?? '')) return res.status;
        refused += 1;
        return 503;
      },
    };

    const events: string[] = [];
    const started = Date.now();
    const note = (text: string): void => {
      events.push(`${((Date.now() - started) / 1000).toFixed(1)} s: ${text} (${applied.applies.length} applied)`);
    };
    /** Per outage: seconds from PostgreSQL serving again to B's next applied change (reported, not asserted). */
    const recovered: Promise<string>[] = [];
    /** Takes the server down while the stream runs, waits until both Node-REDs have met the outage, brings it back. */
    const outage = async (how: string, bringDown: () => Promise<void>): Promise<void> => {
      const noticed = [a, b].map((i) => i.waitForLine(UNREACHABLE, 60_000));
      const back = [a, b].map((i) => i.waitForLine(REACHABLE_AGAIN, 60_000));
      for (const p of [...noticed, ...back]) p.catch(() => undefined);
      await bringDown();
      note(`PostgreSQL ${how}`);
      const refusedBefore = refused;
      await Promise.all(noticed);
      // The server stays away until A has refused a change for want of it (and the client sent it again).
      await untilStores('A to refuse a change while PostgreSQL is away', () => refused > refusedBefore, 60_000);
      note(`both Node-REDs found it unreachable; A refused ${refused - refusedBefore} change(s) meanwhile`);
      await pg.start();
      note('PostgreSQL running again');
      const serving = Date.now();
      const before = applied.applies.length;
      recovered.push(
        applied.waitFor(() => applied.applies.length > before, 120_000, 'a change applied after the restart').then(
          () => `${((Date.now() - serving) / 1000).toFixed(1)} s`,
          () => 'none within 120 s',
        ),
      );
      await Promise.all(back);
      note('both Node-REDs reached it again');
      assert.ok(a.running && b.running, `both Node-REDs still run after PostgreSQL was ${how}`);
    };
    // Each outage once A has taken `at` changes in and B has applied some: while A queues
    // changes and delivers them, and B receives and applies them.
    const faults: { at: number; how: string; run: () => Promise<void> }[] = [
      { at: TOTAL / 4, how: 'stopped (pg_ctl stop -m immediate)', run: () => pg.stopImmediate() },
      { at: (TOTAL * 2) / 3, how: 'killed (SIGKILL to the postmaster)', run: () => pg.killPostmaster() },
    ];
    // An outage runs beside the stream, which goes on: A refuses changes while the server
    // is away, and the client sends them again until they are queued.
    let fired = 0;
    let running: Promise<void> | undefined;
    const outages: Promise<void>[] = [];
    const rounds = plan(RECORDS, PER_RECORD, 'p');
    const streamed = stream(sender, rounds, 8, async (sent) => {
      const fault = faults[fired];
      if (!fault || sent < fault.at || running) return;
      // The outage must find B at work too: the stream waits for B's first apply (A may take
      // a quarter of the changes in before B has applied one, on a busy machine).
      if (applied.applies.length === 0) await applied.waitFor(() => applied.applies.length > 0, 60_000, 'a first change applied on B');
      if (faults[fired] !== fault || running) return;
      fired += 1;
      running = outage(fault.how, fault.run).finally(() => {
        running = undefined;
      });
      outages.push(running);
    });
    await unlessExited(streamed);
    note(`all ${TOTAL} changes accepted by A`);
    await unlessExited(Promise.all(outages));
    assert.equal(fired, 2, 'both outages happened during the stream');

    try {
      await unlessExited(applied.waitFor(() => applied.applies.length >= TOTAL, 180_000, `${TOTAL} changes applied on B`));
    } catch (err) {
      // What the queues hold that is not done yet, to tell why.
      for (const [schema, table, record] of [['rps_restart_a', 'rps_outbound', 'record_id'], ['rps_restart_b', 'rps_inbound', 'source_id']]) {
        const left = await pg.query(
          `SELECT id, ${record} AS record, sequence, status, attempts, locked_by, last_error FROM ${schema}.${table} WHERE status <> 'processed' ORDER BY id LIMIT 20`,
        );
        console.log(`${schema}.${table}, rows not processed:`, JSON.stringify(left, null, 1));
        console.log(`${schema}.${table}:`, JSON.stringify(await pg.query(`SELECT kind, status, count(*)::int AS n FROM ${schema}.${table} GROUP BY kind, status`)));
      }
      const seen = new Set(applied.applies.map((x) => `${x.source}#${x.sequence}`));
      const missing: string[] = [];
      for (let r = 0; r < RECORDS; r++) for (let q = 1; q <= PER_RECORD; q++) if (!seen.has(`item/p${r}#${q}`)) missing.push(`p${r}#${q}`);
      console.log('missing on B:', missing.join(' '), 'repeats:', applied.repeats.length, 'out of order:', JSON.stringify(applied.outOfOrder));
      console.log(JSON.stringify(await pg.query(`SELECT record_id, sequence, status, attempts, message_id FROM rps_restart_a.rps_outbound WHERE record_id = $1 ORDER BY id`, [missing[0]?.split('#')[0]])));
      console.log(JSON.stringify(await pg.query(`SELECT source_id, sequence, status, attempts, message_id FROM rps_restart_b.rps_inbound WHERE source_id = $1 ORDER BY id`, [missing[0]?.split('#')[0]])));
      throw err;
    }
    note('every change applied on B');
    assertExactlyOnceInOrder(applied, rounds);

    // Every queue row of both stores ends processed: A's changes and B's correlation
    // replies (one per record) outbound, B's changes and A's correlations inbound.
    const rowsOf = async (schema: string, table: 'rps_outbound' | 'rps_inbound'): Promise<string> =>
      JSON.stringify(await pg.query(`SELECT kind, status, count(*)::int AS n FROM ${schema}.${table} GROUP BY kind, status ORDER BY kind, status`));
    const processed = (kind: string, n: number): string => JSON.stringify([{ kind, status: 'processed', n }]);
    const queues = async (): Promise<string[]> => [
      await rowsOf('rps_restart_a', 'rps_outbound'),
      await rowsOf('rps_restart_b', 'rps_inbound'),
      await rowsOf('rps_restart_b', 'rps_outbound'),
      await rowsOf('rps_restart_a', 'rps_inbound'),
    ];
    const expected = [processed('change', TOTAL), processed('change', TOTAL), processed('correlation', RECORDS), processed('correlation', RECORDS)];
    try {
      await unlessExited(untilStores('every queue row processed', async () => JSON.stringify(await queues()) === JSON.stringify(expected), 60_000));
    } catch (err) {
      console.log('queues (A out, B in, B out, A in):', await queues());
      throw err;
    }

    // Neither process ever exited, nor met an error it did not handle.
    assert.deepEqual({ A: a.running && a.pid, B: b.running && b.pid }, pids, 'both Node-RED processes ran throughout');
    for (const i of [a, b]) {
      assert.ok(!i.logText().includes('Uncaught Exception'), `${i.name}: no uncaught exception`);
      assert.ok(!i.logText().includes(pg.password), `${i.name}: the PostgreSQL password is never logged`);
      // One line when the server went away and one when it was back, per outage: no line per failed call.
      const lost = i.log.filter((l) => UNREACHABLE.test(l)).length;
      const regained = i.log.filter((l) => REACHABLE_AGAIN.test(l)).length;
      assert.ok(lost >= 2 && lost <= 6, `${i.name}: ${lost} "cannot be reached" lines for 2 outages`);
      assert.ok(regained >= 2 && regained <= 6, `${i.name}: ${regained} "can be reached again" lines for 2 outages`);
    }
    console.log(
      [
        `      ${TOTAL} changes over ${RECORDS} records through 2 PostgreSQL outages in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `      repeated writes after the outages: ${applied.repeats.length}`,
        `      time to recover (PostgreSQL serves again → next change applied on B): ${(await Promise.all(recovered)).join(', ')}`,
        ...events.map((e) => `        ${e}`),
      ].join('\n'),
    );
  });
});
