/**
 * The HTTP side of the inbound endpoints (`POST /rps/v1/messages`,
 * `GET /rps/v1/handshake`, `POST /rps/v1/token`) as plain Node request handlers: they
 * authenticate, read and check the request, hand it to the receiver, and answer.
 * Every refusal is a 4xx with a reason in `{error}` (OAuth2's `{error,
 * error_description}` at the token endpoint); nothing is written for a refused
 * request, and no answer carries a stack trace or a secret.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Envelope, type Handshake, type MessageResult, type ProtocolLimits, validateEnvelope } from '../core/protocol';
import { type BasicCredentials, parseBasicAuth } from './auth';

export interface HttpLimits {
  maxBodyBytes: number;
  protocol: ProtocolLimits;
}

/** What the receiver answers for a valid envelope. */
export type ReceiveOutcome =
  /** `instanceId`: the receiver's, so that the sender learns who took its messages. */
  | { status: 200; results: MessageResult[]; instanceId: string }
  | { status: 404 | 409 | 503; error: string; code: string };

/** Why a request is not served. */
export interface Refusal {
  status: 401 | 403 | 429 | 503;
  code: string;
  error: string;
  retryAfterSec?: number;
  /**
   * The same wait to the millisecond, in the body as `retryAfterMs`: `Retry-After` counts
   * whole seconds, and a rate limit's wait is mostly a few milliseconds (a sender that
   * waited the whole second would idle instead of sending a bigger batch).
   */
  retryAfterMs?: number;
}

export type AuthOutcome<Peer> = ({ ok: true; peer: Peer }) | ({ ok: false } & Refusal);

export interface InboundApi<Peer> {
  /** The remote system that this `Authorization` header proves to be, or why none. */
  authenticate(authorization: string | undefined): Promise<AuthOutcome<Peer>>;
  /** Whether this peer may be served now (state, rate limit). */
  admit(peer: Peer, route: 'messages' | 'handshake' | 'token'): Refusal | undefined;
  receive(peer: Peer, envelope: Envelope): Promise<ReceiveOutcome>;
  handshake(peer: Peer): Handshake;
  limits(peer: Peer): HttpLimits;
  /** A refusal when this client address failed to authenticate too often lately. */
  throttled(address: string): Refusal | undefined;
  /** This client address failed to authenticate. */
  failed(address: string): void;
  /** Called for every request refused or failed, for logs and metrics (never with secrets). */
  onRefused?(status: number, reason: string): void;
}

/** What the token endpoint needs: OAuth2 client authentication and the issuing itself. */
export interface TokenApi<Peer> {
  clientAuthenticate(given: BasicCredentials): Peer | undefined;
  throttled(address: string): Refusal | undefined;
  failed(address: string): void;
  admit(peer: Peer, route: 'token'): Refusal | undefined;
  issue(peer: Peer, scope: readonly string[]): Promise<IssuedTokenSet>;
  refresh(peer: Peer, refreshToken: string): Promise<RefreshOutcome>;
  onRefused?(status: number, reason: string): void;
}

export type RefreshOutcome = { ok: true; tokens: IssuedTokenSet } | { ok: false; reason: string };

/** A successful token response (RFC 6749 §5.1). */
export interface IssuedTokenSet {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope?: string;
}

/** A refusal with its status and code, answered as `{error, code}`. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** `_body` is how body-parser (and middleware that imitates it) marks a body it has read. */
type RequestWithBody = IncomingMessage & { body?: unknown; _body?: boolean };

/** Read and parsed by middleware that ran before us (an embedding app's body parser). */
function parsedBefore(req: RequestWithBody): boolean {
  return req._body === true;
}

/** A plain request handler, as our routes are served (the host decides where they sit). */
export type PlainHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** One of our routes: its path (e.g. `/rps/v1/messages`), its method and its handler. */
export interface InboundRoute {
  path: string;
  method: 'GET' | 'POST' | 'PUT';
  handle: PlainHandler;
}

/** How paths are matched, as Express matches its routes. */
export interface RouteMatching {
  /** Where our paths start: the HTTP nodes' root without its trailing slash (`/api`; `` for `/`). */
  prefix: string;
  /** Express' `case sensitive routing` (off by default). */
  caseSensitive: boolean;
  /** Express' `strict routing` (off by default: one trailing slash is ignored). */
  strict: boolean;
}

/**
 * Serves `routes` from whatever request reaches it, the way an Express app with these
 * routes would: the path matched per `matching`, HEAD served by the GET handler (Node
 * sends no body). Other methods on our paths, which Express would have passed on to a 404
 * page or to whatever CORS handler came first, get a definite answer: OPTIONS a 204 with
 * `Allow` and no CORS headers (our callers are servers, never browsers), the rest 405 with
 * `Allow` and a reason. Returns false, having done nothing, for any other path.
 */
