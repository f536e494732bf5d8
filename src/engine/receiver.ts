/**
 * The receiving side of one runtime: which remote systems may call us (and with
 * which credentials), which process events each of them may send, and where their
 * messages are stored. The HTTP handlers in transport/ call into this.
 */
import { type Envelope, type Handshake, PROTOCOL, UNKNOWN_PROCESS_EVENT } from '../core/protocol';
import { TokenBucket } from '../core/rate';
import type { Store } from '../store/store';
import { type BasicCredentials, credentialsMatch, parseBasicAuth, parseBearer } from '../transport/auth';
import type { AuthOutcome, HttpLimits, InboundApi, IssuedTokenSet, ReceiveOutcome, RefreshOutcome, Refusal, TokenApi } from '../transport/inbound-http';
import type { JwksCache } from '../transport/jwks';
import { type DecodedJwt, type JwtAlgorithm, checkClaims, decodeJwt, verifyWithJwk } from '../transport/jwt';
import type { LinkIdentity } from './link-identity';
import type { StatsRecorder } from './metrics';
import type { StoreSecrets } from './secrets';
import { ownIssuer, TokenIssuer } from './tokens';

/** Bearer JWTs from an identity provider that identify this remote system. */
export interface ExternalJwt {
  issuer: string;
  audience: string;
  /** The `sub` (or `client_id`, `azp`) claim of this remote system's tokens. */
  subject: string;
  algorithms: readonly JwtAlgorithm[];
  jwks: JwksCache;
}

/** `loading`: its stored state is being read; `disabled`: not validated and activated yet. */
export type InboundState = 'loading' | 'disabled' | 'active';

export interface InboundPeer {
  /** The remote system's id in this runtime (its config node id). */
  id: string;
  name: string;
  store: Store;
  /** Where the monitor counts this peer's correlation replies, which are applied on arrival. */
  stats?: StatsRecorder;
  /** Our instance name as this peer sees it (set on the store the peer uses). */
  instanceName: string;
  /** The inbound API user: HTTP basic, and client credentials at our token endpoint. */
  credentials: BasicCredentials | undefined;
  /** Lifetime of the access tokens our token endpoint issues to this peer. */
  tokenLifetimeSec: number;
  /** Instead of the API user: tokens from an identity provider. */
  jwt?: ExternalJwt;
  /** Requests per second this peer may make (0: no limit). */
  ratePerSec: number;
  maxBodyBytes: number;
  state: InboundState;
  /**
   * The link this peer's messages are stored under (link-identity.ts); without one, the
   * peer's id. An envelope that authenticated as this peer tells its instance id.
   */
  identity?: LinkIdentity;
}

/** Where accepted messages of one (remote system, process event) go to be processed. */
export interface InboundEndpoint {
  notify(): void;
}

export interface ReceiverOptions {
  limits: () => HttpLimits['protocol'];
  /** Failed authentications allowed per client address and second (0: no limit). */
  authFailuresPerSec?: number;
  now?: () => number;
  /** Seals the key that signs our tokens in the store; without, it is kept in clear (engine tests). */
  secrets?: StoreSecrets;
}

/** Client addresses whose failures are remembered at once; the oldest are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

/** Access tokens are short-lived: one that claims to live longer than a day is not taken. */
const MAX_EXTERNAL_LIFETIME_SEC = 24 * 60 * 60;

/** Clock skew allowed on tokens from an identity provider. */
const CLOCK_TOLERANCE_SEC = 10;

function endpointKey(remoteSystem: string, processEvent: string): string {
  return `${remoteSystem}\u0000${processEvent}`;
}

