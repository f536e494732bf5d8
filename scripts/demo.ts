/**
 * `npm start`: two help desks on two Node-RED instances, syncing incidents both ways.
 * Ports: RPS_DEMO_PORT_A (1880) and RPS_DEMO_PORT_B (1881). State lives in .demo/
 * and is started fresh on every run.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tools/nodered';
import { startDemo } from './demo-setup';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function main(): Promise<void> {
  const portA = Number(process.env.RPS_DEMO_PORT_A ?? 1880);
  const portB = Number(process.env.RPS_DEMO_PORT_B ?? 1881);
  for (const port of [portA, portB]) {
    if (!(await portFree(port))) {
      console.error(`Port ${port} is in use. Stop what uses it, or choose others: RPS_DEMO_PORT_A=2880 RPS_DEMO_PORT_B=2881 npm start`);
      process.exit(1);
    }
  }
  const root = join(PROJECT_ROOT, '.demo');
  rmSync(root, { recursive: true, force: true });
  console.log('Starting two Node-RED instances (help desk A and help desk B)...');
  const { a, b } = await startDemo({ portA, portB, userDirA: join(root, 'desk-a'), userDirB: join(root, 'desk-b'), echo: !!process.env.RPS_DEMO_LOG });
  const A = a.instance.url;
  const B = b.instance.url;
  console.log(`
Remote Process Sync demo is running.

  Help desk A (incidents):  editor ${A}/   API ${A}/incidents
  Help desk B (cases):      editor ${B}/   API ${B}/cases
  Monitor (queues, errors, charts; also the editor's "process sync" sidebar tab):
                            ${A}/rps-monitor/   ${B}/rps-monitor/

Create an incident on A, then read it from B as a case (field names and values are mapped):

  curl -s -X POST ${A}/incidents -H 'Content-Type: application/json' -d '{"short_description":"Printer on fire","description":"Floor 3","priority":1,"state":"new"}'
  curl -s ${B}/cases

Change the case on B (use its id from the list) and see the incident follow on A:

  curl -s -X PUT ${B}/cases/CS0001 -H 'Content-Type: application/json' -d '{"status":"solved"}'
  curl -s ${A}/incidents

State (SQLite stores, flows) is in ${root}. Press Ctrl-C to stop.
`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping...');
    await Promise.all([a.instance.stop(), b.instance.stop()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
