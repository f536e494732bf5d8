/**
 * A cache of one issuer's JSON Web Key Set, for verifying tokens from an external
 * identity provider. Keys are looked up per token, so the cache is what stands between
 * incoming requests and the provider: every fetch (first load, expiry, unknown kid,
 * retry after a failure) happens at most once per `minRefetchMs`, so a flood of tokens
 * with forged kids cannot make us hammer the provider. Concurrent callers share one
 * fetch, and a set fetched earlier keeps serving while the provider is unreachable.
 * Errors name the URL's origin only (the path or query may carry secrets) and never a token.
 */
import type * as https from 'node:https';
import axios, { AxiosError } from 'axios';
import { jwkFits, type Jwk } from './jwt';

export interface JwksOptions {
  url: string;
  httpsAgent?: https.Agent;
  /** Deadline for one fetch, whole body included (default 10 s). */
  timeoutMs?: number;
  /** How long a fetched set is used before it is fetched again (default 10 min). */
  cacheMs?: number;
  /** Least time between two fetch attempts (default 30 s). */
  minRefetchMs?: number;
  /** Largest accepted response body (default 1 MiB). */
  maxBytes?: number;
  /** Clock in milliseconds, for tests (default Date.now). */
  now?: () => number;
}

/** How long a fetched set stays usable when the provider cannot be reached. */
const MAX_STALE_MS = 24 * 60 * 60 * 1000;

export class JwksCache {
  private readonly url: string;
  private readonly origin: string;
  private readonly httpsAgent?: https.Agent;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly minRefetchMs: number;
  private readonly maxBytes: number;
  private readonly now: () => number;

  private keys?: Jwk[];
  private fetchedAt = 0;
  private attemptedAt = -Infinity;
  private lastError?: Error;
  private inflight?: Promise<void>;

  constructor(o: JwksOptions) {
    const parsed = new URL(o.url); // throws on a malformed URL: a configuration error
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('the JWKS URL must be http(s)');
    this.url = o.url;
    this.origin = parsed.origin;
    this.httpsAgent = o.httpsAgent;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.cacheMs = o.cacheMs ?? 600_000;
    this.minRefetchMs = o.minRefetchMs ?? 30_000;
    this.maxBytes = o.maxBytes ?? 1024 * 1024;
    this.now = o.now ?? Date.now;
  }

  /**
   * The key for `kid` that fits `alg` (or, when kid is undefined, the only key fitting
   * alg). Resolves undefined when no key fits; rejects when no set could ever be fetched.
   */
  async key(kid: string | undefined, alg: string): Promise<Jwk | undefined> {
    if (!this.keys || this.now() - this.fetchedAt >= this.cacheMs) await this.refresh();
    let found = this.pick(kid, alg);
    // Perhaps the provider rotated its keys since our fetch: look again (throttled).
    if (!found) {
      await this.refresh();
      found = this.pick(kid, alg);
    }
    return found;
  }

  private pick(kid: string | undefined, alg: string): Jwk | undefined {
    const candidates = (this.keys ?? []).filter((k) => jwkFits(k, alg));
    if (kid !== undefined) return candidates.find((k) => k.kid === kid);
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  /**
   * Fetches the set unless a fetch is under way (then joins it) or the last attempt was
   * under `minRefetchMs` ago (then keeps what it has). Rejects only when no set is cached.
   */
  private async refresh(): Promise<void> {
    if (!this.inflight && this.now() - this.attemptedAt >= this.minRefetchMs) {
      this.attemptedAt = this.now();
      this.inflight = this.fetchSet()
        .then(
          (keys) => {
            this.keys = keys;
            this.fetchedAt = this.now();
            this.lastError = undefined;
          },
          (err: Error) => {
            this.lastError = err;
          },
        )
        .finally(() => {
          this.inflight = undefined;
        });
    }
    if (this.inflight) await this.inflight;
    // A provider unreachable for long may have withdrawn keys meanwhile: a set that old is not trusted.
    if (this.keys && this.now() - this.fetchedAt > MAX_STALE_MS) this.keys = undefined;
    if (!this.keys) throw this.lastError ?? new Error(`JWKS from ${this.origin}: not fetched yet`);
  }

  private fail(reason: string): Error {
    return new Error(`JWKS from ${this.origin} could not be loaded: ${reason}`);
  }

  private async fetchSet(): Promise<Jwk[]> {
    let status: number;
    let body: unknown;
    try {
      const res = await axios.get<unknown>(this.url, {
        httpsAgent: this.httpsAgent,
        timeout: this.timeoutMs,
        // axios' timeout only counts idle time; this also ends a slowly trickled body.
        signal: AbortSignal.timeout(this.timeoutMs),
        validateStatus: () => true,
        maxRedirects: 0,
        responseType: 'text',
        maxContentLength: this.maxBytes,
        headers: { Accept: 'application/json, application/jwk-set+json' },
      });
      status = res.status;
      body = res.data;
    } catch (err) {
      // Only code and message: an axios error also holds the request config.
      const reason = axios.isCancel(err)
        ? `no complete answer within ${this.timeoutMs} ms`
        : err instanceof AxiosError && err.code ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
      throw this.fail(reason);
    }
    if (status !== 200) throw this.fail(`HTTP ${status}`);
    let set: unknown;
    try {
      set = typeof body === 'string' ? JSON.parse(body) : undefined;
    } catch {
      set = undefined;
    }
    if (typeof set !== 'object' || set === null) throw this.fail('the answer is not a JSON object');
    const keys = (set as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) throw this.fail('the answer has no "keys" array');
    return keys.filter(
      (k): k is Jwk => typeof k === 'object' && k !== null && !Array.isArray(k) && typeof (k as { kty?: unknown }).kty === 'string',
    );
  }
}
