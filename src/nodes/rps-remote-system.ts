/**
 * rps-remote-system (config): the connection to one other instance. Outbound: its
 * URL, TLS, and how we authenticate to it (basic, bearer, OAuth2); this node owns the
 * outbox sender that delivers the outbound queue. Inbound: how the remote proves
 * who it is when it calls us (our API user and token endpoint, or an identity
 * provider's JWTs), its rate and size limits. States: outbound and inbound
 * `disabled` until "Validate and activate" (or on deploy, as configured).
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { type Activation, loadActivation, saveActivation } from '../engine/activation';
import type { InboundPeer, InboundState } from '../engine/receiver';
import { RemoteSystem } from '../engine/remote';
import { heldTokenPersistence } from '../engine/secrets';
import type { RemoteState } from '../engine/outbox';
import { type Check, validationReport } from '../engine/validate';
import type { Store } from '../store/store';
import type { OutboundAuth, TlsOptions } from '../transport/client';
import { JwksCache } from '../transport/jwks';
import { parseAlgorithms } from '../transport/jwt';
import { OAuthTokens, type TokenPersistence } from '../transport/oauth';
import { API_PREFIX } from '../core/protocol';
import { common, errorText, logStoreFault, numberSetting } from './common';
import type { Node, NodeAPI, NodeDef } from './red';
import { storeConfigOf } from './rps-store';
import { DEFAULT_AUTH_FAILURE_RATE, runtimeOf, type StoreConfig } from './runtime';

interface RemoteSystemDef extends NodeDef {
  url?: string;
  store?: string;
  tls?: string;
  authType?: string;
  tokenUrl?: string;
  clientId?: string;
  scope?: string;
  tokenAuthMethod?: string;
  refreshWindow?: string | number;
  inboundAuth?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwksUrl?: string;
  jwtAlgorithms?: string;
  jwtSubject?: string;
  tokenLifetime?: string | number;
  inboundRate?: string | number;
  maxBody?: string | number;
  activation?: string;
  batchSize?: string | number;
  maxInFlight?: string | number;
  timeout?: string | number;
  retryDelay?: string | number;
  retryMaxDelay?: string | number;
  linger?: string | number;
  maxTries?: string | number;
  probeInterval?: string | number;
}

interface RemoteCredentials {
  user: string;
  password: string;
  token: string;
  clientSecret: string;
  refreshToken: string;
  inboundUser: string;
  inboundPassword: string;
}

/** Both directions' states, as the form and the flow nodes show them; `loading` until they are read from the store. */
export interface RemoteStates {
  outbound: RemoteState;
  inbound: InboundState;
  outboundError?: string;
}

/** How long "Validate and activate" (and a state request that asks to) waits for the states to be read. */
export const LOAD_WAIT_MS = 10_000;

/** Validation asked for before the states were read from the store (it is not open yet). */
export class StateNotLoadedError extends Error {
  override readonly name = 'StateNotLoadedError';
}

export interface ValidationAnswer {
  ok: boolean;
  checks: Check[];
  states: RemoteStates;
}

export interface RemoteSystemNode extends Node<RemoteCredentials> {
  systemName: string;
  /** Undefined when the store could not be opened (the node logged why). */
  store: Store | undefined;
  /** Undefined when no URL is set (the remote can call us, we cannot call it) or the settings are invalid. */
  remote: RemoteSystem | undefined;
  /** Why this remote system cannot be used outbound, when it cannot. */
  outboundError: string | undefined;
  storeConfig: StoreConfig | undefined;
  /** Emits 'inbound' (InboundState) when the inbound state changes, for rps-inbound's status. */
  inboundEvents: EventEmitter<{ inbound: [state: InboundState] }>;
  inboundState(): InboundState;
  states(): RemoteStates;
  /** Resolves true once the states are read from the store, false when `timeoutMs` passed first. */
  whenLoaded(timeoutMs: number): Promise<boolean>;
  validate(): Promise<ValidationAnswer>;
}

