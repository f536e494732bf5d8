/**
 * The receiver end of the attachment protocol (see docs/protocol.md, "Attachments"): the
 * files go to one of our records.
 * - `want` records the files a target record lacks (rows `wanted`);
 * - a round asks each origin for its wanted files (pull requests), and asks again for
 *   those whose push never completed (a row stays `requested` until its deadline);
 * - `contentTarget` / `contentWritten` / `complete` take the pushes: bytes go to the
 *   staging file, and a completed file is verified (size, SHA-256) before it is `staged`;
 * - staged files are handed to the inbound-mode nodes, oldest first and in order per
 *   record, and `finishFile` records what the flow did (rps-complete).
 *
 * Nothing here holds a file in memory: content moves from socket to disk as a stream.
 */
import { randomUUID } from 'node:crypto';
import { fileIdentity, safeFileName } from '../core/attachments';
import type { CompleteRequest, CompleteResult } from '../core/attachment-protocol';
import { type BackoffPolicy, backoffDelay } from '../core/backoff';
import type { InboundFile, NewInboundFile } from '../store/store';
import type { ApiFailure, ContentRef, ContentTarget } from '../transport/attachment-http';
import type { AttachmentContext } from './attachment-context';
import type { AttachmentServiceOptions } from './attachment-context';
import type { RemoteSystem } from './remote';

/** Files asked for in one pull request. */
const PULL_BATCH = 20;
/** How long a pull request may take to complete before its files are asked for again (a push resumes where it stopped). */
const DEFAULT_PULL_DEADLINE_MS = 5 * 60 * 1000;
/** Files of one inbound-mode node in its flow at once. */
const MAX_IN_FLOW = 4;
/** A flow that holds a file longer than this without ending it gets it again later (a copy of a large file takes a while). */
const DEFAULT_FLOW_TIMEOUT_MS = 10 * 60 * 1000;
/** Tries of a file when no remote system of its link is deployed (its own: RemoteSystem.maxTries). */
const DEFAULT_MAX_TRIES = 5;
/** Pull requests for one file before it stays in error, whatever failed (a bound on an origin that accepts and never pushes). */
const MAX_REQUESTS = 50;

/** An inbound-mode node: where staged files of its (remote system, process event) go. */
export interface FileEndpoint {
  /** Hands one staged file (its content at `path`) to the flow. */
  emit(file: InboundFile, path: string): void;
}

export type FileOutcome = { ok: true } | { ok: false; error: string };

interface Endpoint {
  remoteSystem: string;
  processEvent: string;
  target: FileEndpoint;
  inFlow: number;
  /** Removed (its node closed): its files still in a flow are handed again, elsewhere or later. */
  closed: boolean;
}

export class AttachmentReceiver {
  private readonly o: AttachmentServiceOptions;
  private readonly now: () => number;
  private readonly maxTries: number;
  private readonly endpoints = new Set<Endpoint>();
  /** Files in a flow now, by row id: whose endpoint, and since when. */
  private readonly inFlow = new Map<number, { endpoint: Endpoint; since: number }>();
  /** The receiver's pull requests answered and not completed yet: their file ids (in memory: a restart asks again anyway). */
  private readonly transfers = new Map<string, { ids: number[]; at: number }>();

  constructor(private readonly ctx: AttachmentContext) {
    this.o = ctx.options;
    this.now = ctx.now;
    this.maxTries = this.o.maxTries ?? DEFAULT_MAX_TRIES;
  }

  /** One round's work: files a flow kept too long, pull requests, staged files to flows. */
  async round(): Promise<void> {
    await this.expireInFlow();
    await this.askOrigins();
    await this.handToFlows();
  }

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
    this.ctx.kick();
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
    return [...(await this.o.store.inboundFiles.held(table, id)), ...(await this.sentTo(link, table, id))];
  }

  /**
   * Of the removals a message from `remoteSystem` announces for a local record, those of
   * files that remote had of it: given to us by it, or sent to it by us (same name and
   * hash). A remote cannot remove what it never had.
   */
  async removalsFrom(remoteSystem: string, table: string, id: string, removed: readonly { hash: string; fileName: string }[]): Promise<{ hash: string; fileName: string }[]> {
    if (removed.length === 0) return [];
    const link = await this.o.keyFor(remoteSystem);
    const had = new Set([...(await this.o.store.inboundFiles.held(table, id, link)), ...(await this.sentTo(link, table, id))].map(fileIdentity));
    return removed.filter((r) => had.has(fileIdentity(r)));
  }

  /** The files of a local record that remote (link key) has from us: sent to it, or received from it. */
  private async sentTo(link: string, table: string, id: string): Promise<{ hash: string; fileName: string }[]> {
    return (await this.o.store.attachmentsOut.ofRecord(link, table, id)).filter((r) => r.status === 'sent').map((r) => ({ hash: r.hash, fileName: r.fileName }));
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
      this.ctx.kick();
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
    this.ctx.kick();
    return { status: 200, results };
  }

  private async verify(row: InboundFile, transfer: string): Promise<CompleteResult['status']> {
    const files = this.o.store.inboundFiles;
    const verdict = await this.o.staging.verifyIn(row.id, row.size, row.hash);
    if (verdict === 'verified') {
      // On disk before the row says so: a power cut must not leave a staged row with lost bytes.
      await this.o.staging.syncIn(row.id);
      if (await files.markStaged(row.id, transfer, this.now())) this.ctx.file({ id: row.id, status: 'staged' });
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
      this.ctx.file({ id: row.id, status: to.status, error });
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
    this.ctx.kick();
    return () => {
      this.endpoints.delete(endpoint);
      // Its files in a flow now may never be ended (a redeploy replaced the flow): the next round hands them again.
      endpoint.closed = true;
      this.ctx.kick();
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
      this.ctx.file(outcome.ok ? { id, status: 'stored' } : { id, status: 'error', error: outcome.error });
    }
    this.ctx.kick();
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
        if (this.ctx.stopped()) return;
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
        const call = await remote.attachmentClient.pullAttachments({ transfer, files: rows.map((r) => ({ id: r.id, key: r.key, offset: r.received })) }, this.ctx.signal);
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
      if (this.ctx.stopped()) return;
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

/** How long a failed file waits before it is tried again: 5 s doubling to 10 min. */
const RETRY_BACKOFF = { baseMs: 5000, maxMs: 10 * 60 * 1000 };
