/**
 * One remote system as the engine sees it: the HTTP client, the outbox sender, and a
 * group-committing entrance to the outbound queue.
 */
import { EventEmitter } from 'node:events';
import type { BackoffPolicy } from '../core/backoff';
import type { MessageDraft } from '../core/protocol';
import { describeReason, type ReasonText } from '../core/reasons';
import type { Enqueued, Store } from '../store/store';
import { type HandshakeOutcome, type OutboundAuth, RemoteClient, type TlsOptions } from '../transport/client';
import { SourceClient } from '../transport/source';
import { Batcher } from './batcher';
import { fixedIdentity, type LinkIdentity } from './link-identity';
import type { StatsRecorder } from './metrics';
import { Outbox, type RemoteState } from './outbox';

export interface RemoteSystemOptions {
  id: string;
  /** The key of this link's rows (see link-identity.ts); default: the id, fixed. */
  identity?: LinkIdentity;
  url: string;
  auth: OutboundAuth;
  tls?: TlsOptions;
  timeoutMs: number;
  batchSize: number;
  maxInFlight: number;
  lingerMs: number;
  backoff: BackoffPolicy;
  maxTries: number;
  probeIntervalMs: number;
  store: Store;
  /** How we name ourselves to the remote (rps-store's instance name). */
  senderName: string;
  owner: string;
  /** Where the monitor's statistics count this sender's rows as they finish. */
  stats?: StatsRecorder;
  /** Words the sender's own reasons (codes in the rows' last error) where they are shown; without it they show as codes. */
  reasonText?: ReasonText;
}

export interface RemoteSystemEvents {
  state: [state: RemoteState, error: string | undefined];
  /** Rows set to `error`, with their last error as a person reads it. */
  failed: [count: number, error: string];
  requeued: [count: number];
  fault: [error: Error];
  paused: [paused: boolean];
}

export class RemoteSystem extends EventEmitter<RemoteSystemEvents> {
  readonly outbox: Outbox;
  private readonly client: RemoteClient;
  private readonly enqueuer: Batcher<{ message: MessageDraft; journalOnly: boolean }, Enqueued>;

  constructor(private readonly o: RemoteSystemOptions) {
    super();
    this.client = new RemoteClient({ url: o.url, auth: o.auth, tls: o.tls, timeoutMs: o.timeoutMs, maxSockets: o.maxInFlight * 2 });
    const identity = o.identity ?? fixedIdentity(o.id);
    this.outbox = new Outbox({
      get remoteSystem() {
        return identity.value;
      },
      learn: (instanceId) => identity.learn(instanceId, 'answer'),
      peerKnown: () => identity.peer !== undefined || o.identity === undefined,
      store: o.store,
      client: this.client,
      senderName: o.senderName,
      owner: o.owner,
      batchSize: o.batchSize,
      maxInFlight: o.maxInFlight,
      // A claimed row is another worker's to take only well after our request has given up.
      leaseMs: o.timeoutMs * 2 + 10_000,
      lingerMs: o.lingerMs,
      backoff: o.backoff,
      maxTries: o.maxTries,
      probeIntervalMs: o.probeIntervalMs,
    });
    this.outbox.on('state', (state, error) => this.emit('state', state, error === undefined ? undefined : this.describe(error)));
    this.outbox.on('failed', (rows, error, kind) => {
      // Counted as errors: rows refused for their own sake. Rows failed for the remote's
      // (connection, credentials) come back by themselves when it does, and may fail
      // again at every outage: the remote's state tells those, and the rows in error.
      if (kind === 'refused') o.stats?.rows('outbound', rows);
      this.emit('failed', rows.length, this.describe(error));
    });
    // Processing time on the sender: from the row's queueing (the capture) to processed.
    this.outbox.on('delivered', (rows) => o.stats?.rows('outbound', rows.map((r) => ({ remoteSystem: r.remoteSystem, processEvent: r.processEvent, since: r.createdAt }))));
    this.outbox.on('requeued', (count) => this.emit('requeued', count));
    this.outbox.on('fault', (err) => this.emit('fault', err));
    this.outbox.on('paused', (paused) => this.emit('paused', paused));
    this.enqueuer = new Batcher((drafts) =>
      identity.hold((key) => {
        const now = Date.now();
        return this.o.store.outbound.enqueue(
          drafts.map(({ message, journalOnly }) => ({ remoteSystem: key, message, ...(journalOnly ? { journalOnly } : {}) })),
          now,
        );
      }),
    );
  }

  /** The remote's base URL, normalised (a lower-case scheme). */
  get url(): string {
    return this.o.url;
  }

  /** The retry delays of this remote's sender (a delta load's REST source retries alike). */
  get backoff(): BackoffPolicy {
    return this.o.backoff;
  }

  /** How many tries a row of this remote gets before it stays in error (attachment files count alike). */
  get maxTries(): number {
    return this.o.maxTries;
  }

  /** The client that calls this remote for attachment transfers (same tokens, agents and TLS as the sender). */
  get attachmentClient(): RemoteClient {
    return this.client;
  }

  /** A client for a delta load's REST source that authenticates as we do to this remote (same tokens, same TLS). */
  sourceClient(): SourceClient {
    return new SourceClient({ auth: this.o.auth, tls: this.o.tls, timeoutMs: this.o.timeoutMs });
  }

  get state(): RemoteState {
    return this.outbox.state;
  }

  /** Paused by an operator (Outbox.pause): nothing is sent, messages keep queueing. */
  get paused(): boolean {
    return this.outbox.paused;
  }

  /** Why the remote is in `error`, as a person reads it. */
  get lastError(): string | undefined {
    const error = this.outbox.lastError;
    return error === undefined ? undefined : this.describe(error);
  }

  /** A last error (a row's or the sender's) as a person reads it: the sender's own reasons worded, other texts as they are. */
  describe(error: string): string {
    return describeReason(error, this.o.reasonText);
  }

  /** Starts the sender: sending when `active`, else `disabled` until activate(). */
  async start(active = true): Promise<void> {
    await this.outbox.start(active);
  }

  /** From `disabled` to `active`: what waited in the queue is sent. */
  activate(): void {
    this.outbox.activate();
  }

  /** Holds back sending (Outbox.pause); messages keep queueing. */
  pause(): void {
    this.outbox.pause();
  }

  /** Sends what waited (Outbox.resume). */
  resume(): void {
    this.outbox.resume();
  }

  /** Calls the remote's handshake as the sender would (for Validate and activate); a failure as a person reads it. */
  async handshake(): Promise<HandshakeOutcome> {
    const outcome = await this.client.handshake();
    return outcome.ok ? outcome : { ...outcome, error: this.describe(outcome.error) };
  }

  /**
   * Resolves once the message is committed to the outbound queue: from then on it is
   * durable. A journal-only change whose entries the remote has already is not queued
   * (`skipped`).
   */
  async enqueue(draft: MessageDraft, journalOnly = false): Promise<Enqueued> {
    const queued = await this.enqueuer.add({ message: draft, journalOnly });
    if (!queued.skipped) this.outbox.queued(1);
    return queued;
  }

  async stop(): Promise<void> {
    await this.enqueuer.drain();
    await this.outbox.stop();
    this.client.close();
  }
}
