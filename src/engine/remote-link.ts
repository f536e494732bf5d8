/**
 * One remote system, as the engine runs it: from its settings and credentials it builds
 * how we authenticate to the remote (OAuth2 tokens with their own HTTPS agent), the
 * sender of its outbound queue, who may call us as this remote (API user or an identity
 * provider's JWTs with their JWKS cache), and the activation of both directions, read
 * from the store and changed by "Validate and activate". Settings that cannot work are
 * reported as codes with parameters (ConfigError), never as text: the node words them.
 */
import { checkRemoteUrl, DEFAULT_JWT_ALGORITHMS } from '../core/settings';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import https from 'node:https';
import { API_PREFIX } from '../core/protocol';
import type { ReasonText } from '../core/reasons';
import type { OutboundAuth, TlsOptions } from '../transport/client';
import { JwksCache } from '../transport/jwks';
import { parseAlgorithms } from '../transport/jwt';
import { OAuthTokens } from '../transport/oauth';
import { type Activation, loadActivation, saveActivation } from './activation';
import { LinkKey } from './link-identity';
import { loadPaused, savePaused } from './pause';
import type { RemoteState } from './outbox';
import type { InboundPeer, InboundState } from './receiver';
import { RemoteSystem } from './remote';
import type { EngineRuntime, StoreConfig } from './runtime';
import { heldTokenPersistence } from './secrets';
import type { Store } from './stores';
import { type Check, type CheckDetail, validationReport } from './validate';

export type { InboundState, RemoteState, TlsOptions };

/** How long "Validate and activate" (and a state request that asks to) waits for the states to be read. */
export const LOAD_WAIT_MS = 10_000;

/** Validation asked for before the states were read from the store (it is not open yet). */
export class StateNotLoadedError extends Error {
  override readonly name = 'StateNotLoadedError';
}

/**
 * A setting that cannot work: `code` names the text (errors.<code>), `params` fill it in,
 * and `settings` fill in parameters that name a setting (by its property name, which the
 * node words as setting.<name>).
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly code: string,
    readonly params: Record<string, string> = {},
    readonly settings: Record<string, keyof RemoteLinkSettings> = {},
  ) {
    super(code);
  }
}

/** Both directions' states, as the form and the flow nodes show them; `loading` until they are read from the store. */
export interface RemoteStates {
  outbound: RemoteState;
  inbound: InboundState;
  outboundError?: string;
  /** Why the remote cannot call us as this remote system (the settings it lacks), when it cannot. */
  inboundError?: string;
  /**
   * Paused by an operator (pause()), in both directions, whatever the states: nothing is
   * sent and nothing received is emitted into the inbound flows; messages keep queueing.
   * False until it is read from the store (the states are `loading` meanwhile).
   */
  paused: boolean;
}

export interface ValidationAnswer {
  ok: boolean;
  checks: Check[];
  states: RemoteStates;
}

export interface RemoteCredentials {
  user: string;
  password: string;
  token: string;
  clientSecret: string;
  refreshToken: string;
  inboundUser: string;
  inboundPassword: string;
}

/** The settings that are text, as the form holds them (trimmed here). */
export interface RemoteTextSettings {
  authType?: string;
  tokenUrl?: string;
  clientId?: string;
  scope?: string;
  tokenAuthMethod?: string;
  inboundAuth?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwksUrl?: string;
  jwtAlgorithms?: string;
  jwtSubject?: string;
}

/** A remote system's settings, as plain data (numbers already in their units). */
export interface RemoteLinkSettings extends RemoteTextSettings {
  id: string;
  name: string;
  /** Trimmed; empty: the remote can call us, we cannot call it. */
  url: string;
  /** The TLS settings for an https URL (asked for only then; may throw). */
  tls: () => TlsOptions | undefined;
  /** Part of the activation fingerprint: which TLS settings were validated. */
  tlsId?: string;
  refreshWindowMs: number;
  timeoutMs: number;
  batchSize: number;
  maxInFlight: number;
  lingerMs: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  maxTries: number;
  probeIntervalMs: number;
  tokenLifetimeSec: number;
  ratePerSec: number;
  maxBodyBytes: number;
  /** Active on deploy, or only once validated. */
  activateOnDeploy: boolean;
  /** Words the sender's own reasons for a row (codes, see core/reasons) in logs and states. */
  reasonText?: ReasonText;
}

