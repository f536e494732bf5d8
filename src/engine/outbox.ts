/**
 * The outbox sender of one remote system: takes sendable rows from the outbound
 * queue in batches, posts them, and records the outcome on every row. The queue is
 * the only state that matters; this object can die at any line and a new one picks
 * up from the store.
 *
 * Failures, and what they do:
 * - a connection failure (refused, reset, timeout, 5xx, a 404 from no route) puts the
 *   batch's rows back with a backoff; a row that used up its quick attempts goes to
 *   `error` (kind `connection`). After as many failed requests in a row, the remote's
 *   state is `error`: nothing more is sent, and a probe asks the remote every
 *   `probeIntervalMs` whether it is back. When it is, the `connection` and `auth`
 *   rows go back to `ready` and delivery resumes by itself.
 * - 429 (rate limited) waits for `Retry-After` (to the millisecond, as rps/1 refusals
 *   say it); it costs the rows no attempt. A remote whose handshake names its request
 *   rate is not sent more: posts are spaced to it, so that under load the batches grow
 *   instead of the requests.
 * - 401/403 put the batch's rows in `error` (kind `auth`) and the remote in `error`.
 * - any other refusal is the message's fault: a refused batch is split until the
 *   message at fault stands alone and goes to `error` (kind `refused`).
 */
import { EventEmitter } from 'node:events';
import { backoffDelay, type BackoffPolicy, timerDelay } from '../core/backoff';
import { PROTOCOL, recordKey, type Sender } from '../core/protocol';
import type { OutboundReason } from '../core/reasons';
import type { ErrorKind, OutboundRow, Store } from '../store/store';
import type { DeliveryResult, ProbeResult } from '../transport/client';

/**
 * The last error written for a reason of the sender's own: its code (see core/reasons),
 * which whatever shows the row words in the user's language.
 */
function reason(code: OutboundReason): string {
  return code;
}

/**
 * `loading`: not started yet (the store is opening, or the remote system's activation
 * is being read); `disabled`: not yet validated and activated. In both, messages wait in
 * the queue and nothing is sent.
 */
export type RemoteState = 'loading' | 'disabled' | 'active' | 'error';

export interface DeliveryClient {
  postMessages(body: string, ids: readonly string[], signal?: AbortSignal): Promise<DeliveryResult>;
  probe(signal?: AbortSignal): Promise<ProbeResult>;
}

export interface OutboxOptions {
  /** The link key of the rows (read at each use: it changes once the remote's instance id is learned). */
  readonly remoteSystem: string;
  /** The remote told its instance id (a probe, an answer); resolves once the link follows it. */
  learn?: (instanceId: string) => Promise<void>;
  /** Whether the remote's instance id is known: until it is, the first batch waits for the first probe, which tells it. */
  peerKnown?: () => boolean;
  store: Store;
  client: DeliveryClient;
  /** How we name ourselves in envelopes; the instance id is the store's. */
  senderName: string;
  /** Written into claimed rows, so that this process can release what it held. */
  owner: string;
  batchSize: number;
  maxInFlight: number;
  /** How long new messages may wait for more to fill a batch. */
  lingerMs: number;
  leaseMs: number;
  backoff: BackoffPolicy;
  /** Failed attempts before a row goes to `error`; as many failed requests in a row put the remote in `error`. */
  maxTries: number;
  /** While the remote is in `error`, how often to ask whether it is back. */
  probeIntervalMs: number;
  now?: () => number;
  random?: () => number;
}

export interface OutboxEvents {
  state: [state: RemoteState, error: string | undefined];
  /** Rows the remote accepted (or had already), now `processed`. */
  delivered: [rows: OutboundRow[]];
  /** Rows set to `error`, why, and the kind of failure (refused: the row's own; connection, auth: the remote's, taken back by the probe). */
  failed: [rows: OutboundRow[], error: string, kind: ErrorKind];
  /** Rows taken back from `error` after the remote came back. */
  requeued: [count: number];
  /** A fault of the store itself (disk full, file removed...). Delivery is tried again later. */
  fault: [error: Error];
  /** Paused or resumed by an operator (see pause()). */
  paused: [paused: boolean];
}

