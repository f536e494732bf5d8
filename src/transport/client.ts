/**
 * The HTTP client side of `rps/1`: posts a batch of messages to a remote and sorts
 * the outcome into "delivered", "try again later" and "will never succeed". Error
 * texts carry the remote's reason but never our credentials.
 */
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import http from 'node:http';
import https from 'node:https';
import { Transform, type Readable, pipeline } from 'node:stream';
import {
  ATTACHMENT_PATHS,
  type CompleteRequest,
  type CompleteResult,
  completeResultsOf,
  contentQuery,
  type ContentAddress,
  type PullRequest,
  type PullResult,
  pullResultsOf,
} from '../core/attachment-protocol';
import { retryAfterMs } from '../core/backoff';
import { API_PREFIX, type Handshake, type MessageResult, PROTOCOL, RPS_CONTENT_TYPE, UNKNOWN_PROCESS_EVENT } from '../core/protocol';
import type { OutboundReason } from '../core/reasons';
import type { TokenSource } from './oauth';

export type OutboundAuth =
  | { type: 'none' }
  | { type: 'basic'; user: string; password: string }
  | { type: 'bearer'; token: string }
  | { type: 'oauth2'; tokens: TokenSource };

/** TLS settings for https remotes (from a Node-RED tls-config node). */
export type TlsOptions = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'rejectUnauthorized' | 'servername'>;

export interface ClientOptions {
  /** Base URL of the remote Node-RED's HTTP node root, e.g. https://desk-b.example.com/api */
  url: string;
  auth: OutboundAuth;
  timeoutMs: number;
  maxSockets?: number;
  tls?: TlsOptions;
}

/** `instanceId`: who answered; `requestRate`: the requests a second it takes from us (absent: no limit). Its handshake says both. */
export type ProbeResult = { ok: true; instanceId?: string; requestRate?: number } | { ok: false; error: string };

/** Where a handshake failed: what "Validate and activate" reports per line. */
export type HandshakeStage = 'connection' | 'tls' | 'token' | 'auth' | 'protocol';

export type HandshakeOutcome =
  | { ok: true; handshake: Handshake; sentAt: number; receivedAt: number }
  | { ok: false; stage: HandshakeStage; error: string; status?: number };

/** Node's (OpenSSL's) codes for a certificate or TLS handshake that was not accepted. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$|ERR_OSSL_)/;

function stageOf(err: unknown): HandshakeStage {
  if (err instanceof Error && err.name === 'TokenError') return 'token';
  const code = err instanceof AxiosError ? err.code : (err as { code?: string } | undefined)?.code;
  return code && TLS_CODES.test(code) ? 'tls' : 'connection';
}

export type DeliveryResult =
  /** `instanceId`: the receiver's, when its answer says it (receivers of older versions do not). */
  | { kind: 'delivered'; results: MessageResult[]; instanceId?: string }
  /** Connection failure, timeout, 5xx, 429, 404 without a route: the remote may take it later. */
  | { kind: 'transient'; error: string; status?: number; retryAfterMs?: number }
  /** 400, 401, 403, 413...: sending the same request again will not help. */
  | { kind: 'refused'; status: number; error: string };

/** The outcome of an attachment call: the answer, or why there is none (as DeliveryResult sorts failures). */
export type AttachmentCall<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'transient'; error: string; status?: number; retryAfterMs?: number }
  /** `code`: the remote's reason code, when it gave one. */
  | { kind: 'refused'; status: number; error: string; code?: string };

/** A push that did not start where the receiver is: it has `received` bytes, push from there. */
export type OffsetMismatch = { kind: 'offset'; received: number };

type Failure = Exclude<DeliveryResult, { kind: 'delivered' }>;

/** Statuses that say the request itself is at fault; every other failure is worth retrying. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 405, 406, 409, 410, 411, 413, 414, 415, 422]);

const MAX_REASON = 500;

/**
 * A 404 is usually the route not being there (yet): Node-RED restarting or being
 * deployed. Only the receiver's own "unknown process event" answer says that this
 * message will not be taken.
 */