/** A log line for the node to word: `code` names the text (warnings.<code>), `params` fill it in. */
export type Notice = (level: 'warn' | 'log', code: string, params: Record<string, string | number>) => void;

/** What the link reports. */
export interface RemoteLinkEvents {
  /** A store or sender fault. */
  fault: [err: unknown];
  inbound: [state: InboundState];
  /** An inbound flow waits for this remote, which cannot call us: why (once, see expectInbound). */
  uncallable: [err: ConfigError];
  loaded: [];
  /** Paused or resumed (see pause()). */
  paused: [paused: boolean];
}

/** Plain http to another host: tokens, secrets or signing keys could be read or swapped on the way. */
export function insecure(url: URL): boolean {
  return url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

export class RemoteLink extends EventEmitter<RemoteLinkEvents> {
  /** Undefined when no URL is set (the remote can call us, we cannot call it) or the settings are invalid. */
  readonly remote: RemoteSystem | undefined;
  /** Why this remote system cannot be used outbound, when it cannot. */
  readonly outboundError: Error | undefined;
  /** Why nobody may call us as this remote system although someone was meant to. */
  readonly inboundError: Error | undefined;
  /**
   * Why nobody may call us as this remote system: `inboundError`, or no API user at all.
   * The latter is right for a remote we only send to, so it is said only where an
   * inbound flow waits for this remote (expectInbound) and in the form's state.
   */
  readonly inboundProblem: Error | undefined;
  private readonly peer: InboundPeer | undefined;
  /** The key of this link's rows: the remote instance's id once known (link-identity.ts). */
  readonly identity: LinkKey;
  private readonly fingerprint: string;
  private closing = false;
  private loaded = false;
  private pausedNow = false;
  /** Pauses and resumes one after the other, so that the store holds the last one asked for. */
  private pausing: Promise<unknown> = Promise.resolve();
  private saidUncallable = false;
  /** When sending stopped because the remote did not answer (see logReachability). */
  private downSince: number | undefined;

  constructor(
    private readonly rt: EngineRuntime,
    private readonly s: RemoteLinkSettings,
    creds: Partial<RemoteCredentials>,
    readonly store: Store,
    storeConfig: StoreConfig,
    private readonly notice: Notice,
  ) {
    super();
    this.fingerprint = activationSettings(s, creds);
    this.identity = new LinkKey(s.id, s.url, store, {
      notice: (level, code, params) => this.notice(level, code, params),
      fault: (err) => this.emit('fault', err),
      // Other remote systems of this runtime for the same URL and store follow at once (two nodes for one remote).
      learned: async (peer) => {
        const others = [...this.rt.identities.values()].filter((other) => other !== this.identity && other.sameRemote(this.identity));
        await Promise.all(others.map((other) => other.learn(peer, 'store')));
      },
    });
    this.outboundError = new ConfigError('no-url');
    if (s.url !== '') {
      try {
        this.remote = this.remoteOf(creds, storeConfig);
        this.outboundError = undefined;
      } catch (err) {
        this.outboundError = err instanceof Error ? err : new Error(String(err));
      }
    }
    try {
      this.peer = this.peerOf(creds, storeConfig);
    } catch (err) {
      this.inboundError = err instanceof Error ? err : new Error(String(err));
    }
    this.inboundProblem = this.inboundError ?? (this.peer ? undefined : new ConfigError('no-inbound-user', { remote: s.name }));
  }

  /**
   * An inbound flow (rps-inbound) waits for this remote's messages: returns why none can
   * come, when none can. No API user is reported once (as `uncallable`), since it was not
   * logged at deploy; a setting that cannot work (`inboundError`) was.
   */
  expectInbound(): Error | undefined {
    const problem = this.inboundProblem;
    if (problem instanceof ConfigError && problem !== this.inboundError && !this.saidUncallable) {
      this.saidUncallable = true;
      this.emit('uncallable', problem);
    }
    return problem;
  }

  /** Starts sending and answering once the store is open and the activation is read. */
  start(): void {
    if (this.remote) {
      this.remote.on('fault', (err) => this.emit('fault', err));
      this.remote.on('failed', (count, error) => this.notice('warn', 'failed', { count, error }));
      this.remote.on('requeued', (count) => this.notice('log', 'requeued', { count }));
      this.remote.on('state', (state, error) => this.logReachability(state, error));
      this.rt.remotes.set(this.s.id, this.remote);
    }
    this.rt.identities.set(this.s.id, this.identity);
    // Nothing received is emitted before we know whether this remote is paused.
    this.rt.inboundHolds.set(this.s.id, this);
    if (this.peer) this.rt.receiver.addPeer(this.peer);
    void this.loadUntilDone();
  }

  /**
   * Says in the log when sending stops because the remote (or its token endpoint) does not
   * answer, and why, and when it answers again and after how long: the status alone is
   * gone by the time someone reads the log.
   */
  private logReachability(state: RemoteState, error: string | undefined): void {
    if (state === 'error' && this.downSince === undefined) {
      this.downSince = Date.now();
      this.notice('warn', 'unreachable', { error: error ?? '', seconds: this.s.probeIntervalMs / 1000 });
    } else if (state === 'active' && this.downSince !== undefined) {
      this.notice('log', 'reachable', { seconds: ((Date.now() - this.downSince) / 1000).toFixed(1) });
      this.downSince = undefined;
    }
  }

  /** Whether remotes may call us as this remote system (then the runtime serves the rps/1 routes). */
  get callable(): boolean {
    return this.peer !== undefined;
  }

  /** Paused by an operator (see pause()); false until read from the store. */
  get paused(): boolean {
    return this.pausedNow;
  }

  inboundState(): InboundState {
    return this.peer?.state ?? 'disabled';
  }

  /** The states; `outboundError` worded by `describe`. */
  states(describe: (err: Error) => string): RemoteStates {
    const outbound = this.remote?.state ?? (this.loaded ? 'disabled' : 'loading');
    const states: RemoteStates = { outbound, inbound: this.peer?.state ?? (this.loaded ? 'disabled' : 'loading'), paused: this.pausedNow };
    const error = this.remote?.lastError ?? (this.outboundError && describe(this.outboundError));
    if (error) states.outboundError = error;
    if (this.inboundProblem) states.inboundError = describe(this.inboundProblem);
    return states;
  }

  private setInbound(state: InboundState): void {
    if (!this.peer || this.peer.state === state) return;
    this.peer.state = state;
    this.emit('inbound', state);
  }

  // Until the store is open (PostgreSQL opens in the background) and the activation is
  // read, both states are `loading`: inbound calls are answered 503, the sender sends
  // nothing, and the editor shows "loading", never a state that was not read. Then the
  // sender takes back what it held, the key that signs our tokens exists before the
  // first token request (so checking a forged token never writes), and what was
  // activated before is active again. A store that fails meanwhile (a database restart)
  // is tried again, with a growing delay, until it answers or the link closes.
  private async load(): Promise<void> {
    await this.store.opened(true);
    // Before anything is sent or accepted: the rows' key, as the store remembers this remote.
    await this.identity.ready();
    if (this.peer?.credentials) await this.rt.receiver.tokens.key(this.store);
    const saved = this.s.activateOnDeploy ? { outbound: true, inbound: true } : await loadActivation(this.store, this.s.id, this.fingerprint);
    // Read before the sender starts: a remote left paused gets not a single batch (nor a probe).
    const paused = await loadPaused(this.store, this.s.id);
    if (this.closing) return;
    this.pausedNow = paused;
    if (paused) this.remote?.pause();
    await this.remote?.start(saved.outbound);
    this.setInbound(saved.inbound ? 'active' : 'disabled');
    this.loaded = true;
    if (!paused) this.releaseInbound();
    this.emit('loaded');
    if (paused) this.emit('paused', true);
  }

  private async loadUntilDone(): Promise<void> {
    for (let attempt = 0; !this.closing; attempt++) {
      try {
        await this.load();
        return;
      } catch (err) {
        if (this.closing) return;
        // A store that is away is logged once by the store itself; anything else by the node.
        this.emit('fault', err);
        // At most 5 s: these are a few small reads, and inbound answers 503 until they succeed.
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** Math.min(attempt, 4))).unref());
      }
    }
  }

  /** Resolves true once the states are read from the store, false when `timeoutMs` passed first. */
  whenLoaded(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.loaded || this.closing) {
        resolve(this.loaded);
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        this.off('loaded', done);
        resolve(this.loaded);
      };
      const timer = setTimeout(done, timeoutMs);
      this.once('loaded', done);
    });
  }

  /**
   * Pauses this remote system, for the monitor's operators: remembered in the store first
   * (the promise rejects, and nothing changes, when that fails), then nothing more is sent
   * and the inbound flows of its link get nothing more; what is out finishes, and
   * messages keep queueing in both directions. Waits for the states to be read, as
   * validate() does, so that the pause read at start cannot undo it.
   */
  pause(describe: (err: Error) => string): Promise<RemoteStates> {
    return this.setPaused(true, describe);
  }

  /** Undoes pause(): remembered first, then what waited is sent and emitted at once. */
  resume(describe: (err: Error) => string): Promise<RemoteStates> {
    return this.setPaused(false, describe);
  }

  private setPaused(paused: boolean, describe: (err: Error) => string): Promise<RemoteStates> {
    const run = this.pausing.then(async () => {
      if (!(await this.whenLoaded(LOAD_WAIT_MS))) throw new StateNotLoadedError('still-loading');
      if (this.pausedNow !== paused && !this.closing) {
        await savePaused(this.store, this.s.id, paused, Date.now());
        this.pausedNow = paused;
        if (paused) {
          this.rt.inboundHolds.set(this.s.id, this);
          this.remote?.pause();
        } else {
          this.remote?.resume();
          this.releaseInbound();
        }
        this.notice('log', paused ? 'paused' : 'resumed', { name: this.s.name });
        this.emit('paused', paused);
      }
      return this.states(describe);
    });
    this.pausing = run.catch(() => undefined);
    return run;
  }

  /** The inbound flows of this link may emit again (unless another node of the link holds them). */
  private releaseInbound(): void {
    if (this.rt.inboundHolds.get(this.s.id) === this) this.rt.inboundHolds.delete(this.s.id);
    this.rt.notifyInbound(this.s.id);
  }

  /**
   * "Validate and activate": the handshake, line by line, and what it allows activated
   * (and remembered for the next start). `describe` words each check's detail.
   */
  async validate(describe: (detail: CheckDetail) => string): Promise<ValidationAnswer> {
    // What validation activates must not be overwritten by the activation read at start.
    if (!(await this.whenLoaded(LOAD_WAIT_MS))) throw new StateNotLoadedError('still-loading');
    const remote = this.remote;
    const outcome = remote ? await remote.handshake() : undefined;
    if (outcome?.ok && typeof outcome.handshake.instanceId === 'string' && outcome.handshake.instanceId !== '') {
      await this.identity.learn(outcome.handshake.instanceId, 'handshake');
    }
    const report = validationReport(
      {
        url: remote ? this.s.url : undefined,
        https: remote?.url.startsWith('https:') ?? false,
        usesToken: this.s.authType === 'oauth2-client' || this.s.authType === 'oauth2-refresh',
        outcome,
        localEvents: this.rt.receiver.processEventNames(),
        inboundConfigured: this.peer !== undefined,
      },
      describe,
    );
    if (this.s.url !== '' && this.outboundError) report.checks.unshift({ name: 'url', ok: false, detail: describe({ error: this.outboundError }) });
    const ok = report.checks.every((c) => c.ok);
    // Inbound is activated with a validation that reached the remote (or of a remote we never call).
    const activation: Activation = { outbound: report.outboundOk, inbound: this.peer !== undefined && (report.outboundOk || !remote) };
    if (activation.outbound || activation.inbound) {
      // Remembered first, so that what is active now is active after a restart too.
      const saved = await loadActivation(this.store, this.s.id, this.fingerprint);
      const merged = { outbound: saved.outbound || activation.outbound, inbound: saved.inbound || activation.inbound };
      await saveActivation(this.store, this.s.id, this.fingerprint, merged, Date.now());
      if (activation.outbound) remote?.activate();
      if (activation.inbound) this.setInbound('active');
      const states = this.states((err) => describe({ error: err }));
      this.notice('log', 'activated', { outbound: states.outbound, inbound: states.inbound });
    } else {
      this.notice('warn', 'validation-failed', { error: report.checks.find((c) => !c.ok)?.detail ?? '' });
    }
    return { ok, checks: report.checks, states: this.states((err) => describe({ error: err })) };
  }

  /** Stops sending and answering; the store stays the node's to release. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.peer) this.rt.receiver.removePeer(this.s.id, this.peer);
    if (this.rt.identities.get(this.s.id) === this.identity) this.rt.identities.delete(this.s.id);
    if (this.rt.inboundHolds.get(this.s.id) === this) this.rt.inboundHolds.delete(this.s.id);
    if (this.remote && this.rt.remotes.get(this.s.id) === this.remote) this.rt.remotes.delete(this.s.id);
    await this.remote?.stop();
  }

  private remoteOf(creds: Partial<RemoteCredentials>, storeConfig: StoreConfig): RemoteSystem {
    const s = this.s;
    const url = checkRemoteUrl(s.url);
    if (!url) throw new ConfigError('bad-url');
    const tls = url.protocol === 'https:' ? s.tls() : undefined;
    const auth = this.outboundAuthOf(creds, url, tls);
    return new RemoteSystem({
      id: s.id,
      url: url.toString(),
      auth,
      tls,
      timeoutMs: s.timeoutMs,
      batchSize: s.batchSize,
      maxInFlight: s.maxInFlight,
      lingerMs: s.lingerMs,
      backoff: { baseMs: s.retryDelayMs, maxMs: Math.max(s.retryDelayMs, s.retryMaxDelayMs) },
      maxTries: s.maxTries,
      probeIntervalMs: s.probeIntervalMs,
      store: this.store,
      identity: this.identity,
      senderName: storeConfig.instanceName,
      owner: this.rt.owner,
      stats: this.rt.statsOf(this.store),
      reasonText: s.reasonText,
    });
  }

  /** How we authenticate to the remote; throws a ConfigError for settings that cannot work. */
  private outboundAuthOf(creds: Partial<RemoteCredentials>, url: URL, tls: TlsOptions | undefined): OutboundAuth {
    const s = this.s;
    switch (s.authType) {
      case 'basic':
        return { type: 'basic', user: creds.user ?? '', password: creds.password ?? '' };
      case 'bearer':
        if (!creds.token) throw new ConfigError('no-bearer-token');
        return { type: 'bearer', token: creds.token };
      case 'oauth2-client':
      case 'oauth2-refresh': {
        // Empty: the remote Node-RED's own token endpoint.
        const tokenText = (s.tokenUrl ?? '').trim() || `${url.toString().replace(/\/+$/, '')}${API_PREFIX}/token`;
        const tokenUrl = checkRemoteUrl(tokenText);
        if (!tokenUrl) throw new ConfigError('bad-token-url');
        const clientId = (s.clientId ?? '').trim();
        if (!clientId) throw new ConfigError('no-client-id');
        if (!creds.clientSecret) throw new ConfigError('no-client-secret');
        const grant = s.authType === 'oauth2-refresh' ? 'refresh_token' : 'client_credentials';
        if (grant === 'refresh_token' && !creds.refreshToken) throw new ConfigError('no-refresh-token');
        if (insecure(tokenUrl)) this.notice('warn', 'insecure-url', { url: tokenUrl.origin });
        // The TLS settings are the remote's: they apply to its own token endpoint, not to an identity provider's.
        const agent = tls && tokenUrl.origin === url.origin ? new https.Agent({ keepAlive: true, ...tls }) : undefined;
        const tokens = new OAuthTokens({
          grant,
          tokenUrl: tokenUrl.toString(),
          clientId,
          clientSecret: creds.clientSecret,
          scope: (s.scope ?? '').trim() || undefined,
          authMethod: s.tokenAuthMethod === 'body' ? 'body' : 'header',
          refreshToken: grant === 'refresh_token' ? creds.refreshToken : undefined,
          refreshWindowMs: s.refreshWindowMs,
          timeoutMs: s.timeoutMs,
          agent,
          persistence: heldTokenPersistence(this.rt.secrets, this.store, s.id),
        });
        return { type: 'oauth2', tokens };
      }
      default:
        return { type: 'none' };
    }
  }

  /** Who may call us as this remote system, and within which limits; undefined when nobody may. */
  private peerOf(creds: Partial<RemoteCredentials>, storeConfig: StoreConfig): InboundPeer | undefined {
    const s = this.s;
    const base = {
      id: s.id,
      name: s.name,
      store: this.store,
      stats: this.rt.statsOf(this.store),
      instanceName: storeConfig.instanceName,
      tokenLifetimeSec: s.tokenLifetimeSec,
      ratePerSec: s.ratePerSec,
      maxBodyBytes: s.maxBodyBytes,
      // Active (or not) once the store is open and the activation is read.
      state: 'loading' as InboundState,
      identity: this.identity,
    };
    if (s.inboundAuth === 'jwt') {
      const issuer = (s.jwtIssuer ?? '').trim();
      const audience = (s.jwtAudience ?? '').trim();
      const subject = (s.jwtSubject ?? '').trim();
      const jwksUrl = checkRemoteUrl((s.jwksUrl ?? '').trim());
      const algorithms = parseAlgorithms(s.jwtAlgorithms ?? DEFAULT_JWT_ALGORITHMS);
      const missing = !issuer ? 'jwtIssuer' : !audience ? 'jwtAudience' : !subject ? 'jwtSubject' : !jwksUrl ? 'jwksUrl' : undefined;
      if (missing || !jwksUrl) throw new ConfigError('bad-jwt-config', {}, { error: missing ?? 'jwksUrl' });
      if (typeof algorithms === 'string') throw new ConfigError('bad-jwt-config', { error: algorithms });
      if (insecure(jwksUrl)) this.notice('warn', 'insecure-url', { url: jwksUrl.origin });
      return { ...base, credentials: undefined, jwt: { issuer, audience, subject, algorithms, jwks: new JwksCache({ url: jwksUrl.toString() }) } };
    }
    if (creds.inboundUser && !creds.inboundPassword) {
      // A user name alone is no secret: without a password nobody may call us as this system.
      throw new ConfigError('no-inbound-password', { remote: s.name });
    }
    // A password without its user was meant for someone: say so as for a user without password.
    if (!creds.inboundUser && creds.inboundPassword) throw new ConfigError('no-inbound-user-name', { remote: s.name });
    if (!creds.inboundUser || !creds.inboundPassword) return undefined;
    return { ...base, credentials: { user: creds.inboundUser, password: creds.inboundPassword } };
  }
}

/**
 * Fingerprint of the settings an activation holds for: where we send, how we and they
 * authenticate. Changing any of them needs a new Validate and activate.
 */
function activationSettings(s: RemoteLinkSettings, creds: Partial<RemoteCredentials>): string {
  const parts = [s.url, s.tlsId, s.authType, s.tokenUrl, s.clientId, creds.user, s.inboundAuth, creds.inboundUser, s.jwtIssuer, s.jwtSubject, s.jwksUrl];
  return createHash('sha256')
    .update(JSON.stringify(parts.map((p) => (p ?? '').trim())))
    .digest('base64url');
}