export function inboundRouter(routes: readonly InboundRoute[], matching: RouteMatching): (req: IncomingMessage, res: ServerResponse) => boolean {
  const key = (path: string): string => (matching.caseSensitive ? path : path.toLowerCase());
  const byPath = new Map<string, Map<string, PlainHandler>>();
  for (const route of routes) {
    const path = key(matching.prefix + route.path);
    const methods = byPath.get(path) ?? new Map<string, PlainHandler>();
    methods.set(route.method, route.handle);
    byPath.set(path, methods);
  }
  return (req, res) => {
    let path = (req.url ?? '').split('?')[0];
    if (!matching.strict && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const methods = byPath.get(key(path));
    if (!methods) return false;
    const method = req.method === 'HEAD' && !methods.has('HEAD') ? 'GET' : (req.method ?? '');
    const handle = methods.get(method);
    if (handle) {
      handle(req, res);
      return true;
    }
    const allow = [...methods.keys(), ...(methods.has('GET') ? ['HEAD'] : [])].join(', ');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { Allow: allow, 'Cache-Control': 'no-store' });
      res.end();
    } else {
      answer(res, 405, { error: `method ${String(req.method).slice(0, 20)} not allowed here, only ${allow}`, code: 'method-not-allowed' }, { Allow: allow });
    }
    return true;
  };
}

/**
 * Reads the body up to `limit` bytes. Our routes are served ahead of every parser of
 * Node-RED's (see src/nodes/routes.ts), but an embedding app may parse bodies before
 * Node-RED sees them: a body parsed that way is used as it is. Our senders use
 * `application/rps+json`, which generic JSON parsers leave alone.
 */
function readBody(req: RequestWithBody, limit: number): Promise<unknown> {
  if (parsedBefore(req)) {
    const b = req.body;
    if (Buffer.isBuffer(b) || typeof b === 'string') return Promise.resolve(parseJson(Buffer.from(b)));
    return Promise.resolve(b);
  }
  return readRaw(req, limit).then(parseJson);
}

/**
 * Reads and drops the rest of a body we refuse, so the client finishes sending and
 * reads our 413 (closing at once would hand it a broken pipe instead of the reason),
 * but only up to a bound: past it, the connection is cut.
 */
export function discard(req: IncomingMessage, limit: number): void {
  let dropped = 0;
  const bound = limit * 4 + 1024 * 1024;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > bound) req.destroy();
  });
  req.resume();
}

/** The body's bytes, refused with 413 past `limit` (declared or actual). */
function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    discard(req, limit);
    return Promise.reject(new HttpError(413, 'too-large', `body larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        discard(req, limit);
        reject(new HttpError(413, 'too-large', `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      reject(new HttpError(400, 'aborted', 'request aborted'));
    });
  });
}

function utf8(buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new HttpError(400, 'bad-encoding', 'body is not valid UTF-8');
  }
}

function parseJson(buf: Buffer): unknown {
  const text = utf8(buf);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad-json', 'body is not valid JSON');
  }
}

function isJson(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.-]+\+json$/.test(type);
}

class RefusedError extends HttpError {
  constructor(readonly refusal: Refusal) {
    super(refusal.status, refusal.code, refusal.error);
  }
}

function refusalHeaders(err: HttpError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (err.status === 401) headers['WWW-Authenticate'] = 'Basic realm="rps", charset="UTF-8", Bearer realm="rps"';
  if (err instanceof RefusedError && err.refusal.retryAfterSec !== undefined) headers['Retry-After'] = String(err.refusal.retryAfterSec);
  return headers;
}

/** Who hears of refusals (logs, metrics). */
export interface RefusalListener {
  onRefused?(status: number, reason: string): void;
}

function refuse(api: RefusalListener, res: ServerResponse, err: HttpError): void {
  api.onRefused?.(err.status, err.message);
  const wait = err instanceof RefusedError ? err.refusal.retryAfterMs : undefined;
  answer(res, err.status, { error: err.message, code: err.code, ...(wait !== undefined ? { retryAfterMs: wait } : {}) }, refusalHeaders(err));
}

export function asHttpError(err: unknown): HttpError {
  return err instanceof HttpError ? err : new HttpError(500, 'internal', 'internal error');
}

