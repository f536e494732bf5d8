/**
 * rps-stats: the monitor's figures as messages, from a store with known rows and minute
 * stats (test/harness/monitor-rows): the summary on output 1 for the whole store, one
 * remote system, and a remote system and process event; msg.figures; the message that
 * came in kept; the three chart series on output 2; a bad configuration; the interval.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirectionSummary } from '../../src/nodes/rps-stats';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { EVENT, type FlowNode, isStatus, type Msg, REMOTE_INSTANCE, type Rps, setup, useNodeRed, waitForCall } from './helper';
import { type ExpectedDirection, fillStatsRows, INBOUND_WAITING_SINCE_MS, OUTBOUND_WAITING_SINCE_MS, STATS_EXPECTED } from '../harness/monitor-rows';

/** The stats nodes under test, each wired to its own collectors: `${id}-figures` and `${id}-series`. */
function statsNode(id: string, props: Record<string, unknown>): Record<string, unknown>[] {
  return [
    { id, type: 'rps-stats', interval: '0', wires: [[`${id}-figures`], [`${id}-series`]], ...props },
    { id: `${id}-figures`, type: 'helper' },
    { id: `${id}-series`, type: 'helper' },
  ] as { id: string; type: string }[];
}

/** The store 'st' as the deployed nodes opened it. */
function storeOf(rps: Rps): Store {
  const [open] = rps.rt.openStores();
  assert.ok(open, 'store st is open');
  return open.store;
}

type Summary = Record<'outbound' | 'inbound', DirectionSummary> & { errorsInQueue: number; remotes: { id: string }[] };

/** Asks node `id` for its figures; resolves with its output 1 and output 2 messages. */
async function ask(rps: Rps, id: string, msg: Msg = {}): Promise<{ figures: Msg; series: Msg[] }> {
  const figures = rps.collect(`${id}-figures`);
  const series = rps.collect(`${id}-series`);
  rps.node(id).receive(msg);
  const [one] = await figures.wait(1);
  return { figures: one, series: await series.wait(3) };
}

/** The summary without the oldest waiting ages, which are checked against the clock apart. */
function withoutAges(s: DirectionSummary): ExpectedDirection {
  const { oldestWaitingSeconds: _, ...rest } = s;
  return rest;
}

/** An age in whole seconds as the node rounds it, read between `before` and `after`. */
function assertAge(seconds: number | null, since: number, before: number, after: number, what: string): void {
  assert.ok(seconds !== null, `${what}: an oldest waiting row`);
  assert.ok(seconds >= Math.round((before - since) / 1000) && seconds <= Math.round((after - since) / 1000), `${what}: ${seconds} s`);
}

