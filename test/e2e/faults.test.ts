/**
 * The error queue and retry promise (README, "What users are promised") under sustained faults,
 * with real Node-RED processes: 20,000 changes over 500 records go from A to B
 * while B is killed and restarted three times, A twice, B is stopped for 60 seconds,
 * the link from A to B (a fault-injecting proxy) answers 500 to one message post of A's in
 * thirty before it reaches B and to another after B took it (so A sends it again), resets
 * another and holds another for 5 s, and B's system of record fails 1% of writes and is
 * slow for another 1%. At the end every change is on B exactly once and in order, and
 * every queue row is processed.
 */
import assert from 'node:assert/strict';
import type { FaultPlan } from '../harness/fault-proxy';
import { Pair, plan, queueCounts, secondsToRecover, stream, untilStores } from '../harness/pair';
import { assertRepeatsExplained, type RecordsServer } from '../harness/records';

const RECORDS = 500;
const PER_RECORD = 40;
const TOTAL = RECORDS * PER_RECORD;
/** Fewer faults of a kind than this would leave it barely tested. */
const MIN_FAULTS = 4;

/**
 * What the link does to A's message posts: of every thirty, one answered 500 before B
 * sees it, one answered 500 after B stored it, one reset, one held 5 s before it goes on.
 * Spread by count rather than by chance, so that every run injects them all. (A batches
 * what is ready: 200 to 450 posts carried the 20,000 changes in runs on a loaded and on
 * a quiet machine, so a run injects 6 to 15 of each.)
 */
