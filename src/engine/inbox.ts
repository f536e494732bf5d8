/**
 * The inbound dispatcher of one (remote system, process event): emits received
 * messages into the inbound flow in sequence order, one at a time per record and
 * up to `maxParallel` records at once, and records how each one ended. As with the
 * outbox, the store holds the truth; a new dispatcher resumes from it.
 *
 * While the store cannot be reached (its server restarts), every store call that fails
 * is tried again by a timer: the claims, the expiry check, the adoption at start, and
 * the outcome of a message the flow finished meanwhile (kept until it is recorded, so
 * that the message is neither timed out nor emitted again for want of a store).
 */
import { EventEmitter } from 'node:events';
import { timerDelay } from '../core/backoff';
import type { Message } from '../core/protocol';
import { StoreUnavailableError } from '../store/opening';
import type { FinishResult, InboundOutcome, InboundRow, Store } from '../store/store';
import { Batcher } from './batcher';
import type { StatsRecorder } from './metrics';

export interface InboundDelivery {
  row: InboundRow;
  message: Message;
  /** 1 for the first emission; more when a crash or restart interrupted an earlier one. */
  attempt: number;
}

export interface InboxOptions {
  store: Store;
  remoteSystem: string;
  processEvent: string;
  owner: string;
  maxParallel: number;
  processingTimeoutMs: number;
  gapWaitMs: number;
  /** Where the monitor's statistics count the rows this dispatcher finishes. */
  stats?: StatsRecorder;
  /** The reason written on a row whose flow did not finish in time. */
  timeoutError: string;
  emit: (delivery: InboundDelivery) => void;
  /**
   * While true, nothing is claimed or emitted (the remote system is paused, or whether it
   * is has not been read yet); rows keep arriving in the queue. Call notify() when it turns false.
   */
  held?: () => boolean;
  now?: () => number;
}

export interface InboxEvents {
  stale: [rows: InboundRow[]];
  /** Rows that went ahead after the gap wait, with the sequence applied before them. */
  gap: [gaps: { row: InboundRow; applied: number }[]];
  timeout: [rows: InboundRow[]];
  fault: [error: Error];
}

export class Inbox extends EventEmitter<InboxEvents> {
  private readonly now: () => number;
  /**
   * Rows out in the flow, by id, with the attempt that is out. `adopted` rows were
   * emitted by an earlier dispatcher of this process (a redeploy that kept the
   * store open): they may still be in the unchanged part of the flow, so they are
   * not emitted again at once; if they do not finish within the processing timeout
   * they are taken back and emitted again (the flow was cut short).
   */
  private readonly inFlight = new Map<number, { attempt: number; adopted: boolean; receivedAt: number }>();
  private readonly finisher: Batcher<InboundOutcome, FinishResult>;
  private stopped = false;
  private pumping = false;
  private again = false;
  private scheduled = false;
  private gapTimer: NodeJS.Timeout | undefined;
  private gapAt = Infinity;
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** The rows an earlier dispatcher left in the flow have been looked up (see adopt). */
  private adopted = false;
  /** Outcomes waiting for the store to be reachable again: woken early by stop(). */
  private readonly waiting = new Set<() => void>();

  constructor(private readonly o: InboxOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.finisher = new Batcher((outcomes) => this.o.store.inbound.finish(outcomes, this.now()));
  }

  get active(): number {
    return this.inFlight.size;
  }

  /** Adopts rows an earlier dispatcher of this process left in the flow, then starts. */
  async start(): Promise<void> {
    await this.adopt();
    const every = Math.max(50, Math.min(5000, Math.floor(this.o.processingTimeoutMs / 4)));
    this.timeoutTimer = setInterval(() => void this.expire(), every);
    this.timeoutTimer.unref();
    this.notify();
  }