export class Receiver implements InboundApi<InboundPeer>, TokenApi<InboundPeer> {
  private readonly peers = new Map<string, InboundPeer>();
  private readonly buckets = new WeakMap<InboundPeer, TokenBucket>();
  private readonly failures = new Map<string, TokenBucket>();
  readonly tokens: TokenIssuer;
  /** Told of every refused request (status and reason, never content), for logs. */
  onRefused?: (status: number, reason: string) => void;
  private readonly endpoints = new Map<string, InboundEndpoint>();
  private readonly processEvents = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: ReceiverOptions) {
    this.now = o.now ?? Date.now;
    this.tokens = new TokenIssuer(this.now, o.secrets);
  }

  get size(): number {
    return this.peers.size;
  }

  addPeer(peer: InboundPeer): void {
    this.peers.set(peer.id, peer);
  }

  removePeer(id: string, peer: InboundPeer): void {
    if (this.peers.get(id) === peer) this.peers.delete(id);
  }

  addEndpoint(remoteSystem: string, processEvent: string, endpoint: InboundEndpoint): void {
    this.endpoints.set(endpointKey(remoteSystem, processEvent), endpoint);
  }

  /** Wakes the endpoints of one remote system and process event, or of all (undefined matches any). */
  notifyEndpoints(remoteSystem?: string, processEvent?: string): void {
    for (const [key, endpoint] of this.endpoints) {
      const [remote, event] = key.split('\u0000');
      if ((remoteSystem === undefined || remote === remoteSystem) && (processEvent === undefined || event === processEvent)) endpoint.notify();
    }
  }

  removeEndpoint(remoteSystem: string, processEvent: string, endpoint: InboundEndpoint): void {
    const key = endpointKey(remoteSystem, processEvent);
    if (this.endpoints.get(key) === endpoint) this.endpoints.delete(key);
  }

  /** Process events defined in this runtime (counted, since several config nodes may share a name). */
  addProcessEvent(name: string): void {
    this.processEvents.set(name, (this.processEvents.get(name) ?? 0) + 1);
  }

  processEventNames(): string[] {
    return [...this.processEvents.keys()].sort();
  }

  removeProcessEvent(name: string): void {
    const n = (this.processEvents.get(name) ?? 0) - 1;
    if (n > 0) this.processEvents.set(name, n);
    else this.processEvents.delete(name);
  }

  /**
   * Whether this address may try to authenticate now. Each failed try costs it a
   * token, so guessing passwords is slow, while a peer that knows its secret (from
   * another address) is never held up by someone else's guessing.
   */
  throttled(address: string): Refusal | undefined {
    const rate = this.o.authFailuresPerSec ?? 0;
    const bucket = rate > 0 ? this.failures.get(address) : undefined;
    if (!bucket || bucket.has(this.now())) return undefined;
    return { status: 429, code: 'too-many-failures', error: 'too many failed authentications, try again later', retryAfterSec: Math.ceil(1 / rate) };
  }

  failed(address: string): void {
    const rate = this.o.authFailuresPerSec ?? 0;
    if (rate <= 0) return;
    let bucket = this.failures.get(address);
    if (!bucket) {
      if (this.failures.size >= MAX_TRACKED_ADDRESSES) this.failures.delete(this.failures.keys().next().value as string);
      bucket = new TokenBucket(rate, rate * 4, this.now());
      this.failures.set(address, bucket);
    }
    bucket.take(this.now());
  }

  /** The peer whose API user this is; every peer is compared, so the time taken does not tell which matched. */
  clientAuthenticate(given: BasicCredentials): InboundPeer | undefined {
    let found: InboundPeer | undefined;
    for (const peer of this.peers.values()) {
      // An empty password never matches, whatever was configured.
      if (peer.credentials && peer.credentials.password !== '' && credentialsMatch(given, peer.credentials) && !found) found = peer;
    }
    return found;
  }

  async authenticate(authorization: string | undefined): Promise<AuthOutcome<InboundPeer>> {
    const basic = parseBasicAuth(authorization);
    if (basic) {
      const peer = this.clientAuthenticate(basic);
      return peer ? { ok: true, peer } : unauthorized('credentials not accepted');
    }
    const bearer = parseBearer(authorization);
    if (bearer === undefined) return unauthorized(authorization ? 'unsupported authorization scheme' : 'authentication required');
    const decoded = decodeJwt(bearer);
    if (!decoded) return unauthorized('malformed bearer token');
    const claims = decoded.claims;
    for (const peer of this.peers.values()) {
      if (peer.credentials && claims.sub === peer.id && claims.iss === ownIssuer(peer.store)) {
        const problem = await this.tokens.check(decoded, this.subject(peer));
        return problem ? unauthorized(`bearer token not accepted: ${problem}`) : { ok: true, peer };
      }
    }
    for (const peer of this.peers.values()) {
      const jwt = peer.jwt;
      if (!jwt || claims.iss !== jwt.issuer) continue;
      // RFC 9068 puts the client in client_id (sub may be the user who granted it); some providers use azp.
      const subject = claims.client_id ?? claims.azp ?? claims.sub;
      if (subject !== jwt.subject) continue;
      return this.checkExternal(peer, jwt, decoded);
    }
    return unauthorized('bearer token not accepted: unknown issuer or subject');
  }

  private async checkExternal(peer: InboundPeer, jwt: ExternalJwt, decoded: DecodedJwt): Promise<AuthOutcome<InboundPeer>> {
    let key;
    try {
      key = await jwt.jwks.key(decoded.header.kid, decoded.header.alg);
    } catch {
      // The identity provider is away: not the caller's fault, so it should try again.
      return { ok: false, status: 503, code: 'jwks-unavailable', error: 'the identity provider\'s keys cannot be fetched now', retryAfterSec: 30 };
    }
    if (!key || !verifyWithJwk(decoded, key, jwt.algorithms)) return unauthorized('bearer token not accepted: bad signature or algorithm');
    const problem = checkClaims(decoded.claims, {
      issuer: jwt.issuer,
      audience: jwt.audience,
      nowSec: Math.floor(this.now() / 1000),
      clockToleranceSec: CLOCK_TOLERANCE_SEC,
      maxLifetimeSec: MAX_EXTERNAL_LIFETIME_SEC,
    });
    return problem ? unauthorized(`bearer token not accepted: ${problem}`) : { ok: true, peer };
  }

  /**
   * Whether an authenticated peer may be served now: its inbound state (a handshake is
   * always answered, so that the remote can validate) and its rate limit.
   */
  admit(peer: InboundPeer, route: 'messages' | 'handshake' | 'token'): Refusal | undefined {
    if (peer.state === 'loading') return { status: 503, code: 'starting', error: 'starting, try again shortly', retryAfterSec: 1 };
    if (peer.state === 'disabled' && route === 'messages') {
      return { status: 403, code: 'inbound-disabled', error: 'inbound from this remote system is disabled: validate and activate it first' };
    }
    if (peer.ratePerSec > 0) {
      let bucket = this.buckets.get(peer);
      if (!bucket) {
        bucket = new TokenBucket(peer.ratePerSec, Math.max(1, peer.ratePerSec), this.now());
        this.buckets.set(peer, bucket);
      }
      const waitMs = bucket.take(this.now());
      if (waitMs > 0) return { status: 429, code: 'rate-limited', error: `more than ${peer.ratePerSec} requests per second`, retryAfterSec: Math.ceil(waitMs / 1000), retryAfterMs: waitMs };
    }
    return undefined;
  }

  limits(peer: InboundPeer): HttpLimits {
    return { maxBodyBytes: peer.maxBodyBytes, protocol: this.o.limits() };
  }

  issue(peer: InboundPeer, scope: readonly string[]): Promise<IssuedTokenSet> {
    return this.tokens.issue(this.subject(peer), scope);
  }

  refresh(peer: InboundPeer, refreshToken: string): Promise<RefreshOutcome> {
    return this.tokens.refresh(this.subject(peer), refreshToken);
  }

  private subject(peer: InboundPeer) {
    if (!peer.credentials) throw new Error('peer without credentials');
    return { id: peer.id, store: peer.store, credentials: peer.credentials, tokenLifetimeSec: peer.tokenLifetimeSec };
  }

  handshake(peer: InboundPeer): Handshake {
    const events = new Set<string>(this.processEvents.keys());
    for (const key of this.endpoints.keys()) {
      const [remote, event] = key.split('\u0000');
      if (remote === peer.id) events.add(event);
    }
    return {
      protocol: PROTOCOL,
      instanceId: peer.store.instanceId,
      name: peer.instanceName,
      processEvents: [...events].sort(),
      time: new Date(this.now()).toISOString(),
      inboundState: peer.state === 'active' ? 'active' : 'disabled',
      ...(peer.ratePerSec > 0 ? { requestRate: peer.ratePerSec } : {}),
    };
  }

  async receive(peer: InboundPeer, envelope: Envelope): Promise<ReceiveOutcome> {
    for (const m of envelope.messages) {
      // A process event defined here is accepted even while no inbound flow for it is
      // deployed (during a deploy, say): it waits in the inbound queue for one.
      if (!this.processEvents.has(m.processEvent) && !(m.kind === 'change' && this.endpoints.has(endpointKey(peer.id, m.processEvent)))) {
        return { status: 404, code: UNKNOWN_PROCESS_EVENT, error: `unknown process event "${m.processEvent}"` };
      }
    }
    const identity = peer.identity;
    // Authenticated as this peer: the sender's instance id is this peer's, learned before
    // the accept so that the batch is stored under it.
    if (identity) await identity.learn(envelope.sender.instanceId, 'envelope');
    let statuses;
    try {
      const accept = (key: string) => peer.store.inbound.accept(key, envelope.messages, this.now());
      statuses = await (identity ? identity.hold(accept) : accept(peer.id));
    } catch {
      return { status: 503, code: 'store-unavailable', error: 'store unavailable, try again later' };
    }
    // The inbound flows of every remote system of this remote instance take these rows.
    const key = identity?.value;
    const links = [...this.peers.values()].filter((p) => p === peer || (key !== undefined && p.identity?.value === key)).map((p) => p.id);
    if (!links.includes(peer.id)) links.push(peer.id);
    const touched = new Set<InboundEndpoint>();
    for (const m of envelope.messages) {
      if (m.kind !== 'change') continue;
      for (const id of links) {
        const endpoint = this.endpoints.get(endpointKey(id, m.processEvent));
        if (endpoint) touched.add(endpoint);
      }
    }
    for (const endpoint of touched) endpoint.notify();
    // A correlation reply is applied as it is stored (no inbound flow takes it): processed at once.
    const replies = envelope.messages.filter((m, i) => m.kind === 'correlation' && statuses[i] === 'accepted');
    if (replies.length > 0) {
      const now = this.now();
      peer.stats?.rows('inbound', replies.map((m) => ({ remoteSystem: key ?? peer.id, processEvent: m.processEvent, since: now })));
    }
    return { status: 200, results: envelope.messages.map((m, i) => ({ id: m.id, status: statuses[i] })), instanceId: peer.store.instanceId };
  }
}

function unauthorized(error: string): AuthOutcome<never> {
  return { ok: false, status: 401, code: 'unauthorized', error };
}