describe('rps-stats node', function () {
  useNodeRed();

  /** Deploys `nodes` next to store st, remote system rs (no URL: nothing is sent) and process event pe, and fills st. */
  async function deployed(nodes: Record<string, unknown>[]): Promise<{ rps: Rps; now: number }> {
    const rps = await setup(nodes as { id: string; type: string }[], { url: '' });
    const now = Date.now();
    await storeOf(rps).opened();
    await fillStatsRows(storeOf(rps), 'rs', EVENT, now);
    return { rps, now };
  }

  it('sums the whole store, one remote system, or one remote system and process event; msg.figures has the rest', async () => {
    const { rps, now } = await deployed([
      ...statsNode('all', { store: 'st' }),
      ...statsNode('remote', { remoteSystem: 'rs' }),
      ...statsNode('both', { remoteSystem: 'rs', processEvent: 'pe' }),
    ]);
    for (const [id, expected] of [
      ['all', STATS_EXPECTED.all],
      ['remote', STATS_EXPECTED.remote],
      ['both', STATS_EXPECTED.remoteAndEvent],
    ] as const) {
      const before = Date.now();
      const { figures } = await ask(rps, id);
      const after = Date.now();
      const summary = figures.payload as Summary;
      assert.deepEqual(withoutAges(summary.outbound), expected.outbound, `${id}: outbound`);
      assert.deepEqual(withoutAges(summary.inbound), expected.inbound, `${id}: inbound`);
      assertAge(summary.outbound.oldestWaitingSeconds, now - OUTBOUND_WAITING_SINCE_MS, before, after, `${id}: outbound`);
      assertAge(summary.inbound.oldestWaitingSeconds, now - INBOUND_WAITING_SINCE_MS, before, after, `${id}: inbound`);
      assert.equal(summary.errorsInQueue, expected.outbound.error + expected.inbound.error, `${id}: errors in the queues`);

      const all = figures.figures as { queues: { remoteSystem: string; processEvent: string }[]; errors: { total: number; rows: { record: string }[] }; filter: Record<string, string> };
      assert.ok(all && Array.isArray(all.queues), `${id}: msg.figures holds the monitor's figures`);
      assert.equal(all.errors.total, summary.errorsInQueue);
      assert.equal(all.errors.rows.length, all.errors.total, `${id}: the rows in error are listed`);
      if (id !== 'all') {
        assert.equal(all.filter.remoteSystem, 'rs');
        assert.ok(all.queues.every((q) => q.remoteSystem === 'rs'), `${id}: only rs's queues`);
        assert.deepEqual(summary.remotes.map((r) => r.id), ['rs']);
      }
      if (id === 'both') assert.ok(all.queues.every((q) => q.processEvent === EVENT), 'only the process event\'s queues');
    }
  });

  it('a remote system whose rows are keyed by its instance id (read from the store at start): its figures from the first input on', async () => {
    // The store as an earlier run left it: rs is known to be instance REMOTE_INSTANCE, its rows keyed by that.
    const dir = mkdtempSync(join(tmpdir(), 'rps-stats-peer-'));
    const path = join(dir, 'store.sqlite');
    const before = new SqliteStore(path);
    await before.opened();
    await before.peers.learn('rs', '', REMOTE_INSTANCE, Date.now());
    await fillStatsRows(before, REMOTE_INSTANCE, EVENT, Date.now());
    await before.close();
    try {
      const rps = await setup(statsNode('remote', { remoteSystem: 'rs' }) as FlowNode[], { url: '', storePath: () => path });
      // At once after the deploy, while rs may still be reading its key from the store.
      const { figures } = await ask(rps, 'remote');
      const summary = figures.payload as Summary;
      assert.deepEqual(withoutAges(summary.outbound), STATS_EXPECTED.remote.outbound);
      assert.deepEqual(withoutAges(summary.inbound), STATS_EXPECTED.remote.inbound);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the input message\'s properties and sends the three chart series on output 2', async () => {
    const { rps } = await deployed(statsNode('all', { store: 'st', name: 'sync figures' }));
    const { figures, series } = await ask(rps, 'all', { _msgid: 'm-1', topic: 'mine', extra: { keep: true }, payload: 'replaced' });
    assert.equal(figures._msgid, 'm-1');
    assert.equal(figures.topic, 'mine', 'a topic that came in is kept');
    assert.deepEqual(figures.extra, { keep: true });
    assert.equal((figures.payload as Summary).outbound.perMinute, STATS_EXPECTED.all.outbound.perMinute);
    assert.deepEqual(
      series.map((m) => [m.topic, m.payload]),
      [
        ['rps-stats.series.outbound', STATS_EXPECTED.all.outbound.perMinute],
        ['rps-stats.series.inbound', STATS_EXPECTED.all.inbound.perMinute],
        // Errors in the last full minute, both directions: 2 + 1 outbound (fillStatsRows).
        ['rps-stats.series.errors', 3],
      ],
    );
    // Without a topic of its own the message gets the node's name.
    const again = await ask(rps, 'all');
    assert.equal(again.figures.topic, 'sync figures');
    await waitForCall(rps.node('all'), 'status', (args) => isStatus(args, 'yellow', 'rps-stats.status.figures'));
  });

  it('a missing remote system: red status, and each input ends in an error', async () => {
    const { rps } = await deployed(statsNode('bad', { remoteSystem: 'no-such-remote' }));
    const bad = rps.node('bad');
    await waitForCall(bad, 'status', (args) => isStatus(args, 'red', 'errors.no-remote-system'));
    bad.receive({ payload: 'go' });
    const [caught] = await rps.caught.wait(1);
    assert.match(String((caught.error as { message?: string }).message), /errors\.no-remote-system/);
    assert.equal(rps.collect('bad-figures').msgs.length, 0);
  });

  it('interval 0 sends only on input; an interval sends by itself', async () => {
    const { rps } = await deployed([...statsNode('manual', { store: 'st', interval: '0' }), ...statsNode('ticking', { store: 'st', interval: '1' })]);
    const manual = rps.collect('manual-figures');
    const ticking = rps.collect('ticking-figures');
    const [tick] = await ticking.wait(1);
    assert.equal(tick.topic, 'rps-stats', 'a message of its own, named after the node type');
    assert.equal((tick.payload as Summary).outbound.waiting, STATS_EXPECTED.all.outbound.waiting);
    // The node with an interval has sent (after at least a second): the one without one has not.
    assert.equal(manual.msgs.length, 0);
    rps.node('manual').receive({});
    await manual.wait(1);
    assert.equal(manual.msgs.length, 1);
  });
});
