/**
 * OAuth2 access tokens for calling one remote system (client credentials, or a
 * refresh token entered once), obtained with simple-oauth2.
 *
 * - A token is fetched before it expires (the refresh window) and again when the
 *   remote answers 401 to it; every caller waiting meanwhile shares one request.
 * - What we hold is written to the store before it is used: an authorization server
 *   that rotates refresh tokens has already forgotten the old one, and Node-RED cannot
 *   save credentials from a running node, so the store is the only place the new one
 *   can live. A restart reuses it (and a still-valid access token) without a new grant.
 * - Errors name the token endpoint and its answer, never a secret or token.
 */
import { createHash } from 'node:crypto';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { ClientCredentials } from 'simple-oauth2';

export type OAuthGrant = 'client_credentials' | 'refresh_token';

/** Where the held token is kept (the store, under a key of the remote system). */
export interface TokenPersistence {
  load(): Promise<string | undefined>;
  save(value: string): Promise<void>;
}

export interface OAuthOptions {
  grant: OAuthGrant;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /** 'header': HTTP basic (client_secret_basic); 'body': in the form (client_secret_post). */
  authMethod: 'header' | 'body';
  /** The refresh token entered in the form (refresh_token grant). */
  refreshToken?: string;
  /** A token is renewed this long before it expires (at most half its lifetime before). */
  refreshWindowMs: number;
  timeoutMs: number;
  agent?: HttpAgent | HttpsAgent;
  persistence: TokenPersistence;
  now?: () => number;
}

/** What we keep of a token: enough to use it, and to know whether it belongs to today's settings. */
interface HeldToken {
  v: 1;
  /** Fingerprint of the settings it was obtained with: other settings start afresh. */
  settings: string;
  accessToken: string;
  obtainedAt: number;
  expiresAt: number;
  refreshToken?: string;
}

/** A token source that the HTTP client asks for each request. */
export interface TokenSource {
  /** A usable access token, fetched when needed. Rejects with a TokenError. */
  token(): Promise<string>;
  /** The remote refused this token (401): the next token() fetches a new one. */
  rejected(token: string): void;
}

export class TokenError extends Error {
  override name = 'TokenError';
}

const MAX_TOKEN_ANSWER_BYTES = 64 * 1024;

/** Lifetime assumed when the server does not say (expires_in is only RECOMMENDED by RFC 6749). */
const DEFAULT_LIFETIME_MS = 60 * 60 * 1000;

