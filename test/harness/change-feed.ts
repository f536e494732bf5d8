/**
 * A system of record's change feed delivered to a Node-RED sender flow, as a database
 * trigger or CDC connector would: every change of a RecordsServer is posted to the
 * flow's `POST /change` (`{operation, record, previous, origin}`), the changes of one
 * record in the order they were made, several records at once; a change is posted again
 * until the flow answers 200 (it is queued, or dropped on purpose), so none is lost when
 * the Node-RED process is killed. While `pause`d (the process is down) no post starts.
 * The flow answers `{queued}`: whether it queued the change for a remote.
 */
import type { NodeRedInstance } from '../../tools/nodered';
import type { RecordChange, RecordsServer } from './records';

export class ChangeFeed {
  private readonly waiting = new Map<string, RecordChange[]>();
  private readonly running = new Set<string>();
  private gate: Promise<void> = Promise.resolve();
  private openGate: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Posts made again (no answer, or not 200): the flow may have taken such a change twice. */
  again = 0;
  /**
   * Changes an inbound flow made (with `origin`) that the flow queued all the same (it
   * answered `{queued: true}`): each wrote over a newer local change, so it goes back.
   */
  sentBack = 0;

  constructor(
    records: RecordsServer,
    private readonly target: NodeRedInstance,
    private readonly concurrency = 8,
  ) {
    records.onChange = (change) => this.push(change);
  }

  pause(): void {
    if (this.openGate) return;
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  resume(): void {
    this.openGate?.();
    this.openGate = undefined;
  }

  /** Resolves when every change so far has been delivered. */
  idle(): Promise<void> {
    if (this.running.size === 0 && this.waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get pending(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  private push(change: RecordChange): void {
    const id = String(change.record.id);
    const queue = this.waiting.get(id);
    if (queue) queue.push(change);
    else this.waiting.set(id, [change]);
    this.kick();
  }

  private kick(): void {
    for (const id of this.waiting.keys()) {
      if (this.running.size >= this.concurrency) return;
      if (!this.running.has(id)) void this.drain(id);
    }
  }

  private async drain(id: string): Promise<void> {
    this.running.add(id);
    for (;;) {
      const queue = this.waiting.get(id);
      const change = queue?.shift();
      if (!change) break;
      if (queue?.length === 0) this.waiting.delete(id);
      await this.deliver(change);
    }
    this.running.delete(id);
    this.kick();
    if (this.running.size === 0 && this.waiting.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async deliver(change: RecordChange): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await this.gate;
      if (attempt > 0) this.again += 1;
      try {
        const res = await fetch(`${this.target.url}/change`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(change),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status === 200) {
          if (change.origin && (JSON.parse(text) as { queued?: boolean }).queued === true) this.sentBack += 1;
          return;
        }
      } catch {
        // Not answered (the process is down or was killed): post it again.
      }
      // A connector's retry delay; a paused feed waits at the gate instead.
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
}
