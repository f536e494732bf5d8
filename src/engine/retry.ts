/**
 * The error queue and retry mechanism behind rps-queue-retry: a schedule that moves
 * `error` rows of the outbound or inbound queue back to `ready` (up to a number of
 * retries), actions on chosen rows (reprocess, skip, retry now), and a durable queue
 * for any message a flow hands over (for example from a Catch node), which is
 * emitted again on the schedule until it goes through or has had its retries.
 */
import { EventEmitter } from 'node:events';
import type { ErrorItem, ErrorKind, QueueFilter, Store } from '../store/store';

export type QueueName = 'outbound' | 'inbound';

/** The error kinds the schedule re-queues: the message's own failures, not the remote's. */
export const SCHEDULED_KINDS: readonly ErrorKind[] = ['refused', 'flow', 'timeout'];
export type RetryAction = 'reprocess' | 'skip' | 'retry';

export interface RetryOptions {
  store: Store;
  queue: QueueName;
  remoteSystem?: string;
  processEvent?: string;
  /** Retries (moves from error back to ready) a row or held message gets from the schedule. */
  maxRetries: number;
  intervalMs: number;
  /** The owner of held messages (the node id): each node has its own. */
  owner: string;
  /** A held message emitted again counts as gone through when it has not come back within this time. */
  settleMs: number;
  now?: () => number;
}

export interface ActionResult {
  action: RetryAction;
  queue: QueueName;
  /** The rows that were changed. */
  ids: number[];
  /** Held messages emitted again (retry only). */
  resent: number;
}

export interface RetryEvents {
  /** Rows went back to `ready`: whoever sends or emits that queue should look again. */
  requeued: [queue: QueueName, ids: number[]];
  /** A held message to emit again. */
  resend: [item: ErrorItem];
  fault: [error: Error];
}

export class RetryScheduler extends EventEmitter<RetryEvents> {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: RetryOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  /** Runs the schedule once now (after a restart, held messages in flight are taken back first), then every interval. */
  async start(): Promise<void> {
    try {
      await this.o.store.errorQueue.reset(this.o.owner, this.now());
    } catch (err) {
      // The schedule still starts: the store may be back by its first run.
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
    }
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private tick(): void {
    if (this.stopped) return;
    this.act('retry')
      .catch((err: unknown) => this.emit('fault', err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(() => this.tick(), this.o.intervalMs);
      });
  }

  private filter(ids?: readonly number[]): QueueFilter {
    const f: QueueFilter = {};
    if (this.o.remoteSystem) f.remoteSystem = this.o.remoteSystem;
    if (this.o.processEvent) f.processEvent = this.o.processEvent;
    if (ids) f.ids = ids;
    return f;
  }

  /**
   * retry: what the schedule does (rows with retries left that failed on their own
   * account, and held messages due).
   * reprocess: the rows named (or every `error` row of the selection) back to `ready`, whatever their retries.
   * skip: the rows named (`error` or `ready`), or every `error` row of the selection, to `skipped`.
   */
  async act(action: RetryAction, ids?: readonly number[], queue: QueueName = this.o.queue): Promise<ActionResult> {
    const store = this.o.store;
    const now = this.now();
    const result: ActionResult = { action, queue, ids: [], resent: 0 };
    const requeue = queue === 'outbound' ? store.outbound.requeue.bind(store.outbound) : store.inbound.requeue.bind(store.inbound);
    if (action === 'skip') {
      result.ids = queue === 'outbound' ? await store.outbound.skip(this.filter(ids), now) : await store.inbound.skip(this.filter(ids), now);
      // A skipped row no longer holds back its record.
      if (result.ids.length > 0) this.emit('requeued', queue, []);
      return result;
    }
    // The schedule leaves rows that failed for the remote's sake (connection, auth) to the
    // remote system's probe: trying them while the remote is away would only use up their
    // retries. A person's reprocess takes any row.
    const filter: QueueFilter =
      action === 'retry' ? { ...this.filter(ids), maxRetries: this.o.maxRetries, kinds: SCHEDULED_KINDS } : this.filter(ids);
    result.ids = await requeue(filter, true, now);
    if (result.ids.length > 0) this.emit('requeued', queue, result.ids);
    if (action === 'retry' && ids === undefined) {
      await store.errorQueue.settle(this.o.owner, now - this.o.settleMs, now);
      const items = await store.errorQueue.take(this.o.owner, this.o.maxRetries, 1000, now);
      for (const item of items) this.emit('resend', item);
      result.resent = items.length;
    }
    return result;
  }

  /** Holds a message (JSON text) with its error until the schedule emits it again. */
  async hold(message: string, error: string): Promise<number> {
    const [id] = await this.o.store.errorQueue.add([{ owner: this.o.owner, message, error }], this.now());
    return id;
  }

  /** A held message failed again when emitted: it waits for the next turn, or is `failed` when out of retries. */
  async failedAgain(id: number, error: string): Promise<string | undefined> {
    return this.o.store.errorQueue.fail(this.o.owner, id, error, this.o.maxRetries, this.now());
  }

  /** A held message that cannot be emitted (it cannot be read back): `failed` at once. */
  async giveUp(id: number, error: string): Promise<void> {
    await this.o.store.errorQueue.fail(this.o.owner, id, error, 0, this.now());
  }
}