function isUnknownEvent(res: AxiosResponse<unknown>): boolean {
  const data = res.data;
  return res.status === 404 && typeof data === 'object' && data !== null && (data as { code?: unknown }).code === UNKNOWN_PROCESS_EVENT;
}

/** The reason code of an answer that says nothing serves the rps/1 routes at the remote's URL. */
const NO_ENDPOINT: OutboundReason = 'no-endpoint';

/**
 * A 404 without a code: every refusal of an rps/1 receiver carries one, so this is the
 * host's own "Cannot POST /rps/v1/messages" (Express) or a proxy's page: no rps/1
 * receiver at this URL, at least for now. Said as a code (see core/reasons), because
 * the raw text names no cause.
 */
function isNoEndpoint(res: AxiosResponse<unknown>): boolean {
  const data = res.data;
  return res.status === 404 && !(typeof data === 'object' && data !== null && typeof (data as { code?: unknown }).code === 'string');
}

function reasonOf(res: AxiosResponse<unknown>): string {
  if (isNoEndpoint(res)) return NO_ENDPOINT;
  const data = res.data;
  let reason = '';
  if (typeof data === 'object' && data !== null && typeof (data as { error?: unknown }).error === 'string') {
    reason = (data as { error: string }).error;
  } else if (typeof data === 'string') {
    reason = data.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  }
  reason = reason.slice(0, MAX_REASON);
  return reason ? `HTTP ${res.status}: ${reason}` : `HTTP ${res.status}`;
}