  notify(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  /**
   * Looks up the rows an earlier dispatcher of this process left in the flow (see
   * inFlight). When the store cannot say now, the expiry check asks again: meanwhile
   * those rows stay `processing` and hold their records, as they would anyway.
   */
  private async adopt(): Promise<void> {
    try {
      const out = await this.o.store.inbound.list({
        remoteSystem: this.o.remoteSystem,
        processEvent: this.o.processEvent,
        statuses: ['processing'],
        limit: 1_000_000,
      });
      // Not those this dispatcher emitted itself since it started.
      for (const row of out) if (!this.inFlight.has(row.id)) this.inFlight.set(row.id, { attempt: row.attempts, adopted: true, receivedAt: row.receivedAt });
      this.adopted = true;
    } catch (err) {
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Records the end of one message (group-committed with others), then lets the next one of its record go. */
  async finish(outcome: InboundOutcome): Promise<FinishResult> {
    const result = await this.record(outcome);
    const out = this.inFlight.get(outcome.id);
    // Counted once, by the outcome that finished the attempt that is out; processing time
    // on the receiver: from the message's arrival to its completion.
    // ('replied': finished, and a correlation reply was queued with it.)
    if (result !== 'stale' && out?.attempt === outcome.attempt) {
      const row = { remoteSystem: this.o.remoteSystem, processEvent: this.o.processEvent };
      this.o.stats?.rows('inbound', [outcome.status === 'processed' ? { ...row, since: out.receivedAt } : row]);
    }
    // A late answer of an earlier attempt must not free the slot of the attempt that is out.
    if (out?.attempt === outcome.attempt) this.inFlight.delete(outcome.id);
    this.notify();
    return result;
  }

  /**
   * Writes an outcome; while the store cannot be reached, waits and writes it again (until
   * the dispatcher stops). The flow has done its work: the message must not time out, and
   * be emitted again, only because the store was away when it finished.
   */
  private async record(outcome: InboundOutcome): Promise<FinishResult> {
    for (let tries = 0; ; tries++) {
      try {
        return await this.finisher.add(outcome);
      } catch (err) {
        if (this.stopped || !(err instanceof StoreUnavailableError)) throw err;
        if (tries === 0) this.emit('fault', err);
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            this.waiting.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, Math.min(5000, 250 * 2 ** tries));
          this.waiting.add(wake);
        });
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of [...this.waiting]) wake();
    if (this.gapTimer) clearTimeout(this.gapTimer);
    if (this.timeoutTimer) clearInterval(this.timeoutTimer);
    await this.finisher.drain();
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
        while (!this.stopped && !this.o.held?.() && this.inFlight.size < this.o.maxParallel) {
          const limit = this.o.maxParallel - this.inFlight.size;
          const claim = await this.o.store.inbound.claim({
            remoteSystem: this.o.remoteSystem,
            processEvent: this.o.processEvent,
            limit,
            now: this.now(),
            owner: this.o.owner,
            gapWaitMs: this.o.gapWaitMs,
            // With messages out, their outcomes claim again: no gap timer needed meanwhile.
            askGapEnd: this.inFlight.size === 0,
          });
          if (claim.stale.length > 0) this.emit('stale', claim.stale);
          if (claim.gaps.length > 0) this.emit('gap', claim.gaps);
          if (claim.waitingUntil !== undefined) this.armGap(claim.waitingUntil);
          for (const row of claim.rows) {
            this.inFlight.set(row.id, { attempt: row.attempts, adopted: false, receivedAt: row.receivedAt });
            this.o.emit({ row, message: JSON.parse(row.payload) as Message, attempt: row.attempts });
          }
          // A claim that took less than it could reached the end of what may go now: another
          // would find nothing. (What frees more, an outcome or an arrival, notifies; and the
          // empty claim that ends a busy spell arms the gap timer.)
          if (claim.rows.length + claim.stale.length < limit) break;
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
      this.armGap(this.now() + 1000);
    } finally {
      this.pumping = false;
    }
  }

  /** Claims again at `at` (a gap-held row may go, or the store failed), or sooner if already armed sooner. */
  private armGap(at: number): void {
    if (this.stopped || at >= this.gapAt) return;
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapAt = at;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      this.gapAt = Infinity;
      this.notify();
    }, timerDelay(at - this.now()));
  }

  /**
   * A flow that never reaches rps-complete must not hold its record for ever: after the
   * processing timeout its row becomes `error`. An adopted row (see inFlight) is taken
   * back instead, to be emitted again. The store is asked every time, not only while
   * this dispatcher has rows out: rows may be out that it does not know of.
   */
  private async expire(): Promise<void> {
    if (this.stopped) return;
    if (!this.adopted) await this.adopt();
    try {
      const now = this.now();
      const cutoff = now - this.o.processingTimeoutMs;
      const adopted = [...this.inFlight].filter(([, f]) => f.adopted).map(([id]) => id);
      const reclaimed = await this.o.store.inbound.reclaim(adopted, cutoff, now);
      for (const id of reclaimed) this.inFlight.delete(id);
      const rows = await this.o.store.inbound.expire(this.o.remoteSystem, this.o.processEvent, cutoff, this.o.timeoutError, now);
      for (const row of rows) this.inFlight.delete(row.id);
      this.o.stats?.rows('inbound', rows.map((r) => ({ remoteSystem: r.remoteSystem, processEvent: r.processEvent })));
      if (rows.length > 0) this.emit('timeout', rows);
      if (reclaimed.length + rows.length > 0) this.notify();
    } catch (err) {
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
    }
  }
}