/** Accepts http(s) URLs only, and refuses ones that carry credentials (they belong in the credential fields). */
export function checkRemoteUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  return url;
}

/** The TLS settings of a Node-RED tls-config node (CA, client certificate, verification). */
function tlsOptionsOf(RED: NodeAPI, id: string | undefined): TlsOptions | undefined {
  if (!id) return undefined;
  const tls = RED.nodes.getNode(id) as { addTLSOptions?(opts: Record<string, unknown>): Record<string, unknown> } | null;
  if (!tls?.addTLSOptions) throw new Error(RED._('rps-remote-system.errors.bad-tls', { error: 'TLS configuration node not found' }));
  const opts = tls.addTLSOptions({});
  const out: TlsOptions = {};
  if (opts.ca !== undefined) out.ca = opts.ca as string;
  if (opts.cert !== undefined) out.cert = opts.cert as string;
  if (opts.key !== undefined) out.key = opts.key as string;
  if (typeof opts.passphrase === 'string') out.passphrase = opts.passphrase;
  if (typeof opts.servername === 'string') out.servername = opts.servername;
  out.rejectUnauthorized = opts.rejectUnauthorized !== false;
  return out;
}

export default function (RED: NodeAPI): void {
  function RpsRemoteSystemNode(this: RemoteSystemNode, def: RemoteSystemDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    node.systemName = def.name || def.id;
    node.store = undefined;
    node.remote = undefined;
    node.outboundError = RED._('rps-remote-system.errors.no-url');
    let peer: InboundPeer | undefined;

    let storeConfig: StoreConfig;
    node.storeConfig = undefined;
    try {
      storeConfig = storeConfigOf(RED, def.store);
      node.storeConfig = storeConfig;
      node.store = rt.acquireStore(storeConfig);
    } catch (err) {
      node.outboundError = common(RED, 'errors.store-open', { error: errorText(err) });
      node.error(node.outboundError);
      return;
    }
    const store = node.store;
    const creds = node.credentials ?? {};
    const activateOnDeploy = def.activation !== 'validate';
    const settings = activationSettings(def, creds);
    node.inboundEvents = new EventEmitter();

    const urlText = (def.url ?? '').trim();
    if (urlText !== '') {
      const url = checkRemoteUrl(urlText);
      try {
        if (!url) throw new Error(RED._('rps-remote-system.errors.bad-url'));
        const timeoutMs = numberSetting(def.timeout, 30, 1) * 1000;
        const tls = url.protocol === 'https:' ? tlsOptionsOf(RED, def.tls) : undefined;
        const auth = outboundAuthOf(RED, node, def, creds, url, tls, timeoutMs, heldTokenPersistence(rt.secrets, store, node.id));
        const retryDelay = numberSetting(def.retryDelay, 1, 0.01) * 1000;
        node.remote = new RemoteSystem({
          id: node.id,
          url: url.toString(),
          auth,
          tls,
          timeoutMs,
          batchSize: Math.floor(numberSetting(def.batchSize, 200, 1)),
          maxInFlight: Math.floor(numberSetting(def.maxInFlight, 2, 1)),
          lingerMs: numberSetting(def.linger, 5, 0),
          backoff: { baseMs: retryDelay, maxMs: Math.max(retryDelay, numberSetting(def.retryMaxDelay, 60, 0.01) * 1000) },
          maxTries: Math.floor(numberSetting(def.maxTries, 3, 1)),
          probeIntervalMs: numberSetting(def.probeInterval, 30, 0.01) * 1000,
          store,
          senderName: storeConfig.instanceName,
          owner: rt.owner,
        });
        node.outboundError = undefined;
      } catch (err) {
        node.outboundError = errorText(err);
        node.error(node.outboundError);
      }
    }
    if (node.remote) {
      node.remote.on('fault', (err) => logStoreFault(RED, node, err));
      node.remote.on('failed', (count, error) => node.warn(RED._('rps-remote-system.warnings.failed', { count, error })));
      node.remote.on('requeued', (count) => node.log(RED._('rps-remote-system.warnings.requeued', { count })));
      rt.remotes.set(node.id, node.remote);
    }

    try {
      peer = inboundPeerOf(RED, node, def, creds, store, storeConfig);
    } catch (err) {
      node.error(errorText(err));
    }
    if (peer) {
      rt.receiver.addPeer(peer);
      rt.updateRoutes();
    }
    rt.adminRoutes.acquire();

    const setInbound = (state: InboundState): void => {
      if (!peer || peer.state === state) return;
      peer.state = state;
      node.inboundEvents.emit('inbound', state);
    };
    node.inboundState = () => peer?.state ?? 'disabled';
    node.states = () => {
      const outbound = node.remote?.state ?? (loaded ? 'disabled' : 'loading');
      const states: RemoteStates = { outbound, inbound: peer?.state ?? (loaded ? 'disabled' : 'loading') };
      const error = node.remote?.lastError ?? node.outboundError;
      if (error) states.outboundError = error;
      return states;
    };

    // Until the store is open (PostgreSQL opens in the background) and the activation is
    // read, both states are `loading`: inbound calls are answered 503, the sender sends
    // nothing, and the editor shows "loading", never a state that was not read. Then the
    // sender takes back what it held, the key that signs our tokens exists before the
    // first token request (so checking a forged token never writes), and what was
    // activated before is active again. A store that fails meanwhile (a database restart)
    // is tried again, with a growing delay, until it answers or the node closes.
    let closing = false;
    let loaded = false;
    const loadedEvents = new EventEmitter<{ loaded: [] }>();
    const load = async (): Promise<void> => {
      await store.opened(true);
      if (peer?.credentials) await rt.receiver.tokens.key(store);
      const saved = activateOnDeploy ? { outbound: true, inbound: true } : await loadActivation(store, node.id, settings);
      if (closing) return;
      await node.remote?.start(saved.outbound);
      setInbound(saved.inbound ? 'active' : 'disabled');
      loaded = true;
      loadedEvents.emit('loaded');
    };
    const loadUntilDone = async (): Promise<void> => {
      for (let attempt = 0; !closing; attempt++) {
        try {
          await load();
          return;
        } catch (err) {
          if (closing) return;
          // A store that is away is logged once by the store itself; anything else here.
          logStoreFault(RED, node, err);
          // At most 5 s: these are a few small reads, and inbound answers 503 until they succeed.
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** Math.min(attempt, 4))).unref());
        }
      }
    };
    void loadUntilDone();
    node.whenLoaded = (timeoutMs) =>
      new Promise((resolve) => {
        if (loaded || closing) {
          resolve(loaded);
          return;
        }
        const done = (): void => {
          clearTimeout(timer);
          loadedEvents.off('loaded', done);
          resolve(loaded);
        };
        const timer = setTimeout(done, timeoutMs);
        loadedEvents.once('loaded', done);
      });

    node.validate = async () => {
      // What validation activates must not be overwritten by the activation read at start.
      if (!(await node.whenLoaded(LOAD_WAIT_MS))) throw new StateNotLoadedError(RED._('rps-remote-system.errors.still-loading'));
      const remote = node.remote;
      const outcome = remote ? await remote.handshake() : undefined;
      const report = validationReport({
        url: remote ? urlText : undefined,
        https: remote?.url.startsWith('https:') ?? false,
        usesToken: def.authType === 'oauth2-client' || def.authType === 'oauth2-refresh',
        outcome,
        localEvents: rt.receiver.processEventNames(),
        inboundConfigured: peer !== undefined,
      });
      if (urlText !== '' && node.outboundError) report.checks.unshift({ name: 'url', ok: false, detail: node.outboundError });
      const ok = report.checks.every((c) => c.ok);
      // Inbound is activated with a validation that reached the remote (or of a remote we never call).
      const activation: Activation = { outbound: report.outboundOk, inbound: peer !== undefined && (report.outboundOk || !remote) };
      if (activation.outbound || activation.inbound) {
        // Remembered first, so that what is active now is active after a restart too.
        const saved = await loadActivation(store, node.id, settings);
        await saveActivation(store, node.id, settings, { outbound: saved.outbound || activation.outbound, inbound: saved.inbound || activation.inbound }, Date.now());
        if (activation.outbound) remote?.activate();
        if (activation.inbound) setInbound('active');
        const states = node.states();
        node.log(RED._('rps-remote-system.warnings.activated', { outbound: states.outbound, inbound: states.inbound }));
      } else {
        node.warn(RED._('rps-remote-system.warnings.validation-failed', { error: report.checks.find((c) => !c.ok)?.detail ?? '' }));
      }
      return { ok, checks: report.checks, states: node.states() };
    };

    node.on('close', (_removed, done) => {
      closing = true;
      void (async () => {
        try {
          rt.adminRoutes.release();
          if (peer) {
            rt.receiver.removePeer(node.id, peer);
            rt.updateRoutes();
          }
          if (node.remote && rt.remotes.get(node.id) === node.remote) rt.remotes.delete(node.id);
          await node.remote?.stop();
          await rt.releaseStore(store);
        } catch (err) {
          node.error(common(RED, 'errors.store', { error: errorText(err) }));
        } finally {
          done();
        }
      })();
    });
  }

  RED.nodes.registerType('rps-remote-system', RpsRemoteSystemNode, {
    settings: { rpsRemoteSystemAuthFailureRate: { value: DEFAULT_AUTH_FAILURE_RATE, exportable: false } },
    credentials: {
      user: { type: 'text' },
      password: { type: 'password' },
      token: { type: 'password' },
      clientSecret: { type: 'password' },
      refreshToken: { type: 'password' },
      inboundUser: { type: 'text' },
      inboundPassword: { type: 'password' },
    },
  });
}

