/**
 * `npm run bench`: every benchmark in bench/, one JSON line each. Not part of the tests.
 * RPS_BENCH=auth,store,e2e,backlog,delta,monitor,attachments,recover picks some (default: all, in that order). Each
 * benchmark reads its own size variables: see its file.
 */
import { benchAttachments } from './attachments';
import { benchAuth } from './auth';
import { benchBacklog } from './backlog';
import { benchDeltaLoad } from './delta-load';
import { benchEndToEnd } from './e2e';
import { benchMonitor } from './monitor';
import { benchRecover } from './recover';
import { benchStore } from './store';

const BENCHES: Record<string, () => Promise<Record<string, unknown>[]>> = {
  auth: async () => [{ bench: 'inbound-auth', ...(await benchAuth()) }],
  store: benchStore,
  e2e: benchEndToEnd,
  backlog: async () => [await benchBacklog()],
  delta: async () => [await benchDeltaLoad()],
  monitor: benchMonitor,
  attachments: benchAttachments,
  recover: benchRecover,
};

async function main(): Promise<void> {
  const names = (process.env.RPS_BENCH ?? Object.keys(BENCHES).join(',')).split(',').map((n) => n.trim());
  for (const name of names) {
    const bench = BENCHES[name];
    if (!bench) throw new Error(`RPS_BENCH: unknown benchmark ${name} (known: ${Object.keys(BENCHES).join(', ')})`);
    for (const line of await bench()) console.log(JSON.stringify(line));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
