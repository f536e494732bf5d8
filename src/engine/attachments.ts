/**
 * Attachment sync for one open store: both ends of the protocol (see docs/protocol.md,
 * "Attachments"), run by one service that a runtime starts and stops.
 *
 * - As the origin (the record's files are ours): attachment-origin.ts, `prepare` and
 *   `recordSent` for the messages we send, `pull` and the pushes for a receiver's requests.
 * - As the receiver (the files go to one of our records): attachment-receiver.ts, `want`,
 *   the pushes it takes, and the staged files handed to the inbound-mode nodes.
 *
 * This facade owns what both share: the options, the rounds (timer and kick), the stop,
 * the cleaning of old rows and staged content, and the events the monitor listens to.
 */
import { EventEmitter } from 'node:events';
import type { CompleteRequest, CompleteResult, PullRequest, PullResult } from '../core/attachment-protocol';
import { timerDelay } from '../core/backoff';
import type { InboundFile, NewInboundFile, SentAttachment } from '../store/store';
import type { ApiFailure, ContentRef, ContentTarget } from '../transport/attachment-http';
import type { AttachmentContext, AttachmentEvents, AttachmentServiceOptions } from './attachment-context';
import { AttachmentOrigin, type PrepareRequest, type Prepared } from './attachment-origin';
import { AttachmentReceiver, type FileEndpoint, type FileOutcome } from './attachment-receiver';
import type { AttachmentStaging } from './attachment-staging';

export type { InboundFile, NewInboundFile, SentAttachment };
export type { AttachmentEvents, AttachmentServiceOptions } from './attachment-context';
export type { OutgoingFile, PrepareRequest, Prepared } from './attachment-origin';
export type { FileEndpoint, FileOutcome } from './attachment-receiver';

/** How often waiting files are looked for when nothing told us of them (retries, other processes). */
const DEFAULT_POLL_MS = 2000;
/** How long ended inbound files are remembered (what a record holds is known by them), and staged content nothing names is kept. */
const DEFAULT_KEEP_MS = 7 * 24 * 60 * 60 * 1000;
/** How long inbound files in error are remembered (and retryable from the monitor). */
const ERROR_KEEP_MS = 30 * 24 * 60 * 60 * 1000;
/** Content staged to send may be named by no row for this long: prepare() stages a file before it records it. */
const UNNAMED_CONTENT_MS = 24 * 60 * 60 * 1000;
const CLEAN_EVERY_MS = 60 * 60 * 1000;


export class AttachmentService extends EventEmitter<AttachmentEvents> {
  private readonly now: () => number;
  private readonly origin: AttachmentOrigin;
  private readonly receiver: AttachmentReceiver;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private cleanTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private started = false;
  private stopped = false;

  constructor(private readonly o: AttachmentServiceOptions) {
    super();
    this.now = o.now ?? Date.now;
    const ctx: AttachmentContext = {
      options: o,
      now: this.now,
      signal: this.abort.signal,
      stopped: () => this.stopped,
      fault: (err) => this.fault(err),
      file: (event) => this.emit('file', event),
      kick: () => this.kick(),
    };
    this.origin = new AttachmentOrigin(ctx);
    this.receiver = new AttachmentReceiver(ctx);
  }

  get staging(): AttachmentStaging {
    return this.o.staging;
  }