/** However low the request rate a remote names, a post goes at least this often. */
const MAX_POST_GAP_MS = 60_000;

/** Builds the envelope as text around payloads that are already JSON, so nothing is parsed or re-serialised. */
export function envelopeText(sender: Sender, payloads: readonly string[]): string {
  return `{"protocol":${JSON.stringify(PROTOCOL)},"sender":${JSON.stringify(sender)},"messages":[${payloads.join(',')}]}`;
}

export class Outbox extends EventEmitter<OutboxEvents> {
  /** Nothing is sent before start(): what the sender may do is known only then. */
  state: RemoteState = 'loading';
  lastError: string | undefined;
  /**
   * Paused by an operator, whatever the state: nothing is claimed or sent and no probe
   * runs; requests in flight finish, and new rows keep queueing. Apart from `state`, which
   * says what the remote allows; a pause only holds it back.
   */
  paused = false;
  private readonly now: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private pumping = false;
  private again = false;
  private scheduled = false;
  private lingering: NodeJS.Timeout | undefined;
  private added = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private probeTimer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  /**
   * The least time between two message posts: 1000 / the request rate the remote's
   * handshake names (0: it names none). With the defaults (the receiver takes 50 requests
   * a second, the sender lingers 5 ms) an offered 1,000 changes/s made over 50 requests/s,
   * was answered 429 with `Retry-After: 1` and waited that second: p50 535 ms, p99 1,051 ms.
   * Spaced 20 ms apart, a post carries what came meanwhile (see bench/e2e.ts).
   */
  private postGapMs = 0;
  private lastPostAt = -Infinity;
  /**
   * Rows whose answer could not be recorded (a store fault): they stay `processing`, and
   * would wait out their lease (minutes) before being sent again. They are put back as
   * soon as the store takes a write, so a store that returns is used at once.
   */
  private unrecorded: OutboundRow[] = [];
  /** Failed requests in a row. */
  private failures = 0;
  /** Rows went to `error` for the remote's sake (connection, auth): the probe should take them back. */
  private recover = false;
  private senderOf: Sender | undefined;
  /** Read when the first batch is sent: the store is open by then (its rows were claimed). */
  private sender(): Sender {
    this.senderOf ??= { instanceId: this.o.store.instanceId, name: this.o.senderName };
    return this.senderOf;
  }

  /** Aborts requests in flight when the sender stops (a redeploy must not wait for a slow remote). */
  private readonly abort = new AbortController();

