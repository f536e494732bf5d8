/**
 * The outbox sender of one remote system: takes sendable rows from the outbound
 * queue in batches, posts them, and records the outcome on every row. The queue is
 * the only state that matters; this object can die at any line and a new one picks
 * up from the store.
 */
import { EventEmitter } from 'node:events';
import { backoffDelay, type BackoffPolicy } from '../core/backoff';
import { PROTOCOL, recordKey, type Sender } from '../core/protocol';
import type { Store, OutboundRow } from '../store/types';
import type { DeliveryResult } from '../transport/client';

export type RemoteState = 'active' | 'error';

export interface DeliveryClient {
  postMessages(body: string, count: number, signal?: AbortSignal): Promise<DeliveryResult>;
}

export interface OutboxOptions {
  remoteSystem: string;
  store: Store;
  client: DeliveryClient;
  sender: Sender;
  /** Written into claimed rows, so that this process can release what it held. */
  owner: string;
  batchSize: number;
  maxInFlight: number;
  leaseMs: number;
  backoff: BackoffPolicy;
  /** Consecutive failed requests before the remote's outbound state becomes `error`. */
  failuresBeforeError: number;
  now?: () => number;
  random?: () => number;
}

export interface OutboxEvents {
  state: [state: RemoteState, error: string | undefined];
  delivered: [count: number];
  failed: [rows: OutboundRow[], error: string];
  /** A fault of the store itself (disk full, file removed...). Delivery is tried again later. */
  fault: [error: Error];
}

/** Builds the envelope as text around payloads that are already JSON, so nothing is parsed or re-serialised. */
export function envelopeText(sender: Sender, payloads: readonly string[]): string {
  return `{"protocol":${JSON.stringify(PROTOCOL)},"sender":${JSON.stringify(sender)},"messages":[${payloads.join(',')}]}`;
}

export class Outbox extends EventEmitter<OutboxEvents> {
  state: RemoteState = 'active';
  lastError: string | undefined;
  private readonly now: () => number;
  private inFlight = new Set<Promise<void>>();
  private stopped = false;
  private pumping = false;
  private again = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pausedUntil = 0;
  private failures = 0;
  /** Aborts requests in flight when the sender stops (a redeploy must not wait for a slow remote). */
  private readonly abort = new AbortController();

