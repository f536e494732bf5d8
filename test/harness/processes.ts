/**
 * The Node-RED processes and records servers of an end-to-end test with more than a
 * Pair: started together, stopped after each test (with the end of each log when the
 * test failed).
 */
import { freePort, NodeRedInstance } from '../../tools/nodered';
import { RecordsServer } from './records';

export class Processes {
  private readonly instances: NodeRedInstance[] = [];
  private readonly servers: RecordsServer[] = [];

  /** Starts `n` records servers. */
  async records(n: number): Promise<RecordsServer[]> {
    const started = Array.from({ length: n }, () => new RecordsServer());
    this.servers.push(...started);
    await Promise.all(started.map((s) => s.start()));
    return started;
  }

  /** Starts one Node-RED process per name, each on a free port. */
  async nodeRed(...names: string[]): Promise<NodeRedInstance[]> {
    const ports: number[] = [];
    while (ports.length < names.length) ports.push(await freePort());
    const started = await Promise.all(names.map((name, i) => NodeRedInstance.start({ name, port: ports[i] })));
    this.instances.push(...started);
    return started;
  }

  /** For an afterEach: prints the end of each log when the test failed, then stops everything. */
  async stopAfter(test: Mocha.Test | undefined): Promise<void> {
    if (test?.state === 'failed') for (const i of this.instances) console.log(`--- ${i.name} log ---\n${i.log.slice(-30).join('\n')}`);
    await Promise.all(this.instances.splice(0).map((i) => i.kill()));
    await Promise.all(this.servers.splice(0).map((s) => s.stop()));
  }
}