  /** Files a flow had when the process stopped go to a flow again; then rounds start. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.o.store
      .opened(true)
      .then(() => this.o.store.inboundFiles.releaseAtStart(this.now()))
      .then(() => this.kick())
      .catch((err: unknown) => this.fault(err));
    this.cleanTimer = setInterval(() => void this.clean().catch((err: unknown) => this.fault(err)), CLEAN_EVERY_MS);
    this.cleanTimer.unref();
  }

  /**
   * Forgets inbound files ended long ago (and their staged bytes), and removes staged
   * content to send that no registered attachment names any more. Bounded per run.
   */
  async clean(): Promise<void> {
    const now = this.now();
    const keepMs = this.o.keepMs ?? DEFAULT_KEEP_MS;
    // Files in error stay longer than the others: the monitor shows them for an operator to retry.
    for (const id of await this.o.store.inboundFiles.purgeFiles(now - keepMs, now - Math.max(keepMs, ERROR_KEEP_MS), 1000)) await this.o.staging.removeIn(id);
    await this.o.store.attachmentsOut.purge(now - keepMs, 1000);
    const candidates = await this.o.staging.outHashes(now - UNNAMED_CONTENT_MS);
    for (let i = 0; i < candidates.length; i += 500) {
      const batch = candidates.slice(i, i + 500);
      const used = await this.o.store.attachmentsOut.hashesInUse(batch);
      for (const hash of batch) if (!used.has(hash)) await this.o.staging.removeOut(hash);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    if (this.cleanTimer) clearInterval(this.cleanTimer);
    await this.running;
    await this.origin.settled();
  }

  private fault(err: unknown): void {
    if (!this.stopped) this.emit('fault', err instanceof Error ? err : new Error(String(err)));
  }

  // ---- the origin (attachment-origin.ts) ---------------------------------------------------

  /** Stages a record's files and records those a message to the remote system carries. */
  prepare(req: PrepareRequest): Promise<Prepared> {
    return this.origin.prepare(req);
  }

  /** The message that carries these attachments is queued: from now on the remote has them. */
  recordSent(rows: readonly SentAttachment[]): Promise<void> {
    return this.origin.recordSent(rows);
  }

  /** A receiver's pull request (`remoteSystem`: the config node id it authenticated as). */
  pull(remoteSystem: string, request: PullRequest): Promise<{ status: 202; results: PullResult[] } | ApiFailure> {
    return this.origin.pull(remoteSystem, request);
  }

  // ---- the receiver (attachment-receiver.ts) -------------------------------------------------

  /** Records the files a target record lacks (refusing those that cannot be taken). */
  want(files: readonly (NewInboundFile & { refusal?: string })[]): Promise<InboundFile[]> {
    return this.receiver.want(files);
  }

  /** A file that cannot be taken (its name cannot be stored): refused for good, never asked for. */
  refuse(id: number, error: string): Promise<void> {
    return this.receiver.refuse(id, error);
  }

  /** What a local record has, as far as a message from `remoteSystem` is concerned. */
  held(remoteSystem: string, table: string, id: string): Promise<{ hash: string; fileName: string }[]> {
    return this.receiver.held(remoteSystem, table, id);
  }

  /** Of the removals a message from `remoteSystem` announces, those of files that remote had. */
  removalsFrom(remoteSystem: string, table: string, id: string, removed: readonly { hash: string; fileName: string }[]): Promise<{ hash: string; fileName: string }[]> {
    return this.receiver.removalsFrom(remoteSystem, table, id, removed);
  }

  /** The remote removed these files from its twin of a local record: not announced back to it. */
  removedThere(remoteSystem: string, table: string, id: string, removed: readonly { hash: string; fileName: string }[]): Promise<void> {
    return this.receiver.removedThere(remoteSystem, table, id, removed);
  }

  /** Where a push for one of our requested files goes, decided before any byte is read. */
  contentTarget(remoteSystem: string, ref: ContentRef): Promise<ContentTarget> {
    return this.receiver.contentTarget(remoteSystem, ref);
  }

  contentWritten(remoteSystem: string, ref: ContentRef, received: number): Promise<void> {
    return this.receiver.contentWritten(remoteSystem, ref, received);
  }

  /** The origin says a transfer is complete: each file is verified, and staged or asked for again. */
  complete(remoteSystem: string, request: CompleteRequest): Promise<{ status: 200; results: CompleteResult[] } | ApiFailure> {
    return this.receiver.complete(remoteSystem, request);
  }

  /** An inbound-mode node's endpoint; the function returned removes it (its node closed). */
  addEndpoint(remoteSystem: string, processEvent: string, target: FileEndpoint): () => void {
    return this.receiver.addEndpoint(remoteSystem, processEvent, target);
  }

  /** The flow ended file `id` (rps-complete). False when it was ended already. */
  finishFile(id: number, outcome: FileOutcome): Promise<boolean> {
    return this.receiver.finishFile(id, outcome);
  }

  // ---- rounds ----------------------------------------------------------------------------

  /** Runs a round now (or right after the one running). */
  kick(): void {
    if (this.stopped || !this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.round()
      .catch((err: unknown) => this.fault(err))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.kick();
        } else {
          this.timer = setTimeout(() => this.kick(), timerDelay(this.o.pollMs ?? DEFAULT_POLL_MS));
          this.timer.unref();
        }
      });
  }

  private async round(): Promise<void> {
    await this.o.store.opened();
    await this.receiver.round();
  }
}
