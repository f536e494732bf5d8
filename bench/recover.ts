/**
 * Time to recover: how soon a sender uses its remote again once the remote answers after
 * an outage, and how fast it catches up. Two real Node-RED processes on the SQLite store
 * with the product's defaults (bench/e2e.ts's flows); A takes changes at a steady
 * RPS_BENCH_RECOVER_RATE a second (default 1,000) throughout. Once things run, B goes
 * away for RPS_BENCH_OUTAGE seconds (default 60), in two ways one after the other:
 * - `killed`: SIGKILL, then started again. A's posts are refused at once.
 * - `frozen`: SIGSTOP, then SIGCONT. A's posts hang until they time out (30 s).
 *
 * One JSON line per way, times from the moment B serves again:
 * - firstArrivalSeconds: the first change from A stored in B's inbound queue (read from
 *   B's store file: B's meter would also count what B had stored before it went away);
 * - caughtUpSeconds: the first change that arrives less than 1 s after it was made (the
 *   backlog is gone);
 * - backlog (changes made while B was away, about rate × outage) and drainPerSec (that
 *   backlog, and the changes made meanwhile, over the time from the first arrival to
 *   caught up).
 * Sampled every 250 ms: a benchmark, not a test.
 */
import { type FlowNode, NodeRedInstance } from '../tools/nodered';
import { firstChangeReceivedSince } from '../tools/store-file';
import { ourReceiver, ourSender } from './e2e';
import { positiveIntFromEnv } from './env';

/** B's meter: the time each change arrived and how long after it was made. */
const RECORD = `
const now = Date.now();
const arrivals = flow.get('arrivals') || [];
arrivals.push([now, now - Date.parse(msg.rps.capturedAt)]);
flow.set('arrivals', arrivals);
msg.payload.id = msg.rps.source.id;
return msg;`;

/** Answers the first arrival at or after ?since= that came within ?within= ms of being made (B does the search: the list grows by the rate). */
const STATS = `
const since = Number(msg.req.query.since), within = Number(msg.req.query.within);
const hit = (flow.get('arrivals') || []).find(([at, lag]) => at >= since && lag < within);
msg.payload = { at: hit ? hit[0] : null };
return msg;`;

const CAUGHT_UP_MS = 1000;
const SAMPLE_MS = 250;
const DEADLINE_MS = 10 * 60_000;

function receiverFlows(aUrl: string): FlowNode[] {
  return ourReceiver(aUrl).map((n) => (n.id === 'measure' ? { ...n, func: RECORD } : n.id === 'tab-b-statsfn' ? { ...n, func: STATS } : n));
}

/** When the first change at or after `since` arrived through B's flow within CAUGHT_UP_MS of being made, if one has. */
async function caughtUpAt(b: NodeRedInstance, since: number): Promise<number | null> {
  const res = await fetch(`${b.url}/stats?since=${since}&within=${CAUGHT_UP_MS}`);
  return ((await res.json()) as { at: number | null }).at;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Samples B until a change arrives through its flow within CAUGHT_UP_MS of being made, after `since`. */
async function recovery(b: NodeRedInstance, since: number, rate: number, outageMs: number): Promise<Record<string, number>> {
  const deadline = Date.now() + DEADLINE_MS;
  let first: number | undefined;
  for (;;) {
    first ??= firstChangeReceivedSince(b.userDir, since);
    const caughtUp = await caughtUpAt(b, since);
    if (first !== undefined && caughtUp !== null) {
      const backlog = Math.round((rate * outageMs) / 1000);
      const drainSec = Math.max(0.001, (caughtUp - first) / 1000);
      return {
        firstArrivalSeconds: Math.round((first - since) / 100) / 10,
        caughtUpSeconds: Math.round((caughtUp - since) / 100) / 10,
        backlog,
        // The backlog and what came meanwhile, over the time it took.
        drainPerSec: Math.round(backlog / drainSec + rate),
      };
    }
    if (Date.now() > deadline) throw new Error(`B did not catch up within ${DEADLINE_MS / 60_000} min`);
    await sleep(SAMPLE_MS);
  }
}

export async function benchRecover(): Promise<Record<string, unknown>[]> {
  const rate = positiveIntFromEnv('RPS_BENCH_RECOVER_RATE', 1000);
  const outageMs = positiveIntFromEnv('RPS_BENCH_OUTAGE', 60) * 1000;
  const b = await NodeRedInstance.start({ name: 'recover-B' });
  let a: NodeRedInstance | undefined;
  const lines: Record<string, unknown>[] = [];
  try {
    a = await NodeRedInstance.start({ name: 'recover-A' });
    await b.deploy(receiverFlows(a.url));
    await a.deploy(ourSender(b.url));
    // Enough changes for both outages and their catch-up; the processes are killed at the end.
    const total = rate * (4 * outageMs / 1000 + 300);
    const res = await fetch(`${a.url}/load`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ total, records: 5000, rate, prefix: 'v' }),
    });
    if (!res.ok) throw new Error(`POST /load: HTTP ${res.status}`);
    for (const way of ['killed', 'frozen'] as const) {
      await sleep(10_000);
      if (way === 'killed') {
        await b.kill();
        await sleep(outageMs);
        await b.launch();
      } else {
        process.kill(b.pid as number, 'SIGSTOP');
        await sleep(outageMs);
        process.kill(b.pid as number, 'SIGCONT');
      }
      const serving = Date.now();
      lines.push({ bench: 'recover', store: 'sqlite', outage: way, outageSeconds: outageMs / 1000, rate, ...(await recovery(b, serving, rate, outageMs)) });
      if (process.env.RPS_BENCH_VERBOSE) console.error(JSON.stringify(lines[lines.length - 1]));
    }
    return lines;
  } finally {
    await Promise.all([a?.kill(), b.kill()]);
  }
}

if (require.main === module) {
  benchRecover().then(
    (lines) => lines.forEach((l) => console.log(JSON.stringify(l))),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
