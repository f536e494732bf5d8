/**
 * The HTTP client of a delta load's REST source: one authenticated GET of a page, sorted
 * into "here is the answer", "try again later" and "will never succeed". Authentication
 * is a remote system's outbound authentication (withAuth: an OAuth2 token refused with 401
 * is renewed once, as for rps/1 requests); error texts carry the source's reason, never our
 * credentials.
 */
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import http from 'node:http';
import https from 'node:https';
import { retryAfterMs } from '../core/backoff';
import { type OutboundAuth, type TlsOptions, withAuth } from './client';

export interface SourceClientOptions {
  auth: OutboundAuth;
  tls?: TlsOptions;
  timeoutMs: number;
}

export type SourceAnswer =
  | { kind: 'ok'; status: number; body: unknown }
  /** The answer is not JSON. */
  | { kind: 'not-json'; status: number }
  /** Connection failure, timeout, 5xx, 408, 429: the source may answer later. */
  | { kind: 'transient'; error: string; status?: number; retryAfterMs?: number }
  /** Any other status: asking again will not help. */
  | { kind: 'refused'; status: number; reason: string };

const MAX_REASON = 300;

/** Statuses worth asking again for: the source is busy, restarting or slow. */
function transientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function reasonOf(res: AxiosResponse<unknown>): string {
  const data = res.data;
  let reason = '';
  if (typeof data === 'string') {
    try {
      const parsed = JSON.parse(data) as { error?: unknown; message?: unknown };
      const text = typeof parsed.error === 'string' ? parsed.error : typeof parsed.message === 'string' ? parsed.message : undefined;
      reason = text ?? data;
    } catch {
      reason = data.replace(/<[^>]*>/g, ' ');
    }
  }
  reason = reason.replace(/\s+/g, ' ').trim().slice(0, MAX_REASON);
  return reason || (res.statusText ?? '');
}

/** Only the error's code and message: axios errors also hold the request, headers included. */
function connectionError(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout: no complete answer in time';
  if (err instanceof Error && err.name === 'TokenError') return err.message;
  if (axios.isCancel(err)) return 'cancelled';
  // Node's messages name the code already ("connect ECONNREFUSED 127.0.0.1:80"): said once, it fits a status.
  if (err instanceof AxiosError) return err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

export class SourceClient {
  private readonly http: AxiosInstance;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly o: SourceClientOptions) {
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 2, ...o.tls });
    this.http = axios.create({
      timeout: o.timeoutMs,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      validateStatus: () => true,
      maxRedirects: 0,
      auth: o.auth.type === 'basic' ? { username: o.auth.user, password: o.auth.password } : undefined,
      // The body is parsed here, so that an answer that is not JSON is told apart from one that is.
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
    });
  }

  private async request(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<AxiosResponse<unknown>> {
    const get = (auth: Record<string, string>): Promise<AxiosResponse<unknown>> =>
      this.http.get(url, { headers: { Accept: 'application/json', ...headers, ...auth }, signal: AbortSignal.any([signal, AbortSignal.timeout(this.o.timeoutMs)]) });
    return withAuth(this.o.auth, get);
  }

  /** GETs `url` (with `headers`) and sorts the answer. */
  async get(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<SourceAnswer> {
    let res: AxiosResponse<unknown>;
    try {
      res = await this.request(url, headers, signal);
    } catch (err) {
      return { kind: 'transient', error: connectionError(err) };
    }
    if (res.status >= 200 && res.status < 300) {
      try {
        return { kind: 'ok', status: res.status, body: JSON.parse(typeof res.data === 'string' ? res.data : '') as unknown };
      } catch {
        return { kind: 'not-json', status: res.status };
      }
    }
    if (transientStatus(res.status)) {
      const header = res.headers['retry-after'];
      const answer: SourceAnswer = { kind: 'transient', error: `HTTP ${res.status}${reasonOf(res) ? `: ${reasonOf(res)}` : ''}`, status: res.status };
      const wait = retryAfterMs(typeof header === 'string' ? header : undefined, Date.now());
      if (wait !== undefined) answer.retryAfterMs = wait;
      return answer;
    }
    return { kind: 'refused', status: res.status, reason: reasonOf(res) };
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