/** What lets a caller in: the part of InboundApi (and of the attachment routes' API) that admits a request. */
export interface Gate<Peer, Route extends string> extends RefusalListener {
  authenticate(authorization: string | undefined): Promise<AuthOutcome<Peer>>;
  admit(peer: Peer, route: Route): Refusal | undefined;
  throttled(address: string): Refusal | undefined;
  failed(address: string): void;
}

/** The authenticated peer, admitted to `route`; throws the refusal otherwise. */
export async function admitted<Peer, Route extends string>(api: Gate<Peer, Route>, req: IncomingMessage, route: Route): Promise<Peer> {
  const address = req.socket.remoteAddress ?? '';
  const throttled = api.throttled(address);
  if (throttled) throw new RefusedError(throttled);
  const auth = await api.authenticate(req.headers.authorization);
  if (!auth.ok) {
    if (auth.status === 401) api.failed(address);
    throw new RefusedError(auth);
  }
  const refusal = api.admit(auth.peer, route);
  if (refusal) throw new RefusedError(refusal);
  return auth.peer;
}

/**
 * A plain handler running `serve`; whatever it throws is answered as a refusal (an
 * HttpError as it is, anything else as a 500 without details). `onRefusal` runs first,
 * with the request, for routes that must deal with a body they did not read.
 */
export function refusingHandler(
  api: RefusalListener,
  serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onRefusal?: (req: IncomingMessage, res: ServerResponse) => void,
): PlainHandler {
  return (req, res) => {
    void serve(req, res).catch((err: unknown) => {
      onRefusal?.(req, res);
      refuse(api, res, asHttpError(err));
    });
  };
}

/** A JSON body (any `application/…+json` type, 415 otherwise) of at most `limit` bytes, parsed. */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!isJson(req)) return Promise.reject(new HttpError(415, 'content-type', 'Content-Type must be application/json'));
  return readBody(req, limit);
}

/**
 * Answers a receiver's or an engine's "not now / not this" (a 503 asks to come back in 5
 * seconds); `details` go into the body next to the reason.
 */
export function answerFailure(api: RefusalListener, res: ServerResponse, failure: { status: number; error: string; code: string }, details: Record<string, unknown> = {}): void {
  const headers: Record<string, string> = failure.status === 503 ? { 'Retry-After': '5' } : {};
  api.onRefused?.(failure.status, failure.error);
  answer(res, failure.status, { error: failure.error, code: failure.code, ...details }, headers);
}

export function messagesHandler<Peer>(api: InboundApi<Peer>): PlainHandler {
  return refusingHandler(api, async (req, res) => {
    const peer = await admitted(api, req, 'messages');
    const limits = api.limits(peer);
    const body = await readJsonBody(req, limits.maxBodyBytes);
    const checked = validateEnvelope(body, limits.protocol);
    if (!checked.ok) throw new HttpError(400, 'invalid', checked.error);
    const outcome = await api.receive(peer, checked.value);
    if (outcome.status === 200) answer(res, 200, { results: outcome.results, instanceId: outcome.instanceId });
    else answerFailure(api, res, outcome);
  });
}

export function handshakeHandler<Peer>(api: InboundApi<Peer>): PlainHandler {
  return refusingHandler(api, async (req, res) => {
    const peer = await admitted(api, req, 'handshake');
    answer(res, 200, api.handshake(peer));
  });
}

/** Token requests are a few parameters; nothing bigger is read. */
const MAX_TOKEN_REQUEST_BYTES = 8 * 1024;

class OAuthError extends Error {
  constructor(readonly status: 400 | 401 | 403 | 429 | 503, readonly code: string, description: string, readonly retryAfterSec?: number) {
    super(description);
  }
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they go into HTTP basic. */
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new OAuthError(401, 'invalid_client', 'client credentials are not properly encoded');
  }
}

/** A token request has a handful of parameters; a form with many more is not one. */
const MAX_TOKEN_PARAMETERS = 50;

/** The request's form parameters; each may appear once (RFC 6749 §3.2). */
function parseForm(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const all = [...new URLSearchParams(text)];
  if (all.length > MAX_TOKEN_PARAMETERS) throw new OAuthError(400, 'invalid_request', `more than ${MAX_TOKEN_PARAMETERS} parameters`);
  for (const [name, value] of all) {
    if (params.has(name)) throw new OAuthError(400, 'invalid_request', `parameter ${name.slice(0, 40)} given more than once`);
    params.set(name, value);
  }
  return params;
}

/**
 * The form parameters of a token request. When middleware before us (an embedding
 * app's urlencoded parser) has read the body already, its result is taken as it is,
 * as long as every value is a single string.
 */
