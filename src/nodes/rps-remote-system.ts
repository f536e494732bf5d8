/**
 * rps-remote-system (config): the connection to one other instance. Outbound: its
 * URL, TLS, and how we authenticate to it (basic, bearer, OAuth2); this node owns the
 * outbox sender that delivers the outbound queue. Inbound: how the remote proves
 * who it is when it calls us (our API user and token endpoint, or an identity
 * provider's JWTs), its rate and size limits. States: outbound and inbound
 * `disabled` until "Validate and activate" (or on deploy, as configured).
 */
import { EventEmitter } from 'node:events';
import {
  ConfigError,
  type InboundState,
  type RemoteCredentials,
  RemoteLink,
  type RemoteStates,
  type RemoteTextSettings,
  StateNotLoadedError,
  type TlsOptions,
  type ValidationAnswer,
} from '../engine/remote-link';
import type { CorrelationLookup } from '../engine/correlation-lookup';
import type { RemoteSystem } from '../engine/remote';
import type { Store } from '../engine/stores';
import type { CheckDetail } from '../engine/validate';
import type { AdminRemote } from './admin/routes';
import { REMOTE_SYSTEM_NUMBERS, ruledNumber } from '../core/settings';
import { migrateConfig } from '../core/config-migrations';
import { common, errorText, logStoreFault } from './common';
import type { NodeAPI, NodeDef } from './red';
import { storeConfigOf } from './rps-store';
import { DEFAULT_AUTH_FAILURE_RATE, runtimeOf, type StoreConfig } from './runtime';

export type { RemoteStates, ValidationAnswer };

