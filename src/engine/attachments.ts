/**
 * Attachment sync for one open store: both ends of the protocol (see docs/protocol.md,
 * "Attachments").
 *
 * As the origin (the record's files are ours):
 * - `prepare` stages the files a flow gives, registers them per remote system, and
 *   returns the metadata a message carries (with a synthetic key each) and the removals;
 * - `pull` answers a receiver's pull request: each key is opened with the caller's link
 *   key, so a forged, foreign or expired key is refused; the accepted files are then
 *   pushed to the receiver, from where it has them, and their completion is signalled.
 *
 * As the receiver (the files go to one of our records):
 * - `want` records the files a target record lacks (rows `wanted`);
 * - a round asks each origin for its wanted files (pull requests), and asks again for
 *   those whose push never completed (a row stays `requested` until its deadline);
 * - `contentTarget` / `contentWritten` / `complete` take the pushes: bytes go to the
 *   staging file, and a completed file is verified (size, SHA-256) before it is `staged`;
 * - staged files are handed to the inbound-mode nodes, oldest first and in order per
 *   record, and `finishFile` records what the flow did (rps-complete).
 *
 * Nothing here holds a file in memory: content moves between disk and socket as streams.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import {
  type AttachmentLimits,
  type AttachmentStrategy,
  attachmentKey,
  type LimitRefusal,
  limitRefusal,
  MAX_SENT_NAME_CHARS,
  safeFileName,
  newAttachmentSecret,
  openAttachmentKey,
  planAttachments,
  type SentVersion,
} from '../core/attachments';
import type { CompleteFile, CompleteRequest, CompleteResult, PullRequest, PullResult } from '../core/attachment-protocol';
import { type BackoffPolicy, backoffDelay, timerDelay } from '../core/backoff';
import type { AttachmentMeta, RemovedAttachment } from '../core/protocol';
import type { InboundFile, NewInboundFile, SentAttachment, Store } from '../store/store';
import type { ApiFailure, ContentRef, ContentTarget } from '../transport/attachment-http';
import { type AttachmentContent, AttachmentStaging, ContentTooLargeError } from './attachment-staging';
import type { RemoteSystem } from './remote';
import { ATTACHMENT_KEY_SECRET, type StoreSecrets } from './secrets';

export type { InboundFile, NewInboundFile, SentAttachment };

/** Files asked for in one pull request. */
const PULL_BATCH = 20;
/** How long a pull request may take to complete before its files are asked for again (a push resumes where it stopped). */
const DEFAULT_PULL_DEADLINE_MS = 5 * 60 * 1000;
/** How often waiting files are looked for when nothing told us of them (retries, other processes). */
const DEFAULT_POLL_MS = 2000;
/** Files of one inbound-mode node in its flow at once. */
const MAX_IN_FLOW = 4;
/** A flow that holds a file longer than this without ending it gets it again later (a copy of a large file takes a while). */
const DEFAULT_FLOW_TIMEOUT_MS = 10 * 60 * 1000;
/** How often one transfer waits for a receiver that answers "later" (429/503), and for how long at most each time. */
const MAX_LATER_WAITS = 20;
const MAX_LATER_WAIT_MS = 30_000;
/** Tries of a file when no remote system of its link is deployed (its own: RemoteSystem.maxTries). */
const DEFAULT_MAX_TRIES = 5;
/** Pull requests for one file before it stays in error, whatever failed (a bound on an origin that accepts and never pushes). */
const MAX_REQUESTS = 50;
/** Transfers accepted and waiting to be pushed; past it, pull requests are answered 503. */
const MAX_QUEUED_PUSHES = 100;
/** Pushes in progress at once, over all remotes. */
const MAX_PUSHES = 2;
/** How long ended inbound files are remembered (what a record holds is known by them), and staged content nothing names is kept. */
const DEFAULT_KEEP_MS = 7 * 24 * 60 * 60 * 1000;
/** How long inbound files in error are remembered (and retryable from the monitor). */
const ERROR_KEEP_MS = 30 * 24 * 60 * 60 * 1000;
/** Content staged to send may be named by no row for this long: prepare() stages a file before it records it. */
const UNNAMED_CONTENT_MS = 24 * 60 * 60 * 1000;
const CLEAN_EVERY_MS = 60 * 60 * 1000;

/** One file a flow gives to send. */
export interface OutgoingFile {
  /** The attachment's id on the record (the file name when the flow gives none). */
  id: string;
  fileName: string;
  contentType: string;
  content: AttachmentContent;
}