/**
 * Fingerprint of the settings an activation holds for: where we send, how we and they
 * authenticate. Changing any of them needs a new Validate and activate.
 */
function activationSettings(def: RemoteSystemDef, creds: Partial<RemoteCredentials>): string {
  const parts = [def.url, def.tls, def.authType, def.tokenUrl, def.clientId, creds.user, def.inboundAuth, creds.inboundUser, def.jwtIssuer, def.jwtSubject, def.jwksUrl];
  return createHash('sha256')
    .update(JSON.stringify(parts.map((p) => (p ?? '').trim())))
    .digest('base64url');
}

/** Plain http to another host: tokens, secrets or signing keys could be read or swapped on the way. */
function insecure(url: URL): boolean {
  return url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** How we authenticate to the remote; throws an i18n'd error for settings that cannot work. */
function outboundAuthOf(
  RED: NodeAPI,
  node: RemoteSystemNode,
  def: RemoteSystemDef,
  creds: Partial<RemoteCredentials>,
  url: URL,
  tls: TlsOptions | undefined,
  timeoutMs: number,
  persistence: TokenPersistence,
): OutboundAuth {
  switch (def.authType) {
    case 'basic':
      return { type: 'basic', user: creds.user ?? '', password: creds.password ?? '' };
    case 'bearer':
      if (!creds.token) throw new Error(RED._('rps-remote-system.errors.no-bearer-token'));
      return { type: 'bearer', token: creds.token };
    case 'oauth2-client':
    case 'oauth2-refresh': {
      // Empty: the remote Node-RED's own token endpoint.
      const tokenText = (def.tokenUrl ?? '').trim() || `${url.toString().replace(/\/+$/, '')}${API_PREFIX}/token`;
      const tokenUrl = checkRemoteUrl(tokenText);
      if (!tokenUrl) throw new Error(RED._('rps-remote-system.errors.bad-token-url'));
      const clientId = (def.clientId ?? '').trim();
      if (!clientId) throw new Error(RED._('rps-remote-system.errors.no-client-id'));
      if (!creds.clientSecret) throw new Error(RED._('rps-remote-system.errors.no-client-secret'));
      const grant = def.authType === 'oauth2-refresh' ? 'refresh_token' : 'client_credentials';
      if (grant === 'refresh_token' && !creds.refreshToken) throw new Error(RED._('rps-remote-system.errors.no-refresh-token'));
      if (insecure(tokenUrl)) node.warn(RED._('rps-remote-system.warnings.insecure-url', { url: tokenUrl.origin }));
      // The TLS settings are the remote's: they apply to its own token endpoint, not to an identity provider's.
      const agent = tls && tokenUrl.origin === url.origin ? new https.Agent({ keepAlive: true, ...tls }) : undefined;
      const tokens = new OAuthTokens({
        grant,
        tokenUrl: tokenUrl.toString(),
        clientId,
        clientSecret: creds.clientSecret,
        scope: (def.scope ?? '').trim() || undefined,
        authMethod: def.tokenAuthMethod === 'body' ? 'body' : 'header',
        refreshToken: grant === 'refresh_token' ? creds.refreshToken : undefined,
        refreshWindowMs: numberSetting(def.refreshWindow, 60, 0) * 1000,
        timeoutMs,
        agent,
        persistence,
      });
      return { type: 'oauth2', tokens };
    }
    default:
      return { type: 'none' };
  }
}

/** Who may call us as this remote system, and within which limits; undefined when nobody may. */
function inboundPeerOf(
  RED: NodeAPI,
  node: RemoteSystemNode,
  def: RemoteSystemDef,
  creds: Partial<RemoteCredentials>,
  store: Store,
  storeConfig: StoreConfig,
): InboundPeer | undefined {
  const base = {
    id: node.id,
    name: node.systemName,
    store,
    instanceName: storeConfig.instanceName,
    tokenLifetimeSec: Math.floor(numberSetting(def.tokenLifetime, 300, 10)),
    ratePerSec: numberSetting(def.inboundRate, 50, 0),
    maxBodyBytes: Math.floor(numberSetting(def.maxBody, 10, 0.001) * 1024 * 1024),
    // Active (or not) once the store is open and the activation is read.
    state: 'loading' as InboundState,
  };
  if (def.inboundAuth === 'jwt') {
    const issuer = (def.jwtIssuer ?? '').trim();
    const audience = (def.jwtAudience ?? '').trim();
    const subject = (def.jwtSubject ?? '').trim();
    const jwksUrl = checkRemoteUrl((def.jwksUrl ?? '').trim());
    const algorithms = parseAlgorithms(def.jwtAlgorithms ?? 'RS256, ES256');
    const problem = !issuer ? 'issuer' : !audience ? 'audience' : !subject ? 'subject' : !jwksUrl ? 'JWKS URL' : typeof algorithms === 'string' ? algorithms : undefined;
    if (problem || typeof algorithms === 'string' || !jwksUrl) throw new Error(RED._('rps-remote-system.errors.bad-jwt-config', { error: problem ?? '' }));
    if (insecure(jwksUrl)) node.warn(RED._('rps-remote-system.warnings.insecure-url', { url: jwksUrl.origin }));
    return { ...base, credentials: undefined, jwt: { issuer, audience, subject, algorithms, jwks: new JwksCache({ url: jwksUrl.toString() }) } };
  }
  if (creds.inboundUser && !creds.inboundPassword) {
    // A user name alone is no secret: without a password nobody may call us as this system.
    throw new Error(RED._('rps-remote-system.errors.no-inbound-password'));
  }
  if (!creds.inboundUser || !creds.inboundPassword) return undefined;
  return { ...base, credentials: { user: creds.inboundUser, password: creds.inboundPassword } };
}

/** The remote system a node refers to, or an error naming what is missing. */
export function remoteSystemOf(RED: NodeAPI, id: string | undefined): RemoteSystemNode & { store: Store } {
  const node = id ? (RED.nodes.getNode(id) as RemoteSystemNode | null) : null;
  if (!node || node.type !== 'rps-remote-system') throw new Error(common(RED, 'errors.no-remote-system'));
  if (!node.store) throw new Error(common(RED, 'errors.store-unavailable'));
  return node as RemoteSystemNode & { store: Store };
}