const FLAKY_LINK: FaultPlan = (n) => {
  switch (n % 30) {
    case 4:
      return { kind: 'fail-before' };
    case 11:
      return { kind: 'fail-after' };
    case 19:
      return { kind: 'reset' };
    case 26:
      return { kind: 'delay', ms: 5000 };
    default:
      return undefined;
  }
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function total(c: Record<string, number>): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

describe('error queue and retry under faults (real Node-RED processes)', function () {
  this.timeout(900_000);
  let pair: Pair | undefined;

  /** What happened when (faults and their progress), for the report and for a failure. */
  const events: string[] = [];

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && pair) {
      console.log('--- A log ---\n' + pair.a.log.slice(-60).join('\n'));
      console.log('--- B log ---\n' + pair.b.log.slice(-60).join('\n'));
      console.log('--- events ---\n' + events.join('\n'));
      // Where the changes that did not arrive are: still on A (ready, processing, error) or on B.
      for (const [side, table] of [['A', 'rps_outbound'], ['B', 'rps_inbound'], ['B', 'rps_outbound'], ['A', 'rps_inbound']] as const) {
        console.log(`${side} ${table}: ${JSON.stringify(queueCounts(side === 'A' ? pair.a : pair.b, table))}`);
      }
    }
    await pair?.stop();
  });

  it(`${TOTAL.toLocaleString('en')} changes over ${RECORDS} records through kills, a 60 s outage, a flaky link and failing writes: all arrive once, in order`, async () => {
    pair = await Pair.start({ retryInterval: 1, receiverTimeout: 30, maxParallel: 64, faults: FLAKY_LINK });
    const p = pair;
    const proxy = p.proxy;
    assert.ok(proxy, 'A reaches B through the fault proxy');
    const records: RecordsServer = p.records;
    records.failWhen = () => Math.random() < 0.01;
    records.delayWhen = () => (Math.random() < 0.01 ? 5000 : 0);

    events.length = 0;
    const started = Date.now();
    const at = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const note = (text: string): void => {
      events.push(`${at()}: ${text} (${records.applies.length} applied)`);
    };
    /** When B was started again after each of its outages, and when it answered. */
    const bBack: { what: string; launched: number; answering: number }[] = [];
    const restart = async (name: 'A' | 'B', how: 'kill' | 'stop', downMs = 0): Promise<void> => {
      const instance = name === 'A' ? p.a : p.b;
      if (how === 'kill') await instance.kill();
      else await instance.stop();
      note(`${name} ${how === 'kill' ? 'killed (SIGKILL)' : 'stopped'}`);
      if (downMs > 0) await sleep(downMs);
      const launched = Date.now();
      await instance.launch();
      if (name === 'B') bBack.push({ what: how === 'kill' ? 'after a kill' : `after ${downMs / 1000} s stopped`, launched, answering: Date.now() });
      note(`${name} running again`);
    };
    // B's faults come as B makes progress (applied changes); A's as A takes changes in.
    const bFaults = (async () => {
      const plan_: [number, () => Promise<void>][] = [
        [2_000, () => restart('B', 'kill')],
        [7_000, () => restart('B', 'kill')],
        [10_000, () => restart('B', 'stop', 60_000)],
        [15_000, () => restart('B', 'kill')],
      ];
      for (const [mark, run] of plan_) {
        await records.waitFor(() => records.applies.length >= mark, 600_000, `${mark} changes applied`);
        await run();
      }
    })();
    const aFaults: { mark: number; fired?: boolean }[] = [{ mark: 6_000 }, { mark: 16_000 }];
    const rounds = plan(RECORDS, PER_RECORD, 'f');
    await stream(p, rounds, 8, async (sent) => {
      for (const f of aFaults) {
        if (f.fired || sent < f.mark) continue;
        f.fired = true;
        // A cannot take changes while it restarts: this sender waits, the others retry.
        await restart('A', 'kill');
      }
    });
    note(`all ${TOTAL} changes accepted by A`);
    await bFaults;
    const lastFault = Date.now();

    await records.waitFor(() => records.applies.length >= TOTAL, 600_000, `${TOTAL} changes applied on B`);
    note('every change applied on B');
    const drainSeconds = (Date.now() - lastFault) / 1000;

    // Exactly once, in order, and the final state of every record is A's last change.
    const ids = new Set(records.applies.map((a) => a.messageId));
    assert.equal(records.applies.length, TOTAL, 'every change applied');
    assert.equal(ids.size, TOTAL, 'no change applied twice');
    assert.deepEqual(records.outOfOrder, [], 'in order per record');
    assertRepeatsExplained(records);
    for (const change of rounds[rounds.length - 1]) {
      const stored = records.records.get(records.bySource.get(`item/${change.record.id}`) ?? '');
      assert.deepEqual(stored?.fields, { name: change.record.name, n: change.record.n, from: 'A' }, `final state of ${change.record.id}`);
    }

    // Every queue row ends processed: A's outbound, B's inbound, and the correlation replies both ways.
    await untilStores(
      'every queue row processed',
      () =>
        [queueCounts(p.a, 'rps_outbound'), queueCounts(p.b, 'rps_inbound'), queueCounts(p.b, 'rps_outbound'), queueCounts(p.a, 'rps_inbound')].every(
          (c) => total(c) === (c.processed ?? 0),
        ),
      120_000,
    );
    assert.equal(total(queueCounts(p.a, 'rps_outbound', "kind = 'change'")), TOTAL);
    assert.equal(queueCounts(p.b, 'rps_inbound', "kind = 'change'").processed, TOTAL, 'B holds each change once');

    // The link's faults happened, on our routes: batches lost before B, batches B stored
    // that A sent again (B held each change once all the same), resets and slow posts.
    for (const kind of ['fail-before', 'fail-after', 'reset', 'delay'] as const) {
      assert.ok(proxy.injected[kind] >= MIN_FAULTS, `at least ${MIN_FAULTS} message posts got fault ${kind}: ${proxy.summary()}`);
    }

    // How soon A used B again each time B came back (reported, not asserted: a benchmark figure).
    const recovered = bBack.map((b) => {
      const s = secondsToRecover(p.b, b.launched, b.answering);
      return `${b.what} ${s === undefined ? 'no change came' : `${s.toFixed(1)} s`}`;
    });
    console.log(
      [
        `      ${TOTAL} changes over ${RECORDS} records in ${at()}; after the last fault B caught up in ${drainSeconds.toFixed(1)} s`,
        `      time to recover (B serves again → first change from A stored on B): ${recovered.join(', ')}`,
        `      faults: B killed 3x, A killed 2x, B stopped 60 s; ${records.failures} writes failed on purpose, ${records.delayed} slowed by 5 s`,
        `      link A to B: ${proxy.summary()}`,
        `      repeated writes after crashes: ${records.repeats.length}; longest capture-to-apply delay: ${(records.longestDelayMs / 1000).toFixed(1)} s`,
        ...events.map((e) => `        ${e}`),
      ].join('\n'),
    );
  });
});