export interface PrepareRequest {
  /** The remote system's config node id. */
  remoteSystem: string;
  table: string;
  recordId: string;
  files: readonly OutgoingFile[];
  strategy: AttachmentStrategy;
  removals: boolean;
  limits: AttachmentLimits;
  keyLifetimeMs: number;
}

export interface Prepared {
  attachments: AttachmentMeta[];
  removed: RemovedAttachment[];
  /** Kept back by the limits: recorded, reported, never sent. */
  refused: { fileName: string; reason: LimitRefusal }[];
  /** What to record with recordSent once the message is queued. */
  toRecord: SentAttachment[];
}

/** An inbound-mode node: where staged files of its (remote system, process event) go. */
export interface FileEndpoint {
  /** Hands one staged file (its content at `path`) to the flow. */
  emit(file: InboundFile, path: string): void;
}

export type FileOutcome = { ok: true } | { ok: false; error: string };

export interface AttachmentServiceOptions {
  store: Store;
  staging: AttachmentStaging;
  secrets: StoreSecrets;
  /** The link key of a remote system (config node id), once read from the store. */
  keyFor(remoteSystem: string): Promise<string>;
  /** The remote systems of this runtime that can call their remote (config node id → sender). */
  remotes(): ReadonlyMap<string, RemoteSystem>;
  /** Whether the inbound side of a remote system is held (paused). */
  inboundHeld(remoteSystem: string): boolean;
  /** Tries of a file (pulls, then flow attempts) before it stays in error. */
  maxTries?: number;
  pullDeadlineMs?: number;
  pollMs?: number;
  /** How long a failed file waits before it is tried again (default: 5 s doubling to 10 min). */
  retryBackoff?: BackoffPolicy;
  /** How long a flow may take to end a file it was handed (complete) before it is handed again. */
  flowTimeoutMs?: number;
  /** How long stored and refused inbound files are remembered. */
  keepMs?: number;
  now?: () => number;
}

export interface AttachmentEvents {
  /** Something failed that nobody else is told of (a store outage, a remote that cannot be reached). */
  fault: [error: Error];
  /** A file was verified and staged, or refused / failed for good: the monitor and the node statuses listen. */
  file: [file: { id: number; status: 'staged' | 'stored' | 'error' | 'refused'; error?: string }];
}

interface Endpoint {
  remoteSystem: string;
  processEvent: string;
  target: FileEndpoint;
  inFlow: number;
  /** Removed (its node closed): its files still in a flow are handed again, elsewhere or later. */
  closed: boolean;
}

interface AcceptedFile {
  id: number;
  hash: string;
  size: number;
  offset: number;
}