async function readForm(req: RequestWithBody): Promise<Map<string, string>> {
  if (parsedBefore(req)) {
    const body = req.body;
    if (typeof body !== 'object' || body === null || Buffer.isBuffer(body)) throw new OAuthError(400, 'invalid_request', 'the body is not a form');
    const params = new Map<string, string>();
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new OAuthError(400, 'invalid_request', `parameter ${name.slice(0, 40)} must be given once, as text`);
      params.set(name, value);
    }
    return params;
  }
  let raw: Buffer;
  try {
    raw = await readRaw(req, MAX_TOKEN_REQUEST_BYTES);
  } catch (err) {
    throw new OAuthError(400, 'invalid_request', asHttpError(err).message);
  }
  let text: string;
  try {
    text = utf8(raw);
  } catch {
    throw new OAuthError(400, 'invalid_request', 'body is not valid UTF-8');
  }
  return parseForm(text);
}

function clientCredentials(req: IncomingMessage, params: Map<string, string>): BasicCredentials {
  const header = req.headers.authorization;
  const inBody = params.has('client_id') || params.has('client_secret');
  if (header !== undefined) {
    if (inBody) throw new OAuthError(400, 'invalid_request', 'client authenticated in more than one way');
    const basic = parseBasicAuth(header);
    if (!basic) throw new OAuthError(401, 'invalid_client', 'client authentication must be HTTP basic');
    return { user: formDecode(basic.user), password: formDecode(basic.password) };
  }
  const id = params.get('client_id');
  const secret = params.get('client_secret');
  if (id === undefined || secret === undefined) throw new OAuthError(401, 'invalid_client', 'client authentication required');
  return { user: id, password: secret };
}

/**
 * `POST /rps/v1/token` (RFC 6749): grant types `client_credentials` and
 * `refresh_token`, confidential clients only (the remote systems' API users).
 */
export function tokenHandler<Peer>(api: TokenApi<Peer>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      try {
        const [type, ...options] = (req.headers['content-type'] ?? '').split(';').map((p) => p.trim().toLowerCase());
        if (type !== 'application/x-www-form-urlencoded') {
          throw new OAuthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
        }
        const charset = options.find((o) => o.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'us-ascii') {
          throw new OAuthError(400, 'invalid_request', 'the form must be UTF-8');
        }
        const address = req.socket.remoteAddress ?? '';
        const throttled = api.throttled(address);
        if (throttled) throw new OAuthError(429, 'slow_down', throttled.error, throttled.retryAfterSec);
        const params = await readForm(req as RequestWithBody);
        const peer = api.clientAuthenticate(clientCredentials(req, params));
        if (peer === undefined) {
          api.failed(address);
          throw new OAuthError(401, 'invalid_client', 'client credentials not accepted');
        }
        const refusal = api.admit(peer, 'token');
        if (refusal) throw new OAuthError(refusal.status, refusal.status === 429 ? 'slow_down' : 'temporarily_unavailable', refusal.error, refusal.retryAfterSec);
        const grant = params.get('grant_type');
        const scope = (params.get('scope') ?? '').split(' ').filter((s) => s !== '');
        let tokens: IssuedTokenSet;
        if (grant === 'client_credentials') {
          if (scope.some((s) => s !== 'offline_access')) throw new OAuthError(400, 'invalid_scope', 'the only scope is offline_access');
          tokens = await api.issue(peer, scope);
        } else if (grant === 'refresh_token') {
          const refreshToken = params.get('refresh_token');
          if (!refreshToken) throw new OAuthError(400, 'invalid_request', 'refresh_token is missing');
          const outcome = await api.refresh(peer, refreshToken);
          if (!outcome.ok) throw new OAuthError(400, 'invalid_grant', outcome.reason);
          tokens = outcome.tokens;
        } else if (grant === undefined) {
          throw new OAuthError(400, 'invalid_request', 'grant_type is missing');
        } else {
          throw new OAuthError(400, 'unsupported_grant_type', 'grant types: client_credentials, refresh_token');
        }
        answer(res, 200, tokens, { Pragma: 'no-cache' });
      } catch (err) {
        const e = err instanceof OAuthError ? err : new OAuthError(503, 'temporarily_unavailable', 'the token service cannot answer now', 5);
        api.onRefused?.(e.status, `${e.code}: ${e.message}`);
        const headers: Record<string, string> = {};
        if (e.status === 401) headers['WWW-Authenticate'] = 'Basic realm="rps-token", charset="UTF-8"';
        if (e.retryAfterSec !== undefined) headers['Retry-After'] = String(e.retryAfterSec);
        answer(res, e.status, { error: e.code, error_description: e.message }, headers);
      }
    })();
  };
}
