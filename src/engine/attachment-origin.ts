/**
 * The origin end of the attachment protocol (see docs/protocol.md, "Attachments"): the
 * record's files are ours.
 * - `prepare` stages the files a flow gives, registers them per remote system, and
 *   returns the metadata a message carries (with a synthetic key each) and the removals;
 * - `pull` answers a receiver's pull request: each key is opened with the caller's link
 *   key, so a forged, foreign or expired key is refused; the accepted files are then
 *   pushed to the receiver, from where it has them, and their completion is signalled.
 *
 * Nothing here holds a file in memory: content moves from disk to socket as a stream.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import {
  type AttachmentLimits,
  type AttachmentStrategy,
  attachmentKey,
  type LimitRefusal,
  limitRefusal,
  MAX_SENT_NAME_CHARS,
  newAttachmentSecret,
  openAttachmentKey,
  planAttachments,
  type SentVersion,
} from '../core/attachments';
import type { CompleteFile, PullRequest, PullResult } from '../core/attachment-protocol';
import type { AttachmentMeta, RemovedAttachment } from '../core/protocol';
import type { SentAttachment } from '../store/store';
import type { ApiFailure } from '../transport/attachment-http';
import type { AttachmentContext } from './attachment-context';
import { type AttachmentContent, ContentTooLargeError } from './attachment-staging';
import type { AttachmentServiceOptions } from './attachment-context';
import type { RemoteSystem } from './remote';
import { ATTACHMENT_KEY_SECRET } from './secrets';

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

/** How often one transfer waits for a receiver that answers "later" (429/503), and for how long at most each time. */
const MAX_LATER_WAITS = 20;
const MAX_LATER_WAIT_MS = 30_000;
/** Transfers accepted and waiting to be pushed; past it, pull requests are answered 503. */
const MAX_QUEUED_PUSHES = 100;
/** Pushes in progress at once, over all remotes. */
const MAX_PUSHES = 2;

interface AcceptedFile {
  id: number;
  hash: string;
  size: number;
  offset: number;
}

export class AttachmentOrigin {
  private readonly o: AttachmentServiceOptions;
  private readonly now: () => number;
  private secret: Promise<Buffer> | undefined;
  private readonly pushes = new Map<string, Promise<void>>();
  private readonly pushQueue: { remote: RemoteSystem; transfer: string; files: AcceptedFile[] }[] = [];

  constructor(private readonly ctx: AttachmentContext) {
    this.o = ctx.options;
    this.now = ctx.now;
  }

  /** Resolves once the pushes in progress have ended (a stop aborts them). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pushes.values()]);
  }

  private keySecret(): Promise<Buffer> {
    this.secret ??= this.o.secrets
      .init(this.o.store, ATTACHMENT_KEY_SECRET, () => newAttachmentSecret().toString('base64'), this.now())
      .then((text) => Buffer.from(text, 'base64'));
    // A failure (store unavailable) is not kept: the next call reads again.
    this.secret.catch(() => (this.secret = undefined));
    return this.secret;
  }

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
    while (!this.ctx.stopped() && this.pushes.size < MAX_PUSHES && this.pushQueue.length > 0) {
      const job = this.pushQueue.shift();
      if (!job) return;
      const run = this.push(job.remote, job.transfer, job.files)
        .catch((err: unknown) => this.ctx.fault(err))
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
      if (result.kind !== 'transient' || result.retryAfterMs === undefined || waits >= MAX_LATER_WAITS || this.ctx.stopped()) return false;
      waits += 1;
      await abortableDelay(Math.min(result.retryAfterMs, MAX_LATER_WAIT_MS), this.ctx.signal);
      return !this.ctx.stopped();
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
        const result = await client.pushAttachment({ transfer, file: file.id, offset }, length, body, this.ctx.signal);
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
    if (failure !== undefined) this.ctx.fault(new Error(failure));
    for (;;) {
      const answer = await client.completeAttachments({ transfer, files: done }, this.ctx.signal);
      if (answer.kind === 'ok' || !(await later(answer))) {
        if (answer.kind !== 'ok') this.ctx.fault(new Error(`signalling attachments complete to ${remote.url} failed: ${answer.error}`));
        return;
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

const KEY_REFUSALS: Record<'malformed' | 'forged' | 'expired', string> = {
  malformed: 'not an attachment key of this instance',
  forged: 'the key was not made here for this remote system, or was altered',
  expired: 'the key has expired',
};
