/**
 * Small helpers shared by the node adapters.
 */
import { StoreUnavailableError } from '../engine/stores';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from './red';

export const MODULE = '@node-red-rps/remote-process-sync';

/** Translates a key of the shared catalog (kept with rps-store, which is always loaded with the package). */
export function common(RED: NodeAPI, key: string, params?: Record<string, unknown>): string {
  return RED._(`${MODULE}/rps-store:rps-common.${key}`, params);
}

/** The text of `msg.error` as a Catch node (or a flow) sets it; undefined when there is none. */
export function errorOf(msg: NodeMessage): string | undefined {
  const e = msg.error;
  if (e === undefined || e === null || e === false) return undefined;
  if (typeof e === 'string') return e;
  if (typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return String(e);
}

/** A record id as a flow gives it: a non-empty string, or a finite number as text. */
export function idText(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A node that cannot start (its configuration cannot work): red status and one log line
 * with the reason; messages that still arrive (from a Catch node, say) each fail with it
 * rather than vanishing.
 */
export function refuseInput(node: Pick<Node, 'status' | 'error' | 'on'>, err: unknown): void {
  const reason = errorText(err);
  node.status({ fill: 'red', shape: 'ring', text: reason });
  node.error(reason);
  node.on('input', (_msg, _send, done) => done(new Error(reason)));
}

/**
 * Logs a fault of the store on a node, except that the store cannot be reached (not yet
 * open, or its server restarting): the store's own log lines say that once (see the
 * runtime's store events), while the node's timers try again every second or so.
 */
export function logStoreFault(RED: NodeAPI, node: Pick<Node, 'error'>, err: unknown): void {
  if (err instanceof StoreUnavailableError) return;
  node.error(common(RED, 'errors.store', { error: errorText(err) }));
}

/**
 * Node status at most every `everyMs`: at thousands of messages a second, a status
 * per message would flood the editor's connection. The latest status always shows.
 */
export class ThrottledStatus {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private pending: (() => NodeStatus) | undefined;

  constructor(private readonly node: Pick<Node, 'status'>, private readonly everyMs = 500) {}

  set(make: () => NodeStatus): void {
    this.pending = make;
    const wait = this.last + this.everyMs - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Shows a status now (errors, state changes) and drops any pending one. */
  now(status: NodeStatus): void {
    this.pending = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.last = Date.now();
    this.node.status(status);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    const make = this.pending;
    this.pending = undefined;
    if (!make) return;
    this.last = Date.now();
    this.node.status(make());
  }
}