  constructor(private readonly o: OutboxOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  /**
   * Takes back rows an earlier sender of this process left in flight, then starts
   * sending, or, when not `active` (not validated and activated yet), waits in
   * `disabled` for activate(). A probe runs at once, so rows that an earlier run left in
   * `error` because the remote was away (or refused our credentials) come back if it
   * answers now.
   */
  async start(active = true): Promise<void> {
    try {
      await this.o.store.outbound.release(this.o.remoteSystem, this.o.owner, this.now());
    } catch (err) {
      // The store is away: sending starts all the same (it tries again by itself), and
      // those rows come back when their lease ends.
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
    }
    this.recover = true;
    if (this.stopped || this.state !== 'loading') return;
    if (!active) {
      this.setState('disabled', undefined);
      return;
    }
    this.setState('active', undefined);
    this.probeThenSend();
  }

  /**
   * The probe at start, and then sending. While the remote's instance id is unknown the
   * first batch waits for the probe (one handshake), which tells it: rows are then
   * claimed and sent under the link key they will keep.
   */
  private probeThenSend(): void {
    if (this.o.peerKnown && !this.o.peerKnown()) {
      void this.probe().finally(() => this.notify());
      return;
    }
    void this.probe();
    this.notify();
  }

  /** Validated and activated: from `disabled` to `active`, and what waited is sent. */
  activate(): void {
    if (this.stopped || this.state !== 'disabled') return;
    this.setState('active', undefined);
    this.probeThenSend();
  }

  /** Holds back sending (see `paused`); may be called before start(), so that a remembered pause holds from the first moment. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.emit('paused', true);
  }

  /** Sends what waited at once; a remote in `error` (or rows taken there for its sake) is probed at once too. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.emit('paused', false);
    if (this.stopped) return;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    void this.probe();
    this.notify();
  }

  /** Something may be sendable now: a finished request, a retry that came due, rows taken back. */
  notify(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  /**
   * Rows were put back to `ready` by a person or a schedule: send them now, and if the
   * remote is in `error`, ask it at once whether it is back instead of at the next probe.
   */
  retryNow(): void {
    if (this.stopped || this.state === 'disabled' || this.state === 'loading') return;
    if (this.state === 'error') {
      if (this.probeTimer) clearTimeout(this.probeTimer);
      this.probeTimer = undefined;
      void this.probe();
      return;
    }
    // A pause (a 429's Retry-After, a backoff) still holds: notify() respects it.
    this.notify();
  }

  /** `count` new rows were queued: send them after the linger time, or at once when they fill a batch. */
  queued(count: number): void {
    this.added += count;
    if (this.o.lingerMs <= 0 || this.added >= this.o.batchSize) {
      this.added = 0;
      if (this.lingering) clearTimeout(this.lingering);
      this.lingering = undefined;
      this.notify();
      return;
    }
    if (this.lingering || this.stopped) return;
    this.lingering = setTimeout(() => {
      this.lingering = undefined;
      this.added = 0;
      this.notify();
    }, this.o.lingerMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.timer, this.lingering, this.probeTimer]) if (t) clearTimeout(t);
    this.timer = this.lingering = this.probeTimer = undefined;
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
    }, timerDelay(at - this.now()));
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
        // A remote in error gets nothing but the probe until it answers again.
        while (!this.stopped && !this.paused && this.state === 'active' && this.inFlight.size < this.o.maxInFlight) {
          const now = this.now();
          if (now < this.pausedUntil) {
            this.arm(this.pausedUntil);
            break;
          }
          if (now < this.lastPostAt + this.postGapMs) {
            this.arm(this.lastPostAt + this.postGapMs);
            break;
          }
          // While requests are failing, one at a time finds out whether the remote is back.
          if (this.failures > 0 && this.inFlight.size > 0) break;
          if (this.unrecorded.length > 0) {
            // A row whose lease ended is anyone's to claim again (another process's, on a
            // shared PostgreSQL store): it is left to that.
            const leased = (r: OutboundRow): boolean => (r.lastAttemptAt ?? 0) + this.o.leaseMs > now;
            const back = this.unrecorded.filter(leased);
            await this.o.store.outbound.retry(back.map((r) => ({ id: r.id, error: reason('unrecorded'), nextAttemptAt: now, countTry: false })), now);
            // Rows of answers that failed to record while this ran stay for the next round.
            this.unrecorded = this.unrecorded.filter((r) => !back.includes(r) && leased(r));
          }
          const rows = await this.o.store.outbound.claim(this.o.remoteSystem, this.o.batchSize, now, this.o.owner, this.o.leaseMs);
          if (this.stopped) {
            // Stopped while claiming: hand the rows straight back.
            await this.o.store.outbound.retry(rows.map((r) => ({ id: r.id, error: reason('stopped'), nextAttemptAt: now, countTry: false })), now);
            break;
          }
          if (rows.length === 0) {
            // Only future retries need a timer: a due row that could not be claimed waits
            // behind an earlier row of its record, whose outcome calls notify().
            const next = await this.o.store.outbound.nextAttempt(this.o.remoteSystem, now);
            if (next !== null) this.arm(next);
            break;
          }
          this.lastPostAt = now;
          const p: Promise<void> = this.deliver(rows).finally(() => {
            this.inFlight.delete(p);
            this.notify();
          });
          this.inFlight.add(p);
          // A claim that took less than a batch reached the end of what may go now: another
          // would find nothing. (What frees more, an outcome or a new row, notifies; and the
          // empty claim that ends a busy spell arms the retry timer.)
          if (rows.length < this.o.batchSize) break;
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
    if (state === 'error') this.armProbe();
    if (changed) this.emit('state', state, error);
  }

