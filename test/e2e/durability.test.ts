/**
 * Guarantees 1-3 of the README's promises under SIGKILL, with real Node-RED processes:
 * nothing accepted is lost, nothing is applied twice, changes of a record keep
 * their order.
 */
import assert from 'node:assert/strict';
import { assertExactlyOnceInOrder, Pair, plan, queueCounts, stream, untilStores } from '../harness/pair';

describe('durability under SIGKILL (real Node-RED processes)', function () {
  this.timeout(300_000);
  let pair: Pair;

  afterEach(async function () {
    await pair?.stopAfter(this.currentTest);
  });

  it('receiver killed in the middle of 2,000 changes: every change arrives once, in order per record', async () => {
    pair = await Pair.start();
    const rounds = plan(200, 10);
    let killed = false;
    let restarted: Promise<void> | undefined;
    const started = Date.now();
    await stream(pair, rounds, 8, (sent) => {
      // Kill B while changes are flowing and partly applied, and bring it back while A keeps accepting.
      if (!killed && sent >= 700 && pair.records.applies.length > 200) {
        killed = true;
        restarted = pair.b.kill().then(() => pair.b.launch());
      }
    });
    assert.ok(killed, 'B was killed during the stream');
    await restarted;
    await pair.records.waitFor(() => pair.records.applies.length >= 2000, 120_000, '2,000 changes applied on B');
    const seconds = (Date.now() - started) / 1000;
    assertExactlyOnceInOrder(pair.records, rounds);
    // B's inbound queue holds each message exactly once (duplicates sent after the crash were recognised).
    const b = pair.b;
    await untilStores("B's inbound rows all processed", () => queueCounts(b, 'rps_inbound', "kind = 'change'").processed === 2000, 30_000);
    const inbound = queueCounts(b, 'rps_inbound', "kind = 'change'");
    assert.deepEqual(inbound, { processed: 2000 }, 'each change once in B\'s inbound queue');
    console.log(
      `      2,000 changes, B killed once: ${seconds.toFixed(1)} s; flow repeated ${pair.records.repeats.length} write(s) after the crash`,
    );
  });

  it('sender killed after accepting changes: they are delivered after restart', async () => {
    pair = await Pair.start();
    // Phase 1: B is down, so everything A accepts can only be in A's queue when A dies.
    await pair.b.kill();
    const phase1 = plan(100, 3, 'p');
    await stream(pair, phase1, 8);
    // All 300 are in A's queue: waiting, being tried, or in error after their quick attempts.
    const held = queueCounts(pair.a, 'rps_outbound');
    assert.equal(Object.values(held).reduce((x, y) => x + y, 0), 300, `A holds 300 rows: ${JSON.stringify(held)}`);
    assert.equal(held.processed ?? 0, 0);
    await pair.a.kill();
    await pair.b.launch();
    await pair.a.launch();
    await pair.records.waitFor(() => pair.records.applies.length >= 300, 60_000, '300 changes applied');
    assertExactlyOnceInOrder(pair.records, phase1);

    // Phase 2: B is up; A is killed while it is delivering.
    const phase2 = plan(100, 5, 'q');
    let killedAt = -1;
    await stream(pair, phase2, 8, async (sent) => {
      if (killedAt < 0 && sent === 400) {
        killedAt = pair.records.applies.length;
        await pair.a.kill();
        await pair.a.launch();
      }
    });
    await pair.records.waitFor(() => pair.records.applies.length >= 800, 60_000, '800 changes applied');
    assertExactlyOnceInOrder(pair.records, [...phase1, ...phase2]);
    const a = pair.a;
    await untilStores("A's outbound rows all processed", () => queueCounts(a, 'rps_outbound', "kind = 'change'").processed === 800, 30_000);
  });
});