interface RemoteSystemDef extends NodeDef, RemoteTextSettings {
  url?: string;
  store?: string;
  tls?: string;
  refreshWindow?: string | number;
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

export interface RemoteSystemNode extends AdminRemote {
  credentials: Partial<RemoteCredentials>;
  systemName: string;
  /** Undefined when the store could not be opened (the node logged why). */
  store: Store | undefined;
  /** The store's correlation lookups (batched across nodes); undefined with the store. */
  correlations: CorrelationLookup | undefined;
  /** Undefined when no URL is set (the remote can call us, we cannot call it) or the settings are invalid. */
  remote: RemoteSystem | undefined;
  /** Why this remote system cannot be used outbound, when it cannot. */
  outboundError: string | undefined;
  storeConfig: StoreConfig | undefined;
  /** Emits 'inbound' (InboundState) when the inbound state changes and 'paused' when it is paused or resumed, for rps-inbound's status. */
  inboundEvents: EventEmitter<{ inbound: [state: InboundState]; paused: [paused: boolean] }>;
  inboundState(): InboundState;
  /** Paused by an operator (see pause()). */
  paused(): boolean;
  /** For an rps-inbound node of this remote system: why nothing can arrive (worded; logged once here), when nothing can. */
  expectInbound(): string | undefined;
}

/** The TLS settings of a Node-RED tls-config node (CA, client certificate, verification). */
export function tlsOptionsOf(RED: NodeAPI, id: string | undefined): TlsOptions | undefined {
  if (!id) return undefined;
  const tls = RED.nodes.getNode(id) as { addTLSOptions?(opts: Record<string, unknown>): Record<string, unknown> } | null;
  if (!tls?.addTLSOptions) throw new Error(RED._('rps-remote-system.errors.bad-tls', { error: RED._('rps-remote-system.errors.no-tls-node') }));
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
    def = migrateConfig('rps-remote-system', def);
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    node.systemName = def.name || def.id;
    node.store = undefined;
    node.correlations = undefined;
    node.remote = undefined;
    node.outboundError = RED._('rps-remote-system.errors.no-url');

    let storeConfig: StoreConfig;
    node.storeConfig = undefined;
    try {
      storeConfig = storeConfigOf(RED, def.store);
      node.storeConfig = storeConfig;
      node.store = rt.acquireStore(storeConfig);
      node.correlations = rt.lookupOf(node.store);
    } catch (err) {
      node.outboundError = common(RED, 'errors.store-open', { error: errorText(err) });
      node.error(node.outboundError);
      return;
    }
    const store = node.store;
    node.inboundEvents = new EventEmitter();
    const url = (def.url ?? '').trim();
    const retryDelayMs = ruledNumber(REMOTE_SYSTEM_NUMBERS.retryDelay, def.retryDelay) * 1000;
    const link = new RemoteLink(
      rt,
      {
        id: node.id,
        name: node.systemName,
        url,
        tls: () => tlsOptionsOf(RED, def.tls),
        tlsId: def.tls,
        authType: def.authType,
        tokenUrl: def.tokenUrl,
        clientId: def.clientId,
        scope: def.scope,
        tokenAuthMethod: def.tokenAuthMethod,
        refreshWindowMs: ruledNumber(REMOTE_SYSTEM_NUMBERS.refreshWindow, def.refreshWindow) * 1000,
        timeoutMs: ruledNumber(REMOTE_SYSTEM_NUMBERS.timeout, def.timeout) * 1000,
        batchSize: ruledNumber(REMOTE_SYSTEM_NUMBERS.batchSize, def.batchSize),
        maxInFlight: ruledNumber(REMOTE_SYSTEM_NUMBERS.maxInFlight, def.maxInFlight),
        lingerMs: ruledNumber(REMOTE_SYSTEM_NUMBERS.linger, def.linger),
        retryDelayMs,
        retryMaxDelayMs: ruledNumber(REMOTE_SYSTEM_NUMBERS.retryMaxDelay, def.retryMaxDelay) * 1000,
        maxTries: ruledNumber(REMOTE_SYSTEM_NUMBERS.maxTries, def.maxTries),
        probeIntervalMs: ruledNumber(REMOTE_SYSTEM_NUMBERS.probeInterval, def.probeInterval) * 1000,
        inboundAuth: def.inboundAuth,
        jwtIssuer: def.jwtIssuer,
        jwtAudience: def.jwtAudience,
        jwksUrl: def.jwksUrl,
        jwtAlgorithms: def.jwtAlgorithms,
        jwtSubject: def.jwtSubject,
        tokenLifetimeSec: ruledNumber(REMOTE_SYSTEM_NUMBERS.tokenLifetime, def.tokenLifetime),
        ratePerSec: ruledNumber(REMOTE_SYSTEM_NUMBERS.inboundRate, def.inboundRate),
        maxBodyBytes: Math.floor(ruledNumber(REMOTE_SYSTEM_NUMBERS.maxBody, def.maxBody) * 1024 * 1024),
        activateOnDeploy: def.activation !== 'validate',
        reasonText: (code) => RED._(`rps-remote-system.reasons.${code}`),
      },
      node.credentials ?? {},
      store,
      storeConfig,
      (level, code, params) => node[level](RED._(`rps-remote-system.warnings.${code}`, params)),
    );
    /** A setting's problem, worded (with the settings it names worded too). */
    const describeError = (err: Error): string => {
      if (!(err instanceof ConfigError)) return err.message;
      const params: Record<string, string> = { ...err.params };
      for (const [param, setting] of Object.entries(err.settings)) params[param] = RED._(`rps-remote-system.setting.${setting}`);
      return RED._(`rps-remote-system.errors.${err.code}`, params);
    };
    /** A validation check's finding, worded. */
    const describe = (detail: CheckDetail): string => {
      if ('code' in detail) return RED._(`rps-remote-system.validate.${detail.code}`, detail.params);
      return typeof detail.error === 'string' ? detail.error : describeError(detail.error);
    };
    node.remote = link.remote;
    node.outboundError = link.outboundError && describeError(link.outboundError);
    if (url !== '' && node.outboundError) node.error(node.outboundError);
    if (link.inboundError) node.error(describeError(link.inboundError));
    link.on('fault', (err) => logStoreFault(RED, node, err));
    link.on('inbound', (state) => node.inboundEvents.emit('inbound', state));
    link.on('paused', (paused) => node.inboundEvents.emit('paused', paused));
    link.on('uncallable', (err) => node.warn(describeError(err)));
    link.start();
    if (link.callable) rt.updateRoutes();
    rt.adminRoutes.acquire();

    node.inboundState = () => link.inboundState();
    node.expectInbound = () => {
      const problem = link.expectInbound();
      return problem && describeError(problem);
    };
    node.states = () => link.states(describeError);
    node.paused = () => link.paused;
    node.whenLoaded = (timeoutMs) => link.whenLoaded(timeoutMs);
    /** The admin calls, with "still loading" worded. */
    const worded = async <T>(call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (err) {
        if (err instanceof StateNotLoadedError) throw new StateNotLoadedError(RED._('rps-remote-system.errors.still-loading'));
        throw err;
      }
    };
    node.validate = () => worded(() => link.validate(describe));
    node.pause = () => worded(() => link.pause(describeError));
    node.resume = () => worded(() => link.resume(describeError));

    node.on('close', (_removed, done) => {
      void (async () => {
        try {
          rt.adminRoutes.release();
          const callable = link.callable;
          const closing = link.close();
          if (callable) rt.updateRoutes();
          await closing;
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

/** The remote system a node refers to, or an error naming what is missing. */
export function remoteSystemOf(RED: NodeAPI, id: string | undefined): RemoteSystemNode & { store: Store; correlations: CorrelationLookup } {
  const node = id ? (RED.nodes.getNode(id) as RemoteSystemNode | null) : null;
  if (!node || node.type !== 'rps-remote-system') throw new Error(common(RED, 'errors.no-remote-system'));
  if (!node.store || !node.correlations) throw new Error(common(RED, 'errors.store-unavailable'));
  return node as RemoteSystemNode & { store: Store; correlations: CorrelationLookup };
}
