/**
 * The two delta-load examples as shipped, deployed on a real Node-RED: each loads its
 * source into the outbound queue once deployed and when told to run. The remote instance
 * is not there (the examples' remote system points at an empty port): what a delta load
 * hands on is queued, durably, and that is where its work ends.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES_DIR } from '../../scripts/examples';
import { type FlowNode, NodeRedInstance } from '../../tools/nodered';
import { RecordsSource } from '../../tools/records-source';
import { queueCounts } from '../harness/pair';
import { nodeStatus } from '../harness/status';

function example(file: string): FlowNode[] {
  return JSON.parse(readFileSync(join(EXAMPLES_DIR, file), 'utf8')) as FlowNode[];
}

/** Presses an inject node's button, as the editor does (POST /inject/:id). */
async function press(instance: NodeRedInstance, id: string): Promise<void> {
  const res = await fetch(`${instance.adminUrl}/inject/${id}`, { method: 'POST' });
  assert.equal(res.status, 200, `inject ${id}`);
}

/** Resolves once the node shows a finished run of exactly `count` records (a green status). */
function finished(instance: NodeRedInstance, id: string, count: number): Promise<unknown> {
  return nodeStatus(instance, id, (s) => s.fill === 'green' && (s.text ?? '').startsWith(`${count} records at`), 60_000);
}

describe('delta-load examples on a real Node-RED', function () {
  this.timeout(120_000);
  let a: NodeRedInstance | undefined;
  let source: RecordsSource | undefined;

  afterEach(async () => {
    await a?.kill();
    await source?.stop();
    a = undefined;
    source = undefined;
  });

  it('"Delta load from a SQL table": runs on deploy (an empty table), then loads an incident added to the table when told to run', async () => {
    a = await NodeRedInstance.start({ name: 'delta-sql' });
    await a.deploy(example('Delta load from a SQL table.json'));
    await finished(a, 'delta-sql-load', 0);
    await press(a, 'delta-sql-add');
    await press(a, 'delta-sql-run');
    await finished(a, 'delta-sql-load', 1);
    assert.deepEqual(queueCounts(a, 'rps_outbound'), { ready: 1 }, 'the incident is in the outbound queue');
  });

  it('"Delta load with watermark": with its URL set to a REST source, loads every incident on deploy, and only what changed on the next run', async () => {
    source = new RecordsSource();
    await source.start();
    source.create(250);
    a = await NodeRedInstance.start({ name: 'delta-rest' });
    const flows = example('Delta load with watermark.json').map((n) => (n.id === 'delta-rest-load' ? { ...n, url: RecordsSource.query(source!.url) } : n));
    await a.deploy(flows);
    await finished(a, 'delta-rest-load', 250);
    assert.equal(queueCounts(a, 'rps_outbound').ready, 250);
    source.update(7);
    await press(a, 'delta-rest-run');
    await finished(a, 'delta-rest-load', 1);
    assert.equal(queueCounts(a, 'rps_outbound').ready, 251, 'the changed incident, once');
  });
});