/** Only the error's code and message: axios errors also hold the request config, headers included. */
function connectionError(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `timeout: no complete answer in time`;
  if (err instanceof Error && err.name === 'TokenError') return err.message;
  if (axios.isCancel(err)) return 'cancelled: the request timed out or the sender is stopping';
  if (err instanceof AxiosError) {
    if (err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT') return `timeout: ${err.message}`;
    return err.code ? `${err.code}: ${err.message}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** A result list, with the receiver's instance id when it gives one. */
function delivered(data: { results: MessageResult[]; instanceId?: unknown }): DeliveryResult {
  const id = data.instanceId;
  return typeof id === 'string' && id !== '' && id.length <= 256 ? { kind: 'delivered', results: data.results, instanceId: id } : { kind: 'delivered', results: data.results };
}

function isResults(data: unknown, ids: readonly string[]): data is { results: MessageResult[] } {
  const count = ids.length;
  if (typeof data !== 'object' || data === null) return false;
  const results = (data as { results?: unknown }).results;
  const sent = new Set(ids);
  return (
    Array.isArray(results) &&
    results.length === count &&
    results.every(
      (r) =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as MessageResult).id === 'string' &&
        ['accepted', 'duplicate', 'rejected'].includes((r as MessageResult).status),
    ) &&
    new Set(results.map((r) => (r as MessageResult).id)).size === count &&
    results.every((r) => sent.has((r as MessageResult).id))
  );
}

/** The failure an answer other than the expected one is: refused when `permanent` or its status says so, else transient (with the remote's Retry-After). */
function failureOf(res: AxiosResponse<unknown>, permanent = false): Failure {
  if (permanent || PERMANENT_STATUSES.has(res.status)) return { kind: 'refused', status: res.status, error: reasonOf(res) };
  const header = res.headers['retry-after'];
  const retryAfter = preciseWait(retryAfterMs(typeof header === 'string' ? header : undefined, Date.now()), res.data);
  const result: Failure = { kind: 'transient', error: reasonOf(res), status: res.status };
  if (retryAfter !== undefined) result.retryAfterMs = retryAfter;
  return result;
}

/**
 * An rps/1 refusal's `retryAfterMs` (the wait to the millisecond), when it is no longer
 * than the `Retry-After` header's whole seconds; else the header's wait.
 */
function preciseWait(headerMs: number | undefined, data: unknown): number | undefined {
  const ms = (data as { retryAfterMs?: unknown } | null | undefined)?.retryAfterMs;
  if (headerMs === undefined || typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > headerMs) return headerMs;
  return Math.ceil(ms);
}

/** The reason code of an rps/1 refusal (every one carries one; a host's or a proxy's page does not). */
function codeOf(res: AxiosResponse<unknown>): string | undefined {
  const code = (res.data as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && code !== '' && code.length <= 100 ? code : undefined;
}

/**
 * An attachment route's answer other than the expected one. A 404 with a code is the
 * remote's own "no such transfer / file" (it will not come to exist); one without a code
 * is the route not being there (yet), as for messages.
 */
function attachmentFailure(res: AxiosResponse<unknown>): Failure & { code?: string } {
  const code = codeOf(res);
  const failure = failureOf(res, res.status === 404 && code !== undefined);
  return failure.kind === 'refused' && code !== undefined ? { ...failure, code } : failure;
}

/** The answer `expected` with a body that `parse` accepts; any other answer sorted as a failure. */
function attachmentAnswer<T>(res: AxiosResponse<unknown>, expected: number, parse: (data: unknown) => T | undefined): AttachmentCall<T> {
  if (res.status !== expected) return attachmentFailure(res);
  const value = parse(res.data);
  if (value === undefined) return { kind: 'transient', error: `HTTP ${res.status} with an answer that is not an rps/1 result list`, status: res.status };
  return { kind: 'ok', value };
}

/** The headers that carry our credentials for one request (basic auth is axios' own, set on the instance), and the OAuth2 token they hold. */
async function credentials(auth: OutboundAuth): Promise<{ headers: Record<string, string>; token?: string }> {
  if (auth.type === 'bearer') return { headers: { Authorization: `Bearer ${auth.token}` } };
  if (auth.type !== 'oauth2') return { headers: {} };
  const token = await auth.tokens.token();
  return { headers: { Authorization: `Bearer ${token}` }, token };
}

/**
 * Sends one request with our credentials. A bearer token from OAuth2 that the server
 * refuses (401) is dropped and the request made once more with a fresh one: tokens may be
 * revoked or expire early, and that must not cost an attempt.
 */
export async function withAuth(auth: OutboundAuth, send: (headers: Record<string, string>) => Promise<AxiosResponse<unknown>>): Promise<AxiosResponse<unknown>> {
  const first = await credentials(auth);
  const res = await send(first.headers);
  if (res.status !== 401 || first.token === undefined || auth.type !== 'oauth2') return res;
  auth.tokens.rejected(first.token);
  return send((await credentials(auth)).headers);
}

/**
 * Aborts when no byte has moved for `ms`: a push may take long on a slow link, but not
 * stall. `touch` on every byte that moves.
 */
class IdleWatch {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  fired = false;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new Error(`timeout: no byte moved for ${ms} ms`));
    }, ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * `body` as exactly `length` bytes: a body with more or fewer fails (the receiver counts
 * on Content-Length). `moved` hears of every chunk; `sent` is true once all went out.
 */
function measuredBody(body: Readable, length: number, moved: () => void): { stream: Transform; sent: () => boolean } {
  let count = 0;
  let done = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count += chunk.length;
      moved();
      if (count > length) callback(new Error(`the body has more than ${length} bytes`));
      else callback(null, chunk);
    },
    flush(callback) {
      done = count === length;
      callback(done ? null : new Error(`the body ended after ${count} of ${length} bytes`));
    },
  });
  pipeline(body, stream, () => undefined);
  return { stream, sent: () => done };
}

export class RemoteClient {
  private readonly http: AxiosInstance;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  private readonly timeoutMs: number;
  private readonly auth: OutboundAuth;

  constructor(options: ClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.auth = options.auth;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 8 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 8, ...options.tls });
    this.http = axios.create({
      baseURL: options.url.replace(/\/+$/, '') + API_PREFIX,
      timeout: options.timeoutMs,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      // Every status is an answer to sort, not an exception.
      validateStatus: () => true,
      maxRedirects: 0,
      auth: options.auth.type === 'basic' ? { username: options.auth.user, password: options.auth.password } : undefined,
      // The batch body is built as text from the stored payloads, not re-serialised.
      transformRequest: [(data: unknown) => data],
    });
  }

  /**
   * Every request ends by the timeout, however slowly the remote trickles its answer
   * (axios' own timeout only counts idle time), or when `signal` aborts it.
   */
  private signal(signal?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  private request(send: (headers: Record<string, string>) => Promise<AxiosResponse<unknown>>): Promise<AxiosResponse<unknown>> {
    return withAuth(this.auth, send);
  }

  /** Posts an envelope given as JSON text (the messages `ids`, in order) and classifies the answer. */
  async postMessages(body: string, ids: readonly string[], signal?: AbortSignal): Promise<DeliveryResult> {
    let res: AxiosResponse<unknown>;
    try {
      const bounded = this.signal(signal);
      res = await this.request((headers) =>
        this.http.post('/messages', body, {
          headers: { ...headers, 'Content-Type': `${RPS_CONTENT_TYPE}; charset=utf-8` },
          signal: bounded,
        }),
      );
    } catch (err) {
      return { kind: 'transient', error: connectionError(err) };
    }
    if (res.status === 200) {
      if (isResults(res.data, ids)) return delivered(res.data);
      return { kind: 'transient', error: `HTTP 200 with an answer that is not an rps/1 result list` };
    }
    return failureOf(res, isUnknownEvent(res));
  }

  /** Posts an rps/1 JSON body to an attachment route, bounded by the request timeout. */
  private async postAttachments(path: string, body: unknown, signal?: AbortSignal): Promise<AxiosResponse<unknown> | Failure> {
    try {
      const bounded = this.signal(signal);
      const text = JSON.stringify({ protocol: PROTOCOL, ...(body as object) });
      return await this.request((headers) =>
        this.http.post(path, text, { headers: { ...headers, 'Content-Type': `${RPS_CONTENT_TYPE}; charset=utf-8` }, signal: bounded }),
      );
    } catch (err) {
      return { kind: 'transient', error: connectionError(err) };
    }
  }

  /** Asks the origin for files (`POST /rps/v1/attachments/pull`): its per-file results, or why there are none. */
  async pullAttachments(request: PullRequest, signal?: AbortSignal): Promise<AttachmentCall<PullResult[]>> {
    const res = await this.postAttachments(ATTACHMENT_PATHS.pull, request, signal);
    if ('kind' in res) return res;
    const ids = request.files.map((f) => f.id);
    return attachmentAnswer(res, 202, (data) => pullResultsOf(data, ids));
  }

  /** Tells the receiver a transfer's files are all pushed (`POST /rps/v1/attachments/complete`): its verdicts per file. */
  async completeAttachments(request: CompleteRequest, signal?: AbortSignal): Promise<AttachmentCall<CompleteResult[]>> {
    const res = await this.postAttachments(ATTACHMENT_PATHS.complete, request, signal);
    if ('kind' in res) return res;
    const ids = request.files.map((f) => f.id);
    return attachmentAnswer(res, 200, (data) => completeResultsOf(data, ids));
  }

  /**
   * Streams `length` bytes of `body` to the receiver (`PUT /rps/v1/attachments/content`),
   * never holding them all. Bounded by an idle timeout (no byte moved for the timeout),
   * not by a whole-request one, so a large file on a slow link is not cut. The call
   * consumes `body`: it is destroyed when the call ends. A push is not repeated inside,
   * not even for a fresh OAuth2 token (the body is gone): the caller pushes again.
   */
  async pushAttachment(ref: ContentAddress, length: number, body: Readable, signal?: AbortSignal): Promise<AttachmentCall<'written'> | OffsetMismatch> {
    const idle = new IdleWatch(this.timeoutMs);
    const measured = measuredBody(body, length, () => idle.touch());
    let res: AxiosResponse<unknown>;
    let token: string | undefined;
    try {
      const auth = await credentials(this.auth);
      token = auth.token;
      res = await this.http.put(`${ATTACHMENT_PATHS.content}?${contentQuery(ref)}`, measured.stream, {
        headers: { ...auth.headers, 'Content-Type': 'application/octet-stream', 'Content-Length': String(length) },
        // The idle watch bounds it (axios' timeout counts the whole time to the answer).
        timeout: 0,
        maxBodyLength: Infinity,
        signal: signal ? AbortSignal.any([signal, idle.signal]) : idle.signal,
      });
    } catch (err) {
      return { kind: 'transient', error: idle.fired ? `timeout: no byte moved for ${idle.ms} ms` : connectionError(err) };
    } finally {
      idle.stop();
      measured.stream.destroy();
    }
    // Answered before the whole body went (a refusal): the connection carries a half-sent body, so it is not reused.
    if (!measured.sent()) (res.request as { destroy?: () => void } | undefined)?.destroy?.();
    return this.pushOutcome(res, token);
  }

  private pushOutcome(res: AxiosResponse<unknown>, token: string | undefined): AttachmentCall<'written'> | OffsetMismatch {
    if (res.status === 204) return { kind: 'ok', value: 'written' };
    if (res.status === 409 && codeOf(res) === 'offset') {
      const received = (res.data as { received?: unknown }).received;
      if (typeof received === 'number' && Number.isSafeInteger(received) && received >= 0) return { kind: 'offset', received };
    }
    if (res.status === 401 && token !== undefined && this.auth.type === 'oauth2') {
      this.auth.tokens.rejected(token);
      return { kind: 'transient', error: `${reasonOf(res)} (the token is dropped; the next push takes a fresh one)`, status: 401 };
    }
    return attachmentFailure(res);
  }

  /** The remote's handshake (`GET /rps/v1/handshake`), or where and why it could not be had. */
  async handshake(signal?: AbortSignal): Promise<HandshakeOutcome> {
    let res: AxiosResponse<unknown>;
    const sentAt = Date.now();
    try {
      const bounded = this.signal(signal);
      res = await this.request((headers) => this.http.get('/handshake', { headers, signal: bounded }));
    } catch (err) {
      return { ok: false, stage: stageOf(err), error: connectionError(err) };
    }
    const receivedAt = Date.now();
    if (res.status === 401 || res.status === 403) return { ok: false, stage: 'auth', status: res.status, error: reasonOf(res) };
    if (res.status !== 200) return { ok: false, stage: 'connection', status: res.status, error: reasonOf(res) };
    const data = res.data as Partial<Handshake> | undefined;
    if (data?.protocol !== PROTOCOL || !Array.isArray(data.processEvents)) {
      return { ok: false, stage: 'protocol', error: `the remote does not speak ${PROTOCOL}` };
    }
    return { ok: true, handshake: data as Handshake, sentAt, receivedAt };
  }

  /**
   * Whether the remote answers and lets us in: what brings a remote in `error` back.
   * A remote that has not activated us yet would refuse every message, so it counts
   * as not there.
   */
  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    const hs = await this.handshake(signal);
    if (!hs.ok) return { ok: false, error: hs.error };
    if (hs.handshake.inboundState === 'disabled') return { ok: false, error: 'the remote has not activated us yet (its inbound state is disabled)' };
    const result: ProbeResult = { ok: true };
    if (typeof hs.handshake.instanceId === 'string' && hs.handshake.instanceId !== '') result.instanceId = hs.handshake.instanceId;
    const rate = hs.handshake.requestRate;
    if (typeof rate === 'number' && Number.isFinite(rate) && rate > 0) result.requestRate = rate;
    return result;
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