function fingerprint(o: OAuthOptions): string {
  const parts = [o.grant, o.tokenUrl, o.clientId, o.clientSecret, o.scope ?? '', o.refreshToken ?? ''];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/**
 * What went wrong at the token endpoint, told without the request (which holds the
 * client secret). The HTTP library wraps failures to connect as 502/504 too: only a
 * real answer is reported as an HTTP status, anything else by its error code.
 */
function describeFailure(err: unknown, origin: string, refreshing: boolean): string {
  const e = err as {
    isBoom?: boolean;
    output?: { statusCode?: number };
    data?: { isResponseError?: boolean; payload?: unknown; code?: string; message?: string } | null;
    code?: string;
    message?: string;
  };
  if (e?.isBoom && e.data?.isResponseError && e.output?.statusCode) {
    let reason = '';
    const payload = e.data.payload;
    const body = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
    const parsed = typeof body === 'string' ? safeJson(body) : body;
    if (parsed && typeof parsed === 'object') {
      const p = parsed as { error?: unknown; error_description?: unknown };
      if (typeof p.error === 'string') reason = p.error;
      if (typeof p.error_description === 'string') reason += `${reason ? ': ' : ''}${p.error_description}`;
    }
    // A refresh token the server no longer takes will not start working again by itself.
    const hint = refreshing && reason.startsWith('invalid_grant') ? ' (enter a new refresh token and deploy)' : '';
    return `token endpoint ${origin}: HTTP ${e.output.statusCode}${reason ? ` ${reason.slice(0, 300)}` : ''}${hint}`;
  }
  const cause = e?.isBoom && e.data ? e.data : e;
  const detail = cause?.code ? `${cause.code}${cause.message ? `: ${cause.message}` : ''}` : (cause?.message ?? e?.message ?? String(err));
  return `token endpoint ${origin}: ${detail.slice(0, 300)}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class OAuthTokens implements TokenSource {
  private held: HeldToken | undefined;
  private loaded = false;
  private pending: Promise<string> | undefined;
  private readonly client: ClientCredentials;
  private readonly settings: string;
  private readonly origin: string;
  private readonly now: () => number;
  /** Token endpoint requests made, for tests and metrics. */
  requests = 0;

  constructor(private readonly o: OAuthOptions) {
    const url = new URL(o.tokenUrl);
    this.origin = url.origin;
    this.now = o.now ?? Date.now;
    this.settings = fingerprint(o);
    this.client = new ClientCredentials({
      client: { id: o.clientId, secret: o.clientSecret },
      auth: { tokenHost: url.origin, tokenPath: url.pathname + url.search },
      options: { authorizationMethod: o.authMethod },
      // A token answer is small: a huge one is refused before it is read into memory.
      http: { timeout: o.timeoutMs, ...(o.agent ? { agent: o.agent } : {}), redirects: 0, maxBytes: MAX_TOKEN_ANSWER_BYTES },
    });
  }

  async token(): Promise<string> {
    if (!this.loaded) await this.load();
    const held = this.held;
    if (held && !this.due(held)) return held.accessToken;
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  rejected(token: string): void {
    // Only the token that was refused: a newer one fetched meanwhile stays.
    if (this.held?.accessToken === token) this.held = { ...this.held, expiresAt: 0 };
  }

  /** Due for renewal: inside the refresh window, or past half its lifetime when that is shorter. */
  private due(t: HeldToken): boolean {
    const window = Math.min(this.o.refreshWindowMs, (t.expiresAt - t.obtainedAt) / 2);
    return this.now() >= t.expiresAt - window;
  }

  private async load(): Promise<void> {
    let text: string | undefined;
    try {
      text = await this.o.persistence.load();
    } catch (err) {
      throw new TokenError(`token store: ${(err as Error).message}`);
    }
    const saved = text ? (safeJson(text) as HeldToken | undefined) : undefined;
    // Settings changed (another client, secret or initial refresh token): what was held is not theirs.
    if (saved?.v === 1 && saved.settings === this.settings && typeof saved.accessToken === 'string') this.held = saved;
    this.loaded = true;
  }

  private async fetch(): Promise<string> {
    const refreshToken = this.o.grant === 'refresh_token' ? (this.held?.refreshToken ?? this.o.refreshToken) : undefined;
    const scope = this.o.scope ? { scope: this.o.scope } : {};
    const startedAt = this.now();
    this.requests += 1;
    let token: Record<string, unknown>;
    try {
      const got =
        refreshToken !== undefined
          ? await this.client.createToken({ access_token: '', refresh_token: refreshToken }).refresh(scope)
          : await this.client.getToken(scope);
      token = got.token as Record<string, unknown>;
    } catch (err) {
      throw new TokenError(describeFailure(err, this.origin, refreshToken !== undefined));
    }
    if (typeof token.access_token !== 'string' || token.access_token === '') {
      throw new TokenError(`token endpoint ${this.origin}: the answer has no access_token`);
    }
    // From expires_in and our own clock (the one due() compares with), counted from before the request.
    const expiresIn = Number(token.expires_in);
    const expiresAt = Number.isFinite(expiresIn) && expiresIn > 0 ? startedAt + expiresIn * 1000 : startedAt + DEFAULT_LIFETIME_MS;
    const next: HeldToken = {
      v: 1,
      settings: this.settings,
      accessToken: token.access_token,
      obtainedAt: startedAt,
      expiresAt,
    };
    // A server that does not rotate sends no new refresh token: the one we used stays good.
    const rotated = typeof token.refresh_token === 'string' && token.refresh_token !== '' ? token.refresh_token : refreshToken;
    if (rotated !== undefined) next.refreshToken = rotated;
    this.held = next;
    try {
      await this.o.persistence.save(JSON.stringify(next));
    } catch (err) {
      // The token is good for this run; only a restart would need a new grant.
      throw new TokenError(`token store: ${(err as Error).message}`);
    }
    return next.accessToken;
  }
}

/** The refresh token this source would use next (tests check rotation with it). */
export function heldRefreshToken(saved: string | undefined): string | undefined {
  const t = saved ? (safeJson(saved) as HeldToken | undefined) : undefined;
  return t?.refreshToken;
}