  private armProbe(): void {
    if (this.stopped || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      void this.probe();
    }, timerDelay(this.o.probeIntervalMs));
  }

  /**
   * Asks the remote whether it is there and lets us in; if so, takes back the rows
   * that failed only because it was not. Runs while the remote is in `error`, and
   * after rows went to `error` for the remote's sake while it otherwise worked.
   */
  private async probe(): Promise<void> {
    // Paused: resume() probes (a timer that fires meanwhile is not armed again).
    if (this.stopped || this.paused || this.state === 'disabled' || this.state === 'loading' || (this.state !== 'error' && !this.recover)) return;
    const result = await this.o.client.probe(this.abort.signal);
    if (this.stopped) return;
    if (!result.ok) {
      // A failed probe says nothing new while requests still go through.
      if (this.state === 'error') this.setState('error', result.error);
      this.armProbe();
      return;
    }
    this.postGapMs = result.requestRate ? Math.min(MAX_POST_GAP_MS, 1000 / result.requestRate) : 0;
    if (result.instanceId !== undefined) await this.o.learn?.(result.instanceId);
    if (!(await this.takeBack())) {
      this.armProbe();
      return;
    }
    this.failures = 0;
    this.pausedUntil = 0;
    this.setState('active', undefined);
    this.notify();
  }

  /**
   * The remote answers (a probe, or a delivered batch while rows wait in `error` for its
   * sake): those rows go back to `ready` at once, due now, behind nothing. False when the
   * store could not be written (the caller tries again later).
   */
  private async takeBack(): Promise<boolean> {
    if (!this.recover) return true;
    this.recover = false;
    try {
      const ids = await this.o.store.outbound.requeue({ remoteSystem: this.o.remoteSystem, kinds: ['connection', 'auth'] }, false, this.now());
      if (ids.length > 0) this.emit('requeued', ids.length);
      return true;
    } catch (err) {
      this.recover = true;
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  private async deliver(rows: OutboundRow[]): Promise<void> {
    try {
      const result = await this.o.client.postMessages(
        envelopeText(this.sender(), rows.map((r) => r.payload)),
        rows.map((r) => r.messageId),
        this.abort.signal,
      );
      await this.record(rows, result);
    } catch (err) {
      // Only a store fault lands here; the rows stay `processing`: put back once the store
      // takes a write again (pump tries before its next claim, after a short wait).
      this.emit('fault', err instanceof Error ? err : new Error(String(err)));
      this.unrecorded.push(...rows);
      this.pausedUntil = this.now() + this.o.backoff.baseMs;
      this.arm(this.pausedUntil);
    }
  }

  private async record(rows: OutboundRow[], result: DeliveryResult): Promise<void> {
    const now = this.now();
    const store = this.o.store;
    switch (result.kind) {
      case 'delivered': {
        const byId = new Map(result.results.map((r) => [r.id, r]));
        const done: OutboundRow[] = [];
        const missing: OutboundRow[] = [];
        for (const row of rows) {
          const r = byId.get(row.messageId);
          if (!r) missing.push(row);
          else if (r.status === 'rejected') {
            const error = r.error ?? reason('rejected');
            await store.outbound.fail([{ id: row.id, error, kind: 'refused' }], now);
            this.emit('failed', [row], error, 'refused');
          } else done.push(row);
        }
        await store.outbound.markProcessed(done.map((r) => r.id), now);
        if (result.instanceId !== undefined) await this.o.learn?.(result.instanceId);
        // Not answered for: like a failed request, for those rows only.
        await this.attemptFailed(missing, reason('unanswered'), 0, now);
        this.failures = 0;
        this.pausedUntil = 0;
        this.setState('active', undefined);
        if (done.length > 0) this.emit('delivered', done);
        // It answers: what went to `error` while it did not comes back now, not at the next probe.
        if (this.recover && missing.length === 0) await this.takeBack();
        return;
      }
      case 'transient': {
        if (this.stopped) {
          // Not the remote's fault: we cut the request short. The rows go back as they were.
          await store.outbound.retry(rows.map((r) => ({ id: r.id, error: result.error, nextAttemptAt: now, countTry: false })), now);
          return;
        }
        if (result.status === 429) {
          // Rate limited: the remote is there and will take the rows later; no attempt is spent.
          const wait = result.retryAfterMs ?? backoffDelay(this.o.backoff, 1, this.o.random);
          this.pausedUntil = now + wait;
          await store.outbound.retry(rows.map((r) => ({ id: r.id, error: result.error, nextAttemptAt: now + wait, countTry: false })), now);
          return;
        }
        this.failures += 1;
        this.pausedUntil = now + Math.max(result.retryAfterMs ?? 0, backoffDelay(this.o.backoff, this.failures, this.o.random));
        await this.attemptFailed(rows, result.error, result.retryAfterMs ?? 0, now);
        if (this.failures >= this.o.maxTries) this.setState('error', result.error);
        return;
      }
      case 'refused': {
        if (result.status === 401 || result.status === 403) {
          // Our credentials are not accepted: every message would fail the same way. The rows
          // go to error, and come back by themselves when the probe is let in again.
          await store.outbound.fail(rows.map((r) => ({ id: r.id, error: result.error, kind: 'auth' })), now);
          this.emit('failed', rows, result.error, 'auth');
          this.recover = true;
          this.failures = this.o.maxTries;
          this.setState('error', result.error);
          return;
        }
        if (rows.length === 1) {
          await store.outbound.fail([{ id: rows[0].id, error: result.error, kind: 'refused' }], now);
          this.emit('failed', rows, result.error, 'refused');
          return;
        }
        await this.isolate(rows);
        return;
      }
    }
  }

  /**
   * One failed attempt for each row: tried again after its backoff (never sooner than
   * `atLeastMs`), or in `error` (kind connection) once its quick attempts are used; the
   * probe then takes it back when the remote answers.
   */
  private async attemptFailed(rows: OutboundRow[], error: string, atLeastMs: number, now: number): Promise<void> {
    if (rows.length === 0) return;
    const spent = rows.filter((r) => r.tries + 1 >= this.o.maxTries);
    const again = rows.filter((r) => r.tries + 1 < this.o.maxTries);
    await this.o.store.outbound.fail(spent.map((r) => ({ id: r.id, error, kind: 'connection' })), now);
    const delay = (r: OutboundRow): number => Math.max(atLeastMs, backoffDelay(this.o.backoff, r.tries + 1, this.o.random));
    await this.o.store.outbound.retry(again.map((r) => ({ id: r.id, error, nextAttemptAt: now + delay(r), countTry: true })), now);
    if (spent.length > 0) {
      this.recover = true;
      this.armProbe();
      this.emit('failed', spent, error, 'connection');
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
    const putBack = async (back: OutboundRow[], error: string, now: number): Promise<void> => {
      if (back.length === 0) return;
      await this.o.store.outbound.retry(back.map((r) => ({ id: r.id, error, nextAttemptAt: now, countTry: false })), now);
    };
    while (queue.length > 0) {
      const part = queue.shift() as OutboundRow[];
      const now = this.now();
      const held = part.filter((r) => failedRecords.has(recordKey(r.recordTable, r.recordId)));
      const send = part.filter((r) => !failedRecords.has(recordKey(r.recordTable, r.recordId)));
      await putBack(held, reason('held'), now);
      if (send.length === 0) continue;
      const result = await this.o.client.postMessages(
        envelopeText(this.sender(), send.map((r) => r.payload)),
        send.map((r) => r.messageId),
        this.abort.signal,
      );
      if (result.kind === 'refused' && result.status !== 401 && result.status !== 403) {
        if (send.length === 1) {
          failedRecords.add(recordKey(send[0].recordTable, send[0].recordId));
          await this.o.store.outbound.fail([{ id: send[0].id, error: result.error, kind: 'refused' }], now);
          this.emit('failed', send, result.error, 'refused');
        } else {
          queue.unshift(send.slice(0, send.length >> 1), send.slice(send.length >> 1));
        }
        continue;
      }
      if (result.kind === 'delivered') {
        await this.record(send, result);
        continue;
      }
      // A connection or credentials problem: this part takes its outcome, the rest go back untried.
      await this.record(send, result);
      await putBack(queue.splice(0).flat(), reason('resent'), now);
      return;
    }
  }
}
