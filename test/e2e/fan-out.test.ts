/**
 * One record to many remotes, with real Node-RED processes: A's capture is wired to a
 * send node for B and one for C. While C is down, B keeps receiving every change; when C
 * is back it catches up, in order per record, each change once. Correlations and
 * sequences are per remote (each side's twins and order are checked on their own).
 */
import assert from 'node:assert/strict';
import { A_TO_B, B_TO_A, type Credentials, fanOutSenderFlow, receiverFlow } from '../../tools/flows';
import { assertExactlyOnceInOrder, type ChangeTarget, plan, postChange, stream } from '../harness/pair';
import { Processes } from '../harness/processes';

const A_TO_C: Credentials = { user: 'a-calls-c', password: 'secret-ac-0003' };
const C_TO_A: Credentials = { user: 'c-calls-a', password: 'secret-ca-0004' };
/** How long C stays down while A goes on capturing. */
const OUTAGE_MS = 60_000;

describe('one record to two remotes (three real Node-RED processes)', function () {
  this.timeout(300_000);
  const processes = new Processes();

  afterEach(async function () {
    await processes.stopAfter(this.currentTest);
  });

  it('one remote down for 60 s: the other gets every change meanwhile; the first catches up in order, each change once', async () => {
    const [recordsB, recordsC] = await processes.records(2);
    const [a, b, c] = await processes.nodeRed('A', 'B', 'C');
    await b.deploy(receiverFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: recordsB.url }));
    await c.deploy(receiverFlow({ remoteUrl: a.url, remoteName: 'A', outbound: C_TO_A, inbound: A_TO_C, recordsUrl: recordsC.url }));
    await a.deploy(
      fanOutSenderFlow([
        { remoteUrl: b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A },
        { remoteUrl: c.url, remoteName: 'C', outbound: A_TO_C, inbound: C_TO_A },
      ]),
    );
    const target: ChangeTarget = { change: (operation, record) => postChange(a, operation, record) };
    const rounds = plan(50, 6);
    const [before, during] = [rounds.slice(0, 2), rounds.slice(2)];
    const count = (r: typeof rounds): number => r.flat().length;

    await stream(target, before, 8);
    await Promise.all([
      recordsB.waitFor(() => recordsB.applies.length >= count(before), 60_000, 'the first rounds on B'),
      recordsC.waitFor(() => recordsC.applies.length >= count(before), 60_000, 'the first rounds on C'),
    ]);

    await c.kill();
    const down = Date.now();
    await stream(target, during, 8);
    // C stays down until B has every change: C's outage does not hold B back.
    await recordsB.waitFor(() => recordsB.applies.length >= count(rounds), 120_000, 'every change on B while C is down');
    assert.equal(recordsC.applies.length, count(before), 'nothing reached C while it was down');
    // The rest of the outage, if any: A keeps C's changes queued (a scenario's length, not a wait for an event).
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - down))));
    await c.launch();
    await recordsC.waitFor(() => recordsC.applies.length >= count(rounds), 120_000, 'C caught up');

    assertExactlyOnceInOrder(recordsB, rounds);
    assertExactlyOnceInOrder(recordsC, rounds);
  });
});