  constructor(private readonly o: OutboxOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  /** Takes back rows an earlier sender of this process left in flight, then starts sending. */
  async start(): Promise<void> {
    await this.o.store.releaseOutbound(this.o.remoteSystem, this.o.owner, this.now());
    this.notify();
  }

  /** Something may be sendable: new rows, a finished request, a retry that came due. */
  notify(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    // Aborted requests record their rows as "try again" before this resolves.
    await Promise.allSettled([...this.inFlight]);
  }

  private arm(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.notify();
    }, Math.max(0, at - this.now()));
  }

  private async pump(): Promise<void> {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (!this.stopped && this.inFlight.size < this.o.maxInFlight) {
          const now = this.now();
          if (now < this.pausedUntil) {
            this.arm(this.pausedUntil);
            break;
          }
          // While the remote is failing, one request at a time probes it.
          if (this.failures > 0 && this.inFlight.size > 0) break;
          const rows = await this.o.store.claimOutbound(this.o.remoteSystem, this.o.batchSize, now, this.o.owner, this.o.leaseMs);
          if (this.stopped) {
            // Stopped while claiming: hand the rows straight back.
            await this.o.store.retryOutbound(rows.map((r) => ({ id: r.id, error: 'sender stopped', nextAttemptAt: now })), now);
            break;
          }
          if (rows.length === 0) {
            // Only future retries need a timer: a due row that could not be claimed waits
            // behind an earlier row of its record, whose outcome calls notify().
            const next = await this.o.store.nextOutboundAttempt(this.o.remoteSystem, now);
            if (next !== null) this.arm(next);
            break;
          }
          const p: Promise<void> = this.deliver(rows).finally(() => {
            this.inFlight.delete(p);
            this.notify();
          });
          this.inFlight.add(p);
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
      this.arm(this.now() + this.o.backoff.baseMs);
    } finally {
      this.pumping = false;
    }
  }

  private setState(state: RemoteState, error: string | undefined): void {
    const changed = state !== this.state || error !== this.lastError;
    this.state = state;
    this.lastError = error;
    if (changed) this.emit('state', state, error);
  }

  private async deliver(rows: OutboundRow[]): Promise<void> {
    try {
      const result = await this.o.client.postMessages(envelopeText(this.o.sender, rows.map((r) => r.payload)), rows.length, this.abort.signal);
      await this.record(rows, result);
    } catch (err) {
      // Only a store fault lands here; the rows stay `processing` until released.
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
      this.pausedUntil = this.now() + this.o.backoff.baseMs;
    }
  }

  private async record(rows: OutboundRow[], result: DeliveryResult): Promise<void> {
    const now = this.now();
    switch (result.kind) {
      case 'delivered': {
        const byId = new Map(result.results.map((r) => [r.id, r]));
        const done: number[] = [];
        const rejected: OutboundRow[] = [];
        const missing: OutboundRow[] = [];
        for (const row of rows) {
          const r = byId.get(row.messageId);
          if (!r) missing.push(row);
          else if (r.status === 'rejected') rejected.push(row);
          else done.push(row.id);
        }
        await this.o.store.markOutboundProcessed(done, now);
        if (missing.length > 0) {
          await this.o.store.retryOutbound(missing.map((r) => ({ id: r.id, error: 'remote did not answer for this message', nextAttemptAt: now })), now);
        }
        for (const row of rejected) {
          const error = byId.get(row.messageId)?.error ?? 'rejected by the remote';
          await this.o.store.failOutbound([{ id: row.id, error }], now);
          this.emit('failed', [row], error);
        }
        this.failures = 0;
        this.pausedUntil = 0;
        this.setState('active', undefined);
        if (done.length > 0) this.emit('delivered', done.length);
        return;
      }
      case 'transient': {
        if (this.stopped) {
          // Not the remote's fault: we cut the request short. The rows go back as they were.
          await this.o.store.retryOutbound(rows.map((r) => ({ id: r.id, error: result.error, nextAttemptAt: now })), now);
          return;
        }
        this.failures += 1;
        const delay = Math.max(result.retryAfterMs ?? 0, backoffDelay(this.o.backoff, this.failures, this.o.random));
        this.pausedUntil = now + delay;
        await this.o.store.retryOutbound(rows.map((r) => ({ id: r.id, error: result.error, nextAttemptAt: now + delay })), now);
        if (this.failures >= this.o.failuresBeforeError) this.setState('error', result.error);
        return;
      }
      case 'refused': {
        // Bad credentials break the connection for every message; the messages themselves are fine.
        if (result.status === 401 || result.status === 403) {
          this.failures += 1;
          const delay = backoffDelay(this.o.backoff, this.failures, this.o.random);
          this.pausedUntil = now + delay;
          await this.o.store.retryOutbound(rows.map((r) => ({ id: r.id, error: result.error, nextAttemptAt: now + delay })), now);
          this.setState('error', result.error);
          return;
        }
        if (rows.length === 1) {
          await this.o.store.failOutbound([{ id: rows[0].id, error: result.error }], now);
          this.emit('failed', rows, result.error);
          return;
        }
        await this.isolate(rows);
        return;
      }
    }
  }

  /**
   * A refused batch is sent again in halves until the message at fault stands alone
   * and goes to `error`. Later rows of a record whose earlier row failed are not sent:
   * they go back to `ready` and wait behind the failed row, keeping the record's order.
   */
  private async isolate(rows: OutboundRow[]): Promise<void> {
    const failedRecords = new Set<string>();
    const queue: OutboundRow[][] = [rows.slice(0, rows.length >> 1), rows.slice(rows.length >> 1)];
    while (queue.length > 0) {
      const part = queue.shift() as OutboundRow[];
      const now = this.now();
      const held = part.filter((r) => failedRecords.has(recordKey(r.recordTable, r.recordId)));
      const send = part.filter((r) => !failedRecords.has(recordKey(r.recordTable, r.recordId)));
      if (held.length > 0) {
        await this.o.store.retryOutbound(held.map((r) => ({ id: r.id, error: 'held behind an earlier message of the record', nextAttemptAt: now })), now);
      }
      if (send.length === 0) continue;
      const result = await this.o.client.postMessages(envelopeText(this.o.sender, send.map((r) => r.payload)), send.length, this.abort.signal);
      if (result.kind === 'refused' && result.status !== 401 && result.status !== 403) {
        if (send.length === 1) {
          failedRecords.add(recordKey(send[0].recordTable, send[0].recordId));
          await this.o.store.failOutbound([{ id: send[0].id, error: result.error }], now);
          this.emit('failed', send, result.error);
        } else {
          queue.unshift(send.slice(0, send.length >> 1), send.slice(send.length >> 1));
        }
        continue;
      }
      if (result.kind === 'delivered') {
        await this.record(send, result);
        continue;
      }
      // A connection problem: the remaining parts go back to wait with this part.
      const rest = queue.splice(0).flat();
      await this.record(send, result);
      if (rest.length > 0) {
        await this.o.store.retryOutbound(rest.map((r) => ({ id: r.id, error: 'sent again after a refused batch', nextAttemptAt: now })), now);
      }
      return;
    }
  }
}