export class AttachmentService extends EventEmitter<AttachmentEvents> {
  private readonly now: () => number;
  private readonly maxTries: number;
  private secret: Promise<Buffer> | undefined;
  private readonly endpoints = new Set<Endpoint>();
  /** Files in a flow now, by row id: whose endpoint, and since when. */
  private readonly inFlow = new Map<number, { endpoint: Endpoint; since: number }>();
  private readonly pushes = new Map<string, Promise<void>>();
  /** The receiver's pull requests answered and not completed yet: their file ids (in memory: a restart asks again anyway). */
  private readonly transfers = new Map<string, { ids: number[]; at: number }>();
  private readonly pushQueue: { remote: RemoteSystem; transfer: string; files: AcceptedFile[] }[] = [];
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
    this.maxTries = o.maxTries ?? DEFAULT_MAX_TRIES;
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
    await Promise.allSettled([...this.pushes.values()]);
  }

  private fault(err: unknown): void {
    if (!this.stopped) this.emit('fault', err instanceof Error ? err : new Error(String(err)));
  }

  private keySecret(): Promise<Buffer> {
    this.secret ??= this.o.secrets
      .init(this.o.store, ATTACHMENT_KEY_SECRET, () => newAttachmentSecret().toString('base64'), this.now())
      .then((text) => Buffer.from(text, 'base64'));
    // A failure (store unavailable) is not kept: the next call reads again.
    this.secret.catch(() => (this.secret = undefined));
    return this.secret;
  }

  // ---- the origin ------------------------------------------------------------------------

  /**
   * Stages a record's files, decides which the message carries (strategy, removals) and
   * records them for the remote system. Files the limits keep back are recorded as
   * refused and returned, never staged.
   */
  async prepare(req: PrepareRequest): Promise<Prepared> {
    const staged: { id: string; hash: string; fileName: string; contentType: string; size: number }[] = [];
    const refused: Prepared['refused'] = [];
    for (const file of req.files) {
      // Refused by its name before a byte is read.
      const byName = limitRefusal({ fileName: file.fileName, size: 0 }, { maxBytes: 0, extensions: req.limits.extensions });
      if (byName) {
        refused.push({ fileName: file.fileName, reason: byName });
        if (file.content instanceof Readable) file.content.destroy();
        continue;
      }
      try {
        const { hash, size } = await this.o.staging.stageOut(file.content, req.limits.maxBytes);
        staged.push({ id: file.id, hash, fileName: file.fileName, contentType: file.contentType, size });
      } catch (err) {
        if (!(err instanceof ContentTooLargeError)) throw err;
        refused.push({ fileName: file.fileName, reason: 'too-large' });
      }
    }
    const link = await this.o.keyFor(req.remoteSystem);
    // What the remote has of this record: what we sent it, and what came from it (registered
    // as it was stored, see finishFile), so that nothing it gave us goes back (no echo) and
    // a file it gave us that is gone from the record is announced as removed.
    const registered = await this.o.store.attachmentsOut.ofRecord(link, req.table, req.recordId);
    const sent = new Map<string, SentVersion>();
    for (const r of registered) if (r.status === 'sent') sent.set(r.attachmentId, { hash: r.hash, fileName: r.fileName });
    const plan = planAttachments(req.strategy, staged, sent, req.removals);
    const now = this.now();
    const secret = await this.keySecret();
    const expiresAt = now + req.keyLifetimeMs;
    const attachments = plan.send.map((f) => ({
      key: attachmentKey(secret, link, { table: req.table, recordId: req.recordId, attachmentId: f.id, hash: f.hash, expiresAt }),
      hash: f.hash,
      fileName: f.fileName,
      contentType: f.contentType,
      size: f.size,
    }));
    const row = (f: { id: string; hash: string; fileName: string; contentType: string; size: number }, status: SentAttachment['status'], reason?: string): SentAttachment => ({
      remoteSystem: link,
      table: req.table,
      recordId: req.recordId,
      attachmentId: f.id,
      hash: f.hash,
      fileName: f.fileName,
      contentType: f.contentType,
      size: f.size,
      status,
      ...(reason === undefined ? {} : { reason }),
      updatedAt: now,
    });
    const removedIds = new Set(plan.removed);
    const removedRows = registered.filter((r) => removedIds.has(r.attachmentId));
    const rows = [
      ...plan.send.map((f) => row(f, 'sent')),
      ...removedRows.map((r) => ({ ...r, status: 'removed' as const, updatedAt: now })),
      ...refused.map((r) => {
        const file = req.files.find((f) => f.fileName === r.fileName);
        return row({ id: (file?.id ?? r.fileName).slice(0, MAX_SENT_NAME_CHARS), hash: '', fileName: r.fileName.slice(0, MAX_SENT_NAME_CHARS), contentType: file?.contentType ?? '', size: 0 }, 'refused', r.reason);
      }),
    ];
    // Refusals are recorded now; what the message carries only once it is queued (recordSent).
    const refusedRows = rows.filter((r) => r.status === 'refused');
    if (refusedRows.length > 0) await this.o.store.attachmentsOut.record(refusedRows);
    return { attachments, removed: removedRows.map((r) => ({ hash: r.hash, fileName: r.fileName })), refused, toRecord: rows.filter((r) => r.status !== 'refused') };
  }

  /**
   * The message that carries these attachments (and removals) is queued: from now on the
   * remote has them. Recorded after the queueing, so a message that is never queued (a
   * crash before send, a refusal) leaves them to be sent with the next one; a crash
   * between the two sends them once more, which the receiver recognises.
   */
  async recordSent(rows: readonly SentAttachment[]): Promise<void> {
    if (rows.length > 0) await this.o.store.attachmentsOut.record(rows);
  }

  /**
   * A receiver's pull request (`remoteSystem`: the config node id it authenticated as):
   * every key is checked, and the accepted files are pushed once this has answered.
   */
  async pull(remoteSystem: string, request: PullRequest): Promise<{ status: 202; results: PullResult[] } | ApiFailure> {
    const remote = this.o.remotes().get(remoteSystem);
    if (!remote || remote.url === '') {
      return { status: 409, code: 'no-callback', error: 'this remote system has no URL here to push attachments to' };
    }
    const link = await this.o.keyFor(remoteSystem);
    const secret = await this.keySecret();
    const now = this.now();
    const results: PullResult[] = [];
    const accepted: AcceptedFile[] = [];
    for (const file of request.files) {
      // A key made before the link learned who the remote is names its node id instead.
      let opened = openAttachmentKey(secret, link, file.key, now);
      if (!opened.ok && opened.reason === 'forged' && link !== remoteSystem) opened = openAttachmentKey(secret, remoteSystem, file.key, now);
      if (!opened.ok) {
        results.push({ id: file.id, status: 'refused', code: opened.reason, error: KEY_REFUSALS[opened.reason] });
        continue;
      }
      // Only prepare() makes keys, for content it staged: the key's claims are the proof, and
      // the content is found by its hash (recorded as sent only once its message is queued,
      // which a receiver may outrun).
      const { claims } = opened;
      const size = await this.o.staging.outSize(claims.hash);
      if (size === undefined) {
        results.push({ id: file.id, status: 'refused', code: 'gone', error: 'the attachment is no longer kept here' });
        continue;
      }
      results.push({ id: file.id, status: 'accepted' });
      // An offset past the end (not ours to have) starts the file again.
      accepted.push({ id: file.id, hash: claims.hash, size, offset: file.offset <= size ? file.offset : 0 });
    }
    if (accepted.length > 0 && this.pushQueue.length >= MAX_QUEUED_PUSHES) {
      return { status: 503, code: 'busy', error: `${MAX_QUEUED_PUSHES} transfers are waiting to be pushed: ask again later` };
    }
    if (accepted.length > 0 && !this.pushes.has(request.transfer) && !this.pushQueue.some((job) => job.transfer === request.transfer)) {
      this.pushQueue.push({ remote, transfer: request.transfer, files: accepted });
      // After the answer: the receiver must know the transfer before its first push arrives.
      setImmediate(() => this.nextPush());
    }
    return { status: 202, results };
  }

  private nextPush(): void {
    while (!this.stopped && this.pushes.size < MAX_PUSHES && this.pushQueue.length > 0) {
      const job = this.pushQueue.shift();
      if (!job) return;
      const run = this.push(job.remote, job.transfer, job.files)
        .catch((err: unknown) => this.fault(err))
        .finally(() => {
          this.pushes.delete(job.transfer);
          this.nextPush();
        });
      this.pushes.set(job.transfer, run);
    }
  }

  /**
   * Pushes the accepted files of one pull request in order, each from the offset the
   * receiver has, then signals completion. A receiver that says "later" (429 or 503 with
   * Retry-After: its rate limit counts our pushes too) is waited for, a few times; a push
   * that fails otherwise ends the transfer, and the completion names the files not sent
   * as `interrupted`, so that the receiver asks for them again soon (not at its deadline).
   */
  private async push(remote: RemoteSystem, transfer: string, files: readonly AcceptedFile[]): Promise<void> {
    const client = remote.attachmentClient;
    const done: CompleteFile[] = [];
    let waits = 0;
    /** Waits out a "later" answer: false when it has waited too often, or is stopping. */
    const later = async (result: { kind: string; retryAfterMs?: number }): Promise<boolean> => {
      if (result.kind !== 'transient' || result.retryAfterMs === undefined || waits >= MAX_LATER_WAITS || this.stopped) return false;
      waits += 1;
      await abortableDelay(Math.min(result.retryAfterMs, MAX_LATER_WAIT_MS), this.abort.signal);
      return !this.stopped;
    };
    let failure: string | undefined;
    for (const file of files) {
      if (failure !== undefined) {
        done.push({ id: file.id, status: 'refused', code: 'interrupted', error: failure });
        continue;
      }
      let offset = file.offset;
      let pushed = false;
      // A 409 tells where the receiver is: one more push from there.
      for (let attempt = 0; attempt < 2 && !pushed && failure === undefined; ) {
        const length = file.size - offset;
        const body = length > 0 ? createReadStream(this.o.staging.outPath(file.hash), { start: offset }) : Readable.from([]);
        const result = await client.pushAttachment({ transfer, file: file.id, offset }, length, body, this.abort.signal);
        body.destroy();
        if (result.kind === 'ok') pushed = true;
        else if (result.kind === 'offset') {
          offset = result.received;
          attempt += 1;
        } else if (!(await later(result))) failure = `pushing it to ${remote.url} failed: ${result.error}`;
      }
      if (pushed) done.push({ id: file.id, status: 'sent' });
      else done.push({ id: file.id, status: 'refused', code: 'interrupted', error: failure ?? 'the receiver kept answering with another offset' });
    }
    if (failure !== undefined && !this.stopped) this.emit('fault', new Error(failure));
    for (;;) {
      const answer = await client.completeAttachments({ transfer, files: done }, this.abort.signal);
      if (answer.kind === 'ok' || !(await later(answer))) {
        if (answer.kind !== 'ok' && !this.stopped) this.emit('fault', new Error(`signalling attachments complete to ${remote.url} failed: ${answer.error}`));
        return;
      }
    }
  }

  // ---- the receiver ----------------------------------------------------------------------

  /**
   * Records the files a target record lacks; asking for them starts once those that
   * cannot be taken (`refusal`: why, e.g. a name that cannot be stored) are refused.
   */
  async want(files: readonly (NewInboundFile & { refusal?: string })[]): Promise<InboundFile[]> {
    if (files.length === 0) return [];
    const rows = await this.o.store.inboundFiles.want(
      files.map(({ refusal: _refusal, ...file }) => file),
      this.now(),
    );
    for (const [i, file] of files.entries()) if (file.refusal !== undefined && rows[i]) await this.refuse(rows[i].id, file.refusal);
    this.kick();
    return rows;
  }

  /** A file that cannot be taken (its name cannot be stored): refused for good, never asked for. */
  async refuse(id: number, error: string): Promise<void> {
    const row = await this.o.store.inboundFiles.get(id);
    if (row && (row.status === 'wanted' || row.status === 'requested')) await this.failPull(row, 'refused', error);
  }

  /**
   * What a local record has, as far as a message from `remoteSystem` (config node id) is
   * concerned: the files it has (or is getting) from remotes, and the files we gave that
   * remote of it (which it sends back to us when it syncs its copy: no echo).
   */
  async held(remoteSystem: string, table: string, id: string): Promise<{ hash: string; fileName: string }[]> {
    const link = await this.o.keyFor(remoteSystem);
    const sent = (await this.o.store.attachmentsOut.ofRecord(link, table, id)).filter((r) => r.status === 'sent');
    return [...(await this.o.store.inboundFiles.held(table, id)), ...sent.map((r) => ({ hash: r.hash, fileName: r.fileName }))];
  }

  /**
   * Of the removals a message from `remoteSystem` announces for a local record, those of
   * files that remote had of it: given to us by it, or sent to it by us (same name and
   * hash). A remote cannot remove what it never had.
   */
  async removalsFrom(remoteSystem: string, table: string, id: string, removed: readonly { hash: string; fileName: string }[]): Promise<{ hash: string; fileName: string }[]> {
    if (removed.length === 0) return [];
    const link = await this.o.keyFor(remoteSystem);
    const sent = (await this.o.store.attachmentsOut.ofRecord(link, table, id)).filter((r) => r.status === 'sent');
    const had = new Set([...(await this.o.store.inboundFiles.held(table, id, link)), ...sent].map((h) => `${h.hash}\u0000${h.fileName}`));
    return removed.filter((r) => had.has(`${r.hash}\u0000${r.fileName}`));
  }

  /** Where a push for one of our requested files goes, decided before any byte is read. */
  async contentTarget(remoteSystem: string, ref: ContentRef): Promise<ContentTarget> {
    const row = await this.requested(remoteSystem, ref.transfer, ref.file);
    if (!row) return { ok: false, status: 404, code: 'unknown-transfer', error: `no file ${ref.file} is asked for in transfer ${ref.transfer.slice(0, 200)}` };
    if (ref.offset !== row.received) return { ok: false, status: 409, code: 'offset', error: `this file has ${row.received} bytes here`, received: row.received };
    if (ref.offset + ref.length > row.size) return { ok: false, status: 413, code: 'too-large', error: `more than the ${row.size} bytes announced` };
    return { ok: true, path: await this.o.staging.inPath(row.id) };
  }

  async contentWritten(remoteSystem: string, ref: ContentRef, received: number): Promise<void> {
    const row = await this.requested(remoteSystem, ref.transfer, ref.file);
    if (!row) return;
    await this.o.store.inboundFiles.setReceived(row.id, ref.transfer, received, this.now());
    // The push broke off (the origin stopped, or the connection): no completion will come
    // for it, so the file is asked for again after a backoff rather than at its deadline,
    // from the bytes that arrived.
    if (received < ref.offset + ref.length) {
      await this.failPull({ ...row, received }, 'again', `the push of this file broke off after ${received} of ${row.size} bytes`);
      await this.transferBroken(ref.transfer, row.id);
      this.kick();
    }
  }

  /**
   * A push of `transfer` broke off: the origin stopped (or lost us), so the files after it
   * in the same pull request will not come either. They are asked for again after a
   * backoff rather than at the transfer's deadline.
   */
  private async transferBroken(transfer: string, broken: number): Promise<void> {
    const ids = this.transfers.get(transfer)?.ids ?? [];
    this.transfers.delete(transfer);
    for (const id of ids) {
      if (id === broken) continue;
      const row = await this.o.store.inboundFiles.inTransfer(transfer, id);
      if (row) await this.failPull({ ...row, received: await this.o.staging.inSize(id) }, 'again', 'the push of another file of its transfer broke off');
    }
  }

  /** The origin says a transfer is complete: each file is verified, and staged or asked for again. */
  async complete(remoteSystem: string, request: CompleteRequest): Promise<{ status: 200; results: CompleteResult[] } | ApiFailure> {
    const results: CompleteResult[] = [];
    this.transfers.delete(request.transfer);
    for (const file of request.files) {
      const row = await this.requested(remoteSystem, request.transfer, file.id);
      if (!row) {
        results.push({ id: file.id, status: 'unknown' });
        continue;
      }
      if (file.status === 'refused') {
        // Interrupted: the origin could not push it now; asked for again after a backoff, from what arrived.
        if (file.code === 'interrupted') await this.failPull({ ...row, received: await this.o.staging.inSize(row.id) }, 'again', `the origin's push was interrupted: ${file.error}`);
        else await this.failPull(row, 'refused', `${file.code}: ${file.error}`);
        results.push({ id: file.id, status: 'refused' });
        continue;
      }
      results.push({ id: file.id, status: await this.verify(row, request.transfer) });
    }
    this.kick();
    return { status: 200, results };
  }

  private async verify(row: InboundFile, transfer: string): Promise<CompleteResult['status']> {
    const files = this.o.store.inboundFiles;
    const verdict = await this.o.staging.verifyIn(row.id, row.size, row.hash);
    if (verdict === 'verified') {
      // On disk before the row says so: a power cut must not leave a staged row with lost bytes.
      await this.o.staging.syncIn(row.id);
      if (await files.markStaged(row.id, transfer, this.now())) this.emit('file', { id: row.id, status: 'staged' });
      return 'verified';
    }
    if (verdict === 'incomplete') {
      // Some bytes did not arrive: asked for again at once, from what is here.
      await files.failPull(row.id, { status: 'wanted', nextAt: this.now(), received: await this.o.staging.inSize(row.id) }, 'the transfer ended before the whole file arrived', this.now());
      return 'incomplete';
    }
    // Not the announced content: nothing of it is kept, and nothing reaches the flow.
    await this.o.staging.removeIn(row.id);
    await this.failPull({ ...row, received: 0 }, 'retry', 'the content does not match its size or SHA-256');
    return 'mismatch';
  }

  /**
   * The retry policy of the remote system a file comes from (its link key): its backoff and
   * tries, as its messages have; the service's own when set (tests), or the defaults when
   * no remote system of that link is deployed.
   */
  private async policyOf(link: string): Promise<{ backoff: BackoffPolicy; maxTries: number }> {
    let remote: RemoteSystem | undefined;
    for (const [id, r] of this.o.remotes()) {
      if ((await this.o.keyFor(id)) === link) {
        remote = r;
        break;
      }
    }
    return {
      backoff: this.o.retryBackoff ?? remote?.backoff ?? RETRY_BACKOFF,
      maxTries: this.o.maxTries ?? remote?.maxTries ?? this.maxTries,
    };
  }

  /**
   * A pull of `row` failed. `retry`: its content was wrong, asked for again after a backoff
   * until the remote system's tries are used up (then `error`); `again`: the origin could
   * not be reached or its push broke off, which says nothing of the file: asked for again
   * after a backoff, however often (as messages wait for a remote that is down);
   * `refused`: for good.
   */
  private async failPull(row: InboundFile, how: 'retry' | 'again' | 'refused', error: string): Promise<void> {
    const now = this.now();
    const policy = await this.policyOf(row.remoteSystem);
    const to =
      how === 'refused'
        ? ({ status: 'refused' } as const)
        : how === 'retry' && row.attempts >= policy.maxTries
          ? ({ status: 'error' } as const)
          : ({ status: 'wanted', nextAt: now + backoffDelay(policy.backoff, Math.min(row.attempts, 20)), received: row.received } as const);
    await this.o.store.inboundFiles.failPull(row.id, to, error, now);
    if (to.status !== 'wanted') {
      await this.o.staging.removeIn(row.id);
      this.emit('file', { id: row.id, status: to.status, error });
    }
  }

  /** A row `requested` in `transfer` from this remote system's link, or undefined. */
  private async requested(remoteSystem: string, transfer: string, id: number): Promise<InboundFile | undefined> {
    const row = await this.o.store.inboundFiles.inTransfer(transfer, id);
    if (!row) return undefined;
    return row.remoteSystem === (await this.o.keyFor(remoteSystem)) ? row : undefined;
  }

  addEndpoint(remoteSystem: string, processEvent: string, target: FileEndpoint): () => void {
    const endpoint: Endpoint = { remoteSystem, processEvent, target, inFlow: 0, closed: false };
    this.endpoints.add(endpoint);
    this.kick();
    return () => {
      this.endpoints.delete(endpoint);
      // Its files in a flow now may never be ended (a redeploy replaced the flow): the next round hands them again.
      endpoint.closed = true;
      this.kick();
    };
  }

  /**
   * The flow ended file `id` (rps-complete): stored, or failed (tried again after a
   * backoff, until maxTries). False when it was ended already.
   */
  async finishFile(id: number, outcome: FileOutcome): Promise<boolean> {
    const inFlow = this.inFlow.get(id);
    const row = await this.o.store.inboundFiles.get(id);
    if (!row) return false;
    const now = this.now();
    const policy = await this.policyOf(row.remoteSystem);
    const final = outcome.ok || row.attempts + 1 >= policy.maxTries;
    const ok = await this.o.store.inboundFiles.finish(
      id,
      outcome.ok ? { ok: true } : final ? { ok: false, error: outcome.error } : { ok: false, error: outcome.error, retryAt: now + backoffDelay(policy.backoff, row.attempts + 1) },
      now,
    );
    if (inFlow && this.inFlow.get(id) === inFlow) {
      this.inFlow.delete(id);
      inFlow.endpoint.inFlow -= 1;
    }
    if (ok && outcome.ok) await this.registerReceived(row);
    if (ok && final) {
      await this.o.staging.removeIn(id);
      this.emit('file', outcome.ok ? { id, status: 'stored' } : { id, status: 'error', error: outcome.error });
    }
    this.kick();
    return ok;
  }

  /**
   * A stored file is one the remote it came from has: registered as sent to it, under its
   * file name (the attachment id of a record whose files are a folder), so that syncing the
   * record back sends it only once it changes, and announces it once it is removed.
   */
  private async registerReceived(row: InboundFile): Promise<void> {
    const { target } = row;
    await this.o.store.attachmentsOut.record([
      { remoteSystem: row.remoteSystem, table: target.table, recordId: target.id, attachmentId: row.fileName, hash: row.hash, fileName: row.fileName, contentType: row.contentType, size: row.size, status: 'sent', updatedAt: this.now() },
    ]);
  }

  /**
   * The remote (config node id) removed these files from its twin of a local record: it
   * no longer has them, so they are not announced back to it as removed (the flow removes
   * them here).
   */
  async removedThere(remoteSystem: string, table: string, id: string, removed: readonly { hash: string; fileName: string }[]): Promise<void> {
    if (removed.length === 0) return;
    const link = await this.o.keyFor(remoteSystem);
    const names = new Set(removed.map((r) => r.fileName));
    const now = this.now();
    const rows = (await this.o.store.attachmentsOut.ofRecord(link, table, id)).filter((r) => r.status === 'sent' && names.has(r.fileName));
    if (rows.length > 0) await this.o.store.attachmentsOut.record(rows.map((r) => ({ ...r, status: 'removed' as const, updatedAt: now })));
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
    await this.expireInFlow();
    await this.askOrigins();
    await this.handToFlows();
  }

  /**
   * Files a flow did not end within the flow timeout, or whose node closed before it did,
   * end as failed: they are handed again after a backoff (counted as a try).
   */
  private async expireInFlow(): Promise<void> {
    const now = this.now();
    const timeout = this.o.flowTimeoutMs ?? DEFAULT_FLOW_TIMEOUT_MS;
    for (const [id, { endpoint, since }] of [...this.inFlow]) {
      if (endpoint.closed) await this.finishFile(id, { ok: false, error: 'its flow was stopped (a redeploy) before it ended this file' });
      else if (now - since > timeout) await this.finishFile(id, { ok: false, error: `the flow did not end this file within ${Math.round(timeout / 1000)} s` });
    }
  }

  /** Pull requests: per origin, the files wanted and those whose push is overdue. */
  private async askOrigins(): Promise<void> {
    // Transfers past their deadline are asked again under new ids: their file lists are forgotten.
    const stale = this.now() - (this.o.pullDeadlineMs ?? DEFAULT_PULL_DEADLINE_MS);
    for (const [transfer, { at }] of this.transfers) if (at < stale) this.transfers.delete(transfer);
    const byLink = new Map<string, RemoteSystem>();
    for (const [id, remote] of this.o.remotes()) {
      if (remote.url === '' || remote.paused || remote.state === 'disabled') continue;
      const link = await this.o.keyFor(id);
      if (!byLink.has(link)) byLink.set(link, remote);
    }
    for (const [link, remote] of byLink) {
      for (;;) {
        if (this.stopped) return;
        const transfer = randomUUID();
        const now = this.now();
        const rows = await this.o.store.inboundFiles.claimToRequest([link], now, PULL_BATCH, transfer, now + (this.o.pullDeadlineMs ?? DEFAULT_PULL_DEADLINE_MS));
        if (rows.length === 0) break;
        // Asked for too often without the file arriving (an origin that accepts and never pushes): in error.
        const overdue = rows.filter((r) => r.attempts > MAX_REQUESTS);
        for (const row of overdue) await this.o.store.inboundFiles.failPull(row.id, { status: 'error' }, `asked for ${row.attempts - 1} times without the file arriving`, now);
        rows.splice(0, rows.length, ...rows.filter((r) => r.attempts <= MAX_REQUESTS));
        if (rows.length === 0) continue;
        // What is on disk is where the push resumes: a crash may have come before the count was
        // written. Whatever those bytes are, the whole file is verified by its SHA-256 at the end.
        for (const row of rows) {
          const onDisk = await this.o.staging.inSize(row.id);
          if (onDisk !== row.received && onDisk <= row.size && (await this.o.store.inboundFiles.setReceived(row.id, transfer, onDisk, now))) row.received = onDisk;
        }
        const call = await remote.attachmentClient.pullAttachments({ transfer, files: rows.map((r) => ({ id: r.id, key: r.key, offset: r.received })) }, this.abort.signal);
        if (call.kind === 'ok') {
          // Which files this transfer carries: if one push of it breaks off, the others are asked again soon.
          this.transfers.set(transfer, { ids: call.value.filter((r) => r.status === 'accepted').map((r) => r.id), at: now });
          for (const result of call.value) {
            const row = rows.find((r) => r.id === result.id);
            if (row && result.status === 'refused') await this.failPull(row, 'refused', `${result.code}: ${result.error}`);
          }
          continue;
        }
        // The origin could not be asked: these wait for a retry; the others of this origin for the next round.
        for (const row of rows) await this.failPull(row, 'again', `asking ${remote.url} for it failed: ${call.error}`);
        break;
      }
    }
  }

  /** Staged files to their nodes, a few per node at a time, in order per record. */
  private async handToFlows(): Promise<void> {
    for (const endpoint of [...this.endpoints]) {
      if (this.stopped) return;
      const room = MAX_IN_FLOW - endpoint.inFlow;
      if (endpoint.closed || room <= 0 || this.o.inboundHeld(endpoint.remoteSystem)) continue;
      const link = await this.o.keyFor(endpoint.remoteSystem);
      const rows = await this.o.store.inboundFiles.claimStaged([link], endpoint.processEvent, this.now(), room);
      for (const row of rows) {
        endpoint.inFlow += 1;
        // Claimed for a node that closed meanwhile: not emitted, and released by the next round (expireInFlow).
        this.inFlow.set(row.id, { endpoint, since: this.now() });
        if (endpoint.closed) continue;
        // A name that cannot be stored never reaches a flow (refused if an earlier crash left it wanted).
        const safe = safeFileName(row.fileName);
        if (!safe.ok || safe.name !== row.fileName) {
          this.inFlow.delete(row.id);
          endpoint.inFlow -= 1;
          await this.o.store.inboundFiles.finish(row.id, { ok: false, error: `the file name cannot be stored: ${safe.ok ? 'not a safe name' : safe.reason}` }, this.now());
          await this.o.staging.removeIn(row.id);
          continue;
        }
        endpoint.target.emit(row, await this.o.staging.inPath(row.id));
      }
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (a stop does not wait out a Retry-After). */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How long a failed file waits before it is tried again: 5 s doubling to 10 min. */
const RETRY_BACKOFF = { baseMs: 5000, maxMs: 10 * 60 * 1000 };

const KEY_REFUSALS: Record<'malformed' | 'forged' | 'expired', string> = {
  malformed: 'not an attachment key of this instance',
  forged: 'the key was not made here for this remote system, or was altered',
  expired: 'the key has expired',
};
